//! Federated sign-on (issue 7): "Continue with ⟨name⟩" on the sign-on
//! pages, signetd as a confidential client of an external provider.
//!
//! - Over HTTP, against the forging provider (`signet_testkit::forging`),
//!   which signs the ID tokens a certified provider never issues: each is
//!   refused with a clear page and a reason in the trail, and nothing is
//!   created or linked. Also state mismatch, replay, an email that would
//!   take over an account, key rotation, and a person linking their own
//!   account from a signed-on session.
//! - In headless Chromium, against panva's oidc-provider as the upstream
//!   (`interop/oidc-provider/upstream.mjs`): an admin with trusted MFA, the
//!   same admin through an untrusted provider (local TOTP), just-in-time
//!   creation, an unlinked person, the device flow, the provider's error
//!   and the provider going down.

use reqwest::Method;
use serde_json::{Value, json};
use signet_core::model::{AppKind, GrantType};
use signet_testkit::forging::{Forgery, ForgingProvider, Person};
use signet_testkit::oidc_provider::{OidcProvider, UpstreamClient};

use crate::admin::{Api, basic};
use crate::browser::{Callback, authorize_url, device_poll, device_start, redeem, type_code};
use crate::harness::*;
use crate::webdriver::Chrome;

pub(crate) const CLIENT_ID: &str = "signetd";
pub(crate) const CLIENT_SECRET: &str = "upstream-client-secret";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeKt8xtK6VSQ6mbdGlEs";

pub(crate) fn root(s: &Server) -> String {
    basic(&s.boot.admin.username, &s.boot.admin.password)
}

/// A new environment with a native application for the code flow.
pub(crate) async fn environment(s: &Server, name: &str) -> (String, String) {
    let env = Api::new(s).call(Method::POST, "/environments", Some(&root(s)), Some(json!({"name": name})), None).await;
    assert_eq!(env.status, 201, "{:?}", env.body);
    let env = env.body["id"].as_str().unwrap().to_owned();
    let (app, _) = s.application(AppKind::Native, &[GrantType::AuthorizationCode], &[], Some(&env)).await;
    (env, app)
}

fn callback_of(s: &Server, env: &str) -> String {
    format!("{}/{env}/as/federation/callback", s.base)
}

pub(crate) async fn provider(s: &Server, env: &str, body: Value) -> String {
    let path = format!("/environments/{env}/identity-providers");
    let a = Api::new(s).call(Method::POST, &path, Some(&root(s)), Some(body), None).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn link(s: &Server, env: &str, provider: &str, account_id: &str, subject: &str) {
    let path = format!("/environments/{env}/identity-providers/{provider}/links");
    let body = json!({"account_id": account_id, "subject": subject});
    let a = Api::new(s).call(Method::POST, &path, Some(&root(s)), Some(body), None).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
}

/// The claims of a JWT, unchecked.
fn claims_of(jwt: &Value) -> Value {
    let payload = jwt.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&signet_core::crypto::b64url_decode(payload).unwrap()).unwrap()
}

/// The `signon.federated` events: (outcome, reason, upstream subject).
pub(crate) async fn federated_events(s: &Server) -> Vec<(String, String, Option<String>)> {
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event.action == "signon.federated")
        .map(|e| {
            let ev = e.event;
            (ev.outcome.unwrap_or_default(), ev.reason.unwrap_or_default(), ev.upstream.and_then(|u| u.subject))
        })
        .collect()
}

pub(crate) fn authorize_in(s: &Server, env: &str, app: &str, extra: &str) -> String {
    authorize_to(s, env, app, "http://127.0.0.1/callback", extra)
}

fn authorize_to(s: &Server, env: &str, app: &str, redirect_uri: &str, extra: &str) -> String {
    format!(
        "{}/{env}/as/authorize?response_type=code&client_id={app}&redirect_uri={redirect_uri}\
         &scope=openid&state=app-state&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        s.base
    )
}

