//! Issue 18: the upgrade policy (`signet_store::migrate`). A schema one step
//! newer than this build, applied by another node while this one serves, is
//! served, and a node starting on it starts; two steps newer is refused.

use signet_core::clock::Clock;
use signet_store::{SCHEMA_VERSION, Store, StoreError};

use crate::harness::{Backend, Server, code_flow_tokens};
use signet_testkit::outside::Outside;

/// An additive step, as the next release would ship it, recorded as `version`.
async fn apply_step(s: &Server, version: i64) {
    let mut outside = Outside::begin(s).await;
    outside.execute(&format!("ALTER TABLE accounts ADD COLUMN synthetic_{version} TEXT")).await;
    outside
        .execute(&format!(
            "INSERT INTO signet_migrations (version, name, applied_at) VALUES ({version}, 'synthetic_{version}', 0)"
        ))
        .await;
    outside.commit().await;
}

async fn one_step_newer_is_served_and_two_are_refused(backend: Backend) {
    let s = Server::start_on(backend).await;
    let who = s.account(true, true).await;
    let before = code_flow_tokens(&s, &who).await;

    // Another node, a release ahead, migrates while this one serves.
    apply_step(&s, SCHEMA_VERSION + 1).await;
    let after = code_flow_tokens(&s, &who).await;
    assert!(after["access_token"].is_string());
    let refresh = before["refresh_token"].as_str().unwrap();
    let (status, body) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 200, "{body}");

    // A node of this release restarting mid-upgrade starts on it.
    let restarted = Store::open(&s.database_url()).await.expect("one step newer is accepted");
    let again = signet_server::bootstrap::ensure(&restarted, &s.state.kek, s.clock.now(), &s.base, &s.dir).await;
    assert!(again.unwrap().is_none());
    assert!(restarted.environment_by_name("Administrators").await.unwrap().is_some());
    restarted.close().await;

    // Two steps newer: refused, saying why.
    apply_step(&s, SCHEMA_VERSION + 2).await;
    match Store::open(&s.database_url()).await {
        Err(StoreError::Schema(m)) => {
            assert!(m.contains(&format!("schema version {}", SCHEMA_VERSION + 2)) && m.contains("2 steps newer"), "{m}")
        }
        other => panic!("a schema two steps newer opened: {other:?}"),
    }
}

#[tokio::test]
async fn issue_18_one_step_newer_schema_is_served_and_two_are_refused_on_sqlite() {
    one_step_newer_is_served_and_two_are_refused(Backend::Sqlite).await;
}

#[tokio::test]
async fn issue_18_one_step_newer_schema_is_served_and_two_are_refused_on_postgres() {
    one_step_newer_is_served_and_two_are_refused(Backend::Postgres).await;
}
