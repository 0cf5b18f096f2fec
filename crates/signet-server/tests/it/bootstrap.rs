//! First start and the break-glass path.

use std::os::unix::fs::PermissionsExt;

use signet_core::clock::Clock;
use signet_core::totp;

use crate::harness::{Browser, Server, TestAccount, pkce_pair, sign_on};

#[tokio::test]
async fn bootstrap_writes_a_0600_file_once_and_its_administrator_signs_on() {
    let s = Server::start().await;
    let path = s.dir.join("bootstrap.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let written = std::fs::read(&path).unwrap();
    let file: serde_json::Value = serde_json::from_slice(&written).unwrap();
    for key in ["issuer", "environment_id", "cli_client_id"] {
        assert!(file[key].is_string(), "{key}");
    }
    assert_eq!(file["cli_client_id"], "signet-cli");
    assert!(file["admin"]["password"].is_string() && file["worker"]["client_secret"].is_string());

    let again =
        signet_server::bootstrap::ensure(s.store(), &s.state.kek, s.clock.now(), &s.base, &s.dir).await.unwrap();
    assert!(again.is_none(), "a restart changes nothing");
    assert_eq!(std::fs::read(&path).unwrap(), written, "the file is not rewritten");

    let env = s.store().environment_by_name("Administrators").await.unwrap().unwrap();
    let admin = s.store().account_by_username(&env.id, &s.boot.admin.username).await.unwrap().unwrap();
    assert_eq!(admin.roles.len(), 4);
    let who = TestAccount {
        id: admin.id.into_string(),
        username: s.boot.admin.username.clone(),
        password: s.boot.admin.password.clone(),
        secret: totp::from_base32(&s.boot.admin.totp_secret),
    };
    let (_, challenge) = pkce_pair();
    let q = sign_on(&s, &mut Browser::default(), "signet-cli", &who, &challenge).await;
    assert!(q.contains_key("code"));
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let s = Server::start().await;
    let shown = format!("{:?}", s.boot);
    assert!(!shown.contains(&s.boot.admin.password));
    assert!(!shown.contains(&s.boot.worker.client_secret));
    assert!(!shown.contains(&s.boot.admin.totp_secret));
}
