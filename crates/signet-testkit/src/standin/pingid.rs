//! A PingID stand-in (not PingID): `POST {idp_url}/rest/4/authonline/do`
//! takes an HS256 JWS signed with the org's key, checks its signature, its
//! org alias and token and its request body, and answers a JWS signed with the
//! same key whose `responseBody.errorId` is 200 when the test approves the
//! user. The check is written here on its own, not with signetd's code.
//!
//! A request that fails the check is answered HTTP 401 with a plain-text
//! reason (the real service's answer to that is not documented).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};
use signet_core::crypto::{b64url, b64url_decode, constant_time_eq, hmac_sha256, random_id};

use super::{Log, Outcomes, Received, serve};

/// What the stand-in answers for a user.
#[derive(Debug, Clone)]
pub enum PingIdOutcome {
    /// errorId 200.
    Approve,
    /// Another errorId, with its errorMsg.
    Deny { error_id: i64, message: String },
    /// An approving reply signed with a key other than the org's.
    BadSignature,
    /// An approving reply with `"alg": "none"` and no signature.
    AlgNone,
    /// An approving reply signed with HS512 under the org's key.
    Hs512,
    /// A reply without the org's token in its header.
    WrongToken,
    /// HTTP 200 with a body that is not a JWS.
    Garbage,
}

pub struct PingIdStandin {
    pub base: String,
    /// What to configure as `idp_url`: `{base}/pingid`.
    pub idp_url: String,
    pub org_alias: String,
    pub token: String,
    /// The org's key, base64 as the settings file has it.
    pub use_base64_key: String,
    shared: Arc<Shared>,
    log: Log,
}

struct Shared {
    key: Vec<u8>,
    org_alias: String,
    token: String,
    outcomes: Outcomes<PingIdOutcome>,
}

impl PingIdStandin {
    /// Starts one with a fresh org alias, token and key. Users the test does
    /// not name are denied with errorId 10002.
    pub async fn start() -> PingIdStandin {
        let key = format!("key-{}", random_id().unwrap()).into_bytes();
        let shared = Arc::new(Shared {
            key: key.clone(),
            org_alias: random_id().unwrap(),
            token: random_id().unwrap(),
            outcomes: Outcomes::new(PingIdOutcome::Deny { error_id: 10002, message: "user is not known".into() }),
        });
        let log = Log::default();
        let app = Router::new().route("/pingid/rest/4/authonline/do", post(authonline)).with_state(shared.clone());
        let base = serve(app, "PingID", log.clone()).await;
        PingIdStandin {
            idp_url: format!("{base}/pingid"),
            base,
            org_alias: shared.org_alias.clone(),
            token: shared.token.clone(),
            use_base64_key: base64::engine::general_purpose::STANDARD.encode(&key),
            shared,
            log,
        }
    }

    pub fn set(&self, username: &str, outcome: PingIdOutcome) {
        self.shared.outcomes.set(username, outcome);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.log.all()
    }
}

fn refuse(reason: &str) -> Response {
    (StatusCode::UNAUTHORIZED, reason.to_owned()).into_response()
}

fn segment(part: &str) -> Option<Value> {
    serde_json::from_slice(&b64url_decode(part)?).ok()
}

async fn authonline(State(s): State<Arc<Shared>>, body: String) -> Response {
    let parts: Vec<&str> = body.trim().split('.').collect();
    let [h, p, sig] = parts[..] else { return refuse("the request is not a compact JWS") };
    let (Some(header), Some(claims)) = (segment(h), segment(p)) else { return refuse("the request is not a JWS") };
    if header["alg"] != "HS256" {
        return refuse("the request is not signed with HS256");
    }
    let mac = hmac_sha256(&s.key, format!("{h}.{p}").as_bytes());
    if !b64url_decode(sig).is_some_and(|sig| constant_time_eq(&sig, &mac)) {
        return refuse("the request's signature does not verify");
    }
    let req_header = &claims["reqHeader"];
    if header["org_alias"] != s.org_alias.as_str() || req_header["orgAlias"] != s.org_alias.as_str() {
        return refuse("unknown org alias");
    }
    if header["token"] != s.token.as_str() || req_header["secretKey"] != s.token.as_str() {
        return refuse("wrong token");
    }
    let req_body = &claims["reqBody"];
    if req_body["authType"] != "CONFIRM" || req_body["spAlias"] != "web" {
        return refuse("only CONFIRM on the web service is offered");
    }
    let Some(user) = req_body["userName"].as_str() else { return refuse("no userName") };
    let approved = json!({"errorId": 200, "errorMsg": "ok", "sessionId": random_id().unwrap()});
    let reply_header = json!({"alg": "HS256", "orgAlias": s.org_alias, "token": s.token});
    let jws = match s.outcomes.get(user) {
        PingIdOutcome::Approve => sign(&reply_header, &approved, &s.key),
        PingIdOutcome::Deny { error_id, message } => {
            sign(&reply_header, &json!({"errorId": error_id, "errorMsg": message}), &s.key)
        }
        PingIdOutcome::BadSignature => sign(&reply_header, &approved, b"some other key"),
        PingIdOutcome::AlgNone => {
            let header = json!({"alg": "none", "orgAlias": s.org_alias, "token": s.token});
            format!("{}.{}.", encode(&header), encode(&json!({"responseBody": approved})))
        }
        PingIdOutcome::Hs512 => {
            let header = json!({"alg": "HS512", "orgAlias": s.org_alias, "token": s.token});
            let input = format!("{}.{}", encode(&header), encode(&json!({"responseBody": approved})));
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, &s.key);
            format!("{input}.{}", b64url(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref()))
        }
        PingIdOutcome::WrongToken => {
            sign(&json!({"alg": "HS256", "orgAlias": s.org_alias, "token": "another"}), &approved, &s.key)
        }
        PingIdOutcome::Garbage => "<html>this is not a token</html>".to_owned(),
    };
    jws.into_response()
}

fn encode(v: &Value) -> String {
    b64url(v.to_string().as_bytes())
}

fn sign(header: &Value, response_body: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", encode(header), encode(&json!({"responseBody": response_body})));
    format!("{input}.{}", b64url(&hmac_sha256(key, input.as_bytes())))
}
