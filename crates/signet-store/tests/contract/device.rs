//! Device authorizations (RFC 8628): creation, polling, decision and spending.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    device_flow,
    device_decision_expires,
    poll_device_race_loses_last_polled_at,
    poll_device_fails_beside_a_concurrent_write,
);

async fn device_flow(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other_env = new_environment(s, "partners").await;
    let d = device(env.id.as_str(), "BCDF-GHJK", NOW + 600);
    s.insert_device(&d).await.unwrap();
    assert_eq!(s.device_by_user_code(&env.id, "BCDF-GHJK").await.unwrap(), Some(d.clone()));
    assert_eq!(s.device_by_user_code(&other_env.id, "BCDF-GHJK").await.unwrap(), None);

    let clash = device(env.id.as_str(), "BCDF-GHJK", NOW + 600);
    let r = s.insert_device(&clash).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.poll_device(&clash.device_hash, NOW).await.unwrap(), None);

    // Each poll returns the authorization as it was before that poll.
    assert_eq!(s.poll_device(&d.device_hash, NOW + 5).await.unwrap().unwrap().last_polled_at, None);
    assert_eq!(s.poll_device(&d.device_hash, NOW + 10).await.unwrap().unwrap().last_polled_at, Some(NOW + 5));
    s.slow_device_down(&d.device_hash).await.unwrap();
    let before = s.poll_device(&d.device_hash, NOW + 20).await.unwrap().unwrap();
    assert_eq!((before.last_polled_at, before.interval, before.status), (Some(NOW + 10), 10, DeviceStatus::Pending));

    // Nothing to spend until approved.
    let g = grant(env.id.as_str(), "signet-cli");
    let t = refresh(&g.id, NOW + 3600);
    assert!(!s.consume_device(&d.device_hash, &g, Some(&t)).await.unwrap());
    assert_eq!(s.grant(&g.id).await.unwrap(), None);

    let approved = DeviceStatus::Approved { account_id: id().into(), auth_time: NOW + 30, amr: vec!["pwd".into()] };
    assert!(
        !s.decide_device("BCDF-GHJK", &DeviceStatus::Consumed, NOW + 30, &event("device.decide", None)).await.unwrap()
    );
    assert!(s.decide_device("BCDF-GHJK", &approved, NOW + 30, &event("device.decide", None)).await.unwrap());
    assert!(
        !s.decide_device("BCDF-GHJK", &DeviceStatus::Denied, NOW + 31, &event("device.decide", None)).await.unwrap(),
        "decided once"
    );
    assert!(!s.decide_device("BCDF-GHJK", &approved, NOW + 31, &event("device.decide", None)).await.unwrap());
    assert_eq!(s.device_by_user_code(&env.id, "BCDF-GHJK").await.unwrap().unwrap().status, approved);
    assert_eq!(s.poll_device(&d.device_hash, NOW + 40).await.unwrap().unwrap().status, approved);

    assert!(s.consume_device(&d.device_hash, &g, Some(&t)).await.unwrap());
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(s.refresh_token_grant(&t.hash).await.unwrap(), Some(g));
    let again = grant(env.id.as_str(), "signet-cli");
    assert!(!s.consume_device(&d.device_hash, &again, None).await.unwrap(), "spent once");
    assert_eq!(s.grant(&again.id).await.unwrap(), None);
    assert_eq!(s.device_by_user_code(&env.id, "BCDF-GHJK").await.unwrap().unwrap().status, DeviceStatus::Consumed);

    // A denied authorization is never spent.
    let denied = device(env.id.as_str(), "LMNP-QRST", NOW + 600);
    s.insert_device(&denied).await.unwrap();
    assert!(s.decide_device("LMNP-QRST", &DeviceStatus::Denied, NOW, &event("device.decide", None)).await.unwrap());
    assert!(!s.decide_device("LMNP-QRST", &approved, NOW, &event("device.decide", None)).await.unwrap());
    assert!(!s.consume_device(&denied.device_hash, &grant(env.id.as_str(), "signet-cli"), None).await.unwrap());
    assert_eq!(s.poll_device(&denied.device_hash, NOW).await.unwrap().unwrap().status, DeviceStatus::Denied);
}

async fn device_decision_expires(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let d = device(env.id.as_str(), "WXZB-CDFG", NOW + 100);
    s.insert_device(&d).await.unwrap();
    let approved = DeviceStatus::Approved { account_id: id().into(), auth_time: NOW, amr: vec!["pwd".into()] };

    assert!(!s.decide_device("WXZB-CDFG", &approved, NOW + 100, &event("device.decide", None)).await.unwrap());
    assert!(
        !s.decide_device("WXZB-CDFG", &DeviceStatus::Denied, NOW + 500, &event("device.decide", None)).await.unwrap()
    );
    assert_eq!(s.device_by_user_code(&env.id, "WXZB-CDFG").await.unwrap().unwrap().status, DeviceStatus::Pending);
    assert!(!s.decide_device("NOPE-NOPE", &approved, NOW, &event("device.decide", None)).await.unwrap());
    assert!(s.decide_device("WXZB-CDFG", &approved, NOW + 99, &event("device.decide", None)).await.unwrap());
}

/// Regression, failing today: `poll_device` (src/device.rs) SELECTs the row and
/// then UPDATEs it in a transaction that takes no lock first. Two polls racing
/// on PostgreSQL both read the old `last_polled_at`, so neither is told to
/// `slow_down` (RFC 8628 §3.5); on SQLite one of them fails with "database is
/// locked", because a deferred transaction cannot upgrade a stale read to a write.
async fn poll_device_race_loses_last_polled_at(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    for i in 0..20 {
        let d = device(env.id.as_str(), &format!("RACE-{i:04}"), NOW + 600);
        s.insert_device(&d).await.unwrap();
        let (x, y) = tokio::join!(s.poll_device(&d.device_hash, NOW + 5), s.poll_device(&d.device_hash, NOW + 6));
        let seen = (x.unwrap().unwrap().last_polled_at, y.unwrap().unwrap().last_polled_at);
        assert!(
            seen == (None, Some(NOW + 5)) || seen == (Some(NOW + 6), None),
            "the later of two polls must see the earlier one, saw {seen:?}"
        );
    }
}

/// Regression, failing today on SQLite: the same read-then-write makes a poll
/// fail whenever any other write (here an audit event) commits between its
/// SELECT and its UPDATE, so a busy server answers device polls with errors.
async fn poll_device_fails_beside_a_concurrent_write(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    for i in 0..20 {
        let d = device(env.id.as_str(), &format!("BUSY-{i:04}"), NOW + 600);
        s.insert_device(&d).await.unwrap();
        let ev = event("sign_on", Some(env.id.as_str()));
        let (polled, recorded) = tokio::join!(s.poll_device(&d.device_hash, NOW + 5), s.record(&ev));
        recorded.unwrap();
        assert!(polled.unwrap().is_some());
    }
}
