//! A Duo stand-in (not Duo): the Auth API v2 calls a sign-on takes
//! (`check`, `preauth`, `auth` with `async=1`, `auth_status`), each refused
//! with Duo's 401 FAIL unless it is signed as Duo specifies: HTTP Basic
//! `ikey:hex(HMAC-SHA512(skey, canonical request))` over the `Date` header,
//! the method, the `Host` header in lower case, the path and the sorted,
//! percent-encoded parameters. The check is written here on its own, not
//! with signetd's code. It does not check the `Date` against a clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Form, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use signet_core::crypto::{constant_time_eq, random_id};

use super::{Log, Outcomes, Received, serve};

/// What the stand-in does for a user.
#[derive(Debug, Clone)]
pub enum DuoOutcome {
    /// The push is approved.
    Approve,
    /// The push is denied.
    Deny,
    /// preauth answers "allow": no second factor needed.
    PreauthAllow,
    /// preauth answers "deny".
    PreauthDeny,
    /// preauth answers "enroll": the user has no device yet.
    Enroll,
    /// Only this passcode is accepted; a push is denied.
    Passcode(String),
    /// auth_status answers "waiting" for ever.
    NeverAnswer,
    /// auth answers HTTP 200 with a body that is not JSON.
    Garbage,
}

pub struct DuoStandin {
    /// `http://127.0.0.1:PORT`: what to configure as `api_hostname`.
    pub base: String,
    pub integration_key: String,
    pub secret_key: String,
    shared: Arc<Shared>,
    log: Log,
}

/// An answer auth_status gives: result, status, status_msg.
type Decision = (&'static str, &'static str, &'static str);

struct Shared {
    ikey: String,
    skey: String,
    outcomes: Outcomes<DuoOutcome>,
    transactions: Mutex<HashMap<String, Decision>>,
}

impl DuoStandin {
    /// Starts one with fresh keys. Users the test does not name must enroll.
    pub async fn start() -> DuoStandin {
        let shared = Arc::new(Shared {
            ikey: format!("DI{}", random_id().unwrap().replace('-', "").to_uppercase()),
            skey: random_id().unwrap(),
            outcomes: Outcomes::new(DuoOutcome::Enroll),
            transactions: Mutex::new(HashMap::new()),
        });
        let log = Log::default();
        let app = Router::new()
            .route("/auth/v2/check", get(check))
            .route("/auth/v2/preauth", post(preauth))
            .route("/auth/v2/auth", post(auth))
            .route("/auth/v2/auth_status", get(auth_status))
            .route_layer(middleware::from_fn_with_state(shared.clone(), require_signature))
            .with_state(shared.clone());
        let base = serve(app, "Duo", log.clone()).await;
        DuoStandin { base, integration_key: shared.ikey.clone(), secret_key: shared.skey.clone(), shared, log }
    }

    pub fn set(&self, username: &str, outcome: DuoOutcome) {
        self.shared.outcomes.set(username, outcome);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.log.all()
    }
}

fn ok(response: Value) -> Response {
    Json(json!({"stat": "OK", "response": response})).into_response()
}

fn fail(status: StatusCode, code: i64, message: &str, detail: Option<&str>) -> Response {
    let mut body = json!({"stat": "FAIL", "code": code, "message": message});
    if let Some(d) = detail {
        body["message_detail"] = json!(d);
    }
    (status, Json(body)).into_response()
}

/// Duo's encoding for the canonical request: RFC 3986 unreserved characters
/// as they are, every other byte as `%XX`.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn require_signature(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let credentials = header("authorization")
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((ikey, signature)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return fail(StatusCode::UNAUTHORIZED, 40101, "Missing request credentials", None);
    };
    if ikey != s.ikey {
        return fail(StatusCode::UNAUTHORIZED, 40102, "Invalid integration key in request credentials", None);
    }
    let date = header("date");
    if date.is_empty() {
        return fail(StatusCode::UNAUTHORIZED, 40105, "Missing Date header", None);
    }
    let source =
        if parts.method == "POST" { bytes.to_vec() } else { parts.uri.query().unwrap_or("").as_bytes().to_vec() };
    let mut params: Vec<(String, String)> = url::form_urlencoded::parse(&source).into_owned().collect();
    params.sort();
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect();
    let canonical =
        [date, parts.method.to_string(), header("host").to_lowercase(), parts.uri.path().to_owned(), params.join("&")]
            .join("\n");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, s.skey.as_bytes());
    let expected: String =
        aws_lc_rs::hmac::sign(&key, canonical.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return fail(StatusCode::UNAUTHORIZED, 40103, "Invalid signature in request credentials", None);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

async fn check() -> Response {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    ok(json!({"time": now}))
}

async fn preauth(State(s): State<Arc<Shared>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some(user) = form.get("username") else {
        return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("username"));
    };
    match s.outcomes.get(user) {
        DuoOutcome::PreauthAllow => ok(json!({"result": "allow", "status_msg": "Allowing unknown user"})),
        DuoOutcome::PreauthDeny => ok(json!({"result": "deny", "status_msg": "Access denied by policy"})),
        DuoOutcome::Enroll => {
            ok(json!({"result": "enroll", "status_msg": "Enroll an authentication device to proceed",
            "enroll_portal_url": "https://duo-standin.invalid/portal"}))
        }
        _ => ok(json!({"result": "auth", "status_msg": "Account is active", "devices": [{
            "device": "DPFZRS9FB0D46QFTM891", "type": "phone", "number": "XXX-XXX-0100", "name": "",
            "capabilities": ["auto", "push", "sms", "phone", "mobile_otp"]}]})),
    }
}

async fn auth(State(s): State<Arc<Shared>>, Form(form): Form<HashMap<String, String>>) -> Response {
    let param = |name: &str| form.get(name).map(String::as_str);
    let Some(user) = param("username") else {
        return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("username"));
    };
    if param("async") != Some("1") {
        return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("async (the stand-in)"));
    }
    const ALLOW: Decision = ("allow", "allow", "Success. Logging you in...");
    const DENY: Decision = ("deny", "deny", "Login request denied.");
    const WRONG_CODE: Decision = ("deny", "deny", "Incorrect passcode. Please try again.");
    const WAITING: Decision = ("waiting", "pushed", "Pushed a login request to your device...");
    let outcome = s.outcomes.get(user);
    let decision = match (param("factor"), &outcome) {
        (_, DuoOutcome::Garbage) => return "<html>gateway hiccup</html>".into_response(),
        (Some("push"), _) if param("device").is_none() => {
            return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("device"));
        }
        (Some("push"), DuoOutcome::Approve) => ALLOW,
        (Some("push"), DuoOutcome::NeverAnswer) => WAITING,
        (Some("push"), _) => DENY,
        (Some("passcode"), DuoOutcome::Passcode(code)) if param("passcode") == Some(code.as_str()) => ALLOW,
        (Some("passcode"), _) => WRONG_CODE,
        _ => return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("factor")),
    };
    let txid = random_id().unwrap();
    s.transactions.lock().unwrap().insert(txid.clone(), decision);
    ok(json!({"txid": txid}))
}

async fn auth_status(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let decision = q.get("txid").and_then(|t| s.transactions.lock().unwrap().get(t).copied());
    let Some((result, status, status_msg)) = decision else {
        return fail(StatusCode::BAD_REQUEST, 40002, "Invalid request parameters", Some("txid"));
    };
    ok(json!({"result": result, "status": status, "status_msg": status_msg}))
}
