//! Opening the store, first-start bootstrap, and the uniqueness rules on names.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    migrations_run_twice,
    a_newer_schema_is_refused,
    a_database_migrated_by_sqlx_is_taken_over,
    a_closed_store_refuses_statements,
    bootstrap_reads_back,
    bootstrap_is_all_or_nothing,
    bootstrap_writes_its_settings_and_an_upgrade_writes_down_what_it_had,
    duplicate_username_in_environment_conflicts,
    duplicate_environment_name_conflicts,
    applications_page_by_id_and_rotate_secrets,
    applications_update_and_delete_conditionally_and_revoke,
);

async fn applications_update_and_delete_conditionally_and_revoke(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "apps").await;
    let app = worker_app(env.id.as_str(), "w", "secret");
    s.insert_application(&app, &event("app.create", Some(env.id.as_str()))).await.unwrap();
    let before = audit_count(s).await;
    let with = |next: &Application| Ok::<_, &str>((next.clone(), event("app.update", None)));

    let mut renamed = app.clone();
    renamed.name = "renamed".into();
    assert_eq!(
        s.update_application(&env.id, &app.id, |_| Err::<(Application, AuditEvent), _>("no")).await.unwrap(),
        Decided::Refused("no")
    );
    assert_eq!(audit_count(s).await, before, "a refused write records nothing");
    // The decision sees the stored row, and what it returns is written,
    // except what an update never changes (kind, secret, creation).
    let mut sneaky = renamed.clone();
    sneaky.kind = AppKind::Native;
    sneaky.secret_hash = None;
    let done = s
        .update_application(&env.id, &app.id, |cur| match cur.name == "w" {
            true => with(&sneaky),
            false => Err("it read another row"),
        })
        .await
        .unwrap();
    assert_eq!(done, Decided::Done((app.clone(), renamed.clone())));
    assert_eq!(s.application(&env.id, &app.id).await.unwrap().unwrap(), renamed);
    assert!(s.revocations_since(0).await.unwrap().subjects.is_empty(), "a rename revokes nothing");

    let mut promoted = renamed.clone();
    promoted.roles = [Role::Admin].into_iter().collect();
    assert!(matches!(s.update_application(&env.id, &app.id, |_| with(&promoted)).await.unwrap(), Decided::Done(_)));
    assert_eq!(s.revocations_since(0).await.unwrap().subjects, vec![(app.id.to_string(), NOW)], "a role change does");

    assert_eq!(
        s.update_application(&env.id, &signet_core::id::ClientId::from("nope"), |_| with(&promoted)).await.unwrap(),
        Decided::Missing
    );
    let delete = |ok: bool| move |_: &Application| if ok { Ok(event("app.delete", None)) } else { Err("no") };
    assert_eq!(s.delete_application(&env.id, &app.id, delete(false)).await.unwrap(), Decided::Refused("no"));
    assert_eq!(s.delete_application(&env.id, &app.id, delete(true)).await.unwrap(), Decided::Done(promoted.clone()));
    assert_eq!(s.application(&env.id, &app.id).await.unwrap(), None);
    assert_eq!(s.delete_application(&env.id, &app.id, delete(true)).await.unwrap(), Decided::Missing);
    assert_eq!(audit_count(s).await, before + 3);
}

fn worker_app(environment_id: &str, name: &str, secret: &str) -> Application {
    Application {
        id: id().into(),
        environment_id: environment_id.into(),
        name: name.into(),
        kind: AppKind::Worker,
        secret_hash: Some(sha256(secret.as_bytes()).to_vec()),
        redirect_uris: vec![],
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scopes: BTreeSet::new(),
        roles: BTreeSet::new(),
        admin_api: false,
        pkce_required: true,
        created_at: NOW,
    }
}

