//! Accounts: lockout, TOTP enrolment and steps, break-glass recovery, and the lockout policy setting.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    totp_steps_are_single_use_and_monotonic,
    totp_confirms_only_once,
    recover_account_clears_mfa_lock_and_sessions,
    lockout_policy_default_and_round_trip,
    admin_accounts_page_by_username_apart_from_end_users,
    versioned_updates_refuse_stale_versions_and_revoke_what_the_account_holds,
    set_password_bumps_the_version_and_ends_sessions,
    the_last_user_admin_stays_even_under_concurrent_demotions,
    conditional_settings_writes_see_the_value_they_replace,
    end_users_are_found_and_deactivated_apart_from_admins,
);

async fn end_users_are_found_and_deactivated_apart_from_admins(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let u = new_account(s, env.id.as_str(), "carol").await;
    let admin = new_admin(s, env.id.as_str(), "root").await;
    assert!(s.versioned_user(&env.id, &admin.id).await.unwrap().is_none(), "an admin is not an end user");
    assert!(
        s.versioned_user(&signet_core::id::EnvironmentId::from(id().as_str()), &u.id).await.unwrap().is_none(),
        "another environment's id"
    );
    let mut g = grant(env.id.as_str(), "app");
    g.account_id = u.id.clone();
    s.create_grant(&g, None).await.unwrap();
    assert_eq!(
        s.set_user_active(&u.id, Some(2), false, NOW, &event("user.update", None)).await.unwrap(),
        Written::Stale
    );
    assert_eq!(
        s.set_user_active(&u.id, Some(1), false, NOW, &event("user.update", None)).await.unwrap(),
        Written::Done(2)
    );
    let v = s.versioned_user(&env.id, &u.id).await.unwrap().unwrap();
    assert_eq!((v.version, v.account.active), (2, false));
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW), "deactivation ends its sessions");
    assert_eq!(
        s.set_user_active(&admin.id, None, false, NOW, &event("user.update", None)).await.unwrap(),
        Written::Missing
    );
    assert!(s.account(&admin.id).await.unwrap().unwrap().active);
}

async fn conditional_settings_writes_see_the_value_they_replace(db: TestDb) {
    let s = &db.store;
    let first = serde_json::json!({"schemes": ["native"]});
    let second = serde_json::json!({"schemes": ["oauth", "native"]});
    assert!(s.put_setting_if("k", |cur| cur.is_none(), &first, &event("setting", None)).await.unwrap());
    assert_eq!(s.setting("k").await.unwrap(), Some(first.clone()));
    let events = audit_count(s).await;
    // A writer that read something else loses, and leaves no trace.
    assert!(!s.put_setting_if("k", |cur| cur.is_none(), &second, &event("setting", None)).await.unwrap());
    assert_eq!(s.setting("k").await.unwrap(), Some(first.clone()));
    assert_eq!(audit_count(s).await, events);
    assert!(s.put_setting_if("k", |cur| cur == Some(&first), &second, &event("setting", None)).await.unwrap());
    assert_eq!(s.setting("k").await.unwrap(), Some(second));
    assert_eq!(audit_count(s).await, events + 1);
}

async fn new_admin(s: &Store, env_id: &str, username: &str) -> Account {
    let mut a = account(env_id, username);
    a.admin = true;
    a.roles = BTreeSet::from([Role::Admin]);
    s.insert_account(&a, &event("account.create", None)).await.unwrap();
    a
}

async fn admin_accounts_page_by_username_apart_from_end_users(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "Administrators").await;
    for name in ["carol", "alice", "dave", "bob"] {
        new_admin(s, env.id.as_str(), name).await;
    }
    new_account(s, env.id.as_str(), "eve-end-user").await;
    let names = |page: &[Versioned]| page.iter().map(|v| v.account.username.clone()).collect::<Vec<_>>();
    let first = s.accounts_page(&env.id, true, None, 3).await.unwrap();
    assert_eq!(names(&first), ["alice", "bob", "carol"]);
    let next = s.accounts_page(&env.id, true, Some("carol"), 3).await.unwrap();
    assert_eq!(names(&next), ["dave"], "the end user is never listed with the admins");
    assert!(s.accounts_page(&env.id, true, Some("dave"), 3).await.unwrap().is_empty());
    let users = s.accounts_page(&env.id, false, None, 10).await.unwrap();
    assert_eq!(names(&users), ["eve-end-user"]);
    assert!(first.iter().all(|v| v.version == 1));
}

