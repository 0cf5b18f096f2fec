//! The OpenID Connect conformance suite's "basic" and "config" plans for an
//! OpenID provider (`oidcc-basic-certification-test-plan`,
//! `oidcc-config-certification-test-plan`), reproduced as Rust tests
//! against a real signetd: the suite itself cannot run here. Each test is
//! named after the module it reproduces and checks what that module checks;
//! docs/oidc-conformance.md lists every module, with the modules that do
//! not apply and why. Each runs on SQLite and PostgreSQL, since each
//! module's flow writes codes, sessions and grants.
//!
//! The suite's static client is a confidential `web` application with
//! `client_secret_basic`, sending no PKCE (its explicit opt-out), in an
//! environment of end users: the Administrators environment makes an
//! administrator confirm before a code leaves for a web host.

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use signet_core::model::{AppKind, Application, GrantType};

use crate::harness::{Backend, Browser, Server, TestAccount, pkce_pair, query, test_event};

/// Runs one async test body on both backends, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use on_both;

pub const REDIRECT: &str = "https://app.test/cb";

/// The suite's relying party: its client, and the person who signs on.
pub struct Rp {
    pub s: Server,
    pub env: String,
    pub client_id: String,
    pub secret: String,
    pub user: TestAccount,
}

impl Rp {
    pub async fn start(backend: Backend) -> Rp {
        let s = Server::start_on(backend).await;
        let env = s.environment("Customers").await;
        let user = s.account_in(&env, false, false).await;
        let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
        let (client_id, secret) = s.application(AppKind::Web, &grants, &[], Some(&env)).await;
        let configured = |a: &Application| {
            let mut next = Application { pkce_required: false, ..a.clone() };
            next.scopes.insert("email".into());
            Ok::<_, ()>((next, test_event("application.update", Some(&env), a.id.as_str())))
        };
        s.store()
            .update_application(
                &signet_core::id::EnvironmentId::from(env.as_str()),
                &signet_core::id::ClientId::from(client_id.as_str()),
                configured,
            )
            .await
            .unwrap();
        Rp { s, env, client_id, secret: secret.unwrap(), user }
    }

    pub fn url(&self, path: &str) -> String {
        self.s.url_in(&self.env, path)
    }

    pub fn issuer(&self) -> String {
        self.url("")
    }

    /// An authorization request as the suite builds it, plus `extra`.
    pub fn authorize(&self, extra: &str) -> String {
        format!(
            "{}?response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&state=st-1&nonce=nn-1{extra}",
            self.url("/authorize"),
            self.client_id
        )
    }

    /// Follows an authorization request, through the sign-on page if one
    /// is shown: the parameters the browser brings back to the client.
    pub async fn sign_on(&self, b: &mut Browser, url: &str) -> HashMap<String, String> {
        let start = b.get(url).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let mut to = start.location.unwrap();
        if to.contains("/signon/") {
            let done = b.submit(&to, &[("username", &self.user.username), ("password", &self.user.password)]).await;
            assert_eq!(done.status, 303, "{}", done.body);
            to = done.location.unwrap();
        }
        assert!(to.starts_with(&format!("{REDIRECT}?")), "{to}");
        query(&to)
    }

    /// Whether the request shows the sign-on page rather than answering at once.
    pub async fn asks_to_sign_on(&self, b: &mut Browser, url: &str) -> bool {
        let start = b.get(url).await;
        assert_eq!(start.status, 303, "{}", start.body);
        start.location.unwrap().contains("/signon/")
    }

    /// Redeems a code with `client_secret_basic`: status, body and headers.
    pub async fn redeem(&self, code: &str) -> (u16, Value, HeaderMap) {
        let form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
        self.token(&form, true).await
    }

    /// A token request, authenticated with Basic or in the body.
    pub async fn token(&self, form: &[(&str, &str)], basic: bool) -> (u16, Value, HeaderMap) {
        let mut form = form.to_vec();
        let req = self.s.http.post(self.url("/token"));
        let req = if basic {
            req.basic_auth(&self.client_id, Some(&self.secret))
        } else {
            form.extend([("client_id", self.client_id.as_str()), ("client_secret", self.secret.as_str())]);
            req
        };
        let res = req.form(&form).send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        (status, res.json().await.unwrap(), headers)
    }

