//! First start and the break-glass path.

use std::os::unix::fs::PermissionsExt;

use signet_core::clock::Clock;
use signet_core::totp;

use crate::harness::{Backend, Browser, PgDatabase, Server, TestAccount, pkce_pair, sign_on};

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

/// Issue 18, item 1: `count` instances start together on one empty store,
/// each with its own data dir or all sharing one. One bootstraps; the
/// others start with its environment, and the one `bootstrap.json` there is
/// names that environment and a password that works.
async fn instances_starting_together_bootstrap_once(backend: Backend, shared_dir: bool) {
    let count = 3;
    let root = std::env::temp_dir().join(format!("signetd-it-{}", signet_core::crypto::random_id().unwrap()));
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create().await),
    };
    let url = pg.as_ref().map_or_else(|| format!("sqlite://{}", root.join("signet.db").display()), |db| db.url.clone());
    let dirs: Vec<_> =
        (0..count).map(|n| root.join(if shared_dir { "data".into() } else { format!("node-{n}") })).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap();
    }
    let now = signet_core::clock::SystemClock.now();
    let mut starts = tokio::task::JoinSet::new();
    for dir in dirs.clone() {
        let url = url.clone();
        starts.spawn(async move {
            let store = signet_store::Store::open(&url).await.unwrap();
            let kek = signet_core::crypto::Kek::from_bytes(&[9; 32]).unwrap();
            let fresh = signet_server::bootstrap::ensure(&store, &kek, now, "https://signet.test", &dir).await;
            let env = store.environment_by_name("Administrators").await.unwrap();
            store.close().await;
            (fresh.map(|f| f.is_some()).map_err(|e| format!("{e:#}")), env.map(|e| e.id))
        });
    }
    let started = starts.join_all().await;
    let fresh: Vec<bool> = started.iter().map(|(r, _)| r.clone().expect("every instance starts")).collect();
    assert_eq!(fresh.iter().filter(|f| **f).count(), 1, "one instance bootstraps: {fresh:?}");
    let env_id = started[0].1.clone().expect("the environment exists");
    assert!(started.iter().all(|(_, e)| e.as_ref() == Some(&env_id)), "one environment for all");

    let mut unique = dirs.clone();
    unique.dedup();
    let mut files = vec![];
    for dir in &unique {
        for entry in std::fs::read_dir(dir).unwrap() {
            files.push(entry.unwrap().file_name().into_string().unwrap());
        }
    }
    assert_eq!(files, vec!["bootstrap.json".to_owned()], "one file, no staged leftovers");
    let path = unique.iter().map(|d| d.join("bootstrap.json")).find(|p| p.exists()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let file: signet_proto::bootstrap::BootstrapFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file.environment_id, env_id.as_str());

    let store = signet_store::Store::open(&url).await.unwrap();
    assert_eq!(store.environments().await.unwrap().len(), 1);
    let admin = store.account_by_username(&env_id, &file.admin.username).await.unwrap().unwrap();
    assert!(signet_core::password::verify(&file.admin.password, admin.password_hash.as_deref().unwrap()));
    store.close().await;
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_18_instances_starting_together_bootstrap_once_on_sqlite() {
    instances_starting_together_bootstrap_once(Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_18_instances_starting_together_bootstrap_once_on_postgres() {
    instances_starting_together_bootstrap_once(Backend::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_18_instances_sharing_a_data_dir_bootstrap_once_on_sqlite() {
    instances_starting_together_bootstrap_once(Backend::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_18_instances_sharing_a_data_dir_bootstrap_once_on_postgres() {
    instances_starting_together_bootstrap_once(Backend::Postgres, true).await;
}