async fn versioned_updates_refuse_stale_versions_and_revoke_what_the_account_holds(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "Administrators").await;
    let a = new_admin(s, env.id.as_str(), "alice").await;
    let mut g = grant(env.id.as_str(), "signet-cli");
    g.account_id = a.id.clone();
    s.create_grant(&g, Some(&refresh(&g.id, NOW + 3600))).await.unwrap();
    let session_hash = random_hash();
    s.insert_session(&session_hash, &session(&a, NOW + 3600)).await.unwrap();
    let events = audit_count(s).await;

    // The same roles and state: nothing it holds is touched.
    let same = AdminChange { active: true, roles: a.roles.clone(), auditor: false };
    assert_eq!(
        s.update_admin_account(&a.id, Some(1), &same, NOW, &event("account.update", None)).await.unwrap(),
        Written::Done(2)
    );
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, None);
    // A writer still holding version 1 has lost the race.
    let more = AdminChange { active: true, roles: BTreeSet::from([Role::Admin, Role::CryptoAdmin]), auditor: false };
    assert_eq!(
        s.update_admin_account(&a.id, Some(1), &more, NOW, &event("account.update", None)).await.unwrap(),
        Written::Stale
    );
    assert_eq!(audit_count(s).await, events + 1, "a stale write records nothing");
    assert_eq!(
        s.update_admin_account(&a.id, Some(2), &more, NOW + 5, &event("account.update", None)).await.unwrap(),
        Written::Done(3)
    );
    let stored = s.versioned_account(&env.id, "alice").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.account.roles), (3, more.roles.clone()));
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW + 5), "new roles end the old sessions");
    assert!(s.session(&session_hash, NOW + 5).await.unwrap().is_none(), "and its browser sessions");
    // End users and unknown ids are not admin accounts.
    let user = new_account(s, env.id.as_str(), "bob").await;
    assert_eq!(
        s.update_admin_account(&user.id, None, &more, NOW, &event("account.update", None)).await.unwrap(),
        Written::Missing
    );
    assert_eq!(
        s.update_admin_account(
            &signet_core::id::AccountId::from(id().as_str()),
            None,
            &more,
            NOW,
            &event("account.update", None)
        )
        .await
        .unwrap(),
        Written::Missing
    );
}

async fn set_password_bumps_the_version_and_ends_sessions(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "Administrators").await;
    let a = new_admin(s, env.id.as_str(), "alice").await;
    let mut g = grant(env.id.as_str(), "signet-cli");
    g.account_id = a.id.clone();
    s.create_grant(&g, None).await.unwrap();
    let r = s.set_password(&a.id, Some(7), "$argon2id$new", true, NOW, &event("account.password", None)).await.unwrap();
    assert_eq!(r, Written::Stale);
    let r = s.set_password(&a.id, Some(1), "$argon2id$new", true, NOW, &event("account.password", None)).await.unwrap();
    assert_eq!(r, Written::Done(2));
    let stored = s.versioned_account(&env.id, "alice").await.unwrap().unwrap();
    assert_eq!(stored.account.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(stored.account.password_change_required, "a reset must be replaced at the next sign-on");
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW));
    // The sign-on's own password change bumps the version too.
    assert!(s.change_password(&a.id, "$argon2id$own", &event("account.password", None)).await.unwrap());
    assert_eq!(s.versioned_account(&env.id, "alice").await.unwrap().unwrap().version, 3);
}

async fn totp_steps_are_single_use_and_monotonic(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;

    assert!(s.spend_totp_step(&a.id, 10).await.unwrap());
    assert!(!s.spend_totp_step(&a.id, 10).await.unwrap(), "a step is spent once");
    assert!(!s.spend_totp_step(&a.id, 9).await.unwrap(), "an earlier step is never accepted");
    assert!(s.spend_totp_step(&a.id, 12).await.unwrap());
    assert!(!s.spend_totp_step(&a.id, 11).await.unwrap());
    assert_eq!(s.account(&a.id).await.unwrap().unwrap().totp_last_step, 12);
    assert!(!s.spend_totp_step(&signet_core::id::AccountId::from(id().as_str()), 100).await.unwrap());

    // Two instances racing with the same code: exactly one wins.
    let (x, y) = tokio::join!(s.spend_totp_step(&a.id, 20), s.spend_totp_step(&a.id, 20));
    assert_eq!(u8::from(x.unwrap()) + u8::from(y.unwrap()), 1);
}

async fn totp_confirms_only_once(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    let before = audit_count(s).await;

    assert!(s.confirm_totp(&a.id, b"sealed-one", 50, &event("mfa.enrol", Some(env.id.as_str()))).await.unwrap());
    let enrolled = s.account(&a.id).await.unwrap().unwrap();
    assert_eq!(enrolled.totp_sealed.as_deref(), Some(&b"sealed-one"[..]));
    assert!(enrolled.totp_confirmed);
    assert_eq!(enrolled.totp_last_step, 50);
    assert_eq!(audit_count(s).await, before + 1);

    assert!(!s.confirm_totp(&a.id, b"sealed-two", 60, &event("mfa.enrol", Some(env.id.as_str()))).await.unwrap());
    assert_eq!(s.account(&a.id).await.unwrap().unwrap(), enrolled, "the first enrolment stands");
    assert_eq!(audit_count(s).await, before + 1, "a refused enrolment is not audited");
    assert!(
        !s.confirm_totp(&signet_core::id::AccountId::from(id().as_str()), b"x", 1, &event("mfa.enrol", None))
            .await
            .unwrap()
    );
    // The enrolment's own code is spent.
    assert!(!s.spend_totp_step(&a.id, 50).await.unwrap());
}

