//! Finding 6 of issue 15: the audit chain keyed with a key the database does
//! not hold, and checkpoints that catch what the database alone cannot show.
//! Each attack here is one someone who can write the database (but lacks the
//! key-encryption key) can make: rewrite rows and recompute every SHA-256
//! hash after them, drop the newest events, move the pruning anchor.

use signet_core::audit_key::{AuditKeys, CHAIN_KEYED, SealedAuditKeys};
use signet_store::CheckpointCheck;

use crate::fixtures::*;
use crate::{NOW, Place, TestDb};

contracts!(
    finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify,
    finding_6_dropped_newest_events_fail_against_a_checkpoint,
    finding_6_deleted_admin_denied_event_fails_verify,
    finding_6_pruning_keeps_the_keyed_chain_verifiable_and_its_anchor_fixed,
    finding_6_pre_upgrade_events_still_verify_and_are_sealed_once,
    finding_6_a_store_without_the_key_cannot_extend_or_vouch_for_the_chain,
    finding_6_instances_starting_together_write_one_sealing_event,
    finding_6_one_instance_writes_each_checkpoint,
    finding_6_a_kek_rotation_keeps_the_keyed_chain_verifiable,
    finding_6_the_upgrade_moves_an_old_pruning_anchor_out_of_the_settings,
);

/// Gives the store fresh keys and starts the keyed chain (the sealing event
/// is event 1 on a fresh store).
async fn keyed(db: &TestDb) -> &Store {
    db.store.use_audit_keys(AuditKeys::generate().unwrap()).unwrap();
    assert_eq!(db.store.seal_audit_chain(NOW).await.unwrap(), Some(1));
    &db.store
}

/// A blob as an SQL literal of the test's backend.
fn blob(db: &TestDb, bytes: &[u8]) -> String {
    let hex = signet_core::audit::hex(bytes);
    match db.place {
        Place::Dir(_) => format!("X'{hex}'"),
        Place::Database(_) => format!("'\\x{hex}'::bytea"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The attacker's rewrite: replaces events from `from` on with `events`,
/// chained by SHA-256 from the hash before `from` (all anyone without the
/// key can compute), and moves the head to the last of them.
async fn rechain(db: &TestDb, from: i64, events: &[AuditEvent]) {
    let all = db.store.audit_events(0, 10_000).await.unwrap();
    let mut prev = all.iter().find(|e| e.seq == from - 1).map(|e| unhex(&e.hash)).unwrap_or_default();
    db.raw(&format!("DELETE FROM audit_events WHERE seq >= {from}"), None).await;
    let mut seq = from;
    for ev in events {
        let hash = ev.chain_hash(seq, &prev);
        let sql = format!(
            "INSERT INTO audit_events (seq, id, at, environment_id, body, prev_hash, hash) VALUES ({seq}, '{}', {}, NULL, $1, {}, {})",
            ev.id,
            ev.at,
            blob(db, &prev),
            blob(db, &hash)
        );
        assert_eq!(db.raw(&sql, Some(&serde_json::to_string(ev).unwrap())).await.1, 1);
        prev = hash;
        seq += 1;
    }
    let head = format!("UPDATE audit_head SET seq = {}, hash = {} WHERE id = 1", seq - 1, blob(db, &prev));
    assert_eq!(db.raw(&head, None).await.1, 1);
}

async fn events_from(s: &Store, from: i64) -> Vec<AuditEvent> {
    s.audit_events(from - 1, 10_000).await.unwrap().into_iter().map(|e| e.event).collect()
}

async fn finding_6_edited_event_with_recomputed_hashes_and_head_fails_verify(db: TestDb) {
    let s = keyed(&db).await;
    for n in 0..5 {
        s.record(&event(&format!("admin.account.update.{n}"), None)).await.unwrap();
    }
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.keyed_from), (6, None, Some(1)), "{check:?}");

    // Event 3 names someone else; every hash after it and the head are recomputed.
    let mut rewritten = events_from(s, 3).await;
    rewritten[0].target = "someone-else".into();
    rechain(&db, 3, &rewritten).await;
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (2, Some(3)), "{check:?}");

    // Rechaining under a key of one's own is no better than SHA-256.
    let guess = AuditKeys::generate().unwrap();
    let all = s.audit_events(0, 100).await.unwrap();
    let prev = unhex(&all[1].hash);
    let hash = guess.chain.hash(&rewritten[0], 3, &prev);
    let sql = format!("UPDATE audit_events SET hash = {} WHERE seq = 3", blob(&db, &hash));
    assert_eq!(db.raw(&sql, None).await.1, 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, Some(3));
}

