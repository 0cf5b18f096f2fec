//! The whole configuration: exported in one read, replaced in one
//! transaction that either happens whole or leaves everything as it was,
//! and ends the runtime state that hung off what it replaced.

use signet_core::configuration::{Configuration, Protected};
use signet_core::password::DUMMY_HASH;
use signet_store::{KeySource, StoredMapping};

use crate::certificates::certificate;
use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    export_then_replace_round_trips_and_ends_runtime_state,
    a_bulk_replacement_keeps_the_keys_of_environments_that_stay,
    an_invalid_or_failing_replacement_changes_nothing,
);

fn admin(environment_id: &str, username: &str) -> Account {
    Account {
        admin: true,
        roles: Role::ALL.into_iter().collect(),
        password_hash: Some(DUMMY_HASH.into()),
        totp_sealed: Some(vec![7; 40]),
        totp_confirmed: true,
        ..account(environment_id, username)
    }
}

/// Something of every kind: two environments, admin and end user, a
/// worker, a mapping, attributes, a certificate with its key, settings.
const MFA_METHOD: &str = "00000000-0000-4000-8000-0000000000aa";

async fn populate(s: &Store) -> (Environment, Environment, Account) {
    let admins = environment("Administrators");
    let root = admin(admins.id.as_str(), "administrator");
    let worker = Application {
        id: id().into(),
        environment_id: admins.id.clone(),
        name: "worker".into(),
        kind: AppKind::Worker,
        secret_hash: Some(sha256(b"client secret").to_vec()),
        redirect_uris: vec![],
        grant_types: BTreeSet::from([GrantType::ClientCredentials]),
        scopes: BTreeSet::from(["api:read".to_owned()]),
        roles: BTreeSet::from([Role::CryptoAdmin]),
        admin_api: false,
        pkce_required: true,
        created_at: NOW,
    };
    s.bootstrap(Bootstrap {
        environment: &admins,
        accounts: std::slice::from_ref(&root),
        applications: &[worker],
        key: &stored_key(admins.id.as_str(), vec![1; 40]),
        settings: &[],
        events: &[event("bootstrap", None)],
    })
    .await
    .unwrap();
    let customers = new_environment(s, "customers").await;
    let user = Account { password_hash: Some(DUMMY_HASH.into()), ..account(customers.id.as_str(), "ada") };
    s.insert_account(&user, &event("user.create", Some(customers.id.as_str()))).await.unwrap();
    let attrs = serde_json::json!({"department": "eng", "level": 3});
    assert!(s.set_account_attributes(&user.id, attrs.as_object().unwrap(), &event("attrs", None)).await.unwrap());
    let mapping = StoredMapping {
        id: id(),
        environment_id: customers.id.to_string(),
        claim: "department".into(),
        expression: "user.attributes.department".into(),
        version: 1,
        created_at: NOW,
    };
    s.insert_claim_mapping(&mapping, &event("claims.create", None)).await.unwrap();
    let cert = Certificate { private_key_sealed: Some(vec![9; 48]), ..certificate("server", false) };
    s.insert_certificate(&cert, &event("certificate.import", None)).await.unwrap();
    s.set_lockout_policy(&LockoutPolicy { max_failures: 3, lock_seconds: 60 }).await.unwrap();
    let ldap =
        serde_json::json!({"schemes": ["native"], "ldap": {"bind_password": {"sealed": "AAEC", "purpose": "ldap"}}});
    assert!(s.put_setting_if("admin_api.authentication", |_| true, &ldap, &event("settings", None)).await.unwrap());
    let method = signet_core::mfa::Method {
        id: MFA_METHOD.into(),
        name: "app".into(),
        username_format: String::new(),
        settings: signet_core::mfa::Settings::Totp(signet_core::mfa::Totp {
            issuer: "Acme".into(),
            period: 30,
            key_size: 20,
            qr_size: 200,
            algorithm: signet_core::mfa::Algorithm::SHA256,
            digits: 8,
            skew: 0,
            max_validation_attempts: 3,
        }),
        sealed_secrets: vec![7; 20],
        version: 1,
        created_at: NOW,
    };
    s.insert_mfa_method(&method, &event("mfa.method.create", None)).await.unwrap();
    let enforcement = signet_core::mfa::Enforcement {
        name: "people".into(),
        id: id(),
        mfa_method_ids: vec![MFA_METHOD.into()],
        identity_entity_ids: vec![user.id.to_string()],
        ..Default::default()
    };
    let ev = |_: &_, _| Ok(event("mfa.enforcement.create", None));
    s.put_mfa_enforcement("people", |_| Some(enforcement), NOW, ev).await.unwrap();
    let params =
        signet_core::totp::Params { algorithm: signet_core::mfa::Algorithm::SHA256, digits: 8, period: 30, skew: 0 };
    let idp = crate::federation::provider(customers.id.as_str(), "Acme");
    s.insert_identity_provider(&idp, &[3; 40], &event("idp.create", None)).await.unwrap();
    let link = signet_store::FederatedLink {
        issuer: idp.issuer.clone(),
        subject: "ada-upstream".into(),
        account_id: user.id.to_string(),
        provider_id: idp.id.clone(),
        created_at: NOW,
    };
    s.insert_federated_link(&link, &[event("link", None)]).await.unwrap();
    let enrol = event("mfa.enrol", None);
    let sealed = [8; 32];
    let enrolment = signet_store::ConfirmedEnrolment {
        method_id: &signet_core::id::MethodId::from(MFA_METHOD),
        account_id: user.id.as_str(),
        params: &params,
        sealed: &sealed,
        step: 41,
    };
    assert!(s.enrol_totp(&enrolment, NOW, &enrol).await.unwrap());
    (admins, customers, root)
}

