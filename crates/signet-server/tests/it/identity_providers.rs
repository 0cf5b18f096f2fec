//! `/environments/{env}/identity-providers` (issue 7, first part): external
//! OpenID providers, read through discovery from panva's oidc-provider,
//! with a write-only secret, ETags, roles and the trail.

use reqwest::Method;
use serde_json::{Value, json};
use signet_client::admin::Versioned;
use signet_proto::admin::environments::{EnvironmentView, NewEnvironment};
use signet_proto::admin::identity_providers::{
    LinkBody, LinkPage, LinkView, ProviderBody, ProviderMfa, ProviderPage, ProviderView,
};
use signet_proto::roles::Role;
use signet_testkit::oidc_provider::OidcProvider;

use crate::admin::{Api, answered, assert_error, assert_refused, basic, created, deleted, typed, typed_admin};
use crate::harness::*;

/// The provider every case starts from: Acme, with its MFA trusted.
fn acme(issuer: &str) -> ProviderBody {
    ProviderBody {
        name: "Acme SSO".into(),
        issuer: issuer.into(),
        client_id: "signetd".into(),
        client_secret: Some("upstream-secret-1".into()),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        jit: true,
        mfa: ProviderMfa { trusted: true, trusted_for_admins: false, values: vec!["mfa".into(), "otp".into()] },
    }
}

fn link(account_id: &str, subject: &str) -> LinkBody {
    LinkBody { account_id: account_id.into(), subject: subject.into() }
}

