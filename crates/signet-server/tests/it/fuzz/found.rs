//! What the fuzz targets found, pinned as ordinary regression tests: each
//! is the smallest input proptest shrank a failure to, and the answer it
//! must get now.

use reqwest::Method;
use serde_json::json;

use crate::admin::{Api, assert_error, basic};
use crate::harness::*;

/// `fuzz_bulk_documents` found: a login enforcement naming the same MFA
/// method twice passed the document's checks and broke the store's primary
/// key on (enforcement, method) mid-import: a 500. It is refused, naming the
/// field, and nothing changes.
async fn bulk_enforcement_naming_a_method_twice_is_refused_not_a_500(s: Server) {
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let vault = crate::vault::Vault::new(&s);
    let token = crate::vault::admin_token(&s).await;
    let ping = json!({"settings_file_base64": crate::vault::b64(crate::vault::FIXTURE), "method_name": "ping"});
    let method = vault.call("POST", "identity/mfa/method/pingid", Some(&token), Some(ping)).await;
    let id = method.body["data"]["method_id"].as_str().unwrap().to_owned();
    let enforcement = json!({"mfa_method_ids": [id], "auth_method_types": ["ldap"]});
    let made = vault.call("POST", "identity/mfa/login-enforcement/people", Some(&token), Some(enforcement)).await;
    assert!(made.status < 300, "{}", made.body);

    let before = api.get("/bulk", &root).await.body;
    let mut doc = before.clone();
    doc["mfa"]["enforcements"][0]["mfa_method_ids"] = json!([id, id]);
    let refused = api.call(Method::POST, "/bulk", Some(&root), Some(doc), None).await;
    assert_error(&refused, 422, "unprocessable", "mfa.enforcements[0].mfa_method_ids");
    assert_eq!(api.get("/bulk", &root).await.body, before, "nothing changed");
}

#[tokio::test]
async fn bulk_enforcement_naming_a_method_twice_is_refused_not_a_500_sqlite() {
    bulk_enforcement_naming_a_method_twice_is_refused_not_a_500(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn bulk_enforcement_naming_a_method_twice_is_refused_not_a_500_postgres() {
    bulk_enforcement_naming_a_method_twice_is_refused_not_a_500(Server::start_on(Backend::Postgres).await).await;
}