/// Starts a code flow in `env`, presses "Continue with" `provider`, and
/// lets the forging provider answer: the sign-on page and the answer's URL.
pub(crate) async fn out_and_back(
    s: &Server,
    b: &mut Browser,
    authorize: &str,
    env: &str,
    provider: &str,
) -> (String, String) {
    let start = b.get(authorize).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let signon = start.location.unwrap();
    let page = b.get(&signon).await;
    assert!(page.body.contains(&format!("value=\"{provider}\"")), "a Continue-with button: {}", page.body);
    let csrf = page.field("csrf").unwrap();
    let out = b.post(&format!("{signon}/federate"), &[("csrf", &csrf), ("provider", provider)]).await;
    assert_eq!(out.status, 303, "{}", out.body);
    let to_provider = out.location.unwrap();
    let q = query(&to_provider);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], callback_of(s, env));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43 && q["nonce"].len() >= 20, "{q:?}");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    let back = b.get(&to_provider).await;
    assert_eq!(back.status, 303, "{}", back.body);
    (signon, back.location.unwrap())
}

pub(crate) fn assert_refused(page: &Page, status: u16, reason: &str) {
    assert_eq!(page.status, status, "{reason}: {}", page.body);
    assert!(page.body.contains(&format!("data-reason=\"{reason}\"")), "{reason}: {}", page.body);
    assert!(page.body.contains("Sign-on failed"), "{}", page.body);
}

