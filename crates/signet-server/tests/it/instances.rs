//! Several signetd instances on one store: what one instance changes holds
//! on the others within the windows the operator guide names.

use reqwest::Method;
use signet_core::model::{AppKind, GrantType};
use signet_server::cache::REVOCATION_POLL;

use crate::admin::{Api, basic};
use crate::harness::*;

/// The status of a client-credentials grant at `issuer` with `secret`.
async fn signs_on(s: &Server, issuer: &str, id: &str, secret: &str) -> u16 {
    let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)];
    s.post_form(&format!("{issuer}/token"), &form, None).await.0
}

async fn rotated_secret_across_instances(backend: Backend) {
    let s = Server::start_on(backend).await;
    let (b, c) = (s.another_instance().await, s.another_instance().await);
    let (id, old) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let old = old.unwrap();
    // Every instance has read the application, with its old secret.
    for issuer in [&s.issuer, &b, &c] {
        assert_eq!(signs_on(&s, issuer, &id, &old).await, 200);
    }
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let path = format!("/environments/{}/applications/{id}/secret", s.env_id);
    let rotated = Api::new(&s).call(Method::POST, &path, Some(&root), None, None).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new = rotated.body["client_secret"].as_str().unwrap().to_owned();

    // The new secret works everywhere as soon as the rotation is answered.
    assert_eq!(signs_on(&s, &c, &id, &new).await, 200, "at once on an instance that cached the old one");
    assert_eq!(signs_on(&s, &s.issuer, &id, &new).await, 200);
    // The old one stops at once where it was rotated...
    assert_eq!(signs_on(&s, &s.issuer, &id, &old).await, 401);
    // ...and on another instance within the revocation window, no later.
    assert_eq!(signs_on(&s, &b, &id, &old).await, 200, "within the window, before B polls the feed");
    s.clock.advance(REVOCATION_POLL);
    assert_eq!(signs_on(&s, &b, &id, &old).await, 401, "after the window");
    assert_eq!(signs_on(&s, &b, &id, &new).await, 200);
    assert_eq!(signs_on(&s, &c, &id, &old).await, 401);
}

#[tokio::test]
async fn a_rotated_secret_holds_on_every_instance_sqlite() {
    rotated_secret_across_instances(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_rotated_secret_holds_on_every_instance_postgres() {
    rotated_secret_across_instances(Backend::Postgres).await;
}