async fn applications_page_by_id_and_rotate_secrets(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "elsewhere").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let a = worker_app(env.id.as_str(), &format!("worker {n}"), &format!("secret {n}"));
        s.insert_application(&a, &event("application.create", Some(env.id.as_str()))).await.unwrap();
        ids.push(a.id);
    }
    s.insert_application(&worker_app(other.id.as_str(), "elsewhere", "s"), &event("application.create", None))
        .await
        .unwrap();
    ids.sort();
    let first = s.applications_page(&env.id, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), ids[..2].to_vec());
    let rest = s.applications_page(&env.id, Some(ids[1].as_str()), 2).await.unwrap();
    assert_eq!(rest.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), ids[2..].to_vec(), "another environment's never");

    let app = s.application(&env.id, &ids[0]).await.unwrap().unwrap();
    let next = sha256(b"rotated").to_vec();
    let events = audit_count(s).await;
    let rotate = |ok: bool| move |_: &Application| if ok { Ok(event("secret", None)) } else { Err("no") };
    assert_eq!(
        s.rotate_application_secret(&env.id, &app.id, &next, rotate(false)).await.unwrap(),
        Decided::Refused("no")
    );
    assert_eq!(audit_count(s).await, events, "a refused rotation records nothing");
    assert_eq!(
        s.rotate_application_secret(&env.id, &app.id, &next, rotate(true)).await.unwrap(),
        Decided::Done(app.clone())
    );
    assert_eq!(audit_count(s).await, events + 1);
    assert_eq!(s.application(&env.id, &app.id).await.unwrap().unwrap().secret_hash, Some(next));
    let revoked = s.revocations_since(NOW).await.unwrap();
    assert_eq!(revoked.subjects, vec![(app.id.to_string(), NOW)], "tokens minted with the old secret are revoked");
    assert_eq!(
        s.rotate_application_secret(&other.id, &app.id, &sha256(b"y"), rotate(true)).await.unwrap(),
        Decided::Missing,
        "another environment's application is not found"
    );
}

async fn migrations_run_twice(db: TestDb) {
    let env = new_environment(&db.store, "first").await;

    // A second instance opening the same database while the first runs.
    let second = Store::open(&db.url).await.unwrap();
    second.ping().await.unwrap();
    assert_eq!(second.environment(&env.id).await.unwrap(), Some(env.clone()));
    second.close().await;

    // And a restart: the schema is already current, data is kept, writes work.
    db.store.close().await;
    let reopened = Store::open(&db.url).await.unwrap();
    assert_eq!(reopened.environments().await.unwrap(), vec![env]);
    let other = new_environment(&reopened, "second").await;
    assert_eq!(reopened.environment_by_name("second").await.unwrap(), Some(other));
    assert_eq!(reopened.verify_audit_chain().await.unwrap().broken_at, None);
    reopened.close().await;
}

async fn a_newer_schema_is_refused(db: TestDb) {
    let (_, added) = db
        .raw("INSERT INTO signet_migrations (version, name, applied_at) VALUES (999, $1, 0)", Some("9999_future"))
        .await;
    assert_eq!(added, 1);
    let r = Store::open(&db.url).await;
    match r {
        Err(StoreError::Schema(m)) => assert!(m.contains("schema version 999"), "{m}"),
        other => panic!("a database from a newer signet opened: {other:?}"),
    }
}