    /// Signs on in `b` and redeems the code: the token response.
    pub async fn tokens(&self, b: &mut Browser, url: &str) -> Value {
        let q = self.sign_on(b, url).await;
        let (status, tokens, _) = self.redeem(&q["code"]).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    /// The userinfo endpoint, called with the token in an Authorization header.
    pub async fn userinfo(&self, token: &str, post: bool) -> (u16, Value) {
        let req = if post { self.s.http.post(self.url("/userinfo")) } else { self.s.http.get(self.url("/userinfo")) };
        let res = req.bearer_auth(token).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// A JWT's header and claims, unverified.
pub fn jwt_parts(jwt: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let raw = signet_core::crypto::b64url_decode(jwt.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    (part(0), part(1))
}

/// RFC 6749 §4.1.2.1 and §5.2: `error_description` keeps to %x20-21 / %x23-5B / %x5D-7E.
pub fn rfc6749_text(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// What the suite checks of every error sent back to the client
/// (`performGenericAuthorizationEndpointErrorResponseValidation`).
fn assert_error_response(rp: &Rp, q: &HashMap<String, String>, state: &str) {
    assert_eq!(q.get("state").map(String::as_str), Some(state), "state comes back unchanged: {q:?}");
    assert_eq!(q.get("iss"), Some(&rp.issuer()), "RFC 9207 iss: {q:?}");
    assert!(q.contains_key("error") && !q.contains_key("code"), "{q:?}");
    let known = ["error", "error_description", "error_uri", "state", "session_state", "iss"];
    assert!(q.keys().all(|k| known.contains(&k.as_str())), "unexpected parameters: {q:?}");
    assert!(q.get("error_description").is_none_or(|d| rfc6749_text(d)), "{q:?}");
}

/// What the suite checks of a token endpoint error (`checkResponse` of the code reuse modules).
fn assert_token_error(status: u16, body: &Value, headers: &HeaderMap, error: &str) {
    assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(body["error_description"].as_str().is_none_or(rfc6749_text), "{body}");
    assert!(body.get("error_uri").is_none());
}

/// The ID token checks every module runs (`PerformStandardIdTokenChecks`):
/// signed by a key of the published JWKS, issuer, audience, times, subject,
/// and the nonce of the request if it had one. Returns the claims.
async fn checked_id_token(rp: &Rp, id_token: &str, nonce: Option<&str>) -> Value {
    let (header, _) = jwt_parts(id_token);
    let jwks: Value = rp.s.http.get(rp.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let kid = header["kid"].as_str().expect("the ID token names its key (OIDC Core §10.1)");
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).expect("its key is published");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let alg = jsonwebtoken::Algorithm::ES256;
    assert_eq!(header["alg"], "ES256");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[&rp.client_id]);
    v.set_issuer(&[rp.issuer()]);
    v.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v).expect("a valid ID token").claims;
    assert!(claims["iat"].as_i64().unwrap() < claims["exp"].as_i64().unwrap());
    let sub = claims["sub"].as_str().unwrap();
    assert!(!sub.is_empty() && sub.len() <= 255, "OIDC Core §2: {sub}");
    assert_eq!(claims.get("nonce").and_then(Value::as_str), nonce, "OIDC Core §3.1.3.7: {claims}");
    if claims["aud"].is_array() {
        assert_eq!(claims["azp"], rp.client_id.as_str());
    }
    claims
}

// ---- oidcc-basic-certification-test-plan ----

on_both!(oidcc_server);
async fn oidcc_server(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let q = rp.sign_on(&mut b, &rp.authorize("")).await;
    assert_eq!((q["state"].as_str(), q.get("iss")), ("st-1", Some(&rp.issuer())));
    let (status, t, headers) = rp.redeem(&q["code"]).await;
    assert_eq!(status, 200, "{t}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(
        (headers["cache-control"].to_str().unwrap(), headers["pragma"].to_str().unwrap()),
        ("no-store", "no-cache")
    );
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["expires_in"].as_i64().unwrap() > 0);
    let claims = checked_id_token(&rp, t["id_token"].as_str().unwrap(), Some("nn-1")).await;
    assert_eq!(claims["sub"], rp.user.id.as_str());
    assert!(claims["auth_time"].is_i64());
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), false).await;
    assert_eq!((status, &info["sub"]), (200, &claims["sub"]));
}

