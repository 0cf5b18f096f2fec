//! Finding 6 of issue 15 through the admin API: a trail rewritten by someone
//! who can write the database fails `/audit/verify`; checkpoints are signed
//! with a published key and written, once per period, to sinks outside the
//! database; instances starting together seal the chain once.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use signet_client::admin::AdminClient;
use signet_core::audit_key::{CHAIN_KEYED, verify_checkpoint};
use signet_core::clock::Clock;
use signet_proto::admin::accounts::AccountView;
use signet_proto::admin::audit::{ChainStatus, CheckpointKeyBody};
use signet_proto::audit::Checkpoint;
use signet_proto::roles::Role;
use signet_server::audit_chain::{self, Sink};
use signet_store::Store;

use crate::admin::{Api, answered, assert_refused, basic, new_account, trail, typed};
use crate::harness::*;

/// A trail with an `admin.denied` between other events, verified intact;
/// the typed client as the first administrator.
async fn busy_trail(s: &Server) -> AdminClient {
    let api = Api::new(s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ada = s.administrator(&[Role::Admin]).await;
    let w = new_account("w", "a long enough password", &[], false);
    let denied = typed(s, &ada.username, &ada.password).create::<_, AccountView>(&["accounts"], &w).await;
    assert_refused(denied, 403, "forbidden", "");
    for n in 0..2 {
        let path = format!("/configStore/k{n}");
        assert_eq!(api.call(Method::PUT, &path, Some(&root), Some(json!({"value": n})), None).await.status, 200);
    }
    let root = typed(s, &s.boot.admin.username, &s.boot.admin.password);
    let v = verify(&root).await;
    assert_eq!((v.intact, v.keyed_from), (true, Some(1)), "keyed from bootstrap: {v:?}");
    root
}

async fn verify(admin: &AdminClient) -> ChainStatus {
    admin.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value
}

async fn finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify(s: Server) {
    let root = busy_trail(&s).await;
    let trail = s.store().audit_events(0, 1000).await.unwrap();
    let put = trail.iter().find(|e| e.event.action == "admin.config_store.put").unwrap().seq;
    let mut rewritten: Vec<_> = trail.iter().filter(|e| e.seq >= put).map(|e| e.event.clone()).collect();
    rewritten[0].actor.name = "someone-else".into();
    s.tamper().rechain(s.store(), put, &rewritten).await;
    let v = verify(&root).await;
    assert_eq!((v.intact, v.broken_at), (false, Some(put)), "{v:?}");
}

#[tokio::test]
async fn finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify_on_sqlite() {
    finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify_on_postgres() {
    finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify(Server::start_on(Backend::Postgres).await)
        .await;
}

async fn finding_6_deleted_admin_denied_event_fails_verify(s: Server) {
    let root = busy_trail(&s).await;
    let trail_before = s.store().audit_events(0, 1000).await.unwrap();
    let denied = trail_before.iter().find(|e| e.event.action == "admin.denied").unwrap().seq;
    let after: Vec<_> = trail_before.iter().filter(|e| e.seq > denied).map(|e| e.event.clone()).collect();
    s.tamper().rechain(s.store(), denied, &after).await;
    let refusals = trail(&root, &[("action", "admin.denied")]).await;
    assert!(refusals.is_empty(), "the refusal is gone: {refusals:?}");
    let v = verify(&root).await;
    assert_eq!((v.intact, v.broken_at), (false, Some(denied)), "{v:?}");
}

#[tokio::test]
async fn finding_6_deleted_admin_denied_event_fails_verify_on_sqlite() {
    finding_6_deleted_admin_denied_event_fails_verify(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_6_deleted_admin_denied_event_fails_verify_on_postgres() {
    finding_6_deleted_admin_denied_event_fails_verify(Server::start_on(Backend::Postgres).await).await;
}

#[tokio::test]
async fn finding_6_checkpoints_are_signed_with_the_published_key() {
    let s = Server::start().await;
    let root = busy_trail(&s).await;
    let key: CheckpointKeyBody =
        answered::<(), _>(&root, Method::GET, &["audit", "checkpoint", "key"], None, None, 200).await.value;
    assert_eq!(key.alg, "Ed25519");
    let cp: Checkpoint = answered::<(), _>(&root, Method::GET, &["audit", "checkpoint"], None, None, 200).await.value;
    verify_checkpoint(&cp).unwrap();
    assert_eq!((cp.key_id.as_str(), cp.public_key.as_str()), (key.key_id.as_str(), key.public_key.as_str()));
    let v = verify(&root).await;
    assert_eq!((cp.seq, Some(cp.head.as_str())), (v.head_seq, v.head.as_deref()), "{v:?}");
    assert_eq!(cp.at, s.clock.now());
    // Read like the trail: by any role or an Auditor, never anonymously.
    let anonymous = reqwest::get(format!("{}/admin-api/v1/audit/checkpoint", s.base)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // The seal of the bootstrap's empty head names the key.
    let seal = s.store().audit_events(0, 1).await.unwrap().remove(0);
    assert_eq!((seal.event.action.as_str(), seal.event.actor.id.as_str()), (CHAIN_KEYED, "signetd"));
}

#[tokio::test]
async fn finding_6_one_instance_writes_each_checkpoint_to_the_sinks() {
    let s = Server::start_on(Backend::Postgres).await;
    let file = s.dir.join("checkpoints.jsonl");
    let socket = s.dir.join("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    syslog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let sinks = vec![Sink::File(file.clone()), Sink::Syslog(socket.clone())];
    let hour = Duration::from_secs(3600);

    let first = audit_chain::write_due(&s.state, &sinks, hour).await.unwrap().expect("the period's first");
    // The period is claimed in the database: no instance writes it again.
    assert_eq!(audit_chain::write_due(&s.state, &sinks, hour).await.unwrap(), None);
    s.store().record(&test_event("between", None, "x")).await.unwrap();
    s.clock.advance(3600);
    let second = audit_chain::write_due(&s.state, &sinks, hour).await.unwrap().expect("the next period's");
    assert_eq!(second.seq, first.seq + 1);

    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let lines: Vec<Checkpoint> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, vec![first.clone(), second.clone()]);
    for expected in [&first, &second] {
        let mut buf = [0u8; 4096];
        let n = syslog.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        let json = msg.strip_prefix("<86>").and_then(|m| m.split_once("audit checkpoint ")).unwrap().1;
        assert_eq!(&serde_json::from_str::<Checkpoint>(json).unwrap(), expected, "{msg}");
    }
    assert_eq!(s.store().check_audit_checkpoint(&second).await.unwrap(), signet_store::CheckpointCheck::Intact);
}

async fn finding_6_instances_starting_together_seal_once(backend: Backend) {
    let s = Server::start_on(backend).await;
    // A trail as an older signetd left it: another database, plain SHA-256.
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create().await),
    };
    let url = pg.as_ref().map_or_else(|| format!("sqlite://{}", s.dir.join("old.db").display()), |db| db.url.clone());
    let old = Store::open(&url).await.unwrap();
    for n in 0..3 {
        old.record(&test_event(&format!("before.{n}"), None, "x")).await.unwrap();
    }
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, now) = (url.clone(), s.clock.now());
        let kek = signet_core::crypto::Kek::from_bytes(&[9; 32]).unwrap();
        starts.spawn(async move {
            let store = Store::open(&url).await.unwrap();
            audit_chain::open(&store, &kek, now).await.unwrap();
            store.record(&test_event("started", None, "x")).await.unwrap();
            store.audit_checkpoint_key().unwrap().key_id
        });
    }
    let keys = starts.join_all().await;
    assert!(keys.iter().all(|k| *k == keys[0]), "one checkpoint key: {keys:?}");
    let kek = signet_core::crypto::Kek::from_bytes(&[9; 32]).unwrap();
    audit_chain::use_existing(&old, &kek).await.unwrap();
    let events = old.audit_events(0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event.action == CHAIN_KEYED).count(), 1, "one sealing event");
    let check = old.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.keyed_from), (8, None, Some(4)), "{check:?}");
    old.close().await;
}

