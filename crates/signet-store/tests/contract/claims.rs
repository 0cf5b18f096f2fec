//! Claim mappings and account attributes: one claim per environment,
//! versioned writes, and every change in the trail.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(claim_mappings_are_versioned_and_unique_per_environment, account_attributes_are_replaced_whole);

fn mapping(env: &str, claim: &str, expression: &str) -> signet_store::StoredMapping {
    signet_store::StoredMapping {
        id: id(),
        environment_id: env.into(),
        claim: claim.into(),
        expression: expression.into(),
        version: 1,
        created_at: NOW,
    }
}

async fn claim_mappings_are_versioned_and_unique_per_environment(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let other = new_environment(s, "partners").await;
    let before = audit_count(s).await;
    let dept = mapping(env.id.as_str(), "department", "user.attributes.department");
    s.insert_claim_mapping(&dept, &event("claims.create", Some(env.id.as_str()))).await.unwrap();
    let dup = s.insert_claim_mapping(&mapping(env.id.as_str(), "department", "1"), &event("c", None)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    s.insert_claim_mapping(&mapping(other.id.as_str(), "department", "2"), &event("c", None)).await.unwrap();
    s.insert_claim_mapping(&mapping(env.id.as_str(), "tier", "\"gold\""), &event("c", None)).await.unwrap();

    let all = s.claim_mappings(&env.id).await.unwrap();
    assert_eq!(all.iter().map(|m| m.claim.as_str()).collect::<Vec<_>>(), ["department", "tier"]);
    assert_eq!(s.claim_mapping(&other.id, &dept.id).await.unwrap(), None, "mappings belong to their environment");
    let page = s.claim_mappings_page(&env.id, None, 1).await.unwrap();
    assert_eq!(s.claim_mappings_page(&env.id, Some(&page[0].id), 5).await.unwrap().len(), 1);

    let mut changed = dept.clone();
    changed.expression = "user.username".into();
    let ev = event("claims.update", Some(env.id.as_str()));
    assert_eq!(s.update_claim_mapping(&changed, Some(7), &ev).await.unwrap(), Written::Stale);
    assert_eq!(s.update_claim_mapping(&changed, Some(1), &ev).await.unwrap(), Written::Done(2));
    assert_eq!(s.update_claim_mapping(&changed, Some(1), &ev).await.unwrap(), Written::Stale);
    let mut clash = changed.clone();
    clash.claim = "tier".into();
    assert!(matches!(s.update_claim_mapping(&clash, None, &ev).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.claim_mapping(&env.id, &dept.id).await.unwrap().unwrap().expression, "user.username");

    let ev = event("claims.delete", Some(env.id.as_str()));
    assert_eq!(s.delete_claim_mapping(&env.id, &dept.id, Some(1), &ev).await.unwrap(), Written::Stale);
    assert_eq!(s.delete_claim_mapping(&env.id, &dept.id, Some(2), &ev).await.unwrap(), Written::Done(2));
    assert_eq!(s.delete_claim_mapping(&env.id, &dept.id, None, &ev).await.unwrap(), Written::Missing);
    assert_eq!(audit_count(s).await, before + 5, "three creates, one update, one delete");
}

async fn account_attributes_are_replaced_whole(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    assert!(s.account_attributes(&a.id).await.unwrap().is_empty());
    let first = serde_json::json!({"department": "eng", "level": 3});
    let ev = || event("attributes", Some(env.id.as_str()));
    assert!(s.set_account_attributes(&a.id, first.as_object().unwrap(), &ev()).await.unwrap());
    assert_eq!(serde_json::Value::Object(s.account_attributes(&a.id).await.unwrap()), first);
    let second = serde_json::json!({"department": "ops"});
    assert!(s.set_account_attributes(&a.id, second.as_object().unwrap(), &ev()).await.unwrap());
    assert_eq!(serde_json::Value::Object(s.account_attributes(&a.id).await.unwrap()), second);
    assert!(
        !s.set_account_attributes(&signet_core::id::AccountId::from("nobody"), second.as_object().unwrap(), &ev())
            .await
            .unwrap()
    );
}