async fn export_then_replace_round_trips_and_ends_runtime_state(db: TestDb) {
    let s = &db.store;
    let (admins, customers, root) = populate(s).await;
    let doc = s.export_configuration().await.unwrap();
    assert_eq!(doc.environments.len(), 2);
    assert_eq!((doc.accounts.len(), doc.applications.len(), doc.claim_mappings.len()), (2, 1, 1));
    assert_eq!(doc.certificates[0].private_key, Some(Protected::Sealed(vec![9; 48])));
    assert_eq!(doc.signing_keys.len(), 2);
    assert_eq!(doc.settings.len(), 2);
    let ada = doc.accounts.iter().find(|a| a.username == "ada").unwrap();
    assert_eq!(ada.attributes.as_ref().unwrap()["level"], 3);
    assert_eq!(doc.federated_links.as_ref().unwrap()[0].subject, "ada-upstream");
    let providers = doc.identity_providers.as_ref().unwrap();
    assert_eq!((providers.len(), &providers[0].client_secret), (1, &Protected::Sealed(vec![3; 40])));
    let mfa = doc.mfa.as_ref().unwrap();
    assert_eq!((mfa.methods.len(), mfa.enforcements.len(), mfa.totp_enrolments.len()), (1, 1, 1));
    assert_eq!(mfa.totp_enrolments[0].secret, Protected::Sealed(vec![8; 32]));
    assert_eq!(mfa.totp_enrolments[0].last_step, 41);

    // Runtime state hanging off what is replaced.
    let g = Grant { account_id: root.id.clone(), ..grant(admins.id.as_str(), "signet-cli") };
    let refresh_token = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&refresh_token)).await.unwrap();
    let session_hash = random_hash();
    s.insert_session(&session_hash, &session(&root, NOW + 60)).await.unwrap();
    let flow = login_flow(customers.id.as_str(), NOW + 60);
    s.insert_flow(&flow).await.unwrap();
    let version = s.versioned_account(&admins.id, "administrator").await.unwrap().unwrap().version;

    let events = audit_count(s).await;
    let done = s.replace_configuration(&doc, KeySource::Document, NOW + 5, &event("bulk.import", None)).await.unwrap();
    assert_eq!((done.environments, done.accounts, done.signing_keys, done.settings), (2, 2, 2, 2));
    assert_eq!((done.grants_revoked, done.sessions_ended), (1, 1));
    assert_eq!(s.export_configuration().await.unwrap(), doc, "what was exported is what was imported");
    assert_eq!(audit_count(s).await, events + 1, "the import is recorded, in its transaction");
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);

    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW + 5), "families are revoked");
    assert_eq!(s.live_refresh_token(&refresh_token.hash, NOW).await.unwrap(), None);
    assert_eq!(s.session(&session_hash, NOW).await.unwrap(), None, "sessions are ended");
    assert_eq!(s.flow(&customers.id, &flow.id, NOW).await.unwrap(), None, "flows in progress are ended");
    let after = s.versioned_account(&admins.id, "administrator").await.unwrap().unwrap();
    assert_eq!(after.version, version + 1, "a new version: cached password checks and ETags no longer hold");
    assert_eq!(s.lockout_policy().await.unwrap().max_failures, 3);
    assert!(
        !s.spend_enrolled_step(
            &signet_core::id::MethodId::from(MFA_METHOD),
            &signet_core::id::AccountId::from(ada.id.as_str()),
            41
        )
        .await
        .unwrap(),
        "a spent step stays spent"
    );
    let err = s.delete_mfa_method(MFA_METHOD, signet_core::mfa::MethodType::Totp, &event("d", None)).await.unwrap();
    assert_eq!(err, signet_store::MfaWritten::InUse(vec!["people".into()]), "links are made again");

    // A document from before MFA existed leaves MFA as it is; an empty section clears it.
    let old = signet_core::configuration::Configuration { mfa: None, ..doc.clone() };
    s.replace_configuration(&old, KeySource::Document, NOW + 6, &event("bulk.import", None)).await.unwrap();
    assert_eq!(s.export_configuration().await.unwrap().mfa, doc.mfa);
    let cleared = signet_core::configuration::Configuration { mfa: Some(Default::default()), ..doc.clone() };
    s.replace_configuration(&cleared, KeySource::Document, NOW + 7, &event("bulk.import", None)).await.unwrap();
    assert_eq!(s.mfa_methods(None).await.unwrap(), vec![]);
    assert_eq!(
        s.totp_enrolment(
            &signet_core::id::MethodId::from(MFA_METHOD),
            &signet_core::id::AccountId::from(ada.id.as_str())
        )
        .await
        .unwrap(),
        None
    );
}

