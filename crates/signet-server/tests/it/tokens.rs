//! The token endpoint's grants, revocation, introspection and userinfo.

use signet_core::model::{AppKind, GrantType};
use signet_proto::roles::Role;

use crate::harness::{Backend, Browser, CLI_REDIRECT, Server, code_flow_tokens, pkce_pair, sign_on};

pub fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&signet_core::crypto::b64url_decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn client_credentials_with_basic_and_post() {
    let s = Server::start().await;
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (status, basic) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!(status, 200, "{basic}");
    assert_eq!(basic["token_type"], "Bearer");
    assert!(basic.get("refresh_token").is_none());
    let c = claims(basic["access_token"].as_str().unwrap());
    for k in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"] {
        assert!(c.get(k).is_some(), "claim {k} missing: {c}");
    }
    assert_eq!(c["client_id"], id.as_str());
    // The bootstrap worker holds no admin roles: no admin-API audience.
    assert!(!c["aud"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().ends_with("/admin-api")));

    let (status, post) =
        s.token(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)]).await;
    assert_eq!(status, 200, "{post}");
}

#[tokio::test]
async fn only_workers_with_admin_roles_get_the_admin_audience() {
    let s = Server::start().await;
    let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[Role::Admin], None).await;
    let (_, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", secret.as_deref().unwrap()),
        ])
        .await;
    let aud = claims(body["access_token"].as_str().unwrap())["aud"].clone();
    assert!(aud.as_array().unwrap().iter().any(|a| *a == format!("{}/admin-api", s.base)), "{aud}");
}

#[tokio::test]
async fn wrong_client_credentials_are_invalid_client() {
    let s = Server::start().await;
    let id = s.boot.worker.client_id.clone();
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let res = s
        .http
        .post(s.url("/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Basic"));
    let (status, body) =
        s.token(&[("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    // A public client cannot use client credentials.
    let (status, body) = s.token(&[("grant_type", "client_credentials"), ("client_id", "signet-cli")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    // Two authentication methods at once.
    let secret = s.boot.worker.client_secret.clone();
    let (status, body) = s
        .post_form(
            &s.url("/token"),
            &[("grant_type", "client_credentials"), ("client_secret", &secret)],
            Some((&id, &secret)),
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
}

async fn code_flow_end_to_end(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let mut b = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let q = sign_on(&s, &mut b, "signet-cli", &admin, &challenge).await;
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], s.issuer);
    let (status, tokens) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", CLI_REDIRECT),
            ("client_id", "signet-cli"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["aud"], "signet-cli");
    assert_eq!(id["sub"], admin.id.as_str());
    let at = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(at["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert!(
        at["aud"].as_array().unwrap().iter().any(|a| *a == format!("{}/admin-api", s.base)),
        "the CLI gets the admin audience"
    );
    assert!(at["gid"].is_string());

    // Userinfo answers for the token.
    let ui: serde_json::Value = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ui["sub"], admin.id.as_str());
    assert_eq!(ui["preferred_username"], admin.username.as_str());

    // Refresh rotates; the old refresh token then revokes the family.
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 200, "{refreshed}");
    let r2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let (id_, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let live = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.introspect(&live, (&id_, &secret)).await["active"], true);
    let (status, reuse) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1), ("client_id", "signet-cli")]).await;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")));
    let (status, after) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", &r2), ("client_id", "signet-cli")]).await;
    assert_eq!((status, after["error"].as_str()), (400, Some("invalid_grant")), "the family is revoked");
    assert_eq!(
        s.introspect(&live, (&id_, &secret)).await,
        serde_json::json!({"active": false}),
        "live access tokens of the family die too"
    );
}

#[tokio::test]
async fn authorization_code_with_pkce_refresh_and_reuse_sqlite() {
    code_flow_end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn authorization_code_with_pkce_refresh_and_reuse_postgres() {
    code_flow_end_to_end(Backend::Postgres).await;
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let mut b = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let q = sign_on(&s, &mut b, "signet-cli", &admin, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CLI_REDIRECT),
        ("client_id", "signet-cli"),
        ("code_verifier", &verifier),
    ];
    let (status, first) = s.token(&form).await;
    assert_eq!(status, 200);
    let (status, second) = s.token(&form).await;
    assert_eq!((status, second["error"].as_str()), (400, Some("invalid_grant")));
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    assert_eq!(s.introspect(first["access_token"].as_str().unwrap(), (&id, &secret)).await["active"], false);
    let (_, refresh) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", "signet-cli"),
        ])
        .await;
    assert_eq!(refresh["error"], "invalid_grant");
}

