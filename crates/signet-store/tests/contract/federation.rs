//! Identity providers: unique names per environment, versioned writes with
//! the sealed secret, and every change in the trail.

use signet_core::federation::{Provider, ProviderMfa};
use signet_store::{StoreError, Written};

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    identity_providers_are_versioned_and_named_once_per_environment,
    links_are_keyed_by_issuer_and_subject,
    finding_18_an_account_made_just_in_time_takes_no_name_in_another_case,
);

pub fn provider(env: &str, name: &str) -> Provider {
    Provider {
        id: id(),
        environment_id: env.into(),
        name: name.into(),
        issuer: "https://sso.acme.test".into(),
        client_id: "signet".into(),
        scopes: vec!["openid".into(), "email".into()],
        jit: true,
        mfa: ProviderMfa { trusted: true, trusted_for_admins: false, values: vec!["mfa".into()] },
        version: 1,
        created_at: NOW,
    }
}

async fn identity_providers_are_versioned_and_named_once_per_environment(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "partners").await;
    let before = audit_count(s).await;
    let acme = provider(env.id.as_str(), "Acme");
    s.insert_identity_provider(&acme, b"sealed", &event("idp.create", None)).await.unwrap();
    let dup = s.insert_identity_provider(&provider(env.id.as_str(), "Acme"), b"x", &event("idp.create", None)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    s.insert_identity_provider(&provider(other.id.as_str(), "Acme"), b"x", &event("idp.create", None)).await.unwrap();
    assert_eq!(s.identity_provider(&env.id, &acme.id).await.unwrap(), Some((acme.clone(), b"sealed".to_vec())));
    assert_eq!(s.identity_provider(&other.id, &acme.id).await.unwrap(), None, "providers belong to their environment");
    assert_eq!(s.identity_providers_page(&env.id, None, 10).await.unwrap(), vec![acme.clone()]);

    let changed = Provider { issuer: "https://login.acme.test".into(), jit: false, ..acme.clone() };
    let ev = event("idp.update", None);
    assert_eq!(s.update_identity_provider(&changed, b"new", Some(9), &ev).await.unwrap(), Written::Stale);
    assert_eq!(s.update_identity_provider(&changed, b"new", Some(1), &ev).await.unwrap(), Written::Done(2));
    let (read, secret) = s.identity_provider(&env.id, &acme.id).await.unwrap().unwrap();
    assert_eq!(
        (read.issuer.as_str(), read.jit, read.version, secret.as_slice()),
        ("https://login.acme.test", false, 2, &b"new"[..])
    );
    let ev = event("idp.delete", None);
    assert_eq!(s.delete_identity_provider(&env.id, &acme.id, Some(1), &ev).await.unwrap(), Written::Stale);
    assert_eq!(s.delete_identity_provider(&env.id, &acme.id, Some(2), &ev).await.unwrap(), Written::Done(2));
    assert_eq!(s.delete_identity_provider(&env.id, &acme.id, None, &event("x", None)).await.unwrap(), Written::Missing);
    assert_eq!(audit_count(s).await, before + 4, "two creates, an update and a delete");
}

async fn links_are_keyed_by_issuer_and_subject(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let ada = new_account(s, env.id.as_str(), "ada").await;
    let bob = new_account(s, env.id.as_str(), "bob").await;
    let link = signet_store::FederatedLink {
        issuer: "https://sso.acme.test".into(),
        subject: "248289761001".into(),
        account_id: ada.id.to_string(),
        provider_id: "p1".into(),
        created_at: NOW,
    };
    let before = audit_count(s).await;
    s.insert_federated_link(&link, &[event("link", None)]).await.unwrap();
    let taken = signet_store::FederatedLink { account_id: bob.id.to_string(), ..link.clone() };
    assert!(matches!(s.insert_federated_link(&taken, &[event("link", None)]).await, Err(StoreError::Conflict(_))));
    // The same subject at another issuer is another person.
    let elsewhere = signet_store::FederatedLink {
        issuer: "https://other.test".into(),
        account_id: bob.id.into_string(),
        ..link.clone()
    };
    s.insert_federated_link(&elsewhere, &[event("link", None)]).await.unwrap();
    assert_eq!(s.federated_link(&link.issuer, &link.subject).await.unwrap(), Some(link.clone()));
    assert_eq!(s.federated_links_page(&link.issuer, None, 10).await.unwrap(), vec![link.clone()]);
    assert!(s.delete_federated_link(&link.issuer, &link.subject, &event("unlink", None)).await.unwrap());
    assert!(!s.delete_federated_link(&link.issuer, &link.subject, &event("unlink", None)).await.unwrap());
    assert_eq!(s.federated_link(&link.issuer, &link.subject).await.unwrap(), None);
    assert_eq!(audit_count(s).await, before + 3, "two links and an unlink; refusals write nothing");
}

/// A name made from an email is taken whatever its case (issue 15): no
/// just-in-time account is made beside one whose name differs only in
/// case, in either direction, and nothing of it is written.
async fn finding_18_an_account_made_just_in_time_takes_no_name_in_another_case(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "partners").await;
    new_account(s, env.id.as_str(), "ada@acme.test").await;
    new_account(s, env.id.as_str(), "Bob@Acme.test").await;
    let link = |a: &signet_core::model::Account| signet_store::FederatedLink {
        issuer: "https://sso.acme.test".into(),
        subject: format!("sub-{}", a.id),
        account_id: a.id.to_string(),
        provider_id: "p1".into(),
        created_at: NOW,
    };
    let before = audit_count(s).await;
    for name in ["ADA@acme.test", "Ada@Acme.Test", "bob@acme.test", "BOB@ACME.TEST"] {
        let lookalike = account(env.id.as_str(), name);
        let made = s.insert_federated_account(&lookalike, &link(&lookalike), &[event("account.create", None)]).await;
        assert!(is_conflict(&made), "{name}: {made:?}");
        assert_eq!(s.account_by_username(&env.id, name).await.unwrap(), None, "{name}");
        assert_eq!(s.federated_link("https://sso.acme.test", &link(&lookalike).subject).await.unwrap(), None);
    }
    assert_eq!(audit_count(s).await, before, "refusals write nothing");
    // Another name, or the same name in another environment, is made.
    for made in [account(env.id.as_str(), "carol@acme.test"), account(other.id.as_str(), "ADA@acme.test")] {
        s.insert_federated_account(&made, &link(&made), &[event("account.create", None)]).await.unwrap();
        assert_eq!(s.account(&made.id).await.unwrap(), Some(made.clone()));
    }
}