/// A database from before signet kept its own history: the first three steps
/// applied and recorded by sqlx in `_sqlx_migrations` (with its column
/// types), nothing in `signet_migrations`, the later steps not yet applied.
async fn a_database_migrated_by_sqlx_is_taken_over(db: TestDb) {
    let env = new_environment(&db.store, "kept").await;
    db.store.close().await;
    let sqlx_table = match db.store.backend() {
        Backend::Sqlite => {
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
             checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)"
        }
        Backend::Postgres => {
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)"
        }
    };
    // Undo what came after sqlx: the fourth step's column, and the tables and columns of the later ones.
    let later = [
        "DROP TABLE certificates",
        "DROP TABLE account_attributes",
        "DROP TABLE claim_mappings",
        "DROP TABLE revoked_subjects",
        "DROP TABLE mfa_totp_enrolments",
        "DROP TABLE mfa_enforcement_methods",
        "DROP TABLE mfa_enforcements",
        "DROP TABLE mfa_methods",
        "DROP TABLE mfa_generation",
        "DROP TABLE identity_providers",
        "DROP TABLE federated_links",
        "DROP TABLE dpop_jtis",
        "ALTER TABLE grants DROP COLUMN jkt",
        "ALTER TABLE grants DROP COLUMN session_seconds",
        "ALTER TABLE grants DROP COLUMN session_ends",
        "DROP INDEX grants_parent",
        "ALTER TABLE grants DROP COLUMN parent_id",
        "ALTER TABLE device_codes DROP COLUMN requested_from",
        "ALTER TABLE device_codes DROP COLUMN requested_at",
        "ALTER TABLE accounts DROP COLUMN otp_failed_attempts",
        "ALTER TABLE accounts DROP COLUMN otp_locked_until",
        "ALTER TABLE accounts DROP COLUMN lock_refused",
        "ALTER TABLE accounts DROP COLUMN pending_attempts",
        "ALTER TABLE accounts DROP COLUMN pending_since",
        "ALTER TABLE accounts DROP COLUMN otp_pending_attempts",
        "ALTER TABLE accounts DROP COLUMN otp_pending_since",
        "DROP TABLE device_lockouts",
        "ALTER TABLE applications DROP COLUMN pkce_required",
        "DROP TABLE audit_keys",
        "ALTER TABLE audit_head DROP COLUMN keyed_from",
        "ALTER TABLE audit_head DROP COLUMN pruned_seq",
        "ALTER TABLE audit_head DROP COLUMN pruned_hash",
        "ALTER TABLE audit_head DROP COLUMN pruned_mac",
        "ALTER TABLE audit_head DROP COLUMN checkpoint_period",
        "ALTER TABLE refresh_tokens DROP COLUMN successor_hash",
        "ALTER TABLE signing_keys DROP COLUMN activates_at",
    ];
    for sql in later.into_iter().chain([
        "DROP TABLE signet_migrations",
        "ALTER TABLE accounts DROP COLUMN version",
        sqlx_table,
    ]) {
        db.raw(sql, None).await;
    }
    for (v, name) in [(1, "init"), (2, "password change"), (3, "revoked at")] {
        let sql = format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({v}, '{name}', TRUE, X'00', 1)"
        );
        let sql = if db.store.backend() == Backend::Postgres { sql.replace("X'00'", "'\\x00'") } else { sql };
        db.raw(&sql, None).await;
    }
    let reopened = Store::open(&db.url).await.unwrap();
    assert_eq!(reopened.environment(&env.id).await.unwrap(), Some(env.clone()), "data is kept");
    let a = new_account(&reopened, env.id.as_str(), "after-upgrade").await;
    let v = reopened.versioned_account(&env.id, &a.username).await.unwrap().unwrap();
    assert_eq!(v.version, 1, "the fourth step ran on top of sqlx's three");
    reopened.close().await;
    // And again: nothing is taken over twice.
    Store::open(&db.url).await.unwrap().close().await;
}

async fn a_closed_store_refuses_statements(db: TestDb) {
    db.store.ping().await.unwrap();
    db.store.close().await;
    assert!(db.store.ping().await.is_err(), "a read after close");
    assert!(db.store.environments().await.is_err(), "a read after close");
    let r = db.store.set_lockout_policy(&LockoutPolicy::default()).await;
    assert!(matches!(r, Err(StoreError::Closed)) || db.store.backend() == Backend::Postgres, "{r:?}");
    assert!(r.is_err(), "a write after close");
}

