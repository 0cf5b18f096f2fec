//! The browser sign-on's way back (issue 15, findings 12 and 13): each
//! service's redirect comes to a path of its own, so a hostile provider
//! configured beside an honest one cannot be handed the honest one's code
//! (a mix-up, RFC 9700 §4.4); and the loopback listener waits through
//! answers that are not its own and connections that say nothing.

use std::time::Duration;

use signet_testkit::{Browser, Server, TestAccount, query};
use tokio::io::AsyncWriteExt;

use crate::harness::{Home, Login};
use crate::rogue::{Answer, Rogue, discovery};

/// A profile whose `pingone` service signs on to `s` in a browser (its
/// default path, `/callback`, is what signetd registers for signet-cli).
fn browser_sign_on(h: &Home, s: &Server, timeout: &str) {
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "authorization_code"),
            ("service.pingone.authentication.authorizationCode.clientID", "signet-cli"),
            ("auth.loginTimeoutSeconds", timeout),
        ],
    );
}

/// The person signs on at signetd in a browser that follows the sign-on
/// from `url`; returns where signetd sends the browser back to.
async fn sign_on_at_signetd(b: &mut Browser, url: &str, who: &TestAccount) -> signet_testkit::Page {
    let mut page = b.get(url).await;
    // Through any provider that passes the browser on, to signetd's sign-on page.
    for _ in 0..3 {
        match page.location.clone() {
            Some(next) if !next.contains("/signon") && page.status != 200 => page = b.get(&next).await,
            _ => break,
        }
    }
    let Some(signon) = page.location.clone().filter(|l| l.contains("/signon")) else { return page };
    b.submit(&signon, &[("username", &who.username), ("password", &who.password)]).await
}