on_both!(oidcc_server_client_secret_post);
async fn oidcc_server_client_secret_post(backend: Backend) {
    let rp = Rp::start(backend).await;
    let q = rp.sign_on(&mut Browser::default(), &rp.authorize("")).await;
    let form = [("grant_type", "authorization_code"), ("code", q["code"].as_str()), ("redirect_uri", REDIRECT)];
    let (status, t, _) = rp.token(&form, false).await;
    assert_eq!(status, 200, "{t}");
    checked_id_token(&rp, t["id_token"].as_str().unwrap(), Some("nn-1")).await;
}

on_both!(oidcc_response_type_missing);
async fn oidcc_response_type_missing(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = rp.authorize("").replace("response_type=code&", "");
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let q = query(&page.location.unwrap());
    assert_error_response(&rp, &q, "st-1");
    assert!(["invalid_request", "unsupported_response_type"].contains(&q["error"].as_str()), "{q:?}");
}

on_both!(oidcc_userinfo_get);
async fn oidcc_userinfo_get(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), false).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(rp.user.id.as_str())), "{info}");
}

on_both!(oidcc_userinfo_post_header);
async fn oidcc_userinfo_post_header(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), true).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(rp.user.id.as_str())), "{info}");
}

// RFC 6750 §2.2's form-encoded token is optional; the module accepts an
// HTTP error with a warning. signetd refuses it, in RFC 6750 §3's shape.
on_both!(oidcc_userinfo_post_body);
async fn oidcc_userinfo_post_body(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let res = rp.s.http.post(rp.url("/userinfo")).form(&[("access_token", t["access_token"].as_str().unwrap())]);
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
}

on_both!(oidcc_ensure_request_without_nonce_succeeds_for_code_flow);
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = rp.authorize("").replace("&nonce=nn-1", "");
    let t = rp.tokens(&mut Browser::default(), &url).await;
    checked_id_token(&rp, t["id_token"].as_str().unwrap(), None).await;
}

on_both!(oidcc_scope_profile);
async fn oidcc_scope_profile(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t =
        rp.tokens(&mut Browser::default(), &rp.authorize("").replace("scope=openid", "scope=openid%20profile")).await;
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), false).await;
    assert_eq!(status, 200);
    assert_eq!(
        (info["name"].as_str(), info["preferred_username"].as_str()),
        (Some(&*rp.user.username), Some(&*rp.user.username))
    );
    let (_, id) = jwt_parts(t["id_token"].as_str().unwrap());
    assert!(id.get("name").is_none(), "profile claims come from userinfo (OIDC Core §5.4): {id}");
}

// The module passes with a warning when no email comes back: signetd
// accounts have no email address (docs/oidc-conformance.md).
on_both!(oidcc_scope_email);
async fn oidcc_scope_email(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("").replace("scope=openid", "scope=openid%20email")).await;
    assert_eq!(t["scope"], "email openid");
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), false).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(rp.user.id.as_str())));
    assert!(info.get("name").is_none(), "no profile claims for the email scope: {info}");
}

// The address, phone and all-scopes modules skip a provider whose
// scopes_supported leaves them out; signetd's does, and refuses them.
on_both!(oidcc_scope_address_phone_and_all_are_skipped);
async fn oidcc_scope_address_phone_and_all_are_skipped(backend: Backend) {
    let rp = Rp::start(backend).await;
    let d: Value =
        rp.s.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let offered = d["scopes_supported"].as_array().unwrap();
    for scope in ["address", "phone"] {
        assert!(!offered.iter().any(|s| s == scope), "{scope}");
        let url = rp.authorize("").replace("scope=openid", &format!("scope=openid%20{scope}"));
        let page = Browser::default().get(&url).await;
        let q = query(&page.location.unwrap());
        assert_error_response(&rp, &q, "st-1");
        assert_eq!(q["error"], "invalid_scope");
    }
}

on_both!(oidcc_alternate_happy_flow);
async fn oidcc_alternate_happy_flow(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = format!(
        "{}?nonce=nn-1&state=st-1&scope=profile%20openid&redirect_uri={REDIRECT}&client_id={}&response_type=code",
        rp.url("/authorize"),
        rp.client_id
    );
    let t = rp.tokens(&mut Browser::default(), &url).await;
    assert_eq!(t["scope"], "openid profile");
    checked_id_token(&rp, t["id_token"].as_str().unwrap(), Some("nn-1")).await;
}

