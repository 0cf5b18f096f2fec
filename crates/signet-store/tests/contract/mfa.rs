//! Login MFA: unique method names, methods in use kept, enforcements that
//! name only existing methods, and TOTP enrolments that spend each step once.

use signet_core::audit::AuditEvent;
use signet_core::mfa::{Algorithm, Enforcement, Method, MethodType, Settings, Totp};
use signet_core::model::Account;
use signet_core::totp::Params;
use signet_store::{ConfirmedEnrolment, MfaWritten};

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    methods_and_enforcements_keep_their_rules,
    totp_enrolments_spend_each_step_once,
    an_enrolment_is_destroyed_only_as_the_account_read_in_the_write_allows
);

fn totp_method(id: &str, name: &str) -> Method {
    Method {
        id: id.into(),
        name: name.into(),
        username_format: String::new(),
        settings: Settings::Totp(Totp {
            issuer: "signet".into(),
            period: 30,
            key_size: 20,
            qr_size: 200,
            algorithm: Algorithm::SHA1,
            digits: 6,
            skew: 1,
            max_validation_attempts: 5,
        }),
        sealed_secrets: vec![1, 2, 3],
        version: 1,
        created_at: NOW,
    }
}

fn ev() -> AuditEvent {
    event("mfa", None)
}

const PARAMS: signet_core::totp::Params =
    signet_core::totp::Params { algorithm: Algorithm::SHA256, digits: 8, period: 60, skew: 0 };

async fn put(s: &signet_store::Store, e: &Enforcement) -> MfaWritten {
    s.put_mfa_enforcement(&e.name, |_| Some(e.clone()), NOW, |_, _| Ok(ev())).await.unwrap()
}

const M1: &str = "00000000-0000-4000-8000-000000000001";
const M2: &str = "00000000-0000-4000-8000-000000000002";