#[tokio::test]
async fn finding_6_instances_starting_together_seal_once_on_sqlite() {
    finding_6_instances_starting_together_seal_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn finding_6_instances_starting_together_seal_once_on_postgres() {
    finding_6_instances_starting_together_seal_once(Backend::Postgres).await;
}

#[tokio::test]
async fn finding_6_retention_prunes_the_keyed_chain_and_checkpoints_still_check() {
    let s = Server::start().await;
    let root = busy_trail(&s).await;
    let before = root.get::<Checkpoint>(&["audit", "checkpoint"]).await.unwrap().value;
    s.clock.advance(2 * 86_400);
    let pruned = signet_server::ops::prune_audit(&s.state, 1).await.unwrap();
    let v = verify(&root).await;
    assert_eq!(
        (v.intact, v.pruned_through, v.keyed_from),
        (true, Some(pruned), Some(1)),
        "the sealing event was pruned; the anchor's MAC vouches for where the keyed chain began: {v:?}"
    );
    let cp = root.get::<Checkpoint>(&["audit", "checkpoint"]).await.unwrap().value;
    assert_eq!(s.store().check_audit_checkpoint(&cp).await.unwrap(), signet_store::CheckpointCheck::Intact);
    assert_eq!(
        s.store().check_audit_checkpoint(&before).await.unwrap(),
        signet_store::CheckpointCheck::Pruned { pruned_through: pruned }
    );
}