/// A request with `extra` that must sign on as usual (OIDC Core §15.1, RFC 6749 §3.1).
async fn succeeds_with(backend: Backend, extra: &str) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    assert!(rp.asks_to_sign_on(&mut b, &rp.authorize(extra)).await, "{extra}: a sign-on page, not an error");
    let t = rp.tokens(&mut b, &rp.authorize(extra)).await;
    checked_id_token(&rp, t["id_token"].as_str().unwrap(), Some("nn-1")).await;
}

on_both!(oidcc_display_page);
async fn oidcc_display_page(backend: Backend) {
    succeeds_with(backend, "&display=page").await;
}

on_both!(oidcc_display_popup);
async fn oidcc_display_popup(backend: Backend) {
    succeeds_with(backend, "&display=popup").await;
}

on_both!(oidcc_ensure_request_with_unknown_parameter_succeeds);
async fn oidcc_ensure_request_with_unknown_parameter_succeeds(backend: Backend) {
    succeeds_with(backend, "&extra=foobar").await;
}

on_both!(oidcc_login_hint);
async fn oidcc_login_hint(backend: Backend) {
    succeeds_with(backend, "&login_hint=buffy%40app.test").await;
}

on_both!(oidcc_ui_locales);
async fn oidcc_ui_locales(backend: Backend) {
    succeeds_with(backend, "&ui_locales=se").await;
}

on_both!(oidcc_claims_locales);
async fn oidcc_claims_locales(backend: Backend) {
    succeeds_with(backend, "&claims_locales=se").await;
}

// signetd has no acr values: the module passes with a warning.
on_both!(oidcc_ensure_request_with_acr_values_succeeds);
async fn oidcc_ensure_request_with_acr_values_succeeds(backend: Backend) {
    succeeds_with(backend, "&acr_values=1%202").await;
}

on_both!(oidcc_ensure_request_with_valid_pkce_succeeds);
async fn oidcc_ensure_request_with_valid_pkce_succeeds(backend: Backend) {
    let rp = Rp::start(backend).await;
    let (verifier, challenge) = pkce_pair();
    let q = rp
        .sign_on(
            &mut Browser::default(),
            &rp.authorize(&format!("&code_challenge={challenge}&code_challenge_method=S256")),
        )
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, t, _) = rp.token(&form, true).await;
    assert_eq!(status, 200, "{t}");
}

// Claims requested with the `claims` parameter (OIDC Core §5.5) are not
// supported (claims_parameter_supported is false); the request succeeds,
// and the module warns that `name` does not come back for scope openid.
on_both!(oidcc_claims_essential);
async fn oidcc_claims_essential(backend: Backend) {
    let rp = Rp::start(backend).await;
    let claims =
        url::form_urlencoded::byte_serialize(br#"{"userinfo":{"name":{"essential":true}}}"#).collect::<String>();
    let t = rp.tokens(&mut Browser::default(), &rp.authorize(&format!("&claims={claims}"))).await;
    let (status, info) = rp.userinfo(t["access_token"].as_str().unwrap(), false).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(rp.user.id.as_str())));
}

