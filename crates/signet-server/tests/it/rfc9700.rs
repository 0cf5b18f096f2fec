//! RFC 9700 (OAuth 2.0 Security Best Current Practice), item by item, as
//! signetd the authorization server meets it. Each test is named after the
//! section whose requirement it proves; docs/rfc9700.md lists every item of
//! §2 and §4, with the tests elsewhere that already prove some of them and
//! the sentence on why others do not apply. Each runs on SQLite and
//! PostgreSQL, since each writes applications, codes, sessions or grants.

use reqwest::Method;
use serde_json::{Value, json};
use signet_core::model::{AppKind, GrantType};

use crate::admin::{Api, basic};
use crate::conformance::{REDIRECT, Rp, on_both};
use crate::harness::{Backend, Browser, CLI_REDIRECT, Page, Server, code_flow_tokens, pkce_pair, query, sign_on};

/// `GET /authorize` for `client_id` with `redirect_uri`, and `extra`.
fn authorize(s: &Server, env: &str, client_id: &str, redirect_uri: &str, extra: &str) -> String {
    let redirect_uri = url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>();
    format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri={redirect_uri}&scope=openid&state=st-1{extra}",
        s.url_in(env, "/authorize")
    )
}

on_both!(rfc9700_2_1_1_pkce_required_for_confidential_clients);
async fn rfc9700_2_1_1_pkce_required_for_confidential_clients(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let env = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": "Customers"})), None).await;
    let env = env.body["id"].as_str().unwrap().to_owned();
    let apps = format!("/environments/{env}/applications");
    let web = json!({"name": "shop", "kind": "web", "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT], "scopes": ["openid"]});
    let made = api.call(Method::POST, &apps, Some(&root), Some(web.clone()), None).await;
    assert_eq!((made.status, &made.body["pkce_required"]), (201, &json!(true)), "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    // A confidential client without a challenge is refused...
    let mut b = Browser::default();
    let refused = b.get(&authorize(&s, &env, &id, REDIRECT, "")).await;
    let q = query(&refused.location.unwrap());
    assert_eq!((q["error"].as_str(), q.get("code")), ("invalid_request", None), "{q:?}");
    assert!(q["error_description"].contains("PKCE"));
    // ...and one with an S256 challenge goes on to sign on.
    let (_, challenge) = pkce_pair();
    let with = b
        .get(&authorize(&s, &env, &id, REDIRECT, &format!("&code_challenge={challenge}&code_challenge_method=S256")))
        .await;
    assert!(with.location.unwrap().contains("/signon/"));
    // The opt-out is explicit, and per application.
    let opted_out = json!({"name": "shop", "kind": "web", "grant_types": ["authorization_code"], "redirect_uris": [REDIRECT],
        "scopes": ["openid"], "pkce_required": false});
    let r = api.call(Method::PUT, &format!("{apps}/{id}"), Some(&root), Some(opted_out), None).await;
    assert_eq!((r.status, &r.body["pkce_required"]), (200, &json!(false)), "{:?}", r.body);
    s.clock.advance(11); // past the client cache
    assert!(b.get(&authorize(&s, &env, &id, REDIRECT, "")).await.location.unwrap().contains("/signon/"));
    // A public client cannot opt out.
    let native = json!({"name": "app", "kind": "native", "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1/cb"], "pkce_required": false});
    let r = api.call(Method::POST, &apps, Some(&root), Some(native), None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("pkce_required"));
}

on_both!(rfc9700_2_1_2_only_the_code_response_type);
async fn rfc9700_2_1_2_only_the_code_response_type(backend: Backend) {
    let rp = Rp::start(backend).await;
    let d: Value =
        rp.s.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!((&d["response_types_supported"], &d["response_modes_supported"]), (&json!(["code"]), &json!(["query"])));
    for response_type in ["token", "id_token", "code%20id_token", "code%20token", "id_token%20token", "none"] {
        let url = rp.authorize("").replace("response_type=code", &format!("response_type={response_type}"));
        let page = Browser::default().get(&url).await;
        let to = page.location.expect("an error back to the registered client");
        assert!(!to.contains('#'), "nothing in a fragment: {to}");
        let q = query(&to);
        assert_eq!(q["error"], "unsupported_response_type", "{response_type}");
        assert!(!q.contains_key("access_token") && !q.contains_key("id_token") && !q.contains_key("code"));
    }
}

on_both!(rfc9700_2_3_access_tokens_are_audience_restricted);
async fn rfc9700_2_3_access_tokens_are_audience_restricted(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let access = t["access_token"].as_str().unwrap();
    let (_, claims) = crate::conformance::jwt_parts(access);
    assert_eq!(claims["aud"], json!([rp.issuer()]), "its own environment only");
    assert_eq!(claims["scope"], "openid", "what was asked, not all the application may have");
    // signetd's own APIs want their audience: an end user's token is refused there...
    let vault = |token: String| {
        let req = rp.s.http.get(format!("{}/v1/identity/mfa/method?list=true", rp.s.base));
        async move { req.header("x-vault-token", token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(vault(access.to_owned()).await, 403);
    // ...and in another environment, it is nobody's.
    let elsewhere = rp.s.http.get(rp.s.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(elsewhere.status(), 401);
    // An administrator's CLI token carries the API's audience and is served
    // (Vault answers an empty list with 404).
    let admin = rp.s.account(true, true).await;
    let cli = code_flow_tokens(&rp.s, &admin).await;
    assert_eq!(vault(cli["access_token"].as_str().unwrap().to_owned()).await, 404);
}

on_both!(rfc9700_2_4_no_resource_owner_password_credentials_grant);
async fn rfc9700_2_4_no_resource_owner_password_credentials_grant(backend: Backend) {
    let rp = Rp::start(backend).await;
    let d: Value =
        rp.s.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(!d["grant_types_supported"].as_array().unwrap().iter().any(|g| g == "password"));
    let form = [("grant_type", "password"), ("username", &rp.user.username), ("password", &rp.user.password)];
    let (status, body, _) = rp.token(&form, true).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{body}");
    assert!(body.get("access_token").is_none());
}

on_both!(rfc9700_2_5_confidential_clients_always_authenticate);
async fn rfc9700_2_5_confidential_clients_always_authenticate(backend: Backend) {
    let rp = Rp::start(backend).await;
    let q = rp.sign_on(&mut Browser::default(), &rp.authorize("")).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", rp.client_id.as_str()),
    ];
    let (status, body) = rp.s.post_form(&rp.url("/token"), &form, None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "no secret: {body}");
    let (status, body) = rp.s.post_form(&rp.url("/token"), &form[..3], Some((&rp.client_id, "wrong"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "a wrong secret: {body}");
    // Neither spent the code: the client that authenticates still gets its tokens.
    assert_eq!(rp.redeem(&q["code"]).await.0, 200);
}

on_both!(rfc9700_2_6_no_cors_at_the_authorization_endpoint);
async fn rfc9700_2_6_no_cors_at_the_authorization_endpoint(backend: Backend) {
    let rp = Rp::start(backend).await;
    let origin = "https://app.test";
    let get = rp.s.http.get(rp.authorize("")).header("origin", origin).send().await.unwrap();
    let preflight =
        rp.s.http
            .request(Method::OPTIONS, rp.url("/authorize"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
    for res in [get, preflight] {
        assert!(!res.headers().keys().any(|k| k.as_str().starts_with("access-control-")), "{:?}", res.headers());
    }
}

on_both!(rfc9700_4_1_3_redirect_uris_match_exactly);
async fn rfc9700_4_1_3_redirect_uris_match_exactly(backend: Backend) {
    let rp = Rp::start(backend).await;
    let (s, env) = (&rp.s, rp.env.as_str());
    let (native, _) = s.application(AppKind::Native, &[GrantType::AuthorizationCode], &[], Some(env)).await;
    let (_, challenge) = pkce_pair();
    let pkce = format!("&code_challenge={challenge}&code_challenge_method=S256");
    let reaches_sign_on = |client: String, uri: &'static str| {
        let url = authorize(s, env, &client, uri, &pkce);
        async move {
            let page = Browser::default().get(&url).await;
            match page.status {
                303 => {
                    assert!(page.location.as_deref().unwrap().contains("/signon/"), "{uri}");
                    true
                }
                _ => {
                    assert!((page.status, page.location.as_deref()) == (400, None), "{uri}: {}", page.status);
                    false
                }
            }
        }
    };
    // The web application registered https://app.test/cb and http://127.0.0.1/callback.
    assert!(reaches_sign_on(rp.client_id.clone(), REDIRECT).await);
    for near in [
        "https://app.test/cb/",
        "https://app.test/CB",
        "https://APP.test/cb",
        "https://app.test:443/cb",
        "https://app.test/cb?x=1",
        "https://app.test/cb#x",
        "https://app.test/cb/../cb",
        "https://app.test/c%62",
        "https://app.test/cbx",
        "https://user@app.test/cb",
        "http://app.test/cb",
        "https://app.test.attacker.example/cb",
        "https://attacker.example/.app.test/cb",
        "http://127.0.0.1:4711/callback",
    ] {
        assert!(!reaches_sign_on(rp.client_id.clone(), near).await, "{near} is not {REDIRECT}");
    }
    // RFC 8252 §7.3: a native application's loopback IP literal, on any port; nothing more.
    assert!(reaches_sign_on(native.clone(), "http://127.0.0.1:53124/callback").await);
    for near in [
        "http://localhost:53124/callback",
        "http://127.0.0.1:53124/callback/x",
        "https://127.0.0.1:53124/callback",
        "http://[::1]:53124/callback",
        "http://127.0.0.2:53124/callback",
    ] {
        assert!(!reaches_sign_on(native.clone(), near).await, "{near}");
    }
}

/// The pages a person sees: the authorization endpoint's error page, a
/// sign-on page, the redirect that carries a code, the device page and the
/// sign-off page.
async fn pages(rp: &Rp) -> Vec<(&'static str, Page)> {
    let mut b = Browser::default();
    let error = b.get(&rp.authorize("").replace(REDIRECT, "https://attacker.example/cb")).await;
    let signon = b.get(&rp.authorize("")).await;
    let form = b.get(signon.location.as_deref().unwrap()).await;
    let with_code = b
        .post(
            signon.location.as_deref().unwrap(),
            &[("csrf", &form.field("csrf").unwrap()), ("username", &rp.user.username), ("password", &rp.user.password)],
        )
        .await;
    assert!(query(with_code.location.as_deref().unwrap()).contains_key("code"));
    let device = b.get(&rp.url("/device")).await;
    let signoff = b.get(&rp.url("/signoff")).await;
    vec![
        ("error page", error),
        ("redirect to sign on", signon),
        ("sign-on form", form),
        ("redirect with the code", with_code),
        ("device page", device),
        ("sign-off page", signoff),
    ]
}

on_both!(rfc9700_4_2_4_no_referrer_and_nothing_loaded_from_elsewhere);
async fn rfc9700_4_2_4_no_referrer_and_nothing_loaded_from_elsewhere(backend: Backend) {
    let rp = Rp::start(backend).await;
    for (name, page) in pages(&rp).await {
        assert_eq!(page.headers["referrer-policy"], "no-referrer", "{name}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{name}: {csp}");
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(http"] {
            assert!(!page.body.contains(external), "{name} links elsewhere: {}", page.body);
        }
    }
}

on_both!(rfc9700_4_16_no_page_can_be_framed);
async fn rfc9700_4_16_no_page_can_be_framed(backend: Backend) {
    let rp = Rp::start(backend).await;
    for (name, page) in pages(&rp).await {
        assert_eq!(page.headers["x-frame-options"], "DENY", "{name}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{name}: {csp}");
        assert!(!page.body.contains("<script"), "{name}: no script to frame-bust or to be subverted");
    }
}

on_both!(rfc9700_4_3_2_access_tokens_are_never_taken_from_the_query);
async fn rfc9700_4_3_2_access_tokens_are_never_taken_from_the_query(backend: Backend) {
    let rp = Rp::start(backend).await;
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let access = t["access_token"].as_str().unwrap();
    let res = rp.s.http.get(format!("{}?access_token={access}", rp.url("/userinfo"))).send().await.unwrap();
    assert_eq!(res.status(), 401, "RFC 6750 §2.3 is not offered");
    // signetd's own APIs, with the OAuth scheme on: the header works, the query never.
    let api = Api::new(&rp.s);
    let root = basic(&rp.s.boot.admin.username, &rp.s.boot.admin.password);
    let on = json!({"schemes": ["native", "oauth"]});
    assert_eq!(api.call(Method::PUT, "/settings/authentication", Some(&root), Some(on), None).await.status, 200);
    let admin = rp.s.account(true, true).await;
    let cli = code_flow_tokens(&rp.s, &admin).await;
    let admin_token = cli["access_token"].as_str().unwrap();
    assert_eq!(api.get("/accounts", &format!("Bearer {admin_token}")).await.status, 200);
    let in_query = format!("{}/admin-api/v1/accounts?access_token={admin_token}", rp.s.base);
    assert_eq!(rp.s.http.get(in_query).send().await.unwrap().status(), 401);
    let vault = format!("{}/v1/identity/mfa/method?list=true&access_token={admin_token}", rp.s.base);
    assert_eq!(rp.s.http.get(vault).send().await.unwrap().status(), 403);
}

on_both!(rfc9700_4_9_3_tokens_and_codes_are_stored_only_as_hashes);
async fn rfc9700_4_9_3_tokens_and_codes_are_stored_only_as_hashes(backend: Backend) {
    let rp = Rp::start(backend).await;
    let url = rp.authorize("").replace("scope=openid", "scope=openid%20offline_access");
    let q = rp.sign_on(&mut Browser::default(), &url).await;
    let code = q["code"].clone();
    // Read before the code is redeemed, and after.
    let before = signet_testkit::outside::stored_text(&rp.s).await;
    let (_, first, _) = rp.redeem(&code).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let (_, second, _) = rp.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], true).await;
    let (_, device) =
        rp.s.post_form(&rp.s.url("/device_authorization"), &[("client_id", "signet-cli"), ("scope", "openid")], None)
            .await;
    let after = signet_testkit::outside::stored_text(&rp.s).await;
    assert!(!before.contains(&code), "the code as it was sent");
    let secrets = [
        ("code", code.as_str()),
        ("access token", first["access_token"].as_str().unwrap()),
        ("id token", first["id_token"].as_str().unwrap()),
        ("refresh token", refresh),
        ("rotated refresh token", second["refresh_token"].as_str().unwrap()),
        ("device code", device["device_code"].as_str().unwrap()),
        ("client secret", &rp.secret),
        ("password", &rp.user.password),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 16, "{what}");
        assert!(!after.contains(secret), "the {what} is stored as it was sent");
    }
    // The scan reads what it should: the stored rows are there.
    assert!(after.contains(&rp.client_id) && after.contains(&rp.user.username));
}

on_both!(rfc9700_4_11_2_the_authorization_server_is_no_open_redirector);
async fn rfc9700_4_11_2_the_authorization_server_is_no_open_redirector(backend: Backend) {
    let rp = Rp::start(backend).await;
    let attacker = "https://attacker.example/cb";
    let mut b = Browser::default();
    for url in [
        authorize(&rp.s, &rp.env, "nobody", attacker, ""),
        authorize(&rp.s, &rp.env, &rp.client_id, attacker, ""),
        authorize(&rp.s, &rp.env, &rp.client_id, attacker, "&prompt=none"),
        authorize(&rp.s, &rp.env, &rp.client_id, attacker, "&response_type=token"),
        format!("{}?post_logout_redirect_uri={attacker}&state=x", rp.url("/signoff")),
        format!("{}?redirect_uri={attacker}", rp.url("/device")),
        format!("{}?redirect_uri={attacker}", rp.url("/signon/00000000-0000-4000-8000-000000000000")),
    ] {
        let page = b.get(&url).await;
        assert!(page.location.as_deref().is_none_or(|l| !l.contains("attacker")), "{url}: {:?}", page.location);
        assert!(!page.body.contains("attacker.example"), "{url}");
    }
}

on_both!(rfc9700_4_12_credentials_are_never_redirected_with_307);
async fn rfc9700_4_12_credentials_are_never_redirected_with_307(backend: Backend) {
    let rp = Rp::start(backend).await;
    let s = &rp.s;
    // Every form that carries a password, a code or a decision answers 303 (See Other).
    let mut answers = Vec::new();
    let mut b = Browser::default();
    let signon = b.get(&rp.authorize("")).await.location.unwrap();
    answers.push(b.submit(&signon, &[("username", &rp.user.username), ("password", &rp.user.password)]).await);
    let admin = s.account(true, true).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let url = format!(
        "{}?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    let signon = b.get(&url).await.location.unwrap();
    answers.push(b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await);
    answers.push(b.submit(&signon, &[("code", &s.code(admin.secret.as_ref().unwrap()))]).await);
    let (_, d) =
        s.post_form(&s.url("/device_authorization"), &[("client_id", "signet-cli"), ("scope", "openid")], None).await;
    let mut b = Browser::default();
    sign_on(s, &mut b, "signet-cli", &admin, &challenge).await;
    let typed = b.submit(&s.url("/device"), &[("user_code", d["user_code"].as_str().unwrap())]).await;
    let consent = typed.location.clone().unwrap();
    answers.push(typed);
    answers.push(b.submit(&consent, &[("decision", "approve")]).await);
    assert!(answers.iter().filter(|p| p.location.is_some()).count() >= 4);
    for page in answers {
        // A redirect is a 303, which makes the browser GET; otherwise it is a page.
        let expected = if page.location.is_some() { 303 } else { 200 };
        assert_eq!(page.status, expected, "{:?}: {}", page.location, page.body);
    }
}

on_both!(rfc9700_4_14_2_a_refresh_token_serves_only_its_client);
async fn rfc9700_4_14_2_a_refresh_token_serves_only_its_client(backend: Backend) {
    let rp = Rp::start(backend).await;
    let first = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
    let (other, other_secret) = rp.s.application(AppKind::Web, &grants, &[], Some(&rp.env)).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, body) =
        rp.s.post_form(&rp.url("/token"), &form, Some((&other, other_secret.as_deref().unwrap()))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // The refusal spent nothing: its own client refreshes as usual, once.
    let (status, next, _) = rp.token(&form, true).await;
    assert_eq!(status, 200, "{next}");
}

on_both!(rfc9700_4_14_2_refresh_tokens_end_when_idle_or_the_password_changes);
async fn rfc9700_4_14_2_refresh_tokens_end_when_idle_or_the_password_changes(backend: Backend) {
    let rp = Rp::start(backend).await;
    let day = 24 * 3600;
    let refresh = |token: String| {
        let rp = &rp;
        async move {
            let (status, body, _) = rp.token(&[("grant_type", "refresh_token"), ("refresh_token", &token)], true).await;
            (status, body["refresh_token"].as_str().unwrap_or_default().to_owned())
        }
    };
    // A client that keeps refreshing keeps going; one idle past the lifetime does not.
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    rp.s.clock.advance(29 * day);
    let (status, next) = refresh(t["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200);
    rp.s.clock.advance(29 * day);
    let (status, idle) = refresh(next).await;
    assert_eq!(status, 200, "58 days on, but active");
    rp.s.clock.advance(31 * day);
    assert_eq!(refresh(idle).await.0, 400, "idle for longer than the lifetime");
    // A password reset ends every grant of the account.
    let t = rp.tokens(&mut Browser::default(), &rp.authorize("")).await;
    let api = Api::new(&rp.s);
    let root = basic(&rp.s.boot.admin.username, &rp.s.boot.admin.password);
    let path = format!("/environments/{}/users/{}/password", rp.env, rp.user.id);
    let body = json!({"password": "a brand new passphrase", "must_change": false});
    assert_eq!(api.call(Method::POST, &path, Some(&root), Some(body), None).await.status, 204);
    assert_eq!(refresh(t["refresh_token"].as_str().unwrap().to_owned()).await.0, 400);
}

on_both!(rfc9700_4_15_an_application_cannot_take_a_persons_id);
async fn rfc9700_4_15_an_application_cannot_take_a_persons_id(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let victim = s.account(true, true).await;
    // Through the API, nobody chooses an application's id.
    let apps = format!("/environments/{}/applications", s.env_id);
    let chosen = json!({"id": victim.id, "name": "deployer", "kind": "worker", "grant_types": ["client_credentials"]});
    let r = api.call(Method::POST, &apps, Some(&root), Some(chosen), None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    // Through the whole-configuration import, a worker with a person's id
    // would get tokens whose `sub` names that person: refused.
    let mut doc = api.get("/bulk", &root).await.body;
    let worker = doc["applications"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["id"] == s.boot.worker.client_id.as_str())
        .unwrap();
    worker["id"] = json!(victim.id);
    let r = api.call(Method::POST, "/bulk", Some(&root), Some(doc), None).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("an account has this id"), "{:?}", r.body);
    assert!(
        s.store()
            .application(
                &signet_core::id::EnvironmentId::from(s.env_id.as_str()),
                &signet_core::id::ClientId::from(victim.id.as_str())
            )
            .await
            .unwrap()
            .is_none()
    );
}
