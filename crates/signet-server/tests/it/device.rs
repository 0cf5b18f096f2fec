//! The device flow (RFC 8628) through the verification pages.

use signet_core::user_code;

use crate::harness::{Backend, Browser, Server};

async fn start(s: &Server) -> serde_json::Value {
    let (status, d) = s
        .post_form(&s.url("/device_authorization"), &[("client_id", "signet-cli"), ("scope", "openid profile")], None)
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

async fn poll(s: &Server, device_code: &str) -> (u16, serde_json::Value) {
    s.token(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
        ("client_id", "signet-cli"),
    ])
    .await
}

#[tokio::test]
async fn device_code_is_approved_in_a_browser_sqlite() {
    device_code_is_approved_in_a_browser(Backend::Sqlite).await;
}

#[tokio::test]
async fn device_code_is_approved_in_a_browser_postgres() {
    device_code_is_approved_in_a_browser(Backend::Postgres).await;
}

async fn device_code_is_approved_in_a_browser(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let d = start(&s).await;
    let code = d["user_code"].as_str().unwrap();
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
    assert!(code.chars().filter(|c| *c != '-').all(|c| user_code::ALPHABET.contains(&(c as u8))));
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 5);
    assert_eq!(d["verification_uri"], s.url("/device"));
    assert!(d["verification_uri_complete"].as_str().unwrap().contains(code));

    let device_code = d["device_code"].as_str().unwrap();
    assert_eq!(poll(&s, device_code).await.1["error"], "authorization_pending");
    assert_eq!(poll(&s, device_code).await.1["error"], "slow_down", "polled faster than the interval");
    s.clock.advance(11);
    assert_eq!(poll(&s, device_code).await.1["error"], "authorization_pending");

    let mut b = Browser::default();
    // Lower case and no hyphen are accepted.
    let typed = code.replace('-', "").to_lowercase();
    let signon = b.submit(&s.url("/device"), &[("user_code", &typed)]).await.location.unwrap();
    b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    let after_code = b.submit(&signon, &[("code", &s.code(admin.secret.as_ref().unwrap()))]).await;
    assert_eq!(after_code.status, 303);
    let consent = b.get(&signon).await;
    assert!(consent.body.contains("signet CLI"), "the consent names the application");
    assert!(consent.body.contains("<li>openid</li>") && consent.body.contains("<li>profile</li>"), "and the scopes");
    assert!(consent.body.contains(code), "and the code");
    let approved = b.submit(&signon, &[("decision", "approve")]).await;
    assert_eq!(approved.status, 200);
    assert!(approved.body.contains("Device approved"));

    s.clock.advance(10);
    let (status, tokens) = poll(&s, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["id_token"].is_string());
    let (_, again) = poll(&s, device_code).await;
    assert_eq!(again["error"], "invalid_grant", "a device code is spent once");
}

#[tokio::test]
async fn a_denied_device_gets_access_denied_and_an_old_one_expires() {
    let s = Server::start().await;
    let user = s.account(false, false).await;
    let d = start(&s).await;
    let mut b = Browser::default();
    let signon =
        b.submit(&s.url("/device"), &[("user_code", d["user_code"].as_str().unwrap())]).await.location.unwrap();
    b.submit(&signon, &[("username", &user.username), ("password", &user.password)]).await;
    let denied = b.submit(&signon, &[("decision", "deny")]).await;
    assert!(denied.body.contains("denied"));
    assert_eq!(poll(&s, d["device_code"].as_str().unwrap()).await.1["error"], "access_denied");

    let d2 = start(&s).await;
    s.clock.advance(601);
    assert_eq!(poll(&s, d2["device_code"].as_str().unwrap()).await.1["error"], "expired_token");
    let late = b.submit(&s.url("/device"), &[("user_code", d2["user_code"].as_str().unwrap())]).await;
    assert_eq!(late.status, 400, "an expired code cannot be approved");
}

#[tokio::test]
async fn wrong_user_codes_are_refused_and_the_code_form_needs_its_csrf_cookie() {
    let s = Server::start().await;
    let mut b = Browser::default();
    for typed in ["BCDF-GHJK", "nonsense", ""] {
        let page = b.submit(&s.url("/device"), &[("user_code", typed)]).await;
        assert_eq!(page.status, 400, "{typed}");
        assert!(page.body.contains("not valid"));
    }
    let mut foreign = Browser::default();
    let res = foreign.post(&s.url("/device"), &[("csrf", "forged"), ("user_code", "BCDF-GHJK")]).await;
    assert_eq!(res.status, 403);
    // A worker may not start the device flow.
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (status, body) = s.post_form(&s.url("/device_authorization"), &[], Some((&id, &secret))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
}