on_both!(oidcc_prompt_login);
async fn oidcc_prompt_login(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let first = rp.tokens(&mut b, &rp.authorize("")).await;
    rp.s.clock.advance(1);
    assert!(rp.asks_to_sign_on(&mut b, &rp.authorize("&prompt=login")).await, "prompt=login asks again");
    let second = rp.tokens(&mut b, &rp.authorize("&prompt=login")).await;
    let one = checked_id_token(&rp, first["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), Some("nn-1")).await;
    assert!(two["auth_time"].as_i64() > one["auth_time"].as_i64(), "{one} {two}");
}

on_both!(oidcc_prompt_none_not_logged_in);
async fn oidcc_prompt_none_not_logged_in(backend: Backend) {
    let rp = Rp::start(backend).await;
    let state = format!("{}{}", "s".repeat(64), "0123456789abcdef".repeat(4));
    let url = rp.authorize("&prompt=none").replace("state=st-1", &format!("state={state}"));
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 303);
    let q = query(&page.location.unwrap());
    assert_error_response(&rp, &q, &state);
    let needs_ui = ["login_required", "interaction_required", "consent_required", "account_selection_required"];
    assert!(needs_ui.contains(&q["error"].as_str()), "OIDC Core §3.1.2.6: {q:?}");
}

on_both!(oidcc_prompt_none_logged_in);
async fn oidcc_prompt_none_logged_in(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let first = rp.tokens(&mut b, &rp.authorize("")).await;
    rp.s.clock.advance(1);
    assert!(!rp.asks_to_sign_on(&mut b, &rp.authorize("&prompt=none")).await, "no page for prompt=none");
    let second = rp.tokens(&mut b, &rp.authorize("&prompt=none")).await;
    let one = checked_id_token(&rp, first["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), Some("nn-1")).await;
    assert_eq!((&one["sub"], &one["auth_time"]), (&two["sub"], &two["auth_time"]));
}

on_both!(oidcc_max_age_1);
async fn oidcc_max_age_1(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let first = rp.tokens(&mut b, &rp.authorize("")).await;
    rp.s.clock.advance(2);
    assert!(
        rp.asks_to_sign_on(&mut b, &rp.authorize("&max_age=1")).await,
        "a session older than max_age signs on again"
    );
    let second = rp.tokens(&mut b, &rp.authorize("&max_age=1")).await;
    let one = checked_id_token(&rp, first["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let now = signet_core::clock::Clock::now(&rp.s.clock);
    let auth_time = two["auth_time"].as_i64().expect("auth_time, since max_age was asked (OIDC Core §3.1.2.1)");
    assert!(auth_time > one["auth_time"].as_i64().unwrap() && now - auth_time <= 1, "{one} {two}");
    // Silently, an old session is login_required; and max_age must be a number.
    rp.s.clock.advance(2);
    let silent = b.get(&rp.authorize("&max_age=1&prompt=none")).await;
    let q = query(&silent.location.unwrap());
    assert_error_response(&rp, &q, "st-1");
    assert_eq!(q["error"], "login_required");
    let bad = b.get(&rp.authorize("&max_age=soon")).await;
    let q = query(&bad.location.unwrap());
    assert_error_response(&rp, &q, "st-1");
    assert_eq!(q["error"], "invalid_request");
}

on_both!(oidcc_max_age_10000);
async fn oidcc_max_age_10000(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let first = rp.tokens(&mut b, &rp.authorize("&max_age=15000")).await;
    rp.s.clock.advance(2);
    assert!(!rp.asks_to_sign_on(&mut b, &rp.authorize("&max_age=10000")).await, "a recent session is enough");
    let second = rp.tokens(&mut b, &rp.authorize("&max_age=10000")).await;
    let one = checked_id_token(&rp, first["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), Some("nn-1")).await;
    assert!(one["auth_time"].is_i64());
    assert_eq!((&one["sub"], &one["auth_time"]), (&two["sub"], &two["auth_time"]));
}

on_both!(oidcc_id_token_hint);
async fn oidcc_id_token_hint(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let first = rp.tokens(&mut b, &rp.authorize("")).await;
    let hint = first["id_token"].as_str().unwrap();
    let url = rp.authorize(&format!("&prompt=none&id_token_hint={hint}"));
    let second = rp.tokens(&mut b, &url).await;
    let one = checked_id_token(&rp, hint, Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), Some("nn-1")).await;
    assert_eq!((&one["sub"], &one["auth_time"]), (&two["sub"], &two["auth_time"]));
}

on_both!(oidcc_codereuse);
async fn oidcc_codereuse(backend: Backend) {
    let rp = Rp::start(backend).await;
    let q = rp.sign_on(&mut Browser::default(), &rp.authorize("")).await;
    assert_eq!(rp.redeem(&q["code"]).await.0, 200);
    let (status, body, headers) = rp.redeem(&q["code"]).await;
    assert_token_error(status, &body, &headers, "invalid_grant");
}

on_both!(oidcc_codereuse_30seconds);
async fn oidcc_codereuse_30seconds(backend: Backend) {
    let rp = Rp::start(backend).await;
    let q = rp.sign_on(&mut Browser::default(), &rp.authorize("")).await;
    let (status, t, _) = rp.redeem(&q["code"]).await;
    assert_eq!(status, 200);
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(rp.userinfo(access, false).await.0, 200);
    rp.s.clock.advance(30);
    let (status, body, headers) = rp.redeem(&q["code"]).await;
    assert_token_error(status, &body, &headers, "invalid_grant");
    assert_eq!(rp.userinfo(access, false).await.0, 401, "RFC 6749 §4.1.2: what the code issued is revoked");
}

on_both!(oidcc_ensure_registered_redirect_uri);
async fn oidcc_ensure_registered_redirect_uri(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = rp.authorize("").replace(REDIRECT, &format!("{REDIRECT}/Xq3vT9pLk2"));
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none(), "neither the requested nor the registered URI is called");
    assert!(page.body.contains("redirect_uri is not registered"), "{}", page.body);
}

on_both!(oidcc_ensure_post_request_succeeds);
async fn oidcc_ensure_post_request_succeeds(backend: Backend) {
    let rp = Rp::start(backend).await;
    let mut b = Browser::default();
    let form = [
        ("response_type", "code"),
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st-1"),
        ("nonce", "nn-1"),
    ];
    let start = b.post(&rp.url("/authorize"), &form).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let signon = start.location.unwrap();
    let done = b.submit(&signon, &[("username", &rp.user.username), ("password", &rp.user.password)]).await;
    let q = query(&done.location.unwrap());
    let (status, t, _) = rp.redeem(&q["code"]).await;
    assert_eq!(status, 200);
    checked_id_token(&rp, t["id_token"].as_str().unwrap(), Some("nn-1")).await;
}

/// An unsigned request object (OIDC Core §6.1) asking for `claims`.
fn request_object(rp: &Rp, redirect_uri: &str) -> String {
    let b64 = |v: Value| signet_core::crypto::b64url(&serde_json::to_vec(&v).unwrap());
    let claims = json!({"iss": rp.client_id, "aud": rp.issuer(), "response_type": "code", "client_id": rp.client_id,
        "redirect_uri": redirect_uri, "scope": "openid", "state": "st-1", "nonce": "nn-1"});
    format!("{}.{}.", b64(json!({"alg": "none"})), b64(claims))
}

// signetd supports neither request objects nor request_uri, says so in its
// metadata, and answers the OIDC Core §6 errors rather than ignore them.
on_both!(oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported);
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(backend: Backend) {
    let rp = Rp::start(backend).await;
    let d: Value =
        rp.s.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["request_parameter_supported"], false);
    let page = Browser::default().get(&rp.authorize(&format!("&request={}", request_object(&rp, REDIRECT)))).await;
    let q = query(&page.location.unwrap());
    assert_error_response(&rp, &q, "st-1");
    assert_eq!(q["error"], "request_not_supported");
}

on_both!(oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported);
async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(backend: Backend) {
    let rp = Rp::start(backend).await;
    let d: Value =
        rp.s.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["request_uri_parameter_supported"], false, "it defaults to true when left out (OIDC Discovery §3)");
    let page = Browser::default().get(&rp.authorize("&request_uri=https%3A%2F%2Fapp.test%2Freq.jwt")).await;
    let q = query(&page.location.unwrap());
    assert_error_response(&rp, &q, "st-1");
    assert_eq!(q["error"], "request_uri_not_supported");
}

on_both!(oidcc_ensure_request_object_with_redirect_uri);
async fn oidcc_ensure_request_object_with_redirect_uri(backend: Backend) {
    let rp = Rp::start(backend).await;
    // The request object holds the registered URI; the plain parameter a wrong one.
    let url = rp
        .authorize(&format!("&request={}", request_object(&rp, REDIRECT)))
        .replace(&format!("redirect_uri={REDIRECT}&"), &format!("redirect_uri={REDIRECT}/wrong&"));
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 400, "an error page for the invalid redirect_uri");
    assert!(page.location.is_none(), "never the default redirect: {:?}", page.location);
}

on_both!(oidcc_refresh_token);
async fn oidcc_refresh_token(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = rp.authorize("").replace("scope=openid", "scope=openid%20offline_access") + "&prompt=consent";
    let first = rp.tokens(&mut Browser::default(), &url).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 22 && refresh.bytes().all(|b| (0x20..=0x7e).contains(&b)), "RFC 6749 §10.10, A.17");
    rp.s.clock.advance(1);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid offline_access")];
    let (status, second, headers) = rp.token(&form, true).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (headers["cache-control"].to_str().unwrap(), second["token_type"].as_str()),
        ("no-store", Some("Bearer"))
    );
    assert_ne!(first["access_token"], second["access_token"]);
    // OIDC Core §12.2: the same person, client and sign-on; a new iat.
    let one = checked_id_token(&rp, first["id_token"].as_str().unwrap(), Some("nn-1")).await;
    let two = checked_id_token(&rp, second["id_token"].as_str().unwrap(), None).await;
    for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(one.get(claim), two.get(claim), "{claim}");
    }
    assert!(two["iat"].as_i64() > one["iat"].as_i64());
    // Another client's refresh token is refused, in the same shape.
    let (other, other_secret) =
        rp.s.application(AppKind::Web, &[GrantType::AuthorizationCode, GrantType::RefreshToken], &[], Some(&rp.env))
            .await;
    let next = second["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", next)];
    let res = rp.s.http.post(rp.url("/token")).basic_auth(&other, other_secret).form(&form).send().await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    let body: Value = res.json().await.unwrap();
    assert_token_error(status, &body, &headers, "invalid_grant");
}

