//! `/environments/{env}/identity-providers` (issue 7, first part): external
//! OpenID providers, read through discovery from panva's oidc-provider,
//! with a write-only secret, ETags, roles and the trail.

use reqwest::Method;
use serde_json::{Value, json};
use signet_testkit::oidc_provider::OidcProvider;

use crate::admin::{Api, assert_error, basic};
use crate::harness::*;

async fn admin_only(api: &Api<'_>, root: &str) -> String {
    let made = api
        .call(
            Method::POST,
            "/accounts",
            Some(root),
            Some(json!({"username": "ada", "password": "ada's first passphrase", "roles": ["Admin"]})),
            None,
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let changed = api
        .call(
            Method::POST,
            "/accounts/ada/password",
            Some(&basic("ada", "ada's first passphrase")),
            Some(json!({"current_password": "ada's first passphrase", "password": "ada's own passphrase"})),
            None,
        )
        .await;
    assert!(changed.status < 300, "{:?}", changed.body);
    basic("ada", "ada's own passphrase")
}

async fn providers_are_discovered_kept_secret_and_owned(s: Server) {
    let upstream = OidcProvider::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let env = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": "customers"})), None).await;
    let env = env.body["id"].as_str().unwrap().to_owned();
    let path = format!("/environments/{env}/identity-providers");
    let body = |issuer: &str| {
        json!({"name": "Acme SSO", "issuer": issuer, "client_id": "signetd", "client_secret": "upstream-secret-1",
               "jit": true, "mfa": {"trusted": true, "values": ["mfa", "otp"]}})
    };

    // Bad input: a clear error, nothing written.
    let cases: [(Value, u16, &str, &str); 6] = [
        (json!({"name": "x", "issuer": upstream.issuer, "client_id": "c"}), 400, "invalid_request", "client_secret"),
        (
            {
                let mut b = body(&upstream.issuer);
                b["scopes"] = json!(["profile"]);
                b
            },
            400,
            "invalid_request",
            "openid",
        ),
        (
            {
                let mut b = body(&upstream.issuer);
                b["colour"] = json!("red");
                b
            },
            400,
            "invalid_request",
            "colour",
        ),
        (body("ftp://127.0.0.1/x"), 400, "invalid_request", "issuer"),
        (body("http://127.0.0.1:9"), 422, "unprocessable", "discovery document"),
        (body(&format!("{}/", upstream.issuer)), 422, "unprocessable", "names"),
    ];
    for (b, status, error, mentions) in cases {
        assert_error(&api.call(Method::POST, &path, Some(&root), Some(b), None).await, status, error, mentions);
    }
    assert_eq!(api.get(&path, &root).await.body["items"], json!([]));

    let made = api.call(Method::POST, &path, Some(&root), Some(body(&upstream.issuer)), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(made.body["redirect_uri"], format!("{}/{env}/as/federation/callback", s.base), "to register upstream");
    assert!(!made.body.to_string().contains("upstream-secret-1"), "the secret is write-only");
    let dup = api.call(Method::POST, &path, Some(&root), Some(body(&upstream.issuer)), None).await;
    assert_eq!(dup.status, 409, "{:?}", dup.body);

    // Trusting a provider's MFA for administrators is UserAdmin's to decide.
    let ada = admin_only(&api, &root).await;
    let mut for_admins = body(&upstream.issuer);
    for_admins["name"] = json!("Admins SSO");
    for_admins["mfa"]["trusted_for_admins"] = json!(true);
    assert_error(
        &api.call(Method::POST, &path, Some(&ada), Some(for_admins.clone()), None).await,
        403,
        "forbidden",
        "UserAdmin",
    );
    let mut for_users = body(&upstream.issuer);
    for_users["name"] = json!("Users SSO");
    assert_eq!(api.call(Method::POST, &path, Some(&ada), Some(for_users), None).await.status, 201);
    let admins = api.call(Method::POST, &path, Some(&root), Some(for_admins), None).await;
    assert_eq!(admins.status, 201, "{:?}", admins.body);
    let admins_id = admins.body["id"].as_str().unwrap();
    let read = api.get(&format!("{path}/{admins_id}"), &ada).await;
    assert_eq!(read.status, 200, "any role reads");
    let drop = api.call(Method::DELETE, &format!("{path}/{admins_id}"), Some(&ada), None, None).await;
    assert_error(&drop, 403, "forbidden", "UserAdmin");

    // Updates: If-Match, the secret kept when left out.
    let one = format!("{path}/{id}");
    let read = api.get(&one, &root).await;
    let mut change = body(&upstream.issuer);
    change.as_object_mut().unwrap().remove("client_secret");
    change["jit"] = json!(false);
    assert_eq!(api.call(Method::PUT, &one, Some(&root), Some(change.clone()), Some("\"stale\"")).await.status, 412);
    let updated = api.call(Method::PUT, &one, Some(&root), Some(change), read.etag.as_deref()).await;
    assert_eq!((updated.status, updated.body["jit"].as_bool()), (200, Some(false)), "{:?}", updated.body);
    let (_, sealed) =
        s.store().identity_provider(&signet_core::id::EnvironmentId::from(env.as_str()), &id).await.unwrap().unwrap();
    let secret = s.state.kek.open(&signet_core::federation::secret_purpose(&id), &sealed).unwrap();
    assert_eq!(secret.expose().as_slice(), b"upstream-secret-1");

    // Links: by the provider's issuer and the upstream subject, one account each.
    let user = api
        .call(
            Method::POST,
            &format!("/environments/{env}/users"),
            Some(&root),
            Some(json!({"username": "lin", "password": "lin's long passphrase"})),
            None,
        )
        .await;
    assert_eq!(user.status, 201, "{:?}", user.body);
    let user_id = user.body["id"].as_str().unwrap().to_owned();
    let links = format!("{one}/links");
    let linked = api
        .call(Method::POST, &links, Some(&ada), Some(json!({"account_id": user_id, "subject": "sub-123"})), None)
        .await;
    assert_eq!(linked.status, 201, "an Admin links an end user: {:?}", linked.body);
    assert_eq!(linked.body["issuer"], upstream.issuer.as_str());
    let again = api
        .call(Method::POST, &links, Some(&root), Some(json!({"account_id": user_id, "subject": "sub-123"})), None)
        .await;
    assert_eq!(again.status, 409, "one account per upstream person");
    let elsewhere = api
        .call(
            Method::POST,
            &links,
            Some(&root),
            Some(json!({"account_id": s.boot.admin.username, "subject": "x"})),
            None,
        )
        .await;
    assert_error(&elsewhere, 400, "invalid_request", "account_id");
    let blank =
        api.call(Method::POST, &links, Some(&root), Some(json!({"account_id": user_id, "subject": ""})), None).await;
    assert_error(&blank, 400, "invalid_request", "subject");
    let unicode =
        api.call(Method::POST, &links, Some(&root), Some(json!({"account_id": user_id, "subject": "ünï"})), None).await;
    assert_error(&unicode, 400, "invalid_request", "ASCII");
    let slashed = api
        .call(Method::POST, &links, Some(&root), Some(json!({"account_id": user_id, "subject": "a/b c"})), None)
        .await;
    assert_eq!(slashed.status, 201, "{:?}", slashed.body);
    assert!(slashed.headers["location"].to_str().unwrap().ends_with("/links/a%2Fb%20c"));
    assert_eq!(api.call(Method::DELETE, &format!("{links}/a%2Fb%20c"), Some(&root), None, None).await.status, 204);
    assert_eq!(api.get(&links, &ada).await.body["items"][0]["subject"], "sub-123");
    let stored = s.store().federated_link(&upstream.issuer, "sub-123").await.unwrap().unwrap();
    assert_eq!(stored.account_id, user_id);
    // An administrator's link is UserAdmin's to make.
    let admins_env = s.env_id.clone();
    let admin_path = format!("/environments/{admins_env}/identity-providers");
    let for_admins = body(&upstream.issuer);
    let refused = api.call(Method::POST, &admin_path, Some(&root), Some(for_admins.clone()), None).await;
    assert_error(&refused, 400, "invalid_request", "never made just in time");
    let mut for_admins = for_admins;
    for_admins["jit"] = json!(false);
    let admin_idp = api.call(Method::POST, &admin_path, Some(&root), Some(for_admins), None).await;
    let admin_links =
        format!("/environments/{admins_env}/identity-providers/{}/links", admin_idp.body["id"].as_str().unwrap());
    let admin_account = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(admins_env.as_str()), &s.boot.admin.username)
        .await
        .unwrap()
        .unwrap();
    let by_ada = api
        .call(
            Method::POST,
            &admin_links,
            Some(&ada),
            Some(json!({"account_id": admin_account.id, "subject": "boss"})),
            None,
        )
        .await;
    assert_error(&by_ada, 403, "forbidden", "UserAdmin");
    let by_root = api
        .call(
            Method::POST,
            &admin_links,
            Some(&root),
            Some(json!({"account_id": admin_account.id, "subject": "boss"})),
            None,
        )
        .await;
    assert_eq!(by_root.status, 201, "{:?}", by_root.body);
    assert_error(
        &api.call(Method::DELETE, &format!("{admin_links}/boss"), Some(&ada), None, None).await,
        403,
        "forbidden",
        "UserAdmin",
    );
    assert_eq!(api.call(Method::DELETE, &format!("{links}/sub-123"), Some(&ada), None, None).await.status, 204);
    assert_eq!(api.call(Method::DELETE, &format!("{links}/sub-123"), Some(&ada), None, None).await.status, 404);

    assert_eq!(api.call(Method::DELETE, &one, Some(&root), None, None).await.status, 204);
    assert_eq!(api.get(&one, &root).await.status, 404);
    let events = s.store().audit_events(0, 1000).await.unwrap();
    let actions: Vec<&str> =
        events.iter().map(|e| e.event.action.as_str()).filter(|a| a.contains("identity_provider")).collect();
    assert_eq!(
        actions,
        [
            "admin.identity_provider.create",
            "admin.identity_provider.create",
            "admin.identity_provider.create",
            "admin.identity_provider.update",
            "admin.identity_provider.create",
            "admin.identity_provider.delete"
        ]
    );
    let link_events = events.iter().filter(|e| e.event.action.starts_with("admin.federated_link")).count();
    assert_eq!(link_events, 5, "three links and two unlinks");
    let trail = serde_json::to_string(&events.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(!trail.contains("upstream-secret-1"));
}

#[tokio::test]
async fn identity_providers_on_sqlite() {
    providers_are_discovered_kept_secret_and_owned(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn identity_providers_on_postgres() {
    providers_are_discovered_kept_secret_and_owned(Server::start_on(Backend::Postgres).await).await;
}
