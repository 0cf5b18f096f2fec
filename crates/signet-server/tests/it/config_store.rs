//! `/configStore`: a key/value store for all four roles, versioned by ETag,
//! paginated, audited; on both backends.

use reqwest::Method;
use serde_json::json;

use crate::admin::{Api, admin_with, assert_error, basic, trail, typed};
use crate::harness::*;

async fn config_store_keeps_values_for_all_four_roles(s: Server) {
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let put = |key: &'static str, value: serde_json::Value, if_match: Option<&'static str>| {
        let api = &api;
        let root = &root;
        async move {
            api.call(Method::PUT, &format!("/configStore/{key}"), Some(root), Some(json!({"value": value})), if_match)
                .await
        }
    };
    assert_eq!(put("alpha", json!({"region": "eu", "replicas": 3}), None).await.status, 200);
    assert_eq!(put("beta", json!("text"), None).await.status, 200);
    assert_eq!(put("gamma", json!([1, 2]), None).await.status, 200);

    let read = api.get("/configStore/alpha", &root).await;
    assert_eq!(read.body, json!({"key": "alpha", "value": {"region": "eu", "replicas": 3}}));
    let tag = read.etag.clone().unwrap();
    let stale = put("alpha", json!(1), Some("\"old\"")).await;
    assert_eq!(stale.status, 412);
    let fresh = api.call(Method::PUT, "/configStore/alpha", Some(&root), Some(json!({"value": 2})), Some(&tag)).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(api.get("/configStore/alpha", &root).await.body["value"], 2);

    let first = api.get("/configStore?limit=2", &root).await;
    let keys: Vec<_> = first.body["items"].as_array().unwrap().iter().map(|e| e["key"].clone()).collect();
    assert_eq!(keys, [json!("alpha"), json!("beta")]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = api.get(&format!("/configStore?limit=2&cursor={cursor}"), &root).await;
    assert_eq!(rest.body["items"][0]["key"], "gamma");
    assert!(rest.body["next_cursor"].is_null());
    let listed = api.get("/configStore", &root).await.body.to_string();
    assert!(!listed.contains("admin_api"), "signetd's own settings are not in it: {listed}");

    assert_error(&put("bad key!", json!(1), None).await, 400, "invalid_request", "key");
    let unknown =
        api.call(Method::PUT, "/configStore/x", Some(&root), Some(json!({"value": 1, "extra": 2})), None).await;
    assert_error(&unknown, 400, "invalid_request", "unknown field");
    let huge =
        api.call(Method::PUT, "/configStore/x", Some(&root), Some(json!({"value": "a".repeat(70_000)})), None).await;
    assert_error(&huge, 400, "invalid_request", "value");
    assert_error(&api.get("/configStore/missing", &root).await, 404, "not_found", "configStore");

    // Three roles are not enough, to read or to write.
    let ann = admin_with(&api, &root, "ann", json!(["Admin", "ExpressionAdmin", "CryptoAdmin"])).await;
    assert_error(&api.get("/configStore/alpha", &ann).await, 403, "forbidden", "UserAdmin");
    let w = api.call(Method::PUT, "/configStore/alpha", Some(&ann), Some(json!({"value": 0})), None).await;
    assert_error(&w, 403, "forbidden", "UserAdmin");

    assert_eq!(api.call(Method::DELETE, "/configStore/beta", Some(&root), None, Some("\"x\"")).await.status, 412);
    assert_eq!(api.call(Method::DELETE, "/configStore/beta", Some(&root), None, None).await.status, 204);
    assert_eq!(api.call(Method::DELETE, "/configStore/beta", Some(&root), None, None).await.status, 404);
    let trail = trail(
        &typed(&s, &s.boot.admin.username, &s.boot.admin.password),
        &[("action", "admin.config_store."), ("limit", "100")],
    )
    .await;
    assert_eq!(trail.len(), 5, "four puts and a delete: {trail:?}");
    assert!(trail.iter().all(|e| e.event.action.starts_with("admin.config_store.")), "{trail:?}");
}

#[tokio::test]
async fn config_store_on_sqlite() {
    config_store_keeps_values_for_all_four_roles(Server::start().await).await;
}

#[tokio::test]
async fn config_store_on_postgres() {
    config_store_keeps_values_for_all_four_roles(Server::start_on(Backend::Postgres).await).await;
}
