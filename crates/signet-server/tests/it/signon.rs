//! The HTML sign-on: steps, enrolment, sessions, and the page's defences.

use signet_core::totp;

use crate::harness::{Browser, Server, pkce_pair, query, sign_on};

fn authorize_url(s: &Server, challenge: &str, extra: &str) -> String {
    format!(
        "{}?response_type=code&client_id=signet-cli&redirect_uri=http://127.0.0.1:4711/callback&scope=openid&state=xyz&code_challenge={challenge}&code_challenge_method=S256{extra}",
        s.url("/authorize")
    )
}

#[tokio::test]
async fn an_administrator_without_totp_must_enrol_first() {
    let s = Server::start().await;
    let admin = s.account(true, false).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let signon = b.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    let enrol = b.get(&signon).await;
    assert!(enrol.body.contains("<svg"), "the enrolment page shows a QR code");
    let start = enrol.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let shown = &enrol.body[start..start + enrol.body[start..].find('<').unwrap()];
    let secret = totp::from_base32(shown).unwrap();
    let wrong = b.submit(&signon, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let done = b.submit(&signon, &[("code", &s.code(&secret))]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(query(done.location.as_deref().unwrap()).contains_key("code"));
    let stored = s.store().account(&signet_core::id::AccountId::from(admin.id.as_str())).await.unwrap().unwrap();
    assert!(stored.totp_confirmed);
}

#[tokio::test]
async fn an_end_user_without_mfa_signs_on_with_a_password_alone() {
    let s = Server::start().await;
    let user = s.account(false, false).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let signon = b.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    let done = b.submit(&signon, &[("username", &user.username), ("password", &user.password)]).await;
    assert_eq!(done.status, 303);
    assert!(query(done.location.as_deref().unwrap()).contains_key("code"));
}

#[tokio::test]
async fn a_totp_code_cannot_be_used_twice() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let secret = admin.secret.clone().unwrap();
    let (_, challenge) = pkce_pair();
    let code = s.code(&secret);
    let mut first = Browser::default();
    let signon = first.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    first.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(first.submit(&signon, &[("code", &code)]).await.status, 303);
    let mut second = Browser::default();
    let signon = second.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    second.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    let replay = second.submit(&signon, &[("code", &code)]).await;
    assert_eq!(replay.status, 401, "a spent code is refused");
}

#[tokio::test]
async fn a_session_signs_on_again_unless_prompt_login_and_signoff_ends_it() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    sign_on(&s, &mut b, "signet-cli", &admin, &challenge).await;
    let again = b.get(&authorize_url(&s, &challenge, "")).await;
    assert_eq!(again.status, 303);
    assert!(query(again.location.as_deref().unwrap()).contains_key("code"), "the session is reused");
    let forced = b.get(&authorize_url(&s, &challenge, "&prompt=login")).await;
    assert!(forced.location.unwrap().contains("/signon/"), "prompt=login asks again");
    assert_eq!(b.get(&s.url("/signoff")).await.status, 200);
    let after = b.get(&authorize_url(&s, &challenge, "&prompt=none")).await;
    assert_eq!(query(after.location.as_deref().unwrap())["error"], "login_required");
}

#[tokio::test]
async fn pages_are_plain_forms_that_refuse_framing_and_foreign_posts() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let signon = b.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    let page = b.get(&signon).await;
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(!page.body.contains("<script"));
    assert!(
        page.body.contains("continue to <strong id=\"app-name\">signet CLI</strong>"),
        "the page names the application"
    );
    assert!(page.body.contains("name=\"username\" autocomplete=\"username\""));
    assert!(page.body.contains("autocomplete=\"current-password\""));
    // Without the CSRF token.
    let res = b.post(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(res.status, 403);
    // From another browser, which lacks the flow's cookie.
    let csrf = page.field("csrf").unwrap();
    let mut other = Browser::default();
    let res =
        other.post(&signon, &[("csrf", &csrf), ("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(res.status, 400);
    // The TOTP step asks for a one-time code.
    b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert!(b.get(&signon).await.body.contains("autocomplete=\"one-time-code\""));
}

#[tokio::test]
async fn a_form_posted_twice_issues_one_code() {
    let s = Server::start().await;
    let user = s.account(false, false).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let signon = b.get(&authorize_url(&s, &challenge, "")).await.location.unwrap();
    let page = b.get(&signon).await;
    let csrf = page.field("csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("username", user.username.as_str()), ("password", user.password.as_str())];
    let first = b.post(&signon, &form).await;
    assert!(query(first.location.as_deref().unwrap()).contains_key("code"));
    let second = b.post(&signon, &form).await;
    assert_eq!(second.status, 400, "the flow is over: {}", second.body);
    assert!(second.location.is_none(), "no second code");
}
