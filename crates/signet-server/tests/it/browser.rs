//! The sign-on pages in a real headless Chromium: the code flow with PKCE,
//! TOTP enrolment, device approval and denial, and the same pages with
//! JavaScript switched off.

use std::collections::HashMap;

use signet_core::totp;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::harness::{Server, TestAccount, pkce_pair, query};
use crate::webdriver::{Chrome, PATIENCE};

/// A loopback redirect target for `signet-cli` (any port is allowed) that
/// answers every request with a small page and hands over its URL.
pub(crate) struct Callback {
    pub(crate) url: String,
    hits: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    pub(crate) async fn listen() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (tx, hits) = mpsc::unbounded_channel();
        let task = tokio::spawn({
            let origin = origin.clone();
            async move {
                while let Ok((sock, _)) = listener.accept().await {
                    let (tx, origin) = (tx.clone(), origin.clone());
                    tokio::spawn(async move {
                        if let Some(target) = serve_one(sock).await {
                            let _ = tx.send(format!("{origin}{target}"));
                        }
                    });
                }
            }
        });
        Callback { url: format!("{origin}/callback"), hits, task }
    }

    /// The query of the next request to /callback.
    pub(crate) async fn next(&mut self) -> HashMap<String, String> {
        loop {
            let hit = tokio::time::timeout(PATIENCE, self.hits.recv())
                .await
                .expect("the browser reached the callback")
                .unwrap();
            if hit.starts_with(&self.url) {
                return query(&hit);
            }
        }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head and answers 200; returns the request target.
async fn serve_one(sock: tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        sock.readable().await.ok()?;
        match sock.try_read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1)?.to_owned();
    let body = "<!doctype html><title>Callback received</title><p>You can close this window.";
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut out = res.as_bytes();
    while !out.is_empty() {
        sock.writable().await.ok()?;
        match sock.try_write(out) {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
    Some(target)
}

pub(crate) fn authorize_url(s: &Server, redirect_uri: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(&s.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "signet-cli")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid profile offline_access")
        .append_pair("state", "browser-state")
        .append_pair("nonce", "browser-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

/// The password step, as a person does it: type, then press the button.
async fn type_password(c: &Chrome, who: &TestAccount) {
    c.wait_page("Sign on").await;
    assert_eq!(c.attribute("input[name=username]", "autocomplete").await.as_deref(), Some("username"));
    assert_eq!(c.attribute("input[name=password]", "autocomplete").await.as_deref(), Some("current-password"));
    c.fill("input[name=username]", &who.username).await;
    c.fill("input[name=password]", &who.password).await;
    c.click("form button[type=submit]").await;
}

pub(crate) async fn type_code(c: &Chrome, code: &str) {
    assert_eq!(c.attribute("input[name=code]", "autocomplete").await.as_deref(), Some("one-time-code"));
    c.fill("input[name=code]", code).await;
    c.click("form button[type=submit]").await;
}

/// Redeems the code the browser brought back, with the PKCE verifier.
pub(crate) async fn redeem(
    s: &Server,
    cb: &Callback,
    back: &HashMap<String, String>,
    verifier: &str,
) -> serde_json::Value {
    assert_eq!(back["state"], "browser-state");
    assert_eq!(back["iss"], s.issuer);
    let (status, tokens) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", &cb.url),
            ("client_id", "signet-cli"),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string() && tokens["id_token"].is_string(), "{tokens}");
    tokens
}

/// Password, TOTP, back to the client with a code, which PKCE redeems.
async fn code_flow(c: &Chrome) {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let mut cb = Callback::listen().await;
    let (verifier, challenge) = pkce_pair();
    c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
    assert!(c.url().await.starts_with(&s.url("/signon/")), "/authorize sends the browser to the sign-on page");
    type_password(c, &admin).await;
    c.wait_page("Two-step verification").await;
    type_code(c, &s.code(admin.secret.as_ref().unwrap())).await;
    let back = cb.next().await;
    c.wait_title("Callback received").await;
    assert!(c.url().await.starts_with(&cb.url));
    let tokens = redeem(&s, &cb, &back, &verifier).await;
    // A code is spent once.
    let (status, _) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", &cb.url),
            ("client_id", "signet-cli"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, 400, "a code is spent once ({tokens})");
}

/// A page whose title says whether its script ran.
const SCRIPT_PROBE: &str = "data:text/html,<title>off</title><script>document.title='on'</script>";

#[tokio::test]
async fn authorization_code_flow_with_pkce() {
    let c = Chrome::start().await;
    c.goto(SCRIPT_PROBE).await;
    assert_eq!(c.title().await, "on", "the control for the test below");
    code_flow(&c).await;
}

#[tokio::test]
async fn code_flow_works_with_javascript_disabled() {
    let c = Chrome::without_javascript().await;
    c.goto(SCRIPT_PROBE).await;
    assert_eq!(c.title().await, "off", "JavaScript is really switched off");
    code_flow(&c).await;
}

#[tokio::test]
async fn administrator_enrols_totp_on_first_sign_on() {
    let s = Server::start().await;
    let admin = s.account(true, false).await;
    let c = Chrome::start().await;
    let mut cb = Callback::listen().await;
    let (verifier, challenge) = pkce_pair();
    c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
    type_password(&c, &admin).await;
    c.wait_page("Set up two-step verification").await;
    let (w, h) = c.size("svg").await;
    assert!(w >= 150.0 && h >= 150.0, "the QR code is drawn large enough to scan: {w}x{h}");
    let shown = c.text("#totp-secret").await;
    let secret = totp::from_base32(&shown).unwrap_or_else(|| panic!("the key is base32: {shown:?}"));
    std::fs::write("/tmp/signet-enrol.png", c.screenshot().await).unwrap();

    type_code(&c, "000000").await;
    c.wait_page("Set up two-step verification").await;
    assert!(c.text("[role=alert]").await.contains("not valid"), "a wrong code is refused on the same page");
    assert_eq!(c.text("#totp-secret").await, shown, "and the key stays the same");
    assert!(
        !s.store().account(&signet_core::id::AccountId::from(admin.id.as_str())).await.unwrap().unwrap().totp_confirmed
    );

    type_code(&c, &s.code(&secret)).await;
    let back = cb.next().await;
    redeem(&s, &cb, &back, &verifier).await;
    assert!(
        s.store().account(&signet_core::id::AccountId::from(admin.id.as_str())).await.unwrap().unwrap().totp_confirmed,
        "enrolment is stored"
    );
}

pub(crate) async fn device_start(s: &Server) -> serde_json::Value {
    let (status, d) = s
        .post_form(&s.url("/device_authorization"), &[("client_id", "signet-cli"), ("scope", "openid profile")], None)
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

pub(crate) async fn device_poll(s: &Server, d: &serde_json::Value) -> (u16, serde_json::Value) {
    s.clock.advance(10);
    s.token(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", d["device_code"].as_str().unwrap()),
        ("client_id", "signet-cli"),
    ])
    .await
}

#[tokio::test]
async fn device_code_is_approved() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let d = device_start(&s).await;
    let user_code = d["user_code"].as_str().unwrap();
    let c = Chrome::start().await;
    c.goto(d["verification_uri"].as_str().unwrap()).await;
    c.wait_page("Sign on a device").await;
    c.fill("input[name=user_code]", &user_code.to_lowercase()).await;
    c.click("form button[type=submit]").await;
    type_password(&c, &admin).await;
    c.wait_page("Two-step verification").await;
    type_code(&c, &s.code(admin.secret.as_ref().unwrap())).await;
    c.wait_page("Approve this device?").await;
    assert_eq!(c.text("#app-name").await, "signet CLI");
    assert_eq!(c.text("#scopes").await, "openid\nprofile");
    assert!(c.text("body").await.contains(user_code), "the consent shows the code");
    assert_eq!(device_poll(&s, &d).await.1["error"], "authorization_pending", "nothing is decided before the click");
    c.click("#approve").await;
    c.wait_page("Device approved").await;
    let (status, tokens) = device_poll(&s, &d).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string() && tokens["id_token"].is_string());
}

#[tokio::test]
async fn device_code_is_denied_with_javascript_disabled() {
    let s = Server::start().await;
    let user = s.account(false, false).await;
    let d = device_start(&s).await;
    let c = Chrome::without_javascript().await;
    // In the Administrators environment the complete URI does not fill the
    // code in (device-code phishing, issue 15): the person types their own.
    c.goto(d["verification_uri_complete"].as_str().unwrap()).await;
    c.wait_page("Sign on a device").await;
    assert_eq!(c.property("input[name=user_code]", "value").await, "");
    c.fill("input[name=user_code]", d["user_code"].as_str().unwrap()).await;
    c.click("form button[type=submit]").await;
    type_password(&c, &user).await;
    c.wait_page("Approve this device?").await;
    c.click("#deny").await;
    c.wait_page("Request denied").await;
    assert_eq!(device_poll(&s, &d).await.1["error"], "access_denied");
}

/// A login enforcement in a real browser: an administrator passes their own
/// TOTP, chooses one of two methods, enrols the enforced TOTP method from its
/// QR page, and approves a device.
#[tokio::test]
async fn an_enforced_method_is_chosen_and_enrolled_in_the_browser() {
    use serde_json::json;
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let token = crate::vault::admin_token(&s).await;
    let v = crate::vault::Vault::new(&s);
    let mut ids = Vec::new();
    for name in ["laptop", "phone"] {
        let body = json!({"issuer": "Acme", "method_name": name, "qr_size": 240});
        let a = v.call("POST", "identity/mfa/method/totp", Some(&token), Some(body)).await;
        ids.push(a.body["data"]["method_id"].as_str().unwrap().to_owned());
    }
    let e = json!({"mfa_method_ids": ids, "identity_group_ids": ["CryptoAdmin"]});
    assert_eq!(v.call("POST", "identity/mfa/login-enforcement/crypto", Some(&token), Some(e)).await.status, 204);

    let d = device_start(&s).await;
    let c = Chrome::start().await;
    c.goto(d["verification_uri_complete"].as_str().unwrap()).await;
    c.wait_page("Sign on a device").await;
    c.fill("input[name=user_code]", d["user_code"].as_str().unwrap()).await;
    c.click("form button[type=submit]").await;
    type_password(&c, &admin).await;
    c.wait_page("Two-step verification").await;
    type_code(&c, &s.code(admin.secret.as_ref().unwrap())).await;
    c.wait_page("Additional verification").await;
    assert!(c.text("body").await.contains("Authenticator app (phone)"));
    c.click(&format!("#method-{}", ids[1])).await;
    c.wait_page("Additional verification").await;
    let (w, h) = c.size("svg").await;
    assert!(w >= 150.0 && h >= 150.0, "the QR code is drawn large enough to scan: {w}x{h}");
    let secret = totp::from_base32(&c.text("#mfa-secret").await).unwrap();
    type_code(&c, "000000").await;
    c.wait_page("Additional verification").await;
    assert!(c.text("[role=alert]").await.contains("not valid"));
    s.clock.advance(30);
    type_code(&c, &totp::code_at(&secret, signet_core::clock::Clock::now(&s.clock)).unwrap()).await;
    c.wait_page("Approve this device?").await;
    c.click("#approve").await;
    c.wait_page("Device approved").await;
    let (status, tokens) = device_poll(&s, &d).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(
        s.store()
            .totp_enrolment(
                &signet_core::id::MethodId::from(ids[1].as_str()),
                &signet_core::id::AccountId::from(admin.id.as_str())
            )
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.store()
            .totp_enrolment(
                &signet_core::id::MethodId::from(ids[0].as_str()),
                &signet_core::id::AccountId::from(admin.id.as_str())
            )
            .await
            .unwrap()
            .is_none()
    );
}