async fn methods_and_enforcements_keep_their_rules(db: TestDb) {
    let s = &db.store;
    let before = audit_count(s).await;
    let generation = s.mfa_generation().await.unwrap();
    assert_eq!(s.insert_mfa_method(&totp_method(M1, "phones"), &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.insert_mfa_method(&totp_method(M2, "phones"), &ev()).await.unwrap(), MfaWritten::NameTaken);
    assert_eq!(s.mfa_generation().await.unwrap(), generation + 1, "a write moves it on, a refusal does not");
    assert_eq!(s.insert_mfa_method(&totp_method(M2, ""), &ev()).await.unwrap(), MfaWritten::Done);
    // Unnamed methods do not clash with each other.
    let m3 = "00000000-0000-4000-8000-000000000003";
    assert_eq!(s.insert_mfa_method(&totp_method(m3, ""), &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.mfa_methods(None).await.unwrap().iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [M1, M2, m3]);
    assert!(s.mfa_methods(Some(MethodType::Pingid)).await.unwrap().is_empty());
    assert_eq!(s.mfa_method(M1).await.unwrap().unwrap(), totp_method(M1, "phones"));

    let mut renamed = totp_method(M2, "phones");
    assert_eq!(s.update_mfa_method(&renamed, |_| true, &ev()).await.unwrap(), MfaWritten::NameTaken);
    renamed.name = "laptops".into();
    assert_eq!(s.update_mfa_method(&renamed, |_| true, &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.mfa_method(M2).await.unwrap().unwrap().version, 2);
    assert_eq!(
        s.update_mfa_method(&totp_method("00000000-0000-4000-8000-00000000000f", ""), |_| true, &ev()).await.unwrap(),
        MfaWritten::Missing
    );

    let e = Enforcement {
        name: "admins".into(),
        id: id(),
        mfa_method_ids: vec![M1.into()],
        auth_method_types: vec!["password".into()],
        ..Default::default()
    };
    let unknown = Enforcement { mfa_method_ids: vec!["nope".into()], ..e.clone() };
    assert_eq!(put(s, &unknown).await, MfaWritten::UnknownMethod);
    let aimless = Enforcement { auth_method_types: vec![], ..e.clone() };
    assert_eq!(put(s, &aimless).await, MfaWritten::NoTarget);
    assert_eq!(s.mfa_enforcement("admins").await.unwrap(), None, "nothing half-written");
    assert_eq!(put(s, &e).await, MfaWritten::Done);
    // An update is decided on the enforcements that use the method, as stored.
    let seen = std::sync::Mutex::new(Vec::new());
    let refuse = |users: &[Enforcement]| {
        seen.lock().unwrap().extend(users.iter().map(|u| u.name.clone()));
        false
    };
    assert_eq!(s.update_mfa_method(&totp_method(M1, "phones"), refuse, &ev()).await.unwrap(), MfaWritten::Denied);
    assert_eq!(*seen.lock().unwrap(), ["admins"]);
    assert_eq!(
        s.delete_mfa_method(M1, MethodType::Totp, &ev()).await.unwrap(),
        MfaWritten::InUse(vec!["admins".into()])
    );
    assert_eq!(s.delete_mfa_method(M1, MethodType::Okta, &ev()).await.unwrap(), MfaWritten::Missing, "type must match");
    // Re-pointing the enforcement frees the first method.
    let moved = Enforcement { mfa_method_ids: vec![M2.into()], ..e.clone() };
    assert_eq!(put(s, &moved).await, MfaWritten::Done);
    assert_eq!(s.mfa_enforcements().await.unwrap(), vec![moved]);
    assert_eq!(s.delete_mfa_method(M1, MethodType::Totp, &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.mfa_method(M1).await.unwrap(), None);
    assert_eq!(s.delete_mfa_enforcement("admins", |_| false, &ev()).await.unwrap(), MfaWritten::Denied);
    assert_eq!(s.put_mfa_enforcement("admins", |_| None, NOW, |_, _| Ok(ev())).await.unwrap(), MfaWritten::Denied);
    assert!(s.mfa_enforcement("admins").await.unwrap().is_some(), "a refused write changes nothing");
    assert_eq!(s.delete_mfa_enforcement("admins", |e| e.name == "admins", &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.delete_mfa_enforcement("admins", |_| true, &ev()).await.unwrap(), MfaWritten::Missing);
    assert_eq!(s.delete_mfa_method(M2, MethodType::Totp, &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.mfa_generation().await.unwrap(), generation + 9);
    assert_eq!(audit_count(s).await, before + 9, "3 creates, 1 update, 2 puts, 3 deletes; no refusal is recorded");
}

fn enrolment<'a>(
    method_id: &'a signet_core::id::MethodId,
    account_id: &'a str,
    params: &'a Params,
    sealed: &'a [u8],
    step: i64,
) -> ConfirmedEnrolment<'a> {
    ConfirmedEnrolment { method_id, account_id, params, sealed, step }
}

async fn totp_enrolments_spend_each_step_once(db: TestDb) {
    let s = &db.store;
    let (m1, m2) = (signet_core::id::MethodId::from(M1), signet_core::id::MethodId::from(M2));
    s.insert_mfa_method(&totp_method(M1, ""), &ev()).await.unwrap();
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    assert_eq!(s.totp_enrolment(&m1, &a.id).await.unwrap(), None);
    assert!(!s.has_totp_enrolment(&a.id).await.unwrap());
    let p = PARAMS;
    assert!(s.enrol_totp(&enrolment(&m1, a.id.as_str(), &p, b"sealed", 100), NOW, &ev()).await.unwrap());
    assert!(
        !s.enrol_totp(&enrolment(&m1, a.id.as_str(), &p, b"other", 101), NOW, &ev()).await.unwrap(),
        "enrolled once"
    );
    assert!(
        !s.enrol_totp(&enrolment(&m2, a.id.as_str(), &p, b"sealed", 100), NOW, &ev()).await.unwrap(),
        "no such method"
    );
    assert!(s.has_totp_enrolment(&a.id).await.unwrap());
    // Concurrent confirmations (two tabs): one enrols, the other is told so; no error.
    let b = new_account(s, env.id.as_str(), "bob").await;
    let (ex, ey) = (ev(), ev());
    let (ox, oy) = (enrolment(&m1, b.id.as_str(), &p, b"x", 1), enrolment(&m1, b.id.as_str(), &p, b"y", 1));
    let (x, y) = tokio::join!(s.enrol_totp(&ox, NOW, &ex), s.enrol_totp(&oy, NOW, &ey));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|done| **done).count(), 1);
    assert!(!s.spend_enrolled_step(&m1, &a.id, 100).await.unwrap(), "the enrolment's own code is spent");
    assert!(s.spend_enrolled_step(&m1, &a.id, 101).await.unwrap());
    assert!(!s.spend_enrolled_step(&m1, &a.id, 101).await.unwrap());

    // Attempts are taken before a code is checked: two of two, then none, in parallel too.
    let (one, two, three) = tokio::join!(
        s.reserve_attempt(&m1, &a.id, 2, NOW, 30),
        s.reserve_attempt(&m1, &a.id, 2, NOW, 30),
        s.reserve_attempt(&m1, &a.id, 2, NOW + 1, 30)
    );
    assert_eq!([one.unwrap(), two.unwrap(), three.unwrap()].iter().filter(|ok| **ok).count(), 2);
    let e = s.totp_enrolment(&m1, &a.id).await.unwrap().unwrap();
    assert_eq!((e.failures, e.secret_sealed.as_slice(), e.params), (2, &b"sealed"[..], PARAMS));
    assert!(!format!("{e:?}").contains("115"), "Debug leaves the secret out");
    // After the window, counting starts again.
    assert!(s.reserve_attempt(&m1, &a.id, 2, NOW + 100, 30).await.unwrap());
    assert_eq!(s.totp_enrolment(&m1, &a.id).await.unwrap().unwrap().failures, 1);
    assert!(s.spend_enrolled_step(&m1, &a.id, 102).await.unwrap());
    assert_eq!(s.totp_enrolment(&m1, &a.id).await.unwrap().unwrap().failures, 0);
    // Deleting the method ends its enrolments.
    s.delete_mfa_method(M1, MethodType::Totp, &ev()).await.unwrap();
    assert_eq!(s.totp_enrolment(&m1, &a.id).await.unwrap(), None);
}

async fn an_enrolment_is_destroyed_only_as_the_account_read_in_the_write_allows(db: TestDb) {
    let s = &db.store;
    let m1 = signet_core::id::MethodId::from(M1);
    s.insert_mfa_method(&totp_method(M1, ""), &ev()).await.unwrap();
    let env = new_environment(s, "administrators").await;
    let admin = Account { admin: true, ..account(env.id.as_str(), "root") };
    s.insert_account(&admin, &ev()).await.unwrap();
    let person = new_account(s, env.id.as_str(), "alice").await;
    for a in [&admin, &person] {
        assert!(s.enrol_totp(&enrolment(&m1, a.id.as_str(), &PARAMS, b"sealed", 1), NOW, &ev()).await.unwrap());
    }
    let before = audit_count(s).await;
    // What `allow` sees is the row as stored: an administrator, refused.
    let seen = std::sync::Mutex::new(None);
    let refuse_admins = |a: &Account| {
        *seen.lock().unwrap() = Some(a.admin);
        !a.admin
    };
    assert_eq!(s.delete_totp_enrolment(&m1, &admin.id, refuse_admins, &ev()).await.unwrap(), MfaWritten::Denied);
    assert_eq!(*seen.lock().unwrap(), Some(true));
    assert!(s.totp_enrolment(&m1, &admin.id).await.unwrap().is_some(), "a refusal deletes nothing");
    assert_eq!(audit_count(s).await, before, "nor records anything");
    // The same rule lets an end user's go, once.
    assert_eq!(s.delete_totp_enrolment(&m1, &person.id, |a| !a.admin, &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.totp_enrolment(&m1, &person.id).await.unwrap(), None);
    assert_eq!(s.delete_totp_enrolment(&m1, &person.id, |_| true, &ev()).await.unwrap(), MfaWritten::Missing);
    assert_eq!(
        s.delete_totp_enrolment(&m1, &signet_core::id::AccountId::from("no-such-account"), |_| true, &ev())
            .await
            .unwrap(),
        MfaWritten::Missing
    );
    assert_eq!(audit_count(s).await, before + 1);
    // Allowed to reach administrators, the administrator's goes too.
    assert_eq!(s.delete_totp_enrolment(&m1, &admin.id, |_| true, &ev()).await.unwrap(), MfaWritten::Done);
    assert_eq!(s.totp_enrolment(&m1, &admin.id).await.unwrap(), None);
}
