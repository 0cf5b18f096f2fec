//! Sign-on flows in progress and browser sessions.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    login_flow_compare_and_swap,
    login_flow_hides_expired_and_foreign,
    browser_sessions_expire_and_delete,
    a_completed_signon_writes_everything_at_once,
);

async fn login_flow_compare_and_swap(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let f = login_flow(env.id.as_str(), NOW + 600);
    s.insert_flow(&f).await.unwrap();
    assert_eq!(s.flow(&env.id, &f.id, NOW).await.unwrap(), Some(f.clone()));

    let account_id = id();
    let totp = Step::Totp { account_id: account_id.clone().into(), first: vec![] };
    assert!(s.advance_flow(&f.id, 0, &totp).await.unwrap());
    assert!(!s.advance_flow(&f.id, 0, &Step::Password).await.unwrap(), "a form posted twice moves the flow once");
    let moved = s.flow(&env.id, &f.id, NOW).await.unwrap().unwrap();
    assert_eq!((moved.version, &moved.step), (1, &totp));

    // Two instances racing on version 1: exactly one wins.
    let done = Step::Authenticated {
        account_id: account_id.clone().into(),
        auth_time: NOW,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
    };
    let enrol = Step::Enrol { account_id: account_id.into(), sealed_secret: vec![1, 2, 3], first: vec!["fed".into()] };
    let (x, y) = tokio::join!(s.advance_flow(&f.id, 1, &done), s.advance_flow(&f.id, 1, &enrol));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x ^ y, "exactly one of two racing steps wins: {x} {y}");
    let last = s.flow(&env.id, &f.id, NOW).await.unwrap().unwrap();
    assert_eq!(last.version, 2);
    assert_eq!(last.step, if x { done } else { enrol });
    assert_eq!((last.csrf, last.cookie_hash, last.purpose), (f.csrf, f.cookie_hash, f.purpose));

    assert!(!s.advance_flow(&id(), 0, &Step::Password).await.unwrap());
    s.delete_flow(&f.id).await.unwrap();
    assert_eq!(s.flow(&env.id, &f.id, NOW).await.unwrap(), None);
}

async fn login_flow_hides_expired_and_foreign(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "partners").await;
    let mut f = login_flow(env.id.as_str(), NOW + 600);
    f.purpose = Purpose::Device { user_code: "BCDF-GHJK".into() };
    s.insert_flow(&f).await.unwrap();

    assert_eq!(s.flow(&env.id, &f.id, NOW + 599).await.unwrap(), Some(f.clone()));
    assert_eq!(s.flow(&env.id, &f.id, NOW + 600).await.unwrap(), None, "expired at expires_at");
    assert_eq!(s.flow(&other.id, &f.id, NOW).await.unwrap(), None, "another environment's flow");
    assert_eq!(s.flow(&env.id, &id(), NOW).await.unwrap(), None);
}

async fn browser_sessions_expire_and_delete(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    let (h1, h2) = (random_hash(), random_hash());
    let s1 = session(&a, NOW + 3600);
    s.insert_session(&h1, &s1).await.unwrap();
    s.insert_session(&h2, &session(&a, NOW + 3600)).await.unwrap();

    assert_eq!(s.session(&h1, NOW).await.unwrap(), Some(s1.clone()));
    assert_eq!(s.session(&h1, NOW + 3599).await.unwrap(), Some(s1));
    assert_eq!(s.session(&h1, NOW + 3600).await.unwrap(), None);
    assert_eq!(s.session(&random_hash(), NOW).await.unwrap(), None);

    s.delete_session(&h1).await.unwrap();
    assert_eq!(s.session(&h1, NOW).await.unwrap(), None);
    assert!(s.session(&h2, NOW).await.unwrap().is_some(), "only that session ends");
}

async fn a_completed_signon_writes_everything_at_once(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    s.count_failure(&a.id, Budget::Password, NOW, Default::default(), &event("signon.failure", None)).await.unwrap();
    let f = login_flow(env.id.as_str(), NOW + 600);
    s.insert_flow(&f).await.unwrap();
    let code = auth_code(env.id.as_str(), "c", NOW + 60);
    let cookie = random_hash();
    let before = s.audit_events(0, 1000).await.unwrap().len();
    let ev = event("signon", Some(env.id.as_str()));
    let live = session(&a, NOW + 3600);
    assert!(!s.complete_signon(&ev, true, &cookie, &live, Some(&code), Some((&f.id, 1))).await.unwrap());
    assert!(s.session(&cookie, NOW).await.unwrap().is_none(), "a stale flow version writes nothing");
    assert!(s.complete_signon(&ev, true, &cookie, &live, Some(&code), Some((&f.id, 0))).await.unwrap());
    assert!(s.session(&cookie, NOW).await.unwrap().is_some());
    assert_eq!(s.auth_code(&code.hash).await.unwrap(), Some(code));
    assert_eq!(s.flow(&env.id, &f.id, NOW).await.unwrap(), None, "the flow is over");
    assert_eq!(s.account(&a.id).await.unwrap().unwrap().failed_attempts, 0, "failures are forgotten");
    assert_eq!(s.audit_events(0, 1000).await.unwrap().len(), before + 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);
}