async fn recover_account_clears_mfa_lock_and_sessions(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "Administrators").await;
    let mut a = account(env.id.as_str(), "admin");
    a.admin = true;
    a.active = false;
    s.insert_account(&a, &event("account.create", Some(env.id.as_str()))).await.unwrap();
    assert!(s.confirm_totp(&a.id, b"sealed", 5, &event("mfa.enrol", Some(env.id.as_str()))).await.unwrap());
    let policy = LockoutPolicy { max_failures: 1, lock_seconds: 3600 };
    assert!(s.count_failure(&a.id, Budget::Password, NOW, policy, &event("signon.failure", None)).await.unwrap());
    let cookie = random_hash();
    s.insert_session(&cookie, &session(&a, NOW + 3600)).await.unwrap();
    let other = new_account(s, env.id.as_str(), "other").await;
    let other_cookie = random_hash();
    s.insert_session(&other_cookie, &session(&other, NOW + 3600)).await.unwrap();
    let before = audit_count(s).await;

    let creds = NewCredentials { password_hash: "$argon2id$new".into() };
    assert!(s.recover_account(&a.id, &creds, &event("account.recover", Some(env.id.as_str()))).await.unwrap());
    let r = s.account(&a.id).await.unwrap().unwrap();
    assert_eq!(r.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(r.totp_sealed, None);
    assert!(!r.totp_confirmed);
    assert_eq!(r.failed_attempts, 0);
    assert!(!r.is_locked(NOW));
    assert!(r.active);
    assert_eq!(s.session(&cookie, NOW).await.unwrap(), None, "the account's sessions end");
    assert!(s.session(&other_cookie, NOW).await.unwrap().is_some(), "other accounts keep theirs");
    assert_eq!(audit_count(s).await, before + 2, "the recovery, and the unlock it made");

    // After recovery the person enrols again.
    assert!(s.confirm_totp(&a.id, b"sealed-again", 6, &event("mfa.enrol", Some(env.id.as_str()))).await.unwrap());

    assert!(
        !s.recover_account(&signet_core::id::AccountId::from(id().as_str()), &creds, &event("account.recover", None))
            .await
            .unwrap()
    );
    assert_eq!(audit_count(s).await, before + 3, "no event for an unknown account");
}

async fn lockout_policy_default_and_round_trip(db: TestDb) {
    let s = &db.store;
    assert_eq!(s.lockout_policy().await.unwrap(), LockoutPolicy::default());
    let strict = LockoutPolicy { max_failures: 3, lock_seconds: 3600 };
    s.set_lockout_policy(&strict).await.unwrap();
    assert_eq!(s.lockout_policy().await.unwrap(), strict);
    let lax = LockoutPolicy { max_failures: 10, lock_seconds: 60 };
    s.set_lockout_policy(&lax).await.unwrap();
    assert_eq!(s.lockout_policy().await.unwrap(), lax, "setting again replaces");

    // Every instance sees it.
    let second = Store::open(&db.url).await.unwrap();
    assert_eq!(second.lockout_policy().await.unwrap(), lax);
    second.close().await;
}

async fn the_last_user_admin_stays_even_under_concurrent_demotions(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "Administrators").await;
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        let mut a = account(env.id.as_str(), name);
        a.admin = true;
        a.roles = BTreeSet::from([Role::UserAdmin, Role::Admin, Role::ExpressionAdmin]);
        s.insert_account(&a, &event("account.create", None)).await.unwrap();
        ids.push(a.id);
    }
    let demote = AdminChange { active: true, roles: BTreeSet::from([Role::Admin]), auditor: false };
    // Both demoted at once, on two connections: one must be refused.
    let (ev_a, ev_b) = (event("account.update", None), event("account.update", None));
    let (a, b) = tokio::join!(
        s.update_admin_account(&ids[0], None, &demote, NOW, &ev_a),
        s.update_admin_account(&ids[1], None, &demote, NOW, &ev_b),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Written::Done(_))).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Written::LastUserAdmin).count(), 1, "{outcomes:?}");
    // Deactivating the last one is refused too, and changes nothing.
    let last = if matches!(outcomes[0], Written::Done(_)) { &ids[1] } else { &ids[0] };
    let off = AdminChange {
        active: false,
        roles: BTreeSet::from([Role::UserAdmin, Role::Admin, Role::ExpressionAdmin]),
        auditor: false,
    };
    let events = audit_count(s).await;
    assert_eq!(
        s.update_admin_account(last, None, &off, NOW, &event("account.update", None)).await.unwrap(),
        Written::LastUserAdmin
    );
    assert_eq!(audit_count(s).await, events);
    assert!(s.account(last).await.unwrap().unwrap().active);
}
