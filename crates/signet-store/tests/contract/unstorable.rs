//! NUL in stored text (issue 15, finding 3): PostgreSQL's text cannot hold
//! it and SQLite's can, so the store refuses it on both, before either sees
//! it, and writes nothing. Every text field of the records signet writes is
//! tried in turn; text stored as JSON (lists, settings, flows) carries NUL
//! escaped and reads back the same on both backends.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    finding_3_nul_in_any_text_field_is_refused_and_nothing_is_written,
    finding_3_nul_in_a_lookup_is_refused_the_same_on_both_backends,
    finding_3_nul_inside_json_text_round_trips_identically,
);

const NUL: &str = "bad\0text";

/// A field of a record, and how to put a NUL in it.
type Setter<T> = (&'static str, fn(&mut T));

fn refused<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Unstorable)), "{what}: {r:?}");
}

async fn finding_3_nul_in_any_text_field_is_refused_and_nothing_is_written(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let before = audit_count(s).await;

    // Environments.
    for (field, e) in [
        ("id", Environment { id: NUL.into(), ..environment("x") }),
        ("name", Environment { name: NUL.into(), ..environment("x") }),
    ] {
        let key = stored_key(e.id.as_str(), vec![1]);
        refused(&format!("environment.{field}"), s.create_environment(&e, &key, &event("e", None)).await);
    }
    // Accounts.
    let setters: [Setter<Account>; 4] = [
        ("id", |a| a.id = NUL.into()),
        ("environment_id", |a| a.environment_id = NUL.into()),
        ("username", |a| a.username = NUL.into()),
        ("password_hash", |a| a.password_hash = Some(NUL.into())),
    ];
    for (field, set) in setters {
        let mut a = account(env.id.as_str(), "alice");
        set(&mut a);
        refused(&format!("account.{field}"), s.insert_account(&a, &event("a", None)).await);
        assert_eq!(s.account_by_username(&env.id, "alice").await.unwrap(), None, "account.{field}: nothing written");
    }
    // Applications (their lists are JSON; see the round trip below).
    let app = |env_id: &str| Application {
        id: id().into(),
        environment_id: env_id.into(),
        name: "app".into(),
        kind: AppKind::Worker,
        secret_hash: Some(sha256(b"s").to_vec()),
        redirect_uris: vec![],
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scopes: BTreeSet::new(),
        roles: BTreeSet::new(),
        admin_api: false,
        pkce_required: true,
        created_at: NOW,
    };
    for (field, a) in [
        ("id", Application { id: NUL.into(), ..app(env.id.as_str()) }),
        ("environment_id", app(NUL)),
        ("name", Application { name: NUL.into(), ..app(env.id.as_str()) }),
    ] {
        refused(&format!("application.{field}"), s.insert_application(&a, &event("app", None)).await);
    }
    assert!(s.applications_page(&env.id, None, 10).await.unwrap().is_empty());
    // Grants, codes, device authorizations, flows.
    let grants: [Setter<Grant>; 5] = [
        ("id", |g| g.id = NUL.into()),
        ("client_id", |g| g.client_id = NUL.into()),
        ("account_id", |g| g.account_id = NUL.into()),
        ("scope", |g| g.scope = NUL.into()),
        ("jkt", |g| g.jkt = Some(NUL.into())),
    ];
    for (field, set) in grants {
        let mut g = grant(env.id.as_str(), "client");
        set(&mut g);
        refused(&format!("grant.{field}"), s.create_grant(&g, None).await);
    }
    let codes: [Setter<AuthCode>; 6] = [
        ("client_id", |c| c.client_id = NUL.into()),
        ("account_id", |c| c.account_id = NUL.into()),
        ("redirect_uri", |c| c.redirect_uri = NUL.into()),
        ("scope", |c| c.scope = NUL.into()),
        ("nonce", |c| c.nonce = Some(NUL.into())),
        ("code_challenge", |c| c.code_challenge = Some(NUL.into())),
    ];
    for (field, set) in codes {
        let mut c = auth_code(env.id.as_str(), "client", NOW + 60);
        set(&mut c);
        refused(&format!("auth_code.{field}"), s.insert_auth_code(&c).await);
        assert_eq!(s.auth_code(&c.hash).await.unwrap(), None, "auth_code.{field}: nothing written");
    }
    let devices: [Setter<DeviceAuthorization>; 4] = [
        ("user_code", |d| d.user_code = NUL.into()),
        ("client_id", |d| d.client_id = NUL.into()),
        ("scope", |d| d.scope = NUL.into()),
        ("requested_from", |d| d.requested_from = Some(NUL.into())),
    ];
    for (field, set) in devices {
        let mut d = device(env.id.as_str(), "BCDF-GHJK", NOW + 600);
        set(&mut d);
        refused(&format!("device.{field}"), s.insert_device(&d).await);
    }
    assert_eq!(s.device_by_user_code(&env.id, "BCDF-GHJK").await.unwrap(), None);
    let flows: [Setter<LoginFlow>; 2] = [("id", |f| f.id = NUL.into()), ("csrf", |f| f.csrf = NUL.into())];
    for (field, set) in flows {
        let mut f = login_flow(env.id.as_str(), NOW + 600);
        set(&mut f);
        refused(&format!("flow.{field}"), s.insert_flow(&f).await);
    }
    // The trail's columns (the body is JSON: see the round trip below).
    refused("event.id", s.record(&AuditEvent { id: NUL.into(), ..event("x", None) }).await);
    refused("event.environment_id", s.record(&event("x", Some(NUL))).await);
    // Spent tokens and proofs, revocations and settings keys.
    refused("revoked jti", s.revoke_jti(NUL, NOW + 60, NOW).await);
    // A proof's jti is kept only as a hash: any text is stored the same on both.
    assert!(s.spend_dpop_jti("jkt", NUL, NOW + 60).await.unwrap());
    assert!(!s.spend_dpop_jti("jkt", NUL, NOW + 60).await.unwrap(), "and spent once");
    refused("setting key", s.put_setting_if(NUL, |_| true, &serde_json::json!(1), &event("s", None)).await);
    assert_eq!(audit_count(s).await, before, "no refused write left an event");
}