/// The mix-up of RFC 9700 §4.4 with a hostile provider configured beside
/// signetd: the hostile one sends the person on to signetd's `/authorize`
/// with signetd's `signet-cli` client and this flow's state and PKCE
/// challenge, and its token endpoint would receive signetd's code and this
/// flow's verifier. `path` is the redirect path it asks signetd for:
/// `None` keeps the one signet sent it; `Some` puts another in its place.
async fn mix_up(path: Option<&'static str>) {
    let s = Server::start().await;
    let person = s.account(false, false).await;
    let authorize_at = s.url("/authorize");
    let evil = Rogue::start(move |r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
        "/authorize" => {
            let mut redirect = url::Url::parse(&r.query["redirect_uri"]).unwrap();
            if let Some(p) = path {
                redirect.set_path(p);
            }
            let mut to = url::Url::parse(&authorize_at).unwrap();
            to.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", "signet-cli")
                .append_pair("redirect_uri", redirect.as_str())
                .append_pair("scope", "openid profile")
                .append_pair("state", &r.query["state"])
                .append_pair("nonce", &r.query["nonce"])
                .append_pair("code_challenge", &r.query["code_challenge"])
                .append_pair("code_challenge_method", "S256");
            Answer::Redirect(to.to_string())
        }
        "/token" => Answer::Json(400, serde_json::json!({"error": "invalid_grant"})),
        _ => Answer::Json(404, serde_json::json!({})),
    })
    .await;
    let h = Home::new();
    browser_sign_on(&h, &s, "8");
    h.ok(&["config", "set", &format!("service.evil.issuer={}", evil.base)]);
    h.ok(&["config", "set", "service.evil.authentication.type=authorization_code"]);
    h.ok(&["config", "set", "service.evil.authentication.authorizationCode.clientID=anything"]);

    let (login, url) = Login::start(&h, &["auth", "login", "--service", "evil", "--no-browser"], "").await;
    let mut b = Browser::default();
    let back = sign_on_at_signetd(&mut b, &url, &person).await;
    if let Some(location) = back.location.clone().filter(|l| l.starts_with("http://127.0.0.1:")) {
        // signetd sends `iss` (RFC 9207), which alone would stop this; the
        // finding is about providers that do not, so this browser drops it,
        // as such a provider would never have sent it.
        let mut to = url::Url::parse(&location).unwrap();
        let kept: Vec<(String, String)> = to.query_pairs().into_owned().filter(|(k, _)| k != "iss").collect();
        to.query_pairs_mut().clear().extend_pairs(kept);
        let _ = b.get(to.as_str()).await;
    }
    let done = login.finish().await;

    // Had signet posted signetd's code and its verifier to the hostile
    // provider, the provider could redeem them at signetd as the person.
    let stolen = evil.seen("/token");
    for t in &stolen {
        let form: Vec<(&str, &str)> = t.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut redeem = form.clone();
        redeem.retain(|(k, _)| *k != "client_id");
        redeem.push(("client_id", "signet-cli"));
        let (status, tokens) = s.token(&redeem).await;
        assert_ne!(status, 200, "the hostile provider redeemed signetd's code as the person: {tokens}");
    }
    assert!(stolen.is_empty(), "signet sent a code and its PKCE verifier to the hostile provider: {stolen:?}");
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(done.stderr.contains("no sign-on arrived"), "{}", done.stderr);
    assert_eq!(h.run_async(&["auth", "status", "--service", "evil"]).await.code, 4, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_12_mixup_a_hostile_provider_never_receives_the_honest_ones_code() {
    // The hostile provider keeps the redirect signet gave it: its own path,
    // /callback/evil, which signetd has never registered, so signetd
    // refuses to send the person back at all.
    mix_up(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_12_mixup_a_code_sent_to_another_services_path_is_not_taken() {
    // The hostile provider swaps in the path signetd registers, /callback:
    // signetd sends the code there, where this flow is not listening.
    mix_up(Some("/callback")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_12_two_services_on_one_redirect_path_are_refused_with_the_fix() {
    let s = Server::start().await;
    let h = Home::new();
    browser_sign_on(&h, &s, "1");
    h.ok(&["config", "set", "service.okta.issuer=https://okta.example.test"]);
    h.ok(&["config", "set", "service.okta.authentication.type=authorization_code"]);
    h.ok(&["config", "set", "service.okta.authentication.authorizationCode.clientID=cli"]);
    // Each service has its own path by default: okta's is /callback/okta.
    let path = h.ok(&["config", "get", "service.okta.authentication.authorizationCode.redirectURIPath"]);
    assert_eq!(path.stdout.trim(), "/callback/okta");
    assert_eq!(
        h.ok(&["config", "get", "service.pingone.authentication.authorizationCode.redirectURIPath"]).stdout.trim(),
        "/callback"
    );

    // Both on /callback: no browser sign-on starts, and the hint is the fix.
    h.ok(&["config", "set", "service.okta.authentication.authorizationCode.redirectURIPath=/callback"]);
    for service in ["pingone", "okta"] {
        let r = h.run_async(&["auth", "login", "--service", service, "--no-browser"]).await;
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("both take browser sign-ons at http://127.0.0.1/callback"), "{}", r.stderr);
        assert!(
            r.stderr.contains(
                "hint: give each its own path: signet config set \"service.okta.authentication.authorizationCode.redirectURIPath=/callback/okta\""
            ),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("/authorize?"), "no sign-on was started: {}", r.stderr);
    }
    let session = h.run_async(&["session", "authenticate", "--service", "pingone"]).await;
    assert!(session.code == 1 && session.stderr.contains("both take browser sign-ons"), "{}", session.stderr);

    // The one-line fix: pingone's sign-on starts again.
    h.ok(&["config", "unset", "service.okta.authentication.authorizationCode.redirectURIPath"]);
    let r = h.run_async(&["auth", "login", "--service", "pingone", "--no-browser"]).await;
    assert!(r.stderr.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"), "{}", r.stderr);
    assert!(r.stderr.contains("no sign-on arrived within 1 seconds"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_12_a_provider_that_promises_iss_must_send_it() {
    let rogue = Rogue::start(|r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => {
            let mut d = discovery(base);
            d["authorization_response_iss_parameter_supported"] = serde_json::json!(true);
            Answer::Json(200, d)
        }
        _ => Answer::Json(400, serde_json::json!({"error": "invalid_grant"})),
    })
    .await;
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    h.ok(&["config", "set", &format!("service.idp.issuer={}", rogue.base)]);
    h.ok(&["config", "set", "service.idp.authentication.type=authorization_code"]);
    h.ok(&["config", "set", "service.idp.authentication.authorizationCode.clientID=cli"]);
    let (login, url) = Login::start(&h, &["auth", "login", "--no-browser"], "").await;
    let q = query(&url);
    // The right state and a code, but no `iss`, though discovery says it is always sent.
    let back = format!("{}?code=c-1&state={}", q["redirect_uri"], q["state"]);
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(page.status(), 200);
    let done = login.finish().await;
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(done.stderr.contains("carries no issuer"), "{}", done.stderr);
    assert!(rogue.seen("/token").is_empty(), "the code was not redeemed");
    assert!(q["redirect_uri"].ends_with("/callback/idp"), "the service's own path: {url}");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_13_wrong_state_keeps_waiting() {
    let s = Server::start().await;
    let person = s.account(false, false).await;
    let h = Home::new();
    browser_sign_on(&h, &s, "30");
    let (login, url) = Login::start(&h, &["auth", "login", "--no-browser"], "").await;
    let redirect = query(&url)["redirect_uri"].clone();

    // A page the person has open sends the browser to the loopback with a
    // code and a state of its own: answered, and ignored.
    let forged = reqwest::get(format!("{redirect}?code=planted&state=not-the-one&iss={}", s.issuer)).await.unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("Not this sign-on"));
    // No state at all, and an error: ignored too.
    let bare = reqwest::get(format!("{redirect}?error=access_denied")).await.unwrap();
    assert_eq!(bare.status(), 400);

    // The sign-on signet started still completes.
    let mut b = Browser::default();
    let back = sign_on_at_signetd(&mut b, &url, &person).await;
    let location = back.location.expect("signetd sends the browser back");
    let page = b.get(&location).await;
    assert!(page.body.contains("Signed on"), "{}", page.body);
    let done = login.finish().await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.contains(&format!("signed on to pingone (signetd at {}) as {}", s.base, person.username)),
        "{}",
        done.stdout
    );
    assert!(done.stderr.contains("ignored a redirect that was not for this sign-on"), "{}", done.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_13_an_idle_connection_does_not_hold_up_the_redirect() {
    let s = Server::start().await;
    let person = s.account(false, false).await;
    let h = Home::new();
    browser_sign_on(&h, &s, "20");
    let (login, url) = Login::start(&h, &["auth", "login", "--no-browser"], "").await;
    let redirect = url::Url::parse(&query(&url)["redirect_uri"]).unwrap();
    let at = format!("127.0.0.1:{}", redirect.port().unwrap());

    // One connection that says nothing, and one that starts a request and
    // never finishes it: both stay open while the person signs on.
    let _silent = tokio::net::TcpStream::connect(&at).await.unwrap();
    let mut trickle = tokio::net::TcpStream::connect(&at).await.unwrap();
    trickle.write_all(b"GET /callback?state=").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut b = Browser::default();
    let back = sign_on_at_signetd(&mut b, &url, &person).await;
    let location = back.location.expect("signetd sends the browser back");
    let page = tokio::time::timeout(Duration::from_secs(15), b.get(&location))
        .await
        .expect("the redirect was answered while the other connections stayed open");
    assert!(page.body.contains("Signed on"), "{}", page.body);
    let done = login.finish().await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stdout.contains(&format!("signed on to pingone (signetd at {}) as {}", s.base, person.username)),
        "{}",
        done.stdout
    );
}
