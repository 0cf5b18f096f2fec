//! Generated form bodies at the OAuth endpoints: `/token` (every grant
//! type), `/revoke`, `/introspect`, `/device_authorization` and `/authorize`
//! (query and form). Requests start near a real one (the live tokens and
//! secrets of the server under test, by name, resolved when the case runs)
//! and are bent: parameters dropped, repeated, renamed, given hostile
//! values, badly percent-encoded, or replaced by random bytes.
//!
//! What must hold for every one of them:
//! - never a 5xx; an RFC 6749 §5.2 JSON error, or an HTML page at
//!   `/authorize`, which redirects only to its own sign-on page or to the
//!   redirect URI asked for, on a registered host, and never with a code;
//! - a success only with the credential it needs: tokens for the worker's
//!   secret or the live refresh token, introspection only to a confidential
//!   client and never of a refresh token it does not hold;
//! - a refused request spends nothing: the live refresh token still
//!   refreshes and the live access token is still active, unless its own
//!   client revoked them; and the configuration is unchanged throughout.

use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use signet_core::clock::Clock;
use signet_core::model::{AppKind, GrantType};

use super::{Reply, check_no_5xx, check_oauth_error, check_page};
use crate::admin::basic;
use crate::harness::*;
use cases::{Auth, Body, Case, Enc, Endpoint, Known, Val, case};

mod cases;

/// The live tokens of `keeper`, a person signed on through `signet-cli`.
struct Live {
    refresh: String,
    access: String,
    device_code: String,
    /// When the access token and the device code were made, on the server's clock.
    minted_at: i64,
}

struct Ctx {
    s: Server,
    /// For the fuzzed requests: a connection signetd closes is never reused.
    http: reqwest::Client,
    keeper: TestAccount,
    web: (String, String),
    spent_refresh: String,
    worker_access: String,
    verifier: String,
    admin: String,
    config: String,
    /// The configuration as exported at the start, to restore it.
    exported: Vec<u8>,
    live: Mutex<Live>,
    /// How often each endpoint gave each answer: shows how deep the cases reach.
    seen: Mutex<std::collections::BTreeMap<String, u32>>,
}