async fn finding_6_dropped_newest_events_fail_against_a_checkpoint(db: TestDb) {
    let s = keyed(&db).await;
    for n in 0..5 {
        s.record(&event(&format!("admin.denied.{n}"), None)).await.unwrap();
    }
    let cp = s.sign_audit_checkpoint(NOW).await.unwrap();
    assert_eq!(cp.seq, 6);
    assert_eq!(s.check_audit_checkpoint(&cp).await.unwrap(), CheckpointCheck::Intact);

    // The newest two go, and the head moves back to the last one kept.
    let kept = s.audit_events(3, 1).await.unwrap().remove(0);
    assert_eq!(db.raw("DELETE FROM audit_events WHERE seq > 4", None).await.1, 2);
    let head = format!("UPDATE audit_head SET seq = 4, hash = {} WHERE id = 1", blob(&db, &unhex(&kept.hash)));
    assert_eq!(db.raw(&head, None).await.1, 1);
    // The database alone cannot show it: what is left is a whole keyed chain.
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);
    assert_eq!(s.check_audit_checkpoint(&cp).await.unwrap(), CheckpointCheck::Truncated { head_seq: 4 });

    // Once the trail grows past it again, the checkpoint's event is another one.
    for n in 0..3 {
        s.record(&event(&format!("later.{n}"), None)).await.unwrap();
    }
    assert_eq!(s.check_audit_checkpoint(&cp).await.unwrap(), CheckpointCheck::Rewritten);

    // A checkpoint altered, or signed by another key, vouches for nothing.
    let mut forged = s.sign_audit_checkpoint(NOW).await.unwrap();
    forged.seq -= 1;
    assert!(matches!(s.check_audit_checkpoint(&forged).await.unwrap(), CheckpointCheck::Invalid(_)));
    let other = AuditKeys::generate().unwrap().checkpoint.sign(7, &forged.head, NOW);
    assert_eq!(s.check_audit_checkpoint(&other).await.unwrap(), CheckpointCheck::ForeignKey);
}

async fn finding_6_deleted_admin_denied_event_fails_verify(db: TestDb) {
    let s = keyed(&db).await;
    for action in ["admin.account.create", "admin.denied", "admin.account.update", "sign_on"] {
        s.record(&event(action, None)).await.unwrap();
    }
    let all = s.audit_events(0, 100).await.unwrap();
    let denied = all.iter().find(|e| e.event.action == "admin.denied").unwrap().seq;
    assert_eq!(denied, 3);
    // The refusal disappears; what followed is renumbered and rechained.
    let after = events_from(s, denied + 1).await;
    rechain(&db, denied, &after).await;
    assert!(s.audit_events(0, 100).await.unwrap().iter().all(|e| e.event.action != "admin.denied"));
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (2, Some(3)), "{check:?}");
}