async fn a_bulk_replacement_keeps_the_keys_of_environments_that_stay(db: TestDb) {
    let s = &db.store;
    let (admins, customers, _) = populate(s).await;
    let idp = s.identity_providers_page(&customers.id, None, 1).await.unwrap().remove(0);
    let mut doc = s.export_configuration().await.unwrap();
    let admin_keys = s.signing_keys(&admins.id, 0).await.unwrap();
    // Drop the customers environment (and what lives in it), add another,
    // and swap names in a way only a whole-document rename allows.
    doc.environments.retain(|e| e.id != customers.id);
    doc.accounts.retain(|a| a.environment_id != customers.id);
    doc.claim_mappings.clear();
    doc.signing_keys.clear();
    // The enforcement and the enrolment name ada, who is gone with it.
    // Providers are left out: the customers environment's goes with it.
    doc.mfa = Some(Default::default());
    doc.identity_providers = None;
    doc.federated_links = Some(vec![]);
    let partners = environment("partners");
    doc.environments.push((&partners).into());
    let made = std::sync::Mutex::new(Vec::new());
    let fresh = |env: &str| {
        made.lock().unwrap().push(env.to_owned());
        Ok(stored_key(env, vec![5; 40]))
    };
    let done = s.replace_configuration(&doc, KeySource::Keep(&fresh), NOW, &event("bulk.import", None)).await.unwrap();
    assert_eq!(done.signing_keys, 1);
    assert_eq!(made.into_inner().unwrap(), vec![partners.id.clone()], "only the new environment gets a key");
    assert_eq!(s.signing_keys(&admins.id, 0).await.unwrap(), admin_keys, "the Administrators keep theirs");
    assert_eq!(s.signing_keys(&partners.id, 0).await.unwrap().len(), 1);
    assert_eq!(s.environment(&customers.id).await.unwrap(), None);
    assert_eq!(s.signing_keys(&customers.id, 0).await.unwrap(), vec![]);
    assert_eq!(s.identity_provider(&customers.id, &idp.id).await.unwrap(), None, "its providers went with it");
    assert_eq!(s.environment_by_name("partners").await.unwrap().map(|e| e.id), Some(partners.id.clone()));

    // Swapping two names in one document.
    let mut doc = s.export_configuration().await.unwrap();
    let (a, b) = (doc.environments[0].name.clone(), doc.environments[1].name.clone());
    doc.environments[0].name = b.clone();
    doc.environments[1].name = a.clone();
    let admins_at = doc.environments.iter().position(|e| e.name == "Administrators").unwrap();
    assert_ne!(doc.environments[admins_at].id, admins.id, "the Administrators environment moved");
    // An admin account must live in the (new) Administrators environment.
    let moved_to = doc.environments[admins_at].id.clone();
    for account in doc.accounts.iter_mut().filter(|x| x.admin) {
        account.environment_id = moved_to.to_string();
    }
    let fresh = |env: &str| Ok(stored_key(env, vec![6; 40]));
    s.replace_configuration(&doc, KeySource::Keep(&fresh), NOW, &event("bulk.import", None)).await.unwrap();
    assert_eq!(s.export_configuration().await.unwrap().environments, doc.environments);
}

