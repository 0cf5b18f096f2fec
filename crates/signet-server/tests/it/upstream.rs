//! signetd's upstream-facing side (issue 15): what a provider's discovery
//! document may send signetd to, the one answer it gives for every failure
//! upstream, and just-in-time accounts whose names differ only in case.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::json;
use signet_testkit::forging::{Forgery, ForgingProvider, Person};

use crate::admin::{Api, assert_error};
use crate::federation::{
    CLIENT_ID, CLIENT_SECRET, assert_refused, authorize_in, environment, federated_events, out_and_back, provider, root,
};
use crate::harness::*;

/// Another service on this host, as a database or an internal API would
/// be: it counts every request that reaches it.
struct Bystander {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Bystander {
    async fn start() -> Bystander {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"error": "invalid_client"}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Bystander { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The alert of a refusal page: its status, reason and words, without the
/// link back, which names the flow.
fn answer_of(page: &Page) -> (u16, String) {
    let start = page.body.find("role=\"alert\"").unwrap_or_else(|| panic!("no alert on {}", page.body));
    let end = page.body[start..].find("</p>").unwrap() + start;
    (page.status, page.body[start..end].to_owned())
}

/// A provider's discovery document naming `token_endpoint`, `jwks_uri` or
/// `authorization_endpoint` elsewhere on signetd's own host (another port,
/// or the provider's port under another name) is refused when the
/// provider is written, naming the field; re-pointed after it was
/// written, signetd refuses it at the sign-on and sends nothing there.
async fn finding_11_discovery_cannot_point_at_loopback(s: Server) {
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let bystander = Bystander::start().await;
    let port = forging.issuer.rsplit(':').next().unwrap().to_owned();
    let body = json!({"name": "Steering SSO", "issuer": forging.issuer, "client_id": CLIENT_ID,
                      "client_secret": CLIENT_SECRET});
    let path = format!("/environments/{}/identity-providers", s.env_id);
    for field in ["token_endpoint", "jwks_uri", "authorization_endpoint"] {
        for elsewhere in [
            format!("{}/{field}", bystander.base),
            format!("http://localhost:{port}/{field}"),
            format!("http://[::1]:{port}/{field}"),
            format!("http://127.0.0.2:{port}/{field}"),
        ] {
            forging.steer(field, Some(&elsewhere));
            let written = Api::new(&s).call(Method::POST, &path, Some(&root(&s)), Some(body.clone()), None).await;
            assert_error(&written, 422, "unprocessable", field);
        }
        forging.steer(field, None);
    }
    assert!(
        s.store()
            .identity_providers_page(&signet_core::id::EnvironmentId::from(s.env_id.as_str()), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Written while its document was honest, then re-pointed: an instance
    // that reads the new document refuses it, with the one answer.
    let pid = provider(&s, &s.env_id, body).await;
    forging.steer("token_endpoint", Some(&format!("{}/token", bystander.base)));
    let issuer = s.another_instance().await;
    let other_base = issuer.trim_end_matches(&format!("/{}/as", s.env_id)).to_owned();
    let mut b = Browser::default();
    let start = b
        .get(&format!(
            "{issuer}/authorize?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&scope=openid\
             &state=st&code_challenge={}&code_challenge_method=S256",
            pkce_pair().1
        ))
        .await;
    let signon = start.location.unwrap().replace(&s.base, &other_base);
    let csrf = b.get(&signon).await.field("csrf").unwrap();
    let page = b.post(&format!("{signon}/federate"), &[("csrf", &csrf), ("provider", &pid)]).await;
    assert_refused(&page, 502, "provider_failed");
    assert_eq!(bystander.hits(), 0, "nothing was sent to the other service");
    assert_eq!(federated_events(&s).await, [("failure".into(), "provider_failed".into(), None)]);
}

#[tokio::test]
async fn finding_11_discovery_cannot_point_at_loopback_on_sqlite() {
    finding_11_discovery_cannot_point_at_loopback(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_11_discovery_cannot_point_at_loopback_on_postgres() {
    finding_11_discovery_cannot_point_at_loopback(Server::start_on(Backend::Postgres).await).await;
}

/// An OAuth error, an answer that is not JSON, and nothing listening at
/// all get the same page, so the page cannot tell an open port from a
/// closed one; and each counts against the address, as a wrong password does.
async fn finding_11_every_upstream_failure_gets_one_answer_and_counts(s: Server) {
    let (env, app) = environment(&s, "customers").await;
    let authorize = authorize_in(&s, &env, &app, "");
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &env,
        json!({"name": "Failing SSO", "issuer": forging.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
    )
    .await;
    let mut b = Browser::default();
    let mut answers = Vec::new();
    for round in 0..signet_server::ratelimit::ADDRESS_MAX - 1 {
        forging.forge(if round % 2 == 0 { Forgery::TokenError } else { Forgery::TokenGarbage });
        let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
        answers.push(answer_of(&b.get(&back).await));
    }
    forging.forge(Forgery::Honest);
    let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
    forging.stop();
    answers.push(answer_of(&b.get(&back).await));
    answers.sort();
    answers.dedup();
    assert_eq!(answers.len(), 1, "one answer for every failure upstream: {answers:#?}");
    assert_eq!(answers[0].0, 502);
    assert!(answers[0].1.contains("data-reason=\"provider_failed\""), "{answers:?}");
    assert!(answers[0].1.contains("Failing SSO"), "{answers:?}");
    let events = federated_events(&s).await;
    assert_eq!(events.len(), signet_server::ratelimit::ADDRESS_MAX as usize);
    assert!(
        events.iter().all(|(outcome, reason, _)| outcome == "failure" && reason == "provider_failed"),
        "{events:?}"
    );

    // Each was counted against the address.
    let blocked = b.get(&back).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
}

#[tokio::test]
async fn finding_11_every_upstream_failure_gets_one_answer_and_counts_on_sqlite() {
    finding_11_every_upstream_failure_gets_one_answer_and_counts(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_11_every_upstream_failure_gets_one_answer_and_counts_on_postgres() {
    finding_11_every_upstream_failure_gets_one_answer_and_counts(Server::start_on(Backend::Postgres).await).await;
}

/// A verified email that differs from an account's name only in case
/// makes no second account beside it: the person is refused as for any
/// name that is taken, and nothing is linked.
async fn finding_18_an_email_in_another_case_makes_no_second_account(s: Server) {
    let (env, app) = environment(&s, "customers").await;
    let authorize = authorize_in(&s, &env, &app, "");
    let forging = ForgingProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let pid = provider(
        &s,
        &env,
        json!({"name": "Acme SSO", "issuer": forging.issuer, "client_id": CLIENT_ID,
               "client_secret": CLIENT_SECRET, "jit": true}),
    )
    .await;
    let pwd = vec!["pwd".to_owned()];
    forging.person(Person { sub: "ada-1".into(), email: Some("ada@acme.test".into()), amr: pwd.clone() });
    let mut b = Browser::default();
    let (_, back) = out_and_back(&s, &mut b, &authorize, &env, &pid).await;
    let made = b.get(&back).await;
    assert!(made.location.as_deref().unwrap_or_default().starts_with("http://127.0.0.1/callback?"), "{}", made.body);
    let ada = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(env.as_str()), "ada@acme.test")
        .await
        .unwrap()
        .expect("made just in time");

    for (sub, email) in [("ada-2", "ADA@acme.test"), ("ada-3", "Ada@Acme.Test")] {
        forging.person(Person { sub: sub.into(), email: Some(email.into()), amr: pwd.clone() });
        let mut other = Browser::default();
        let (_, back) = out_and_back(&s, &mut other, &authorize, &env, &pid).await;
        let page = other.get(&back).await;
        assert_refused(&page, 403, "name_taken");
        assert!(
            s.store()
                .account_by_username(&signet_core::id::EnvironmentId::from(env.as_str()), email)
                .await
                .unwrap()
                .is_none(),
            "no {email} beside ada"
        );
        assert!(s.store().federated_link(&forging.issuer, sub).await.unwrap().is_none());
    }
    let link = s.store().federated_link(&forging.issuer, "ada-1").await.unwrap().unwrap();
    assert_eq!(link.account_id, ada.id);
}

#[tokio::test]
async fn finding_18_an_email_in_another_case_makes_no_second_account_on_sqlite() {
    finding_18_an_email_in_another_case_makes_no_second_account(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_18_an_email_in_another_case_makes_no_second_account_on_postgres() {
    finding_18_an_email_in_another_case_makes_no_second_account(Server::start_on(Backend::Postgres).await).await;
}