#[tokio::test]
async fn revocation_of_access_and_refresh_tokens() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let t = code_flow_tokens(&s, &admin).await;
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let access = t["access_token"].as_str().unwrap();
    // Another client cannot revoke it.
    let (status, _) = s.post_form(&s.url("/revoke"), &[("token", access)], Some((&id, &secret))).await;
    assert_eq!(status, 200);
    assert_eq!(s.introspect(access, (&id, &secret)).await["active"], true);
    // Its own client can.
    let (status, _) = s.post_form(&s.url("/revoke"), &[("token", access), ("client_id", "signet-cli")], None).await;
    assert_eq!(status, 200);
    assert_eq!(s.introspect(access, (&id, &secret)).await["active"], false);
    // Revoking the refresh token ends the family.
    let refresh = t["refresh_token"].as_str().unwrap();
    let (status, _) = s
        .post_form(
            &s.url("/revoke"),
            &[("token", refresh), ("token_type_hint", "refresh_token"), ("client_id", "signet-cli")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, r) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")]).await;
    assert_eq!(r["error"], "invalid_grant");
    // Unknown tokens are fine too (RFC 7009 §2.2).
    let (status, _) = s.post_form(&s.url("/revoke"), &[("token", "garbage"), ("client_id", "signet-cli")], None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn introspection_needs_a_confidential_client_and_expires_tokens() {
    let s = Server::start().await;
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (_, t) = s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let access = t["access_token"].as_str().unwrap();
    let active = s.introspect(access, (&id, &secret)).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    let (status, body) =
        s.post_form(&s.url("/introspect"), &[("token", access), ("client_id", "signet-cli")], None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = s.post_form(&s.url("/introspect"), &[("token", access)], None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    s.clock.advance(3601);
    assert_eq!(s.introspect(access, (&id, &secret)).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn userinfo_refuses_missing_and_bad_tokens() {
    let s = Server::start().await;
    let res = s.http.get(s.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
    let res = s.http.get(s.url("/userinfo")).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    // A worker's token has no openid scope and no person behind it.
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (_, t) = s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let res = s.http.get(s.url("/userinfo")).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn rotated_keys_stay_published_and_tokens_they_signed_stay_valid() {
    let s = Server::start().await;
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (_, before) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let old = before["access_token"].as_str().unwrap().to_owned();
    // Another instance rotates: this one learns of the new key from the store.
    let now = signet_core::clock::Clock::now(&s.clock);
    let key = signet_server::bootstrap::new_signing_key(&s.state.kek, &s.env_id, now).unwrap();
    let ev = crate::harness::test_event("signing_key.rotate", Some(&s.env_id), &key.kid);
    s.store().rotate_signing_key(&key, now, &ev).await.unwrap();
    s.clock.advance(61);
    let jwks: serde_json::Value = s.http.get(s.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 2, "the retired key stays published: {kids:?}");
    assert!(kids.contains(&key.kid.as_str()));
    let (_, after) = s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let new = after["access_token"].as_str().unwrap();
    assert_eq!(signet_core::token::peek_kid(new).as_deref(), Some(key.kid.as_str()), "the new key signs");
    assert_eq!(s.introspect(&old, (&id, &secret)).await["active"], true, "tokens of the old key stay valid");
    assert_eq!(s.introspect(new, (&id, &secret)).await["active"], true);
    // Once its tokens have expired, the retired key is no longer published.
    s.clock.advance(signet_server::keyring::RETIRED_KEY_PUBLISHED);
    let jwks: serde_json::Value = s.http.get(s.url("/jwks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn refresh_tokens_introspect_only_for_their_own_client() {
    let s = Server::start().await;
    let env = s.environment("Customers").await;
    let user = s.account_in(&env, false, false).await;
    let (web, secret) =
        s.application(AppKind::Web, &[GrantType::AuthorizationCode, GrantType::RefreshToken], &[], Some(&env)).await;
    let secret = secret.unwrap();
    let mut b = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let url = format!(
        "{}?response_type=code&client_id={web}&redirect_uri=https://app.test/cb&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        s.url_in(&env, "/authorize")
    );
    let signon = b.get(&url).await.location.unwrap();
    let done = b.submit(&signon, &[("username", &user.username), ("password", &user.password)]).await;
    let code = crate::harness::query(done.location.as_deref().unwrap())["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.test/cb"),
        ("code_verifier", &verifier),
    ];
    let (_, t) = s.post_form(&s.url_in(&env, "/token"), &form, Some((&web, &secret))).await;
    let refresh = t["refresh_token"].as_str().unwrap();
    let introspect = |token: &str, client: (&str, &str)| {
        let (s, url, token) = (&s, s.url_in(&env, "/introspect"), token.to_owned());
        let client = (client.0.to_owned(), client.1.to_owned());
        async move { s.post_form(&url, &[("token", &token)], Some((&client.0, &client.1))).await.1 }
    };
    let mine = introspect(refresh, (&web, &secret)).await;
    assert_eq!(mine["active"], true, "{mine}");
    assert_eq!(mine["token_type"], "refresh_token");
    assert_eq!(mine["sub"], user.id.as_str());
    let (worker, worker_secret) =
        s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], Some(&env)).await;
    let worker_secret = worker_secret.unwrap();
    assert_eq!(introspect(refresh, (&worker, &worker_secret)).await, serde_json::json!({"active": false}));
    s.post_form(
        &s.url_in(&env, "/token"),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((&web, &secret)),
    )
    .await;
    assert_eq!(
        introspect(refresh, (&web, &secret)).await,
        serde_json::json!({"active": false}),
        "a spent token is inactive"
    );
}

#[tokio::test]
async fn a_revocation_on_one_instance_reaches_another_within_its_poll() {
    let s = Server::start().await;
    let other = s.another_instance().await;
    let admin = s.account(true, true).await;
    let t = code_flow_tokens(&s, &admin).await;
    let access = t["access_token"].as_str().unwrap();
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let at_other = |token: String| {
        let (http, url, id, secret) = (s.http.clone(), format!("{other}/introspect"), id.clone(), secret.clone());
        async move {
            let r = http.post(url).basic_auth(id, Some(secret)).form(&[("token", token)]).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()["active"].clone()
        }
    };
    assert_eq!(at_other(access.to_owned()).await, true);
    // Revoking the refresh token at the first instance ends the family there at once...
    let (status, _) = s
        .post_form(
            &s.url("/revoke"),
            &[("token", t["refresh_token"].as_str().unwrap()), ("client_id", "signet-cli")],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.introspect(access, (&id, &secret)).await["active"], false);
    // ...and at the other once it polls the store's revocation feed.
    s.clock.advance(signet_server::cache::REVOCATION_POLL);
    assert_eq!(at_other(access.to_owned()).await, false);
}