async fn finding_3_nul_in_a_lookup_is_refused_the_same_on_both_backends(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    refused("account by username", s.account_by_username(&env.id, NUL).await);
    refused("application", s.application(&env.id, &signet_core::id::ClientId::from(NUL)).await);
    refused("environment", s.environment(&signet_core::id::EnvironmentId::from(NUL)).await);
    refused("environment by name", s.environment_by_name(NUL).await);
    refused("device by user code", s.device_by_user_code(&env.id, NUL).await);
    // An account still reads as it should afterwards: nothing is left broken.
    new_account(s, env.id.as_str(), "alice").await;
    assert!(s.account_by_username(&env.id, "alice").await.unwrap().is_some());
}

async fn finding_3_nul_inside_json_text_round_trips_identically(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = Application {
        id: id().into(),
        environment_id: env.id.clone(),
        name: "app".into(),
        kind: AppKind::Native,
        secret_hash: None,
        redirect_uris: vec![format!("http://127.0.0.1/{NUL}")],
        grant_types: BTreeSet::from([GrantType::AuthorizationCode]),
        scopes: BTreeSet::from([NUL.to_owned()]),
        roles: BTreeSet::new(),
        admin_api: false,
        pkce_required: true,
        created_at: NOW,
    };
    s.insert_application(&a, &event("app", None)).await.unwrap();
    assert_eq!(s.application(&env.id, &a.id).await.unwrap(), Some(a.clone()), "escaped in JSON, read back the same");
    let value = serde_json::json!({"note": NUL});
    assert!(s.put_setting_if("with_nul", |_| true, &value, &event("s", None)).await.unwrap());
    assert_eq!(s.setting("with_nul").await.unwrap(), Some(value));
    let ev = AuditEvent { target: NUL.into(), ..event(NUL, None) };
    s.record(&ev).await.unwrap();
    let stored = s.audit_events(0, 10_000).await.unwrap().pop().unwrap();
    assert_eq!(stored.event, ev, "an event's body is JSON: NUL escaped, read back the same");
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None, "and the chain still verifies");
}