async fn finding_6_pruning_keeps_the_keyed_chain_verifiable_and_its_anchor_fixed(db: TestDb) {
    db.store.use_audit_keys(AuditKeys::generate().unwrap()).unwrap();
    let s = &db.store;
    assert_eq!(s.seal_audit_chain(NOW - 2000).await.unwrap(), Some(1));
    for n in 0..5 {
        let mut ev = event(&format!("old.{n}"), None);
        ev.at = NOW - 1000 + n;
        s.record(&ev).await.unwrap();
    }
    let of_old = s.sign_audit_checkpoint(NOW - 900).await.unwrap();
    for n in 0..3 {
        s.record(&event(&format!("new.{n}"), None)).await.unwrap();
    }
    let before = s.sign_audit_checkpoint(NOW).await.unwrap();

    // The sealing event and the old ones go; the rest still verifies, keyed.
    assert_eq!(s.prune_audit(NOW - 100, &event("audit.prune", None)).await.unwrap(), 6);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!(
        (check.events, check.broken_at, check.pruned_through, check.keyed_from),
        (4, None, Some(6), Some(1)),
        "{check:?}"
    );
    assert_eq!(s.check_audit_checkpoint(&before).await.unwrap(), CheckpointCheck::Intact);
    assert_eq!(s.check_audit_checkpoint(&of_old).await.unwrap(), CheckpointCheck::Pruned { pruned_through: 6 });

    // The anchor cannot be moved past events someone wants gone.
    let first = s.audit_events(0, 1).await.unwrap().remove(0);
    assert_eq!(first.seq, 7);
    assert_eq!(db.raw("DELETE FROM audit_events WHERE seq = 7", None).await.1, 1);
    let moved =
        format!("UPDATE audit_head SET pruned_seq = 7, pruned_hash = {} WHERE id = 1", blob(&db, &unhex(&first.hash)));
    assert_eq!(db.raw(&moved, None).await.1, 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, Some(8));
    // Nor can its MAC be dropped, as if it predated the key.
    assert_eq!(db.raw("UPDATE audit_head SET pruned_mac = NULL WHERE id = 1", None).await.1, 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, Some(8));
}

async fn finding_6_pre_upgrade_events_still_verify_and_are_sealed_once(db: TestDb) {
    // Before the upgrade: a plain SHA-256 chain, pruned once.
    let s = &db.store;
    for n in 0..5 {
        let mut ev = event(&format!("before.{n}"), None);
        ev.at = if n < 2 { NOW - 1000 } else { NOW };
        s.record(&ev).await.unwrap();
    }
    assert_eq!(s.prune_audit(NOW - 100, &event("audit.prune", None)).await.unwrap(), 2);
    let legacy = s.verify_audit_chain().await.unwrap();
    assert_eq!((legacy.broken_at, legacy.keyed_from, legacy.head_seq), (None, None, 6));
    let old_hashes: Vec<String> = s.audit_events(0, 100).await.unwrap().into_iter().map(|e| e.hash).collect();

    // The first start after the upgrade seals the old head, once.
    s.use_audit_keys(AuditKeys::generate().unwrap()).unwrap();
    assert_eq!(s.seal_audit_chain(NOW).await.unwrap(), Some(7));
    assert_eq!(s.seal_audit_chain(NOW).await.unwrap(), None);
    s.record(&event("after", None)).await.unwrap();
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!(
        (check.events, check.broken_at, check.pruned_through, check.keyed_from),
        (6, None, Some(2), Some(7)),
        "{check:?}"
    );
    let now: Vec<String> = s.audit_events(0, 100).await.unwrap().into_iter().map(|e| e.hash).collect();
    assert_eq!(now[..old_hashes.len()], old_hashes[..], "old events are not rewritten");
    let seal = s.audit_events(6, 1).await.unwrap().remove(0);
    assert_eq!(
        (seal.event.action.as_str(), seal.event.actor.kind),
        (CHAIN_KEYED, signet_core::audit::ActorKind::System)
    );

    // A pre-upgrade event rewritten, with every SHA-256 hash after it recomputed
    // (the sealing event's too), shows at the sealing event, whose HMAC binds the old head.
    let mut rewritten = events_from(s, 4).await;
    rewritten[0].target = "someone-else".into();
    rechain(&db, 4, &rewritten).await;
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, Some(7));
}