async fn providers_are_discovered_kept_secret_and_owned(s: Server) {
    let upstream = OidcProvider::start().await;
    let api = Api::new(&s);
    let root_basic = basic(&s.boot.admin.username, &s.boot.admin.password);
    let root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let env: Versioned<EnvironmentView> =
        created(&root, &["environments"], &NewEnvironment { name: "customers".into() }).await;
    let env = env.value.id;
    let env = env.as_str();
    let path = ["environments", env, "identity-providers"];
    let raw_path = format!("/environments/{env}/identity-providers");
    let body = |issuer: &str| {
        json!({"name": "Acme SSO", "issuer": issuer, "client_id": "signetd", "client_secret": "upstream-secret-1",
               "jit": true, "mfa": {"trusted": true, "values": ["mfa", "otp"]}})
    };

    // Bad input: a clear error, nothing written. What the typed body cannot
    // say (a field left out, a field it does not have) is sent as raw JSON.
    let mut colour = body(&upstream.issuer);
    colour.as_object_mut().unwrap().insert("colour".into(), json!("red"));
    let raw_cases: [(Value, &str); 2] =
        [(json!({"name": "x", "issuer": upstream.issuer, "client_id": "c"}), "client_secret"), (colour, "colour")];
    for (b, mentions) in raw_cases {
        let refused = api.call(Method::POST, &raw_path, Some(&root_basic), Some(b), None).await;
        assert_error(&refused, 400, "invalid_request", mentions);
    }
    let cases: [(ProviderBody, u16, &str, &str); 4] = [
        (ProviderBody { scopes: vec!["profile".into()], ..acme(&upstream.issuer) }, 400, "invalid_request", "openid"),
        (acme("ftp://127.0.0.1/x"), 400, "invalid_request", "issuer"),
        (acme("http://127.0.0.1:9"), 422, "unprocessable", "discovery document"),
        (acme(&format!("{}/", upstream.issuer)), 422, "unprocessable", "names"),
    ];
    for (b, status, error, mentions) in cases {
        assert_refused(root.create::<_, ProviderView>(&path, &b).await, status, error, mentions);
    }
    let none = root.get::<ProviderPage>(&path).await.unwrap().value;
    assert!(none.items.is_empty() && none.next_cursor.is_none(), "{:?}", none.items);

    // Made from raw JSON, so that the scopes left out take their default.
    let made = api.call(Method::POST, &raw_path, Some(&root_basic), Some(body(&upstream.issuer)), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert!(!made.body.to_string().contains("upstream-secret-1"), "the secret is write-only");
    let made: ProviderView = serde_json::from_value(made.body).unwrap();
    let id = made.id.as_str();
    assert_eq!(made.scopes, ["openid", "profile", "email"]);
    assert_eq!(made.redirect_uri, format!("{}/{env}/as/federation/callback", s.base), "to register upstream");
    assert_eq!((made.name.as_str(), made.issuer.as_str(), made.jit), ("Acme SSO", upstream.issuer.as_str(), true));
    assert_refused(root.create::<_, ProviderView>(&path, &acme(&upstream.issuer)).await, 409, "conflict", "");

    // Trusting a provider's MFA for administrators is UserAdmin's to decide.
    let ada = typed_admin(&s, &root, "ada", &[Role::Admin]).await;
    let for_admins = || {
        let mut b = ProviderBody { name: "Admins SSO".into(), ..acme(&upstream.issuer) };
        b.mfa.trusted_for_admins = true;
        b
    };
    assert_refused(ada.create::<_, ProviderView>(&path, &for_admins()).await, 403, "forbidden", "UserAdmin");
    let for_users = ProviderBody { name: "Users SSO".into(), ..acme(&upstream.issuer) };
    let _: Versioned<ProviderView> = created(&ada, &path, &for_users).await;
    let admins: Versioned<ProviderView> = created(&root, &path, &for_admins()).await;
    assert!(admins.value.mfa.trusted_for_admins, "{:?}", admins.value);
    let admins_one = ["environments", env, "identity-providers", admins.value.id.as_str()];
    let read = ada.get::<ProviderView>(&admins_one).await.unwrap();
    assert_eq!(read.value.id, admins.value.id, "any role reads");
    assert_refused(ada.delete(&admins_one, None).await, 403, "forbidden", "UserAdmin");

    // Updates: If-Match, the secret kept when left out.
    let one = ["environments", env, "identity-providers", id];
    let read = root.get::<ProviderView>(&one).await.unwrap();
    let change = || ProviderBody { client_secret: None, jit: false, ..acme(&upstream.issuer) };
    assert_refused(root.update::<_, ProviderView>(&one, &change(), "\"stale\"").await, 412, "precondition_failed", "");
    let updated: Versioned<ProviderView> =
        answered(&root, Method::PUT, &one, Some(&change()), read.etag.as_deref(), 200).await;
    assert!(!updated.value.jit, "{:?}", updated.value);
    let (_, sealed) =
        s.store().identity_provider(&signet_core::id::EnvironmentId::from(env), id).await.unwrap().unwrap();
    let secret = s.state.kek.open(&signet_core::federation::secret_purpose(id), &sealed).unwrap();
    assert_eq!(secret.expose().as_slice(), b"upstream-secret-1");

    // Links: by the provider's issuer and the upstream subject, one account each.
    let user = api
        .call(
            Method::POST,
            &format!("/environments/{env}/users"),
            Some(&root_basic),
            Some(json!({"username": "lin", "password": "lin's long passphrase"})),
            None,
        )
        .await;
    assert_eq!(user.status, 201, "{:?}", user.body);
    let user_id = user.body["id"].as_str().unwrap().to_owned();
    let links = ["environments", env, "identity-providers", id, "links"];
    let linked: Versioned<LinkView> = created(&ada, &links, &link(&user_id, "sub-123")).await;
    assert_eq!(linked.value.issuer, upstream.issuer, "an Admin links an end user");
    assert_eq!((linked.value.account_id.as_str(), linked.value.subject.as_str()), (user_id.as_str(), "sub-123"));
    let again = root.create::<_, LinkView>(&links, &link(&user_id, "sub-123")).await;
    assert_refused(again, 409, "conflict", "");
    let elsewhere = root.create::<_, LinkView>(&links, &link(&s.boot.admin.username, "x")).await;
    assert_refused(elsewhere, 400, "invalid_request", "account_id");
    assert_refused(root.create::<_, LinkView>(&links, &link(&user_id, "")).await, 400, "invalid_request", "subject");
    assert_refused(root.create::<_, LinkView>(&links, &link(&user_id, "ünï")).await, 400, "invalid_request", "ASCII");
    // Raw, for its Location header.
    let raw_links = format!("{raw_path}/{id}/links");
    let slashed = api
        .call(
            Method::POST,
            &raw_links,
            Some(&root_basic),
            Some(serde_json::to_value(link(&user_id, "a/b c")).unwrap()),
            None,
        )
        .await;
    assert_eq!(slashed.status, 201, "{:?}", slashed.body);
    assert!(slashed.headers["location"].to_str().unwrap().ends_with("/links/a%2Fb%20c"));
    // The typed client encodes the subject into one segment, as the Location does.
    assert_eq!(
        root.at(&[&links[..], &["a/b c"]].concat(), None).unwrap().path(),
        format!("/admin-api/v1{raw_links}/a%2Fb%20c")
    );
    deleted(&root, &[&links[..], &["a/b c"]].concat(), None).await;
    let listed = ada.get::<LinkPage>(&links).await.unwrap().value;
    assert_eq!(listed.items.iter().map(|l| l.subject.as_str()).collect::<Vec<_>>(), ["sub-123"]);
    let stored = s.store().federated_link(&upstream.issuer, "sub-123").await.unwrap().unwrap();
    assert_eq!(stored.account_id, user_id);
    // An administrator's link is UserAdmin's to make.
    let admins_env = s.env_id.clone();
    let admin_path = ["environments", admins_env.as_str(), "identity-providers"];
    let refused = root.create::<_, ProviderView>(&admin_path, &acme(&upstream.issuer)).await;
    assert_refused(refused, 400, "invalid_request", "never made just in time");
    let no_jit = ProviderBody { jit: false, ..acme(&upstream.issuer) };
    let admin_idp: Versioned<ProviderView> = created(&root, &admin_path, &no_jit).await;
    let admin_links = ["environments", admins_env.as_str(), "identity-providers", admin_idp.value.id.as_str(), "links"];
    let admin_account = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(admins_env.as_str()), &s.boot.admin.username)
        .await
        .unwrap()
        .unwrap();
    let by_ada = ada.create::<_, LinkView>(&admin_links, &link(admin_account.id.as_str(), "boss")).await;
    assert_refused(by_ada, 403, "forbidden", "UserAdmin");
    let by_root: Versioned<LinkView> = created(&root, &admin_links, &link(admin_account.id.as_str(), "boss")).await;
    assert_eq!(by_root.value.account_id, admin_account.id);
    let boss = [&admin_links[..], &["boss"]].concat();
    assert_refused(ada.delete(&boss, None).await, 403, "forbidden", "UserAdmin");
    let sub_123 = [&links[..], &["sub-123"]].concat();
    deleted(&ada, &sub_123, None).await;
    assert_refused(ada.delete(&sub_123, None).await, 404, "not_found", "");

    deleted(&root, &one, None).await;
    assert_refused(root.get::<ProviderView>(&one).await, 404, "not_found", "");
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
