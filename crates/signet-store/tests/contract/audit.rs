//! The hash-chained audit trail, and that tampering with it shows.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    audit_chain_verifies_and_detects_tampering,
    audit_chain_detects_truncation,
    concurrent_audit_appends_keep_the_chain,
    verifying_while_events_are_appended_reports_no_break,
    pruning_keeps_the_rest_of_the_chain_verifiable,
);

async fn pruning_keeps_the_rest_of_the_chain_verifiable(db: TestDb) {
    let s = &db.store;
    for n in 0..5 {
        let mut ev = event(&format!("old.{n}"), None);
        ev.at = NOW - 1000 + n;
        s.record(&ev).await.unwrap();
    }
    for n in 0..3 {
        s.record(&event(&format!("new.{n}"), None)).await.unwrap();
    }
    let head_before = s.verify_audit_chain().await.unwrap().head;
    assert_eq!(s.prune_audit(NOW - 100, &event("audit.prune", None)).await.unwrap(), 5);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at, check.pruned_through), (4, None, Some(5)), "{check:?}");
    assert_ne!(check.head, head_before, "the pruning itself is recorded");
    assert_eq!(s.audit_events(0, 100).await.unwrap()[0].seq, 6);
    assert_eq!(s.prune_audit(NOW - 100, &event("audit.prune", None)).await.unwrap(), 0, "nothing older is left");

    // The first kept event still chains to the recorded hash: editing it shows.
    assert_eq!(db.raw("UPDATE audit_events SET body = replace(body, 'new.0', 'new.X') WHERE seq = 6", None).await.1, 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, Some(6));
}

async fn verifying_while_events_are_appended_reports_no_break(db: TestDb) {
    let s = db.store.clone();
    for n in 0..600 {
        s.record(&event(&format!("seed.{n}"), None)).await.unwrap();
    }
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for n in 0..200 {
                s.record(&event(&format!("during.{n}"), None)).await.unwrap();
            }
        })
    };
    let mut walks = 0;
    while !writer.is_finished() || walks == 0 {
        let check = s.verify_audit_chain().await.unwrap();
        assert_eq!(check.broken_at, None, "a walk over a growing trail: {check:?}");
        assert_eq!(check.head.as_deref().map(str::len), Some(64));
        walks += 1;
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(s.verify_audit_chain().await.unwrap().events, 800);
}

async fn audit_chain_verifies_and_detects_tampering(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    new_account(s, env.id.as_str(), "alice").await;
    new_account(s, env.id.as_str(), "bob").await;
    let recorded = [
        event("sign_on", Some(env.id.as_str())),
        event("sign_on.failed", Some(env.id.as_str())),
        event("sign_off", None),
    ];
    for ev in &recorded {
        s.record(ev).await.unwrap();
    }

    let all = s.audit_events(0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(all[3..].iter().map(|e| e.event.clone()).collect::<Vec<_>>(), recorded.to_vec());
    assert!(all.iter().all(|e| e.hash.len() == 64), "hashes are hex SHA-256");
    let page = s.audit_events(2, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (6, None));

    // Rewrite event 4 behind the store's back, keeping it well-formed JSON.
    let body = db.raw("SELECT body FROM audit_events WHERE seq = 4", None).await.0.unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(&body).unwrap();
    forged["target"] = serde_json::Value::String("someone-else".into());
    let forged = forged.to_string();
    let (_, changed) = db.raw("UPDATE audit_events SET body = $1 WHERE seq = 4", Some(&forged)).await;
    assert_eq!(changed, 1);

    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (3, Some(4)));
}

async fn audit_chain_detects_truncation(db: TestDb) {
    let s = &db.store;
    for n in 0..4 {
        s.record(&event(&format!("event.{n}"), None)).await.unwrap();
    }
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);

    assert_eq!(db.raw("DELETE FROM audit_events WHERE seq = 4", None).await.1, 1);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (3, Some(4)), "a removed last event shows");

    assert_eq!(db.raw("DELETE FROM audit_events WHERE seq = 2", None).await.1, 1);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (1, Some(2)), "a gap shows");
}

async fn concurrent_audit_appends_keep_the_chain(db: TestDb) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16 {
        let store = db.store.clone();
        tasks.spawn(async move { store.record(&event(&format!("concurrent.{n}"), None)).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let check = db.store.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (16, None));
}