// Every module that gets an error from the token endpoint runs
// `ValidateErrorDescriptionFromTokenEndpointResponseError`: RFC 6749 §5.2's
// character set, even where the description echoes what the client sent.
on_both!(oidcc_token_error_descriptions_keep_to_the_rfc6749_characters);
async fn oidcc_token_error_descriptions_keep_to_the_rfc6749_characters(backend: Backend) {
    let s = Server::start_on(backend).await;
    let worker = (s.boot.worker.client_id.as_str(), s.boot.worker.client_secret.as_str());
    let public = None;
    let cases = [
        ("grant_type=password&client_id=signet-cli", public, "unsupported_grant_type"),
        ("grant_type=p%C3%A4ss%5C%22word&client_id=signet-cli", public, "unsupported_grant_type"),
        ("grant_type=client_credentials&sc%22ope=1&sc%22ope=2", Some(worker), "invalid_request"),
        ("grant_type=client_credentials&scope=admin", Some(worker), "invalid_scope"),
    ];
    for (body, client, error) in cases {
        let mut req = s.http.post(s.url("/token")).header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = client {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.body(body).send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        let answer: Value = res.json().await.unwrap();
        assert_token_error(status, &answer, &headers, error);
        assert!(answer["error_description"].is_string(), "{body}: {answer}");
    }
}

// ---- related negative modules of the dynamic plan: redirect URI rules ----

on_both!(oidcc_ensure_redirect_uri_in_authorization_request);
async fn oidcc_ensure_redirect_uri_in_authorization_request(backend: Backend) {
    let rp = Rp::start(backend).await;
    // The testkit's web application has two redirect URIs registered.
    let url = rp.authorize("").replace(&format!("&redirect_uri={REDIRECT}"), "");
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none());
    assert!(page.body.contains("no redirect_uri"), "{}", page.body);
}