/// The configuration as `/bulk` exports it, without the TOTP steps a
/// sign-on moves on.
async fn config(s: &Server, admin: &str) -> String {
    let res = s.http.get(format!("{}/admin-api/v1/bulk", s.base)).header("authorization", admin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut doc: Value = res.json().await.unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("totp_last_step");
                m.remove("last_step");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut doc);
    doc.to_string()
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        let s = Server::start_on(backend).await;
        let keeper = s.account(false, true).await;
        let (web_id, web_secret) =
            s.application(AppKind::Web, &[GrantType::AuthorizationCode, GrantType::RefreshToken], &[], None).await;
        let tokens = code_flow_tokens(&s, &keeper).await;
        let other = code_flow_tokens(&s, &keeper).await;
        let spent_refresh = other["refresh_token"].as_str().unwrap().to_owned();
        let (status, rotated) = s
            .token(&[("grant_type", "refresh_token"), ("client_id", "signet-cli"), ("refresh_token", &spent_refresh)])
            .await;
        assert_eq!(status, 200, "{rotated}");
        let (status, worker) = s
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &s.boot.worker.client_id),
                ("client_secret", &s.boot.worker.client_secret),
            ])
            .await;
        assert_eq!(status, 200, "{worker}");
        let admin = basic(&s.boot.admin.username, &s.boot.admin.password);
        let config = config(&s, &admin).await;
        let exported = s
            .http
            .get(format!("{}/admin-api/v1/bulk", s.base))
            .header("authorization", &admin)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let (verifier, _) = pkce_pair();
        let live = Live {
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            device_code: String::new(),
            minted_at: s.clock.now(),
        };
        let ctx = Ctx {
            http: super::one_shot_client(),
            worker_access: worker["access_token"].as_str().unwrap().to_owned(),
            keeper,
            web: (web_id, web_secret.unwrap()),
            spent_refresh,
            verifier,
            admin,
            config,
            exported,
            live: Mutex::new(live),
            seen: Mutex::default(),
            s,
        };
        ctx.new_device_code().await;
        ctx
    }

    fn value(&self, k: Known) -> String {
        let live = self.live.lock().unwrap();
        match k {
            Known::Cli => "signet-cli".into(),
            Known::Worker => self.s.boot.worker.client_id.clone(),
            Known::WorkerSecret => self.s.boot.worker.client_secret.clone(),
            Known::Web => self.web.0.clone(),
            Known::WebSecret => self.web.1.clone(),
            Known::LiveRefresh => live.refresh.clone(),
            Known::LiveAccess => live.access.clone(),
            Known::SpentRefresh => self.spent_refresh.clone(),
            Known::WorkerAccess => self.worker_access.clone(),
            Known::DeviceCode => live.device_code.clone(),
            Known::Verifier => self.verifier.clone(),
            Known::Challenge => signet_core::pkce::s256_challenge(&self.verifier),
            Known::CliRedirect => CLI_REDIRECT.into(),
            Known::WebRedirect => "https://app.test/cb".into(),
        }
    }

    fn text(&self, v: &Val) -> String {
        match v {
            Val::Known(k) => self.value(*k),
            Val::Lit(s) => s.clone(),
        }
    }

    fn encode(&self, (name, v, e): &(String, Val, Enc)) -> String {
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let value = self.text(v);
        match e {
            Enc::Form => format!("{}={}", form(name), form(&value)),
            Enc::Raw => format!("{name}={value}"),
            Enc::Mangled(at, ins) => {
                let mut s = format!("{}={}", form(name), form(&value));
                s.insert_str(at % (s.len() + 1), ins);
                s
            }
        }
    }

    fn body_bytes(&self, body: &Body) -> Vec<u8> {
        match body {
            Body::Pairs(pairs) => pairs.iter().map(|p| self.encode(p)).collect::<Vec<_>>().join("&").into_bytes(),
            Body::Bytes(b) => b.clone(),
        }
    }

    /// Whether the case names `k` anywhere: a value, or the Basic credentials.
    fn mentions(&self, case: &Case, k: Known) -> bool {
        let value = self.value(k);
        let is = |v: &Val| match v {
            Val::Known(x) => *x == k,
            Val::Lit(s) => *s == value,
        };
        let in_body = match &case.body {
            Body::Pairs(pairs) => pairs.iter().any(|(_, v, _)| is(v)),
            Body::Bytes(_) => false,
        };
        in_body || matches!(&case.auth, Auth::Basic(id, secret) if is(id) || is(secret))
    }

    async fn send(&self, case: &Case) -> Option<Reply> {
        let s = &self.s;
        let path = match case.endpoint {
            Endpoint::Token => "/token",
            Endpoint::Revoke => "/revoke",
            Endpoint::Introspect => "/introspect",
            Endpoint::DeviceAuthorization => "/device_authorization",
            Endpoint::AuthorizeGet | Endpoint::AuthorizePost => "/authorize",
        };
        let bytes = self.body_bytes(&case.body);
        let too_long = bytes.len() > signet_server::oauth::form::MAX_BODY;
        let mut req = if case.endpoint == Endpoint::AuthorizeGet {
            self.http.get(super::url_with_query(&s.url(path), &bytes))
        } else {
            let mut req = self.http.post(s.url(path)).body(bytes);
            if !case.content_type.is_empty() {
                req = req.header("content-type", case.content_type);
            }
            req
        };
        let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
        let form = |s: String| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = match &case.auth {
            Auth::None => None,
            Auth::Basic(id, secret) => {
                let pair = format!("{}:{}", form(self.text(id)), form(self.text(secret)));
                Some(format!("Basic {}", b64(pair.as_bytes())).into_bytes())
            }
            Auth::BasicBytes(raw) => Some(format!("Basic {}", b64(raw)).into_bytes()),
            Auth::Header(raw) => Some(raw.clone()),
        };
        // A head larger than hyper reads (about 400 KiB) is refused before
        // signetd sees it: 431, or a closed connection for a client still writing.
        let too_long = too_long || header.as_ref().is_some_and(|h| h.len() > 256 * 1024);
        if let Some(v) = header.and_then(|h| reqwest::header::HeaderValue::from_bytes(&h).ok()) {
            req = req.header("authorization", v);
        }
        match req.send().await {
            Ok(res) if res.status() == 431 && too_long => None,
            Ok(res) => Some(Reply::of(res).await),
            // Refused by its length before it was read: signetd answers 413
            // (or hyper 431) and closes; a client still writing sees it go.
            Err(e) if e.is_request() && too_long => None,
            Err(e) => panic!("{e}"),
        }
    }

    /// A request that must succeed, waiting out the failure limiter (which
    /// the fuzzed requests may have filled) on the server's clock.
    async fn legit(&self, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        loop {
            let (status, body) = self.s.post_form(&self.s.url(path), form, basic).await;
            if status != 429 {
                return (status, body);
            }
            self.s.clock.advance(301);
        }
    }

    async fn new_device_code(&self) {
        let (status, d) =
            self.legit("/device_authorization", &[("client_id", "signet-cli"), ("scope", "openid")], None).await;
        assert_eq!(status, 200, "{d}");
        let mut live = self.live.lock().unwrap();
        live.device_code = d["device_code"].as_str().unwrap().to_owned();
        live.minted_at = self.s.clock.now();
    }

    /// Refreshes the live tokens as their client would; whether it worked.
    async fn refresh(&self) -> bool {
        let rt = self.value(Known::LiveRefresh);
        let form = [("grant_type", "refresh_token"), ("client_id", "signet-cli"), ("refresh_token", &rt)];
        let (status, t) = self.legit("/token", &form, None).await;
        if status != 200 {
            return false;
        }
        let mut live = self.live.lock().unwrap();
        live.refresh = t["refresh_token"].as_str().unwrap().to_owned();
        live.access = t["access_token"].as_str().unwrap().to_owned();
        live.minted_at = self.s.clock.now();
        true
    }

    async fn access_active(&self) -> bool {
        let at = self.value(Known::LiveAccess);
        let worker = (self.s.boot.worker.client_id.as_str(), self.s.boot.worker.client_secret.as_str());
        let (status, body) = self.legit("/introspect", &[("token", &at)], Some(worker)).await;
        assert_eq!(status, 200, "{body}");
        body["active"] == true
    }

    /// Signs the keeper on again: new live tokens, after its client revoked the old.
    async fn sign_on_again(&self) {
        self.s.clock.advance(301);
        let t = code_flow_tokens(&self.s, &self.keeper).await;
        let mut live = self.live.lock().unwrap();
        live.refresh = t["refresh_token"].as_str().unwrap().to_owned();
        live.access = t["access_token"].as_str().unwrap().to_owned();
        live.minted_at = self.s.clock.now();
    }

    /// Checks one case; after a failure, puts the server back as it was
    /// (the configuration, live tokens), so that shrinking it replays each
    /// smaller case on the same state and the smallest one is the cause.
    async fn check(&self, case: Case) -> Result<(), TestCaseError> {
        let outcome = self.check_case(case).await;
        if outcome.is_err() {
            if config(&self.s, &self.admin).await != self.config {
                let res = self
                    .s
                    .http
                    .post(format!("{}/admin-api/v1/bulk", self.s.base))
                    .header("authorization", &self.admin)
                    .header("content-type", "application/json")
                    .body(self.exported.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "restoring the configuration");
            }
            self.sign_on_again().await;
            self.new_device_code().await;
        }
        outcome
    }

    async fn check_case(&self, case: Case) -> Result<(), TestCaseError> {
        // The limiter's waits move the clock: keep the live tokens and the device code fresh.
        if self.s.clock.now() - self.live.lock().unwrap().minted_at > 600 {
            prop_assert!(self.refresh().await, "the live refresh token stopped working as time passed");
            self.new_device_code().await;
        }
        let before_refresh = self.value(Known::LiveRefresh);
        let Some(r) = self.send(&case).await else { return Ok(()) };
        check_no_5xx(&r, &format!("{:?}", case.endpoint))?;
        if r.status == 429 {
            self.s.clock.advance(r.header("retry-after").parse::<i64>().unwrap_or(300) + 1);
        }
        let shown = r.shown();
        let body = r.json();
        let answer = format!("{:?} {} {}", case.endpoint, r.status, body["error"].as_str().unwrap_or_default());
        *self.seen.lock().unwrap().entry(answer).or_default() += 1;
        let with_secret = self.mentions(&case, Known::WorkerSecret) || self.mentions(&case, Known::WebSecret);
        let mut rotated = false;
        match case.endpoint {
            Endpoint::AuthorizeGet | Endpoint::AuthorizePost => return self.check_authorize(&case, &r),
            _ if !(200..300).contains(&r.status) => check_oauth_error(&r)?,
            Endpoint::Token => {
                prop_assert!(body["access_token"].is_string() && body["token_type"].is_string(), "{shown}");
                // Who the tokens went to, from the access token's own claims.
                let client = claims(body["access_token"].as_str().unwrap_or_default())["client_id"].clone();
                if client == self.s.boot.worker.client_id.as_str() {
                    prop_assert!(
                        self.mentions(&case, Known::WorkerSecret),
                        "worker tokens without its secret: {shown}"
                    );
                    prop_assert!(body.get("refresh_token").is_none(), "{shown}");
                } else {
                    prop_assert_eq!(client, "signet-cli", "{}", shown);
                    prop_assert!(self.mentions(&case, Known::LiveRefresh), "tokens without a credential: {shown}");
                    // The live refresh token was spent, by its own client: its successor is live.
                    rotated = true;
                    match body["refresh_token"].as_str() {
                        Some(rt) => {
                            let mut live = self.live.lock().unwrap();
                            live.refresh = rt.to_owned();
                            live.access = body["access_token"].as_str().unwrap_or_default().to_owned();
                        }
                        None => self.sign_on_again().await,
                    }
                }
            }
            Endpoint::Revoke => {
                prop_assert!(self.mentions(&case, Known::Cli) || with_secret, "revoked unauthenticated: {shown}");
            }
            Endpoint::Introspect => {
                prop_assert!(with_secret, "introspection for a public client: {shown}");
                prop_assert!(body["active"].is_boolean(), "{shown}");
                if body["active"] == true {
                    let described =
                        self.mentions(&case, Known::LiveAccess) || self.mentions(&case, Known::WorkerAccess);
                    prop_assert!(
                        described,
                        "an unknown token is active, or a refresh token described to another client: {shown}"
                    );
                }
            }
            Endpoint::DeviceAuthorization => {
                prop_assert!(self.mentions(&case, Known::Cli), "a device flow for a client without the grant: {shown}");
                prop_assert!(body["device_code"].is_string() && body["user_code"].is_string(), "{shown}");
            }
        }
        // Refused or not, nothing the request had no right to spend is spent.
        let owner_revoked = case.endpoint == Endpoint::Revoke && r.status == 200 && self.mentions(&case, Known::Cli);
        if self.mentions(&case, Known::LiveAccess) && !rotated && !self.access_active().await {
            prop_assert!(owner_revoked, "the live access token stopped working after: {shown}");
        }
        if self.mentions(&case, Known::LiveRefresh) && !rotated {
            prop_assert_eq!(self.value(Known::LiveRefresh), before_refresh);
            if !self.refresh().await {
                prop_assert!(owner_revoked, "the live refresh token was spent by a refused request: {}", shown);
                self.sign_on_again().await;
            }
        } else if owner_revoked && self.mentions(&case, Known::LiveAccess) && !self.access_active().await {
            prop_assert!(self.refresh().await);
        }
        prop_assert_eq!(config(&self.s, &self.admin).await, self.config.clone(), "the configuration changed");
        Ok(())
    }

    /// `/authorize` answers with a page, or sends the browser to its own
    /// sign-on page or back to the redirect URI asked for, never with a code.
    fn check_authorize(&self, case: &Case, r: &Reply) -> Result<(), TestCaseError> {
        let shown = r.shown();
        let Some(location) = r.headers.get("location").and_then(|l| l.to_str().ok()) else {
            return check_page(r);
        };
        prop_assert!(matches!(r.status, 302 | 303), "{shown}");
        if location.starts_with(&format!("{}/signon/", self.s.issuer)) {
            return Ok(());
        }
        let url = url::Url::parse(location).map_err(|e| TestCaseError::fail(format!("{location}: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        prop_assert!(
            ["127.0.0.1", "[::1]", "app.test"].contains(&host),
            "redirected off the registered hosts: {location}"
        );
        // The redirect URI as the server read it from the request.
        let bytes = self.body_bytes(&case.body);
        let asked: Vec<String> = url::form_urlencoded::parse(&bytes)
            .filter(|(n, _)| n == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .collect();
        prop_assert!(
            asked.iter().any(|a| !a.is_empty() && location.starts_with(a.as_str())),
            "redirected somewhere not asked for: {location}"
        );
        prop_assert!(
            !url.query_pairs().any(|(k, _)| k == "code" || k == "access_token"),
            "a code without a sign-on: {location}"
        );
        prop_assert!(url.query_pairs().any(|(k, _)| k == "error"), "{location}");
        Ok(())
    }
}

/// The claims of a JWT, unverified: only to see whom the server issued it to.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

fn fuzz_oauth_forms(backend: Backend) {
    let rt = super::runtime();
    let ctx = rt.block_on(Ctx::new(backend));
    super::run(&rt, "oauth_forms", 64, case(), |c| ctx.check(c));
    eprintln!("answers: {:#?}", ctx.seen.lock().unwrap());
    // The trail is intact after all of it.
    let verified = rt.block_on(async {
        let res = ctx
            .s
            .http
            .get(format!("{}/admin-api/v1/audit/verify", ctx.s.base))
            .header("authorization", &ctx.admin)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    });
    assert_eq!(verified.0, 200, "{}", verified.1);
    assert_eq!(verified.1["intact"], true, "{}", verified.1);
}

#[test]
fn fuzz_oauth_forms_sqlite() {
    fuzz_oauth_forms(Backend::Sqlite);
}

#[test]
fn fuzz_oauth_forms_postgres() {
    fuzz_oauth_forms(Backend::Postgres);
}