async fn bootstrap_reads_back(db: TestDb) {
    let s = &db.store;
    let env = environment("Administrators");
    let mut admin = account(env.id.as_str(), "admin");
    admin.admin = true;
    admin.roles = BTreeSet::from([Role::Admin, Role::UserAdmin]);
    let mut auditor = account(env.id.as_str(), "auditor");
    auditor.auditor = true;
    auditor.password_hash = None;
    let cli = Application {
        id: "signet-cli".into(),
        environment_id: env.id.clone(),
        name: "signet CLI".into(),
        kind: AppKind::Native,
        secret_hash: None,
        redirect_uris: vec![CLI_REDIRECT_URI.into()],
        grant_types: BTreeSet::from([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode]),
        scopes: BTreeSet::from(["openid".into(), "offline_access".into()]),
        roles: BTreeSet::new(),
        admin_api: true,
        pkce_required: true,
        created_at: NOW,
    };
    let worker = Application {
        id: id().into(),
        environment_id: env.id.clone(),
        name: "worker".into(),
        kind: AppKind::Worker,
        secret_hash: Some(sha256(b"client secret").to_vec()),
        redirect_uris: vec![],
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scopes: BTreeSet::new(),
        roles: BTreeSet::from([Role::CryptoAdmin]),
        admin_api: false,
        pkce_required: true,
        created_at: NOW,
    };
    let key = stored_key(env.id.as_str(), vec![9; 40]);
    let events = [event("bootstrap", None), event("account.create", Some(env.id.as_str()))];
    s.bootstrap(Bootstrap {
        environment: &env,
        accounts: &[admin.clone(), auditor.clone()],
        applications: &[cli.clone(), worker.clone()],
        key: &key,
        settings: &[],
        events: &events,
    })
    .await
    .unwrap();

    assert_eq!(s.environment(&env.id).await.unwrap(), Some(env.clone()));
    assert_eq!(s.environment_by_name("Administrators").await.unwrap(), Some(env.clone()));
    assert_eq!(s.environment_by_name("administrators").await.unwrap(), None);
    assert_eq!(s.environments().await.unwrap(), vec![env.clone()]);

    assert_eq!(s.account(&admin.id).await.unwrap(), Some(admin.clone()));
    assert_eq!(s.account_by_username(&env.id, "auditor").await.unwrap(), Some(auditor.clone()));
    assert_eq!(s.account_by_username(&env.id, "nobody").await.unwrap(), None);
    assert_eq!(s.account(&signet_core::id::AccountId::from(id().as_str())).await.unwrap(), None);

    assert_eq!(s.application(&env.id, &signet_core::id::ClientId::from("signet-cli")).await.unwrap(), Some(cli));
    assert_eq!(s.application(&env.id, &worker.id).await.unwrap(), Some(worker.clone()));
    assert_eq!(
        s.application(&signet_core::id::EnvironmentId::from("another-environment"), &worker.id).await.unwrap(),
        None
    );

    assert_eq!(s.signing_keys(&env.id, 0).await.unwrap(), vec![key]);
    assert_eq!(s.signing_keys(&signet_core::id::EnvironmentId::from("another-environment"), 0).await.unwrap(), vec![]);

    let stored = s.audit_events(0, 100).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(stored.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), events.to_vec());
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (2, None));
}

async fn bootstrap_is_all_or_nothing(db: TestDb) {
    let s = &db.store;
    let env = environment("Administrators");
    // Two accounts with one username: the second insert fails, so nothing stays.
    let (a, b) = (account(env.id.as_str(), "admin"), account(env.id.as_str(), "admin"));
    let key = stored_key(env.id.as_str(), vec![1]);
    let r = s
        .bootstrap(Bootstrap {
            environment: &env,
            accounts: &[a.clone(), b],
            applications: &[],
            key: &key,
            settings: &[(ADMIN_AUTH, serde_json::json!({"schemes": ["native", "oauth"]}))],
            events: &[event("bootstrap", None)],
        })
        .await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.environment(&env.id).await.unwrap(), None);
    assert_eq!(s.account(&a.id).await.unwrap(), None);
    assert_eq!(s.signing_keys(&env.id, 0).await.unwrap(), vec![]);
    assert_eq!(s.setting(ADMIN_AUTH).await.unwrap(), None);
    assert_eq!(audit_count(s).await, 0);
    let check = s.verify_audit_chain().await.unwrap();
    assert_eq!((check.events, check.broken_at), (0, None));

    // The failed attempt leaves the store usable for a correct one.
    s.bootstrap(Bootstrap {
        environment: &env,
        accounts: std::slice::from_ref(&a),
        applications: &[],
        key: &key,
        settings: &[],
        events: &[event("bootstrap", None)],
    })
    .await
    .unwrap();
    assert_eq!(s.account(&a.id).await.unwrap(), Some(a));
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);
}

/// The admin API's authentication setting (signet-server's `SETTINGS_KEY`).
const ADMIN_AUTH: &str = "admin_api.authentication";