async fn forged_answers_are_refused_and_write_nothing(s: Server) {
    let (env, app) = environment(&s, "customers").await;
    let authorize = authorize_in(&s, &env, &app, "");
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &env,
        json!({"name": "Forged SSO", "issuer": forging.issuer, "client_id": CLIENT_ID,
               "client_secret": CLIENT_SECRET, "jit": true}),
    )
    .await;
    let newbie = Person { sub: "new-person".into(), email: Some("newbie@acme.test".into()), amr: vec!["pwd".into()] };
    forging.person(newbie.clone());

    // Each forged ID token: a page saying why, nothing made.
    let cases = [
        (Forgery::WrongIssuer, "id_token_wrong_iss"),
        (Forgery::WrongAudience, "id_token_wrong_aud"),
        (Forgery::NoAuthorizedParty, "id_token_wrong_azp"),
        (Forgery::WrongNonce, "id_token_wrong_nonce"),
        (Forgery::Expired, "id_token_expired"),
        (Forgery::UnknownKid, "id_token_unknown_kid"),
        (Forgery::AlgNone, "id_token_algorithm"),
        (Forgery::NoIdToken, "id_token_missing"),
    ];
    let mut last_back = String::new();
    let mut b = Browser::default();
    for (forgery, reason) in cases {
        forging.forge(forgery);
        let (signon, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
        let page = b.get(&back).await;
        assert_refused(&page, 400, reason);
        assert!(page.body.contains(&signon), "a way back to the sign-on: {}", page.body);
        last_back = back;
    }
    // The token endpoint's own error is a failure upstream, with its one answer.
    forging.forge(Forgery::TokenError);
    let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
    assert_refused(&b.get(&back).await, 502, "provider_failed");
    assert_eq!(forging.token_requests(), cases.len() + 1, "each answer's code was exchanged once");

    // The same answer again: the flow already took it.
    assert_refused(&b.get(&last_back).await, 400, "replayed");
    assert_eq!(forging.token_requests(), cases.len() + 1, "a replay is not exchanged");

    // An answer naming another issuer (RFC 9207): a mix-up, not exchanged.
    forging.forge(Forgery::Honest);
    let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
    assert_refused(&b.get(&format!("{back}&iss=https%3A%2F%2Felsewhere.example")).await, 400, "response_wrong_iss");
    assert_eq!(forging.token_requests(), cases.len() + 1);

    // An answer brought to another browser (login CSRF), or with a changed state.
    forging.forge(Forgery::Honest);
    let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
    assert_refused(&Browser::default().get(&back).await, 400, "state_mismatch");
    let q = query(&back);
    let (flow, _) = q["state"].split_once('.').unwrap();
    let tampered = back.replace(&q["state"], &format!("{flow}.not-the-secret"));
    assert_refused(&b.get(&tampered).await, 400, "state_mismatch");
    assert_refused(&b.get(&format!("{}?code=x&state=nothing", callback_of(&s, &env))).await, 400, "state_unknown");
    assert_eq!(
        s.store()
            .account_by_username(&signet_core::id::EnvironmentId::from(env.as_str()), "newbie@acme.test")
            .await
            .unwrap()
            .map(|a| a.id),
        None
    );
    assert!(s.store().federated_links_page(&forging.issuer, None, 10).await.unwrap().is_empty());

    // Neither attempt spent the flow: its own browser still finishes, and
    // the person is made just in time, with the link.
    let done = b.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let to_app = done.location.unwrap();
    assert!(to_app.starts_with("http://127.0.0.1/callback?"), "{to_app}");
    assert_eq!(query(&to_app)["state"], "app-state");
    let made = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(env.as_str()), "newbie@acme.test")
        .await
        .unwrap()
        .expect("made just in time");
    assert!(!made.admin && made.password_hash.is_none() && made.roles.is_empty());
    let link = s.store().federated_link(&forging.issuer, "new-person").await.unwrap().unwrap();
    assert_eq!((link.account_id.as_str(), link.provider_id.as_str()), (made.id.as_str(), pid.as_str()));
    // Replayed after success: the flow is gone.
    assert_refused(&b.get(&back).await, 400, "state_unknown");

    // An email naming an existing account takes nothing over.
    let victim = s.account_in(&env, false, false).await;
    forging.person(Person { sub: "attacker".into(), email: Some(victim.username.clone()), amr: vec!["pwd".into()] });
    let mut attacker = Browser::default();
    let (_, back) = out_and_back(&s, &mut attacker, &authorize, &env, &pid).await;
    let page = attacker.get(&back).await;
    assert_refused(&page, 403, "name_taken");
    assert!(page.body.contains(&victim.username), "{}", page.body);
    assert!(s.store().federated_link(&forging.issuer, "attacker").await.unwrap().is_none());

    // The provider rotates its key: the new one is fetched, and the linked person signs on.
    forging.person(newbie);
    forging.rotate();
    let mut fresh = Browser::default();
    let (_, back) = out_and_back(&s, &mut fresh, &authorize, &env, &pid).await;
    let done = fresh.get(&back).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with("http://127.0.0.1/callback?"));

    // The trail: every refusal with its reason, the sign-ons with the upstream subject.
    let events = federated_events(&s).await;
    let mut want: Vec<(String, String, Option<String>)> =
        cases.iter().map(|(_, r)| ("failure".into(), r.to_string(), None)).collect();
    want.push(("failure".into(), "provider_failed".into(), None));
    want.push(("failure".into(), "replayed".into(), None));
    want.push(("failure".into(), "response_wrong_iss".into(), None));
    want.extend(
        (0..3).map(|i| ("failure".into(), ["state_mismatch", "state_mismatch", "state_unknown"][i].into(), None)),
    );
    want.push(("success".into(), String::new(), Some("new-person".into())));
    want.push(("failure".into(), "state_unknown".into(), None));
    want.push(("failure".into(), "name_taken".into(), Some("attacker".into())));
    want.push(("success".into(), String::new(), Some("new-person".into())));
    assert_eq!(events, want);
    let all = s.store().audit_events(0, 10_000).await.unwrap();
    let made_events: Vec<&str> = all
        .iter()
        .filter(|e| e.event.target == made.id && e.event.action != "signon")
        .map(|e| e.event.action.as_str())
        .collect();
    assert_eq!(made_events, ["account.create", "federated_link.create"]);
    let signons: Vec<String> = all
        .iter()
        .filter(|e| e.event.action == "signon" && e.event.actor.id == made.id)
        .map(|e| e.event.actor.scheme.to_string())
        .collect();
    assert_eq!(signons, ["fed", "fed"], "the sign-ons say how the person proved themselves");
    let trail = serde_json::to_string(&all.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(!trail.contains(CLIENT_SECRET), "the client secret stays out of the trail");
}