async fn finding_6_a_store_without_the_key_cannot_extend_or_vouch_for_the_chain(db: TestDb) {
    keyed(&db).await;
    db.store.record(&event("keyed", None)).await.unwrap();
    let keyless = Store::open(&db.url).await.unwrap();
    let r = keyless.record(&event("unkeyed", None)).await;
    assert!(matches!(r, Err(StoreError::AuditKeyMissing)), "{r:?}");
    let r = keyless.verify_audit_chain().await;
    assert!(matches!(r, Err(StoreError::AuditKeyMissing)), "{r:?}");
    assert!(matches!(keyless.prune_audit(NOW + 10, &event("p", None)).await, Err(StoreError::AuditKeyMissing)));
    // Another key is refused by a store that has one.
    assert!(db.store.use_audit_keys(AuditKeys::generate().unwrap()).is_err());
    keyless.close().await;
    assert_eq!(audit_count(&db.store).await, 2);
    // Nor does clearing the marker in the database get unkeyed events written.
    assert_eq!(db.raw("UPDATE audit_head SET keyed_from = NULL WHERE id = 1", None).await.1, 1);
    db.store.record(&event("still keyed", None)).await.unwrap();
    assert_eq!(db.store.verify_audit_chain().await.unwrap().broken_at, None);
}

async fn finding_6_instances_starting_together_write_one_sealing_event(db: TestDb) {
    db.store.record(&event("before the upgrade", None)).await.unwrap();
    let kek = Kek::from_bytes(&[5; 32]).unwrap();
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, kek) = (db.url.clone(), Kek::from_bytes(&[5; 32]).unwrap());
        starts.spawn(async move {
            let store = Store::open(&url).await.unwrap();
            let mine = SealedAuditKeys::generate(&kek).unwrap();
            let used = store.put_sealed_audit_keys(&mine, NOW).await.unwrap();
            store.use_audit_keys(AuditKeys::open(&kek, &used).unwrap()).unwrap();
            let sealed = store.seal_audit_chain(NOW).await.unwrap();
            store.record(&event("started", None)).await.unwrap();
            store.close().await;
            (sealed, used)
        });
    }
    let started = starts.join_all().await;
    assert_eq!(started.iter().filter(|s| s.0.is_some()).count(), 1, "one sealing event: {started:?}");
    assert!(started.iter().all(|s| s.1 == started[0].1), "one set of keys");
    db.store.use_audit_keys(AuditKeys::open(&kek, &started[0].1).unwrap()).unwrap();
    let check = db.store.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.keyed_from), (6, None, Some(2)), "{check:?}");
    let seals = db.store.audit_events(0, 100).await.unwrap().iter().filter(|e| e.event.action == CHAIN_KEYED).count();
    assert_eq!(seals, 1);
}

async fn finding_6_one_instance_writes_each_checkpoint(db: TestDb) {
    let kek = Kek::from_bytes(&[6; 32]).unwrap();
    let sealed = db.store.put_sealed_audit_keys(&SealedAuditKeys::generate(&kek).unwrap(), NOW).await.unwrap();
    db.store.use_audit_keys(AuditKeys::open(&kek, &sealed).unwrap()).unwrap();
    db.store.seal_audit_chain(NOW).await.unwrap();
    let mut instances = Vec::new();
    for _ in 0..4 {
        let store = Store::open(&db.url).await.unwrap();
        store.use_audit_keys(AuditKeys::open(&kek, &sealed).unwrap()).unwrap();
        instances.push(store);
    }
    for period in [100, 101] {
        let mut writes = tokio::task::JoinSet::new();
        for store in &instances {
            let store = store.clone();
            writes.spawn(async move { store.write_audit_checkpoint(period, NOW).await.unwrap() });
        }
        let written: Vec<_> = writes.join_all().await.into_iter().flatten().collect();
        assert_eq!(written.len(), 1, "period {period}: {written:?}");
        assert_eq!(db.store.check_audit_checkpoint(&written[0]).await.unwrap(), CheckpointCheck::Intact);
        db.store.record(&event("between", None)).await.unwrap();
    }
    assert_eq!(instances[0].write_audit_checkpoint(100, NOW).await.unwrap(), None, "a period is never written twice");
    for store in instances {
        store.close().await;
    }
}

