//! The admin API's OAuth scheme with an external issuer: panva's
//! oidc-provider issues JWT access tokens for `urn:peer:api`; signetd checks
//! them through its JWKS and maps their scope to roles.

use reqwest::Method;
use serde_json::{Value, json};
use signet_testkit::oidc_provider::OidcProvider;

use crate::admin::{Api, assert_error, basic, trail, typed};
use crate::harness::*;

async fn peer_token(peer: &OidcProvider, scope: &str, resource: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let res = reqwest::Client::new()
        .post(format!("{}/token", peer.issuer))
        .basic_auth("svc", Some("svc-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

#[tokio::test]
async fn an_external_issuers_tokens_act_with_the_roles_their_scope_maps_to() {
    let peer = OidcProvider::start().await;
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let issuer = |roles: Value| {
        json!({"schemes": ["native", "oauth"], "oauth": {"issuers": [{"issuer": peer.issuer,
            "audience": "urn:peer:api", "roles": roles}]}})
    };
    let bad = api
        .call(Method::PUT, "/settings/authentication", Some(&root),
              Some(json!({"schemes": ["native", "oauth"], "oauth": {"issuers": [{"issuer": "not a url", "audience": "a"}]}})), None)
        .await;
    assert_error(&bad, 400, "invalid_request", "oauth.issuers[0].issuer");
    let roles = json!([{"value": "api:write", "roles": ["Admin"]}, {"value": "api:read", "auditor": true}]);
    let set = api.call(Method::PUT, "/settings/authentication", Some(&root), Some(issuer(roles)), None).await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    let writer = format!("Bearer {}", peer_token(&peer, "api:write", Some("urn:peer:api")).await);
    let made = api.call(Method::POST, "/environments", Some(&writer), Some(json!({"name": "by-peer"})), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let escalate = api
        .call(
            Method::POST,
            "/accounts",
            Some(&writer),
            Some(json!({"username": "x", "password": "a long passphrase"})),
            None,
        )
        .await;
    assert_error(&escalate, 403, "forbidden", "UserAdmin");

    let reader = format!("Bearer {}", peer_token(&peer, "api:read", Some("urn:peer:api")).await);
    assert_eq!(api.get("/environments", &reader).await.status, 200);
    let write = api.call(Method::POST, "/environments", Some(&reader), Some(json!({"name": "no"})), None).await;
    assert_error(&write, 403, "forbidden", "Auditor");
    // Both scopes: an Auditor with a role, which no account could be.
    let both = format!("Bearer {}", peer_token(&peer, "api:read api:write", Some("urn:peer:api")).await);
    assert_error(&api.get("/environments", &both).await, 403, "forbidden", "not a valid combination");

    // An opaque token (no resource), a tampered one, and the wrong audience are not credentials.
    let opaque = format!("Bearer {}", peer_token(&peer, "api:write", None).await);
    assert_error(&api.get("/environments", &opaque).await, 401, "unauthorized", "authentication");
    let mut tampered = writer.clone();
    tampered.pop();
    tampered.push(if writer.ends_with('A') { 'B' } else { 'A' });
    assert_error(&api.get("/environments", &tampered).await, 401, "unauthorized", "authentication");
    let other_aud = json!({"schemes": ["native", "oauth"], "oauth": {"issuers": [{"issuer": peer.issuer,
        "audience": "urn:someone:else", "roles": [{"value": "api:write", "roles": ["Admin"]}]}]}});
    assert_eq!(api.call(Method::PUT, "/settings/authentication", Some(&root), Some(other_aud), None).await.status, 200);
    assert_error(&api.get("/environments", &writer).await, 401, "unauthorized", "authentication");

    // The trail labels the peer's client-credentials token as an application.
    let trail =
        trail(&typed(&s, &s.boot.admin.username, &s.boot.admin.password), &[("action", "admin.environment.create")])
            .await;
    let actor = &trail[0].event.actor;
    assert_eq!(actor.kind, "application", "{actor:?}");
    assert_eq!(actor.scheme, "oauth");
    assert_eq!(actor.id, format!("oauth:{}#svc", peer.issuer));
}