async fn bootstrap_writes_its_settings_and_an_upgrade_writes_down_what_it_had(db: TestDb) {
    let s = &db.store;
    // Migrating an empty store writes nothing: its bootstrap decides.
    assert_eq!(s.setting(ADMIN_AUTH).await.unwrap(), None);
    let env = environment("Administrators");
    let both = serde_json::json!({"schemes": ["native", "oauth"]});
    s.bootstrap(Bootstrap {
        environment: &env,
        accounts: &[],
        applications: &[],
        key: &stored_key(env.id.as_str(), vec![2]),
        settings: &[(ADMIN_AUTH, both.clone())],
        events: &[event("bootstrap", None)],
    })
    .await
    .unwrap();
    assert_eq!(s.setting(ADMIN_AUTH).await.unwrap(), Some(both));
    s.close().await;

    // A store bootstrapped before step 14 had no row, which meant native
    // alone: the upgrade writes that down, so it keeps what it had.
    db.raw("DELETE FROM settings", None).await;
    db.raw("DELETE FROM signet_migrations WHERE version >= 14", None).await;
    db.raw("ALTER TABLE refresh_tokens DROP COLUMN successor_hash", None).await;
    db.raw("ALTER TABLE signing_keys DROP COLUMN activates_at", None).await;
    let upgraded = Store::open(&db.url).await.unwrap();
    assert_eq!(upgraded.setting(ADMIN_AUTH).await.unwrap(), Some(serde_json::json!({"schemes": ["native"]})));
    upgraded.close().await;

    // A row an operator wrote is never replaced.
    let chosen = r#"{"schemes":["native","radius"]}"#;
    assert_eq!(db.raw("UPDATE settings SET value = $1", Some(chosen)).await.1, 1);
    db.raw("DELETE FROM signet_migrations WHERE version = 14", None).await;
    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(again.setting(ADMIN_AUTH).await.unwrap(), Some(serde_json::from_str(chosen).unwrap()));
    again.close().await;
}

async fn duplicate_username_in_environment_conflicts(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "partners").await;
    let alice = new_account(s, env.id.as_str(), "alice").await;
    let events_before = audit_count(s).await;

    let twin = account(env.id.as_str(), "alice");
    let r = s.insert_account(&twin, &event("account.create", Some(env.id.as_str()))).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.account(&twin.id).await.unwrap(), None);
    // The failed change leaves no audit event behind.
    assert_eq!(audit_count(s).await, events_before);

    // The same id again is a conflict too.
    let same_id = Account { username: "alice2".into(), ..alice.clone() };
    let r = s.insert_account(&same_id, &event("account.create", Some(env.id.as_str()))).await;
    assert!(is_conflict(&r), "{r:?}");

    // Usernames are unique per environment, not globally.
    let elsewhere = new_account(s, other.id.as_str(), "alice").await;
    assert_eq!(s.account_by_username(&other.id, "alice").await.unwrap(), Some(elsewhere));
    assert_eq!(s.account_by_username(&env.id, "alice").await.unwrap(), Some(alice));
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);
}

async fn duplicate_environment_name_conflicts(db: TestDb) {
    let s = &db.store;
    let first = new_environment(s, "customers").await;
    let events_before = audit_count(s).await;

    let dup = environment("customers");
    let dup_key = stored_key(dup.id.as_str(), vec![4]);
    let r = s.create_environment(&dup, &dup_key, &event("environment.create", Some(dup.id.as_str()))).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(s.environments().await.unwrap(), vec![first.clone()]);
    assert_eq!(s.environment_by_name("customers").await.unwrap(), Some(first));
    assert_eq!(s.signing_keys(&dup.id, 0).await.unwrap(), vec![]);
    assert_eq!(audit_count(s).await, events_before);

    // A bootstrap finding its environment there writes nothing and says so:
    // another instance bootstrapped first.
    let late = environment("customers");
    let r = s
        .bootstrap(Bootstrap {
            environment: &late,
            accounts: &[],
            applications: &[],
            key: &stored_key(late.id.as_str(), vec![5]),
            settings: &[],
            events: &[event("bootstrap", None)],
        })
        .await;
    assert_eq!(r.unwrap(), signet_store::Bootstrapped::AlreadyThere);
    assert_eq!(s.signing_keys(&late.id, 0).await.unwrap(), vec![]);
    assert_eq!(audit_count(s).await, events_before);
}