#[tokio::test]
async fn forged_answers_are_refused_on_sqlite() {
    forged_answers_are_refused_and_write_nothing(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn forged_answers_are_refused_on_postgres() {
    forged_answers_are_refused_and_write_nothing(Server::start_on(Backend::Postgres).await).await;
}

/// A person signed on here with a password links their provider sign-in
/// themselves, after confirming; declining links nothing.
async fn people_link_their_own_account(s: Server) {
    let (env, app) = environment(&s, "staff").await;
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &env,
        json!({"name": "Forged SSO", "issuer": forging.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    forging.person(Person { sub: "self-1".into(), email: Some("sam@staff.test".into()), amr: vec!["pwd".into()] });
    let sam = s.account_in(&env, false, false).await;

    // Without a session here, an unlinked person is refused (no JIT here).
    let mut b = Browser::default();
    let (_, back) = out_and_back(&s, &mut b, &authorize_in(&s, &env, &app, ""), &env, &pid).await;
    assert_refused(&b.get(&back).await, 403, "unlinked");

    // Signed on with the password, but too long ago: no link is offered.
    let start = b.get(&authorize_in(&s, &env, &app, "")).await;
    let done = b.submit(&start.location.unwrap(), &[("username", &sam.username), ("password", &sam.password)]).await;
    assert!(done.location.unwrap().starts_with("http://127.0.0.1/callback?"));
    let again = authorize_in(&s, &env, &app, "&prompt=login");
    s.clock.advance(601);
    forging.advance(601);
    let (_, back) = out_and_back(&s, &mut b, &again, &env, &pid).await;
    assert_refused(&b.get(&back).await, 403, "unlinked");

    // Signed on with the password just now, then back through the provider.
    let start = b.get(&again).await;
    let done = b.submit(&start.location.unwrap(), &[("username", &sam.username), ("password", &sam.password)]).await;
    assert!(done.location.unwrap().starts_with("http://127.0.0.1/callback?"));
    let (signon, back) = out_and_back(&s, &mut b, &again, &env, &pid).await;
    let offer = b.get(&back).await;
    assert_eq!(offer.location.as_deref(), Some(signon.as_str()), "{}", offer.body);
    let page = b.get(&signon).await;
    assert!(page.body.contains("Link your Forged SSO sign-in?"), "{}", page.body);
    assert!(page.body.contains(&sam.username) && page.body.contains("sam@staff.test"), "{}", page.body);
    assert!(s.store().federated_link(&forging.issuer, "self-1").await.unwrap().is_none(), "never silently");

    // Cancel: nothing linked, back to the first step.
    let declined = b.submit(&signon, &[("decision", "cancel")]).await;
    assert_eq!(declined.status, 303);
    assert!(b.get(&signon).await.body.contains("Continue with Forged SSO"));
    assert!(s.store().federated_link(&forging.issuer, "self-1").await.unwrap().is_none());

    // Link: the sign-on goes on as Sam.
    let (signon, back) = out_and_back(&s, &mut b, &again, &env, &pid).await;
    assert_eq!(b.get(&back).await.location.as_deref(), Some(signon.as_str()));
    let linked = b.submit(&signon, &[("decision", "link")]).await;
    assert_eq!(linked.status, 303, "{}", linked.body);
    assert!(linked.location.unwrap().starts_with("http://127.0.0.1/callback?"));
    let l = s.store().federated_link(&forging.issuer, "self-1").await.unwrap().unwrap();
    assert_eq!(l.account_id, sam.id);
    let all = s.store().audit_events(0, 10_000).await.unwrap();
    let ev = all.iter().find(|e| e.event.action == "federated_link.create").unwrap();
    assert_eq!((ev.event.actor.id.as_str(), ev.event.target.as_str()), (sam.id.as_str(), sam.id.as_str()));
    assert_eq!(ev.event.upstream.as_ref().and_then(|u| u.subject.as_deref()), Some("self-1"));

    // From now on the provider alone signs Sam on.
    let mut other = Browser::default();
    let (_, back) = out_and_back(&s, &mut other, &authorize_in(&s, &env, &app, ""), &env, &pid).await;
    assert!(other.get(&back).await.location.unwrap().starts_with("http://127.0.0.1/callback?"));
}

#[tokio::test]
async fn people_link_their_own_account_on_sqlite() {
    people_link_their_own_account(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn people_link_their_own_account_on_postgres() {
    people_link_their_own_account(Server::start_on(Backend::Postgres).await).await;
}

/// The upstream's own sign-in page, as a person fills it in.
async fn upstream_sign_in(c: &Chrome, login: &str, email: Option<&str>, second_factor: bool) {
    c.wait_title("Upstream sign-in").await;
    c.fill("#login", login).await;
    if let Some(email) = email {
        c.fill("#email", email).await;
    }
    if second_factor {
        c.click("#mfa").await;
    }
    c.click("#signin").await;
}

async fn continue_with(c: &Chrome, provider: &str) {
    c.wait_page("Sign on").await;
    c.click(&format!("button[value='{provider}']")).await;
}

#[tokio::test]
async fn people_sign_on_through_oidc_provider_in_chromium() {
    let s = Server::start().await;
    let admins = s.env_id.clone();
    let (customers, app) = environment(&s, "customers").await;
    let upstream = OidcProvider::start_upstream(UpstreamClient {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: &[&callback_of(&s, &admins), &callback_of(&s, &customers)],
    })
    .await;
    let base = json!({"issuer": upstream.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let trusted = provider(
        &s,
        &admins,
        with(json!({"name": "Upstream with MFA",
                    "mfa": {"trusted": true, "trusted_for_admins": true, "values": ["urn:upstream:mfa"]}})),
    )
    .await;
    let untrusted = provider(&s, &admins, with(json!({"name": "Upstream"}))).await;
    let jit = provider(&s, &customers, with(json!({"name": "Upstream", "jit": true}))).await;
    let admin = s.account(true, true).await;
    link(&s, &admins, &trusted, &admin.id, "ada-upstream").await;

    // An admin through the trusted provider, with its second factor: no local TOTP.
    {
        let c = Chrome::start().await;
        let mut cb = Callback::listen().await;
        let (verifier, challenge) = pkce_pair();
        c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
        continue_with(&c, &trusted).await;
        upstream_sign_in(&c, "ada-upstream", None, true).await;
        c.wait_title("Callback received").await;
        let back = cb.next().await;
        let tokens = redeem(&s, &cb, &back, &verifier).await;
        let id = claims_of(&tokens["id_token"]);
        assert_eq!((id["sub"].as_str(), id["amr"].clone()), (Some(admin.id.as_str()), json!(["fed", "mfa"])));
    }

    // The same admin through the untrusted provider: signetd asks for its own TOTP.
    {
        let c = Chrome::start().await;
        let mut cb = Callback::listen().await;
        let (verifier, challenge) = pkce_pair();
        c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
        continue_with(&c, &untrusted).await;
        upstream_sign_in(&c, "ada-upstream", None, true).await;
        c.wait_page("Two-step verification").await;
        type_code(&c, &s.code(admin.secret.as_ref().unwrap())).await;
        let back = cb.next().await;
        let tokens = redeem(&s, &cb, &back, &verifier).await;
        assert_eq!(claims_of(&tokens["id_token"])["amr"], json!(["fed", "otp", "mfa"]));
    }

    // An end user made just in time, in another environment.
    {
        let c = Chrome::start().await;
        let mut cb = Callback::listen().await;
        c.goto(&authorize_to(&s, &customers, &app, &cb.url, "")).await;
        continue_with(&c, &jit).await;
        upstream_sign_in(&c, "jo-upstream", Some("jo@customers.test"), false).await;
        let back = cb.next().await;
        assert!(back.contains_key("code"), "{back:?}");
        let jo = s
            .store()
            .account_by_username(&signet_core::id::EnvironmentId::from(customers.as_str()), "jo@customers.test")
            .await
            .unwrap()
            .unwrap();
        assert!(!jo.admin);
        assert_eq!(s.store().federated_link(&upstream.issuer, "jo-upstream").await.unwrap().unwrap().account_id, jo.id);
    }

    // An unlinked person is refused; nothing is made in the Administrators environment.
    {
        let c = Chrome::start().await;
        let cb = Callback::listen().await;
        let (_, challenge) = pkce_pair();
        c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
        continue_with(&c, &trusted).await;
        upstream_sign_in(&c, "stranger", None, true).await;
        c.wait_page("Sign-on failed").await;
        assert!(c.text("[role=alert]").await.contains("not linked"));
        assert!(s.store().federated_link(&upstream.issuer, "stranger").await.unwrap().is_none());
        assert!(
            s.store()
                .account_by_username(&signet_core::id::EnvironmentId::from(admins.as_str()), "stranger@upstream.test")
                .await
                .unwrap()
                .is_none()
        );
    }

    // The device flow, approved through the trusted provider.
    {
        let d = device_start(&s).await;
        let c = Chrome::start().await;
        c.goto(d["verification_uri_complete"].as_str().unwrap()).await;
        c.wait_page("Sign on a device").await;
        c.fill("input[name=user_code]", d["user_code"].as_str().unwrap()).await;
        c.click("form button[type=submit]").await;
        continue_with(&c, &trusted).await;
        upstream_sign_in(&c, "ada-upstream", None, true).await;
        c.wait_page("Approve this device?").await;
        c.click("#approve").await;
        c.wait_page("Device approved").await;
        let (status, tokens) = device_poll(&s, &d).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(claims_of(&tokens["id_token"])["amr"], json!(["fed", "mfa"]));
    }

    // The provider answers with an error: the person cancelled there.
    {
        let c = Chrome::start().await;
        let cb = Callback::listen().await;
        let (_, challenge) = pkce_pair();
        c.goto(&authorize_url(&s, &cb.url, &challenge)).await;
        continue_with(&c, &trusted).await;
        c.wait_title("Upstream sign-in").await;
        c.click("#abort").await;
        c.wait_page("Sign-on failed").await;
        assert!(c.text("[role=alert]").await.contains("access_denied"));
        c.click("#back").await;
        c.wait_page("Sign on").await;
    }

    let events = federated_events(&s).await;
    let outcomes: Vec<(&str, &str)> = events.iter().map(|(o, r, _)| (o.as_str(), r.as_str())).collect();
    assert_eq!(
        outcomes,
        [
            ("success", ""),
            ("success", ""),
            ("success", ""),
            ("failure", "unlinked"),
            ("success", ""),
            ("failure", "provider_error"),
        ]
    );
}

/// Follows redirects from `url` until one leads to `stop`, or to a page:
/// the last URL fetched and its answer.
async fn follow(b: &mut Browser, mut url: String, stop: &str) -> (String, Page) {
    for _ in 0..10 {
        let page = b.get(&url).await;
        match page.location.clone() {
            Some(next) if next.starts_with(stop) => return (url, page),
            Some(next) => url = if next.starts_with('/') { format!("{}{next}", origin(&url)) } else { next },
            None => return (url, page),
        }
    }
    panic!("no way back from {url}");
}

fn origin(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    u.origin().ascii_serialization()
}

/// The provider goes down after the person signed in there: the code
/// cannot be exchanged, which the page and the trail say.
#[tokio::test]
async fn a_provider_gone_down_is_a_clear_error() {
    let s = Server::start().await;
    let upstream = OidcProvider::start_upstream(UpstreamClient {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: &[&callback_of(&s, &s.env_id)],
    })
    .await;
    let pid = provider(
        &s,
        &s.env_id,
        json!({"name": "Upstream", "issuer": upstream.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let mut b = Browser::default();
    let start = b
        .get(&format!(
            "{}?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&scope=openid\
        &state=st&code_challenge={CHALLENGE}&code_challenge_method=S256",
            s.url("/authorize")
        ))
        .await;
    let signon = start.location.unwrap();
    let csrf = b.get(&signon).await.field("csrf").unwrap();
    let out = b.post(&format!("{signon}/federate"), &[("csrf", &csrf), ("provider", &pid)]).await;
    let (interaction, login) = follow(&mut b, out.location.unwrap(), "never").await;
    assert!(login.body.contains("Upstream sign-in"), "{}", login.body);
    let signed_in = b.post(&interaction, &[("login", "someone"), ("action", "login")]).await;
    let next = signed_in.location.expect("the upstream takes the sign-in");
    let next = if next.starts_with('/') { format!("{}{next}", origin(&interaction)) } else { next };
    let callback = callback_of(&s, &s.env_id);
    let (_, back) = follow(&mut b, next, &callback).await;
    let answer = back.location.unwrap();
    assert!(answer.starts_with(&callback), "{answer}");
    drop(upstream);
    let page = b.get(&answer).await;
    assert_refused(&page, 502, "provider_failed");
    assert!(page.body.contains("could not complete this sign-on"), "{}", page.body);
    assert_eq!(federated_events(&s).await, [("failure".into(), "provider_failed".into(), None)]);
}

/// A provider that cannot be reached when the person presses its button:
/// a page saying so, and the trail.
#[tokio::test]
async fn a_provider_down_at_the_start_is_a_clear_error() {
    let s = Server::start().await;
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &s.env_id,
        json!({"name": "Forged SSO", "issuer": forging.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    forging.stop();
    // Another instance has not read the provider's discovery document yet.
    let issuer = s.another_instance().await;
    let mut b = Browser::default();
    let start = b
        .get(&format!(
            "{issuer}/authorize?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&scope=openid\
             &state=st&code_challenge={CHALLENGE}&code_challenge_method=S256"
        ))
        .await;
    // Its pages name the public URL, which is the first instance's.
    let other_base = issuer.trim_end_matches(&format!("/{}/as", s.env_id));
    let signon = start.location.unwrap().replace(&s.base, other_base);
    let csrf = b.get(&signon).await.field("csrf").unwrap();
    let page = b.post(&format!("{signon}/federate"), &[("csrf", &csrf), ("provider", &pid)]).await;
    assert_refused(&page, 502, "provider_failed");
    assert!(page.body.contains("Forged SSO could not complete this sign-on"), "{}", page.body);
    // The person can still sign on with a password from the same flow.
    assert!(b.get(&signon).await.body.contains("name=\"password\""));
    // A provider that is not offered is refused on the page, not with a 500.
    let gone = b.post(&format!("{signon}/federate"), &[("csrf", &csrf), ("provider", "no-such-provider")]).await;
    assert_eq!(gone.status, 400, "{}", gone.body);
    assert!(gone.body.contains("not offered here"), "{}", gone.body);
    let forged = b.post(&format!("{signon}/federate"), &[("csrf", "wrong"), ("provider", &pid)]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(federated_events(&s).await, [("failure".into(), "provider_failed".into(), None)]);
}

/// Administrators' accounts are UserAdmin's to link, through the admin
/// API: no administrator, not even a UserAdmin, is offered to link their
/// own from a browser session, and none is made just in time.
#[tokio::test]
async fn administrators_do_not_link_their_own_accounts() {
    let s = Server::start().await;
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let body = json!({"name": "Forged SSO", "issuer": forging.issuer, "client_id": CLIENT_ID,
                      "client_secret": CLIENT_SECRET, "jit": true});
    let path = format!("/environments/{}/identity-providers", s.env_id);
    let jit = Api::new(&s).call(Method::POST, &path, Some(&root(&s)), Some(body.clone()), None).await;
    crate::admin::assert_error(&jit, 400, "invalid_request", "just in time");
    let mut body = body;
    body["jit"] = json!(false);
    let pid = provider(&s, &s.env_id, body).await;
    forging.person(Person {
        sub: "admin-upstream".into(),
        email: Some("admin@upstream.test".into()),
        amr: vec!["pwd".into()],
    });
    let admin_only = s.administrator(&[signet_proto::roles::Role::Admin]).await;
    let user_admin = s.account(true, true).await;
    let authorize = |extra: &str| {
        format!(
            "{}?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&scope=openid\
             &state=st&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            s.url("/authorize")
        )
    };
    for who in [&admin_only, &user_admin] {
        let mut b = Browser::default();
        let start = b.get(&authorize("")).await;
        let signon = start.location.unwrap();
        b.submit(&signon, &[("username", &who.username), ("password", &who.password)]).await;
        let done = b.submit(&signon, &[("code", &s.code(who.secret.as_ref().unwrap()))]).await;
        assert!(done.location.unwrap().starts_with(CLI_REDIRECT));
        let (_, back) = out_and_back(&s, &mut b, &authorize("&prompt=login"), &s.env_id, &pid).await;
        assert_refused(&b.get(&back).await, 403, "unlinked");
    }
    assert!(s.store().federated_link(&forging.issuer, "admin-upstream").await.unwrap().is_none());
    assert!(
        s.store()
            .account_by_username(&signet_core::id::EnvironmentId::from(s.env_id.as_str()), "admin@upstream.test")
            .await
            .unwrap()
            .is_none()
    );
}

/// A Vault login enforcement on `auth_method_types: ["federated"]` asks
/// its method of federated sign-ons only.
#[tokio::test]
async fn login_enforcements_see_federated_sign_ons() {
    let s = Server::start().await;
    let token = crate::vault::admin_token(&s).await;
    let vault = crate::vault::Vault::new(&s);
    let made = vault.call("POST", "identity/mfa/method/totp", Some(&token), Some(json!({"issuer": "Acme"}))).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let method = made.body["data"]["method_id"].as_str().unwrap().to_owned();
    let body = json!({"mfa_method_ids": [method], "auth_method_types": ["federated"]});
    let enforced = vault.call("POST", "identity/mfa/login-enforcement/federated", Some(&token), Some(body)).await;
    assert_eq!(enforced.status, 204, "{}", enforced.body);

    let (env, app) = environment(&s, "staff").await;
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &env,
        json!({"name": "Forged SSO", "issuer": forging.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let sam = s.account_in(&env, false, false).await;
    link(&s, &env, &pid, &sam.id, "sam-upstream").await;
    forging.person(Person { sub: "sam-upstream".into(), email: None, amr: vec!["pwd".into()] });

    let mut b = Browser::default();
    let (signon, back) = out_and_back(&s, &mut b, &authorize_in(&s, &env, &app, ""), &env, &pid).await;
    assert_eq!(b.get(&back).await.location.as_deref(), Some(signon.as_str()));
    let step = b.get(&signon).await;
    assert!(step.body.contains("Additional verification"), "{}", step.body);

    let mut b = Browser::default();
    let start = b.get(&authorize_in(&s, &env, &app, "")).await;
    let done = b.submit(&start.location.unwrap(), &[("username", &sam.username), ("password", &sam.password)]).await;
    assert!(done.location.unwrap().starts_with("http://127.0.0.1/callback?"), "a password sign-on is not asked");
}