on_both!(oidcc_redirect_uri_query_ok_mismatch_and_added);
async fn oidcc_redirect_uri_query_ok_mismatch_and_added(backend: Backend) {
    let rp = Rp::start(backend).await;
    let with_query = "https://app.test/cb?foo=bar";
    let registered = |a: &Application| {
        let next = Application { redirect_uris: vec![with_query.into()], ..a.clone() };
        Ok::<_, ()>((next, test_event("application.update", Some(&rp.env), a.id.as_str())))
    };
    rp.s.store()
        .update_application(
            &signet_core::id::EnvironmentId::from(rp.env.as_str()),
            &signet_core::id::ClientId::from(rp.client_id.as_str()),
            registered,
        )
        .await
        .unwrap();
    rp.s.clock.advance(11); // past the client cache
    let enc = |u: &str| url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let at = |uri: &str| {
        rp.authorize("").replace(&format!("redirect_uri={REDIRECT}"), &format!("redirect_uri={}", enc(uri)))
    };
    // OK: the registered query stays, and the response is added to it.
    let mut b = Browser::default();
    let signon = b.get(&at(with_query)).await.location.unwrap();
    assert!(signon.contains("/signon/"), "{signon}");
    let done = b.submit(&signon, &[("username", &rp.user.username), ("password", &rp.user.password)]).await;
    let to = done.location.unwrap();
    assert!(to.starts_with("https://app.test/cb?foo=bar&") && query(&to).contains_key("code"), "{to}");
    // Mismatch and Added: any other query is another URI.
    for uri in ["https://app.test/cb?foo=baz", "https://app.test/cb?foo=bar&bar=foo", "https://app.test/cb"] {
        let page = Browser::default().get(&at(uri)).await;
        assert_eq!(page.status, 400, "{uri}");
        assert!(page.location.is_none(), "{uri}");
    }
}