async fn finding_6_a_kek_rotation_keeps_the_keyed_chain_verifiable(db: TestDb) {
    let (old, new) = (Kek::from_bytes(&[7; 32]).unwrap(), Kek::from_bytes(&[8; 32]).unwrap());
    let sealed = db.store.put_sealed_audit_keys(&SealedAuditKeys::generate(&old).unwrap(), NOW).await.unwrap();
    db.store.use_audit_keys(AuditKeys::open(&old, &sealed).unwrap()).unwrap();
    db.store.seal_audit_chain(NOW).await.unwrap();
    db.store.record(&event("before rotation", None)).await.unwrap();
    let key_id = db.store.audit_checkpoint_key().unwrap().key_id;
    let resealed = db
        .store
        .reseal_all(
            |purpose, blob| {
                new.seal(purpose, old.open(purpose, blob).map_err(|e| e.to_string())?.expose())
                    .map_err(|e| e.to_string())
            },
            &event("kek.rotate", None),
        )
        .await
        .unwrap();
    assert!(resealed >= 2);
    // A server started with the new key opens the same keys: everything verifies.
    let after = Store::open(&db.url).await.unwrap();
    let stored = after.sealed_audit_keys().await.unwrap().unwrap();
    assert!(AuditKeys::open(&old, &stored).is_err(), "sealed under the new key now");
    after.use_audit_keys(AuditKeys::open(&new, &stored).unwrap()).unwrap();
    after.record(&event("after rotation", None)).await.unwrap();
    let check = after.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.keyed_from), (4, None, Some(1)), "{check:?}");
    assert_eq!(after.audit_checkpoint_key().unwrap().key_id, key_id);
    after.close().await;
}

async fn finding_6_the_upgrade_moves_an_old_pruning_anchor_out_of_the_settings(db: TestDb) {
    let s = &db.store;
    for n in 0..4 {
        let mut ev = event(&format!("old.{n}"), None);
        ev.at = if n < 2 { NOW - 1000 } else { NOW };
        s.record(&ev).await.unwrap();
    }
    assert_eq!(s.prune_audit(NOW - 100, &event("audit.prune", None)).await.unwrap(), 2);
    s.close().await;

    // As an older signetd left it: the schema before step 13, the anchor a setting.
    let prev = match db.place {
        Place::Dir(_) => db.raw("SELECT lower(hex(prev_hash)) FROM audit_events WHERE seq = 3", None).await.0,
        Place::Database(_) => db.raw("SELECT encode(prev_hash, 'hex') FROM audit_events WHERE seq = 3", None).await.0,
    };
    let old_anchor = serde_json::json!({"seq": 2, "hash": prev.unwrap()}).to_string();
    for sql in [
        "DROP TABLE audit_keys",
        "ALTER TABLE audit_head DROP COLUMN keyed_from",
        "ALTER TABLE audit_head DROP COLUMN pruned_seq",
        "ALTER TABLE audit_head DROP COLUMN pruned_hash",
        "ALTER TABLE audit_head DROP COLUMN pruned_mac",
        "ALTER TABLE audit_head DROP COLUMN checkpoint_period",
        "ALTER TABLE refresh_tokens DROP COLUMN successor_hash",
        "ALTER TABLE signing_keys DROP COLUMN activates_at",
        "DELETE FROM signet_migrations WHERE version >= 13",
    ] {
        db.raw(sql, None).await;
    }
    assert_eq!(db.raw("INSERT INTO settings (key, value) VALUES ('audit.pruned', $1)", Some(&old_anchor)).await.1, 1);

    let upgraded = Store::open(&db.url).await.unwrap();
    let check = upgraded.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.pruned_through), (3, None, Some(2)), "{check:?}");
    assert_eq!(upgraded.setting("audit.pruned").await.unwrap(), None, "a configuration import no longer replaces it");
    // Then keyed: the old anchor is vouched for from the sealing event on.
    upgraded.use_audit_keys(AuditKeys::generate().unwrap()).unwrap();
    assert_eq!(upgraded.seal_audit_chain(NOW).await.unwrap(), Some(6));
    let check = upgraded.verify_audit_chain().await.unwrap();
    assert_eq!((check.broken_at, check.pruned_through, check.keyed_from), (None, Some(2), Some(6)), "{check:?}");
    upgraded.close().await;
}