async fn an_invalid_or_failing_replacement_changes_nothing(db: TestDb) {
    let s = &db.store;
    populate(s).await;
    let before = s.export_configuration().await.unwrap();
    let events = audit_count(s).await;
    let unchanged = || async {
        assert_eq!(s.export_configuration().await.unwrap(), before);
        assert_eq!(audit_count(s).await, events, "nothing recorded either");
    };

    let mut dangling = before.clone();
    dangling.applications[0].environment_id = id().into();
    let r = s.replace_configuration(&dangling, KeySource::Document, NOW, &event("bulk.import", None)).await;
    match r {
        Err(StoreError::Invalid(e)) => assert_eq!(e.path, "applications[0].environment_id"),
        other => panic!("{other:?}"),
    }
    unchanged().await;

    let mut nobody: Configuration = before.clone();
    nobody.accounts.retain(|a| !a.admin);
    let r = s.replace_configuration(&nobody, KeySource::Document, NOW, &event("bulk.import", None)).await;
    assert!(matches!(&r, Err(StoreError::Invalid(e)) if e.message.contains("UserAdmin")), "{r:?}");
    unchanged().await;

    let mut plain = before.clone();
    plain.accounts[0].totp = Some(Protected::Plain(signet_core::secret::Secret::new(vec![1, 2, 3])));
    let r = s.replace_configuration(&plain, KeySource::Document, NOW, &event("bulk.import", None)).await;
    assert!(matches!(&r, Err(StoreError::Invalid(e)) if e.path == "accounts[0].totp"), "{r:?}");
    unchanged().await;

    // Valid, but failing halfway: after runtime state, accounts and
    // environments were already rewritten in the transaction.
    let mut late = before.clone();
    late.environments.push((&environment("partners")).into());
    let fail = |_: &str| Err("no randomness today".to_owned());
    let r = s.replace_configuration(&late, KeySource::Keep(&fail), NOW, &event("bulk.import", None)).await;
    assert!(matches!(&r, Err(StoreError::SigningKey { reason, .. }) if reason.contains("no randomness")), "{r:?}");
    unchanged().await;
}
