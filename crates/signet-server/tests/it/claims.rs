//! Claim mappings end to end: ExpressionAdmins write them, tokens issued
//! afterwards carry the claims, hostile or reserved ones are refused, and an
//! expression that fails for a person leaves the claim out without failing
//! the sign-on.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{Api, admin_with, assert_error, basic, trail, typed};
use crate::harness::*;

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens_carry_the_claims_expression_admins_map() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let env = s.env_id.clone();
    let base = format!("/environments/{env}/claim-mappings");
    let person = s.account(false, true).await;

    // Hostile and reserved input is refused, naming the field.
    for (body, field) in [
        (json!({"claim": "sub", "expression": "\"x\""}), "claim"),
        (json!({"claim": "Roles", "expression": "[\"Admin\"]"}), "claim"),
        (json!({"claim": "realm_access.roles", "expression": "1"}), "claim"),
        (json!({"claim": "department", "expression": "1 +"}), "expression"),
        (json!({"claim": "department", "expression": "(".repeat(5000)}), "expression"),
        (json!({"claim": "department", "expression": "loop { }"}), "expression"),
        (json!({"claim": "department", "expression": "eval(\"1\")"}), "expression"),
    ] {
        let a = api.call(Method::POST, &base, Some(&root), Some(body.clone()), None).await;
        assert_error(&a, 400, "invalid_request", field);
    }
    let unknown =
        api.call(Method::POST, &base, Some(&root), Some(json!({"claim": "a", "expression": "1", "x": 1})), None).await;
    assert_error(&unknown, 400, "invalid_request", "unknown field");

    // An Admin without ExpressionAdmin cannot write one, even in an environment it manages.
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let denied =
        api.call(Method::POST, &base, Some(&ed), Some(json!({"claim": "department", "expression": "1"})), None).await;
    assert_error(&denied, 403, "forbidden", "ExpressionAdmin");
    assert_eq!(api.get(&base, &ed).await.status, 200, "but may read them");

    let dept = api
        .call(
            Method::POST,
            &base,
            Some(&root),
            Some(json!({"claim": "department", "expression": "user.attributes.department ?? \"none\""})),
            None,
        )
        .await;
    assert_eq!(dept.status, 201, "{:?}", dept.body);
    let again =
        api.call(Method::POST, &base, Some(&root), Some(json!({"claim": "department", "expression": "1"})), None).await;
    assert_error(&again, 409, "conflict", "claim mapping");
    let ratio =
        api.call(Method::POST, &base, Some(&root), Some(json!({"claim": "ratio", "expression": "1 / 0"})), None).await;
    assert_eq!(ratio.status, 201, "it compiles; it fails when evaluated");
    let who = api
        .call(
            Method::POST,
            &base,
            Some(&root),
            Some(json!({"claim": "greeting", "expression": "\"hello \" + user.username + \" via \" + client.id"})),
            None,
        )
        .await;
    assert_eq!(who.status, 201);

    let attrs = api
        .call(
            Method::PUT,
            &format!("/environments/{env}/users/{}/attributes", person.id),
            Some(&root),
            Some(json!({"department": "eng"})),
            None,
        )
        .await;
    assert_eq!(attrs.status, 200, "{:?}", attrs.body);

    let tokens = code_flow_tokens(&s, &person).await;
    let at = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(at["department"], "eng", "{at}");
    assert_eq!(at["greeting"], format!("hello {} via signet-cli", person.username));
    assert!(at.get("ratio").is_none(), "a failing expression is left out: {at}");
    assert_eq!(at["sub"], person.id, "standard claims are untouched");
    let id = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["department"], "eng");

    // Changing one (If-Match) and deleting one apply to the next tokens.
    let dept_path = format!("{base}/{}", dept.body["id"].as_str().unwrap());
    let current = api.get(&dept_path, &root).await;
    let stale = api
        .call(
            Method::PUT,
            &dept_path,
            Some(&root),
            Some(json!({"claim": "department", "expression": "\"x\""})),
            Some("\"stale\""),
        )
        .await;
    assert_eq!(stale.status, 412);
    let changed = api
        .call(
            Method::PUT,
            &dept_path,
            Some(&root),
            Some(json!({"claim": "dept", "expression": "user.attributes.department"})),
            current.etag.as_deref(),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let greeting_path = format!("{base}/{}", who.body["id"].as_str().unwrap());
    assert_eq!(api.call(Method::DELETE, &greeting_path, Some(&root), None, None).await.status, 204);
    let at = payload(code_flow_tokens(&s, &person).await["access_token"].as_str().unwrap());
    assert_eq!(at["dept"], "eng");
    assert!(at.get("department").is_none() && at.get("greeting").is_none(), "{at}");

    // A preview evaluates without saving.
    let preview = api
        .call(
            Method::POST,
            &format!("{base}/preview"),
            Some(&root),
            Some(json!({"expression": "user.attributes.level * 2", "attributes": {"level": 21}})),
            None,
        )
        .await;
    assert_eq!(preview.body, json!({"value": 42}));
    let bad = api
        .call(Method::POST, &format!("{base}/preview"), Some(&root), Some(json!({"expression": "1 / 0"})), None)
        .await;
    assert_error(&bad, 400, "invalid_request", "expression");

    let trail = trail(
        &typed(&s, &s.boot.admin.username, &s.boot.admin.password),
        &[("action", "admin.claim_mapping."), ("limit", "100")],
    )
    .await;
    let actions: Vec<&str> = trail.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions.len(), 5, "three creates, one update, one delete: {actions:?}");
}