// OP-redirect_uri-RegFrag: a redirect URI with a fragment cannot be
// registered, through the API or the whole-configuration import:
// `finding_1_redirect_uris_follow_the_rules_on_every_write` (security.rs).

// ---- oidcc-config-certification-test-plan ----

// oidcc-discovery-endpoint-verification, condition by condition, over
// HTTPS as signetd serves it off loopback. One exception is a gap:
// `OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported` wants RS256,
// and signetd signs with ES256 only (docs/oidc-conformance.md).
on_both!(oidcc_discovery_endpoint_verification);
async fn oidcc_discovery_endpoint_verification(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("signet-conf-{}", signet_core::crypto::random_id().unwrap()));
    let tls = signet_testkit::tls::TestCa::create(&dir).await;
    let s = Server::start_tls_on(&tls, backend).await;
    let discovery_url = s.url("/.well-known/openid-configuration");
    let res = s.http.get(&discovery_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let d: Value = res.json().await.unwrap();
    // CheckDiscEndpointIssuer, CheckDiscEndpointIssuerIsValidUrl (RFC 8414 §2).
    let issuer = d["issuer"].as_str().unwrap();
    assert_eq!(issuer, discovery_url.strip_suffix("/.well-known/openid-configuration").unwrap());
    let parsed = url::Url::parse(issuer).unwrap();
    assert_eq!(parsed.scheme(), "https");
    assert!(parsed.host().is_some() && parsed.query().is_none() && parsed.fragment().is_none());
    assert!(parsed.username().is_empty() && parsed.password().is_none());
    let strings = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap_or_else(|| panic!("{k} is an array"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(strings("response_types_supported").contains(&"code".to_owned()));
    assert!(strings("subject_types_supported").iter().any(|t| t == "public" || t == "pairwise"));
    assert!(!strings("id_token_signing_alg_values_supported").is_empty());
    assert!(!strings("id_token_signing_alg_values_supported").iter().any(|a| a == "none"));
    // Every *_endpoint, and the JWKS, is https on the issuer's host.
    for (key, value) in d.as_object().unwrap() {
        if key.ends_with("_endpoint") || key == "jwks_uri" {
            let u = url::Url::parse(value.as_str().unwrap()).unwrap();
            assert_eq!((u.scheme(), u.host_str()), ("https", parsed.host_str()), "{key}");
        }
    }
    for key in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        assert!(d[key].is_string(), "{key}");
    }
    // CheckJwksUri, FetchServerKeys, ValidateJwksSequence.
    let jwks: Value = s.http.get(d["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().expect("every key has a kid")).collect();
    kids.dedup();
    assert_eq!(kids.len(), keys.len(), "distinct kids");
    for k in keys {
        assert!(k.get("d").is_none() && k.get("k").is_none(), "no private or symmetric material: {k}");
        let _: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone()).expect("a usable JWK");
    }
    // claims_parameter_supported (info), claims_supported (recommended).
    assert_eq!(d["claims_parameter_supported"], false);
    assert!(strings("claims_supported").contains(&"sub".to_owned()));
    assert!(!strings("grant_types_supported").is_empty());
    // scopes_supported holds openid, each an RFC 6749 §3.3 scope token.
    let scopes = strings("scopes_supported");
    assert!(scopes.contains(&"openid".to_owned()));
    assert!(
        scopes.iter().all(|s| !s.is_empty()
            && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)))
    );
    // code_challenge_methods_supported is an array of S256 and/or plain.
    assert_eq!(strings("code_challenge_methods_supported"), ["S256"]);
    std::fs::remove_dir_all(&dir).ok();
}
