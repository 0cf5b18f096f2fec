//! Several signetd instances on one store: what one instance changes holds
//! on the others within the windows the operator guide names.

use reqwest::Method;
use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_core::model::{AppKind, GrantType};
use signet_server::cache::REVOCATION_POLL;
use signet_server::keyring::RETIRED_KEY_PUBLISHED;
use signet_server::ops::keys::rotate_all_due;

use crate::admin::{Api, assert_error, basic};
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

/// The `kid` the access token of a client-credentials grant at `issuer` was signed with.
async fn signing_kid(s: &Server, issuer: &str) -> String {
    let (id, secret) = (&s.boot.worker.client_id, &s.boot.worker.client_secret);
    let form = [("grant_type", "client_credentials"), ("client_id", id.as_str()), ("client_secret", secret.as_str())];
    let (status, body) = s.post_form(&format!("{issuer}/token"), &form, None).await;
    assert_eq!(status, 200, "{body}");
    let header = body["access_token"].as_str().unwrap().split('.').next().unwrap().to_owned();
    let header: Value = serde_json::from_slice(&signet_core::crypto::b64url_decode(&header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn published(s: &Server, issuer: &str) -> Vec<String> {
    let jwks: Value = s.http.get(format!("{issuer}/jwks")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn scheduled_events(s: &Server) -> usize {
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    events.iter().filter(|e| e.event.action == "signing_key.schedule").count()
}

async fn scheduled_key_rotation(backend: Backend) {
    let s = Server::start_on(backend).await;
    let (b, b_state) = s.another_instance_with_state().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let path = format!("/environments/{}/key-rotation", s.env_id);
    assert_eq!(api.get(&path, &root).await.body, json!({"rotate_every_days": 0, "publish_ahead_seconds": 86_400}));
    for (days, ahead, field) in [
        (-1, 0, "rotate_every_days"),
        (366, 0, "rotate_every_days"),
        (1, -1, "publish_ahead_seconds"),
        (1, 86_400, "publish_ahead_seconds"),
        (30, 8 * 86_400, "publish_ahead_seconds"),
    ] {
        let body = json!({"rotate_every_days": days, "publish_ahead_seconds": ahead});
        assert_error(&api.call(Method::PUT, &path, Some(&root), Some(body), None).await, 400, "invalid_request", field);
    }
    let body = json!({"rotate_every_days": 1, "publish_ahead_seconds": 3600});
    assert_eq!(api.call(Method::PUT, &path, Some(&root), Some(body), None).await.status, 200);

    let env = signet_core::id::EnvironmentId::from(s.env_id.as_str());
    let first = s.store().signing_keys(&env, 0).await.unwrap().remove(0);
    assert_eq!(signing_kid(&s, &s.issuer).await, first.kid);
    assert_eq!(rotate_all_due(&s.state).await.unwrap(), 0, "not due yet");

    // A day after the key started, less the hour ahead: two instances race
    // for the same period, and one key is published.
    s.clock.advance(first.created_at + 86_400 - 3600 - s.clock.now());
    let (a, other) = tokio::join!(rotate_all_due(&s.state), rotate_all_due(&b_state));
    assert_eq!(a.unwrap() + other.unwrap(), 1, "exactly one new key");
    assert_eq!(scheduled_events(&s).await, 1, "audited once");
    let keys = s.store().signing_keys(&env, s.clock.now()).await.unwrap();
    assert_eq!(keys.len(), 2);
    let next = keys.iter().find(|k| k.kid != first.kid).unwrap().kid.clone();
    // Published on every instance, but the old key signs until the hour is up.
    for issuer in [&s.issuer, &b] {
        assert!(published(&s, issuer).await.contains(&next), "published ahead on {issuer}");
        assert_eq!(signing_kid(&s, issuer).await, first.kid);
    }
    assert_eq!(rotate_all_due(&b_state).await.unwrap(), 0, "already scheduled");

    // From its set time it signs everywhere; the old key stays published
    // while the tokens it signed may live, then it is dropped.
    s.clock.advance(3600);
    for issuer in [&s.issuer, &b] {
        assert_eq!(signing_kid(&s, issuer).await, next, "signs on {issuer}");
        assert!(published(&s, issuer).await.contains(&first.kid));
    }
    s.clock.advance(RETIRED_KEY_PUBLISHED - 1);
    assert!(published(&s, &s.issuer).await.contains(&first.kid), "its last tokens may still be live");
    s.clock.advance(1);
    for issuer in [&s.issuer, &b] {
        assert_eq!(published(&s, issuer).await, vec![next.clone()], "dropped on {issuer}");
    }
    assert_eq!(rotate_all_due(&s.state).await.unwrap(), 0, "the next period has not come");
    s.clock.advance(86_400 - 3600 - RETIRED_KEY_PUBLISHED);
    assert_eq!(rotate_all_due(&b_state).await.unwrap(), 1, "the next period");
}

#[tokio::test]
async fn signing_keys_rotate_on_schedule_once_per_period_sqlite() {
    scheduled_key_rotation(Backend::Sqlite).await;
}

#[tokio::test]
async fn signing_keys_rotate_on_schedule_once_per_period_postgres() {
    scheduled_key_rotation(Backend::Postgres).await;
}
