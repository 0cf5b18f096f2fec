//! Findings 3, 4, 5, 7 and 10: input, limits, refresh, the trail, and the smaller items.

use super::*;

on_both!(finding_5_a_refused_refresh_does_not_spend_the_token);
async fn finding_5_a_refused_refresh_does_not_spend_the_token(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let tokens = code_flow_tokens(&s, &admin).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let refresh = |scope: Option<&'static str>| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", r1), ("client_id", "signet-cli")];
        form.extend(scope.map(|sc| ("scope", sc)));
        let s = &s;
        async move { s.token(&form).await }
    };
    let (status, wider) = refresh(Some("openid profile offline_access email")).await;
    assert_eq!((status, wider["error"].as_str()), (400, Some("invalid_scope")), "{wider}");
    // The token is still good: the next normal refresh is not taken for reuse.
    let (status, next) = refresh(None).await;
    assert_eq!(status, 200, "a refused refresh spent the token: {next}");
    assert!(next["refresh_token"].is_string());
    // And the family lives on: the new refresh token works too.
    let r2 = next["refresh_token"].as_str().unwrap();
    let (status, again) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", r2), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 200, "{again}");
}

on_both!(finding_3_nul_gets_each_protocols_400_and_no_500);
async fn finding_3_nul_gets_each_protocols_400_and_no_500(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    // OAuth: the RFC 6749 §5.2 body.
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials"), ("client_id", "x\0")], None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let raw = s
        .http
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=x%00")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some(("x\0y", "secret"))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "a NUL in client Basic: {body}");
    // Pages: an HTML 400.
    let page =
        Browser::default().get(&format!("{}?client_id=signet-cli%00&response_type=code", s.url("/authorize"))).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("NUL"), "{}", page.body);
    // The admin API: its error body, for a body, a path and Basic credentials.
    let r = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": "a\u{0}b"})), None).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let r = api.get(&format!("/environments/{}/applications/x%00", s.env_id), &root).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let r = api.get("/accounts", &basic("admin\0istrator", "whatever")).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let mapping = json!({"claim": "dept", "expression": "\"a\u{0}\""});
    let r = api
        .call(Method::POST, &format!("/environments/{}/claim-mappings", s.env_id), Some(&root), Some(mapping), None)
        .await;
    assert_error(&r, 400, "invalid_request", "NUL");
    // The Vault-compatible API: Vault's {"errors": [...]}.
    let v = crate::vault::Vault::new(&s);
    let token = crate::vault::admin_token(&s).await;
    let a = v.call("POST", "identity/mfa/method/totp", Some(&token), Some(json!({"issuer": "a\u{0}b"}))).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["errors"][0].as_str().unwrap().contains("NUL"), "{:?}", a.body);
    let a = v.call("GET", "identity/mfa/method/totp/x%00", Some(&token), None).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["errors"].is_array());
    // Nothing was written on the way.
    let envs = api.get("/environments", &root).await;
    assert_eq!(envs.body["items"].as_array().unwrap().len(), 1, "{:?}", envs.body);
}

on_both!(finding_4_one_noisy_client_blocks_nobody_else_at_its_address);
async fn finding_4_one_noisy_client_blocks_nobody_else_at_its_address(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let (worker, worker_secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (noisy, _) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let cc = |id: &str, secret: &str| {
        let (s, id, secret) = (&s, id.to_owned(), secret.to_owned());
        async move { s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await.0 }
    };
    for n in 0..40 {
        // One client's wrong secrets, and guesses at client ids that do not exist.
        let status = if n % 2 == 0 { cc(&noisy, "wrong").await } else { cc(&format!("ghost-{n}"), "wrong").await };
        assert!(status == 401 || status == 429, "{status}");
    }
    assert_eq!(cc(&noisy, "wrong").await, 429, "the noisy one is limited");
    // A correct credential of another client does not pay for it,
    assert_eq!(cc(&worker, &worker_secret).await, 200);
    // nor the administrator's Basic, nor a person's sign-on: budgets per kind.
    let api = Api::new(&s);
    assert_eq!(api.get("/accounts", &basic(&s.boot.admin.username, &s.boot.admin.password)).await.status, 200);
    let mut b = Browser::default();
    let signon = signon_page(&s, &mut b).await;
    let page = b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // A typed user code names no principal: only a budget of its own keeps it working.
    let (status, d) =
        s.post_form(&s.url("/device_authorization"), &[("client_id", CLI_CLIENT_ID), ("scope", "openid")], None).await;
    assert_eq!(status, 200, "{d}");
    let mut device = Browser::default();
    let typed = device.submit(&s.url("/device"), &[("user_code", d["user_code"].as_str().unwrap())]).await;
    assert_eq!(typed.status, 303, "a typed user code has a budget of its own: {}", typed.body);
}

on_both!(finding_7_security_events_are_in_the_trail);
async fn finding_7_security_events_are_in_the_trail(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    admin_with(&api, &root, "ed", json!(["Admin"])).await;
    // A wrong current password on a password change.
    let r = api
        .call(
            Method::POST,
            "/accounts/ed/password",
            Some(&basic("ed", "an own passphrase")),
            Some(json!({"current_password": "not it at all", "password": "a third passphrase"})),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let ed_id = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(s.env_id.as_str()), "ed")
        .await
        .unwrap()
        .unwrap()
        .id;
    let lock = s.store().lock_state(&ed_id).await.unwrap().unwrap();
    assert_eq!(lock.failed_attempts, 1, "a wrong current password spends the password's budget");
    // A replayed authorization code: recorded once, however often replayed.
    let admin = s.account(true, true).await;
    let code = crate::harness::CodeToRedeem::of(&s, &admin).await;
    assert_eq!(s.token(&code.form()).await.0, 200);
    for _ in 0..3 {
        assert_eq!(s.token(&code.form()).await.1["error"], "invalid_grant");
    }
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let wrong = events
        .iter()
        .filter(|e| e.event.action == "account.password.change" && e.event.outcome.as_deref() == Some("failure"));
    assert_eq!(wrong.count(), 1);
    let replays: Vec<_> = events.iter().filter(|e| e.event.action == "grant.revoke.code_replay").collect();
    assert_eq!(replays.len(), 1, "{replays:?}");
    assert_eq!(replays[0].event.actor.id, CLI_CLIENT_ID);
}

#[tokio::test]
async fn finding_10_hsts_whenever_the_public_url_is_https() {
    use tower::ServiceExt;
    let s = Server::start().await;
    let behind_proxy = signet_server::state::AppState::new(signet_server::StateConfig {
        store: s.state.store.clone(),
        clock: std::sync::Arc::new(s.clock.clone()),
        kek: signet_core::crypto::Kek::from_bytes(&[7; 32]).unwrap(),
        public_url: "https://id.example.com".into(),
        trusted_proxies: Default::default(),
        allow_private_fetch: false,
        admin_authentication: None,
        require_dpop_nonce: false,
    })
    .unwrap();
    let healthz = axum::http::Request::get("/healthz").body(axum::body::Body::empty()).unwrap();
    let res = signet_server::app(behind_proxy).oneshot(healthz).await.unwrap();
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000");
    let plain = s.http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert!(plain.headers().get("strict-transport-security").is_none(), "not over plain http on loopback");
}

#[tokio::test]
async fn finding_10_every_admin_api_answer_is_no_store() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    for (what, answer) in [
        ("a read", api.get("/accounts", &root).await),
        ("a refusal", api.get("/accounts", &basic("nobody", "x")).await),
        ("an unknown path", api.get("/nothing-here", &root).await),
        ("the OpenAPI document", api.get("/openapi.json", &root).await),
    ] {
        assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
    }
}

#[tokio::test]
async fn finding_10_names_refuse_controls_and_bidi_overrides() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    for name in ["Customers\u{202E}gpj", "a\u{2066}b", "tab\there", "esc\u{1b}[2J"] {
        let r = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": name})), None).await;
        assert_error(&r, 400, "invalid_request", "name");
        let app = json!({"name": name, "kind": "worker", "grant_types": ["client_credentials"]});
        let r = api
            .call(Method::POST, &format!("/environments/{}/applications", s.env_id), Some(&root), Some(app), None)
            .await;
        assert_error(&r, 400, "invalid_request", "name");
        let provider = json!({"name": name, "issuer": "http://127.0.0.1:9", "client_id": "c", "client_secret": "s"});
        let r = api
            .call(
                Method::POST,
                &format!("/environments/{}/identity-providers", s.env_id),
                Some(&root),
                Some(provider),
                None,
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{name:?}: {:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains("name"), "{:?}", r.body);
    }
}

on_both!(finding_10_how_administrators_sign_on_is_user_admins_to_change);
async fn finding_10_how_administrators_sign_on_is_user_admins_to_change(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let lockout = json!({"max_failures": 1, "lock_seconds": 86400});
    assert_error(
        &api.call(Method::PUT, "/policies/lockout", Some(&ed), Some(lockout.clone()), None).await,
        403,
        "forbidden",
        "UserAdmin",
    );
    assert_eq!(api.call(Method::PUT, "/policies/lockout", Some(&root), Some(lockout), None).await.status, 200);
    // Login enforcements: those that reach administrators are UserAdmin's.
    let v = crate::vault::Vault::new(&s);
    let root_token = crate::vault::admin_token(&s).await;
    let ed_person = s.administrator(&[signet_proto::roles::Role::Admin]).await;
    let ed_token = code_flow_tokens(&s, &ed_person).await["access_token"].as_str().unwrap().to_owned();
    let made = v.call("POST", "identity/mfa/method/totp", Some(&root_token), Some(json!({"issuer": "Acme"}))).await;
    let method = made.body["data"]["method_id"].as_str().unwrap().to_owned();
    let customers = s.environment("Customers").await;
    let admins = json!({"mfa_method_ids": [method], "identity_group_ids": ["Admin"]});
    let a = v.call("POST", "identity/mfa/login-enforcement/admins", Some(&ed_token), Some(admins.clone())).await;
    assert_eq!(a.status, 403, "an Admin cannot change how administrators sign on: {:?}", a.body);
    let people = json!({"mfa_method_ids": [method], "auth_method_accessors": [customers]});
    let a = v.call("POST", "identity/mfa/login-enforcement/people", Some(&ed_token), Some(people)).await;
    assert_eq!(a.status, 204, "end users' sign-on is still an Admin's: {:?}", a.body);
    // Widening one to reach administrators is refused too.
    let widened = json!({"mfa_method_ids": [method], "auth_method_types": ["password"]});
    assert_eq!(
        v.call("POST", "identity/mfa/login-enforcement/people", Some(&ed_token), Some(widened)).await.status,
        403
    );
    assert_eq!(
        v.call("POST", "identity/mfa/login-enforcement/admins", Some(&root_token), Some(admins)).await.status,
        204
    );
    // Nor rewritten by an Admin so that it no longer reaches them.
    let stored = s.store().mfa_enforcement("admins").await.unwrap();
    let narrowed = json!({"mfa_method_ids": [method], "identity_group_ids": [], "auth_method_accessors": [customers]});
    let a = v.call("POST", "identity/mfa/login-enforcement/admins", Some(&ed_token), Some(narrowed)).await;
    assert_eq!(a.status, 403, "an Admin cannot narrow the enforcement that protects administrators: {:?}", a.body);
    assert_eq!(s.store().mfa_enforcement("admins").await.unwrap(), stored, "it is unchanged");
    // Nor the method it uses (issue 15's attack review: an Admin re-pointed it).
    let changed = json!({"issuer": "Acme", "period": 60, "digits": 8, "algorithm": "SHA512"});
    let a = v.call("POST", &format!("identity/mfa/method/totp/{method}"), Some(&ed_token), Some(changed.clone())).await;
    assert_eq!(a.status, 403, "an Admin cannot change a method administrators sign on with: {:?}", a.body);
    let a = v.call("POST", &format!("identity/mfa/method/totp/{method}"), Some(&root_token), Some(changed)).await;
    assert_eq!(a.status, 204, "a UserAdmin can: {:?}", a.body);
    assert_eq!(v.call("DELETE", "identity/mfa/login-enforcement/admins", Some(&ed_token), None).await.status, 403);
    assert!(
        s.store().mfa_enforcement("admins").await.unwrap().is_some(),
        "the enforcement that protects administrators stays"
    );
    // Ending an administrator's enrolment (Vault's admin-destroy) is UserAdmin's too.
    let params =
        signet_core::totp::Params { algorithm: signet_core::totp::Algorithm::SHA1, digits: 6, period: 30, skew: 1 };
    let method_id = signet_core::id::MethodId::from(method.as_str());
    let enrolment = signet_store::ConfirmedEnrolment {
        method_id: &method_id,
        account_id: &ed_person.id,
        params: &params,
        sealed: b"sealed",
        step: 1,
    };
    assert!(
        s.store()
            .enrol_totp(
                &enrolment,
                s.clock.now(),
                &signet_testkit::server::test_event("account.mfa.enrol", None, &ed_person.id)
            )
            .await
            .unwrap()
    );
    let destroy = "identity/mfa/method/totp/admin-destroy";
    let body = json!({"method_id": method, "entity_id": ed_person.id});
    let a = v.call("POST", destroy, Some(&ed_token), Some(body.clone())).await;
    assert_eq!(a.status, 403, "an Admin cannot end an administrator's enrolment: {:?}", a.body);
    let ed_account = signet_core::id::AccountId::from(ed_person.id.as_str());
    let enrolled = || async { s.store().totp_enrolment(&method_id, &ed_account).await.unwrap() };
    assert!(enrolled().await.is_some(), "it stays");
    assert_eq!(v.call("POST", destroy, Some(&root_token), Some(body)).await.status, 204, "a UserAdmin can");
    assert!(enrolled().await.is_none(), "it is gone");
}

on_both!(finding_10_end_users_of_the_administrators_environment_get_no_admin_audience);
async fn finding_10_end_users_of_the_administrators_environment_get_no_admin_audience(backend: Backend) {
    let s = Server::start_on(backend).await;
    let user = s.account(false, true).await;
    let tokens = code_flow_tokens(&s, &user).await;
    let at = crate::tokens::claims(tokens["access_token"].as_str().unwrap());
    assert!(!at["aud"].to_string().contains("/admin-api"), "{at}");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", CLI_CLIENT_ID)]).await;
    assert_eq!(status, 200, "{refreshed}");
    let at = crate::tokens::claims(refreshed["access_token"].as_str().unwrap());
    assert!(!at["aud"].to_string().contains("/admin-api"), "nor after a refresh: {at}");
    let admin = s.account(true, true).await;
    let at = crate::tokens::claims(code_flow_tokens(&s, &admin).await["access_token"].as_str().unwrap());
    assert!(at["aud"].to_string().contains("/admin-api"), "an administrator's still does: {at}");
}

on_both!(finding_10_confidential_clients_use_pkce_unless_they_opt_out);
async fn finding_10_confidential_clients_use_pkce_unless_they_opt_out(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let env = s.environment("Customers").await;
    let apps = format!("/environments/{env}/applications");
    let web = |pkce: Option<bool>| {
        let mut a = json!({"name": "site", "kind": "web", "grant_types": ["authorization_code"],
                           "redirect_uris": ["https://app.test/cb"], "scopes": ["openid"]});
        if let Some(p) = pkce {
            a["pkce_required"] = json!(p);
        }
        a
    };
    let strict = api.call(Method::POST, &apps, Some(&root), Some(web(None)), None).await;
    assert_eq!(strict.body["pkce_required"], true, "required unless opted out");
    let relaxed = api.call(Method::POST, &apps, Some(&root), Some(web(Some(false))), None).await;
    assert_eq!(relaxed.body["pkce_required"], false);
    let native = json!({"name": "n", "kind": "native", "grant_types": ["authorization_code"], "redirect_uris": ["http://127.0.0.1/cb"], "pkce_required": false});
    assert_error(
        &api.call(Method::POST, &apps, Some(&root), Some(native), None).await,
        400,
        "invalid_request",
        "pkce_required",
    );
    let without_challenge = |id: &str| {
        format!(
            "{}?response_type=code&client_id={id}&redirect_uri=https://app.test/cb&scope=openid&state=s",
            s.url_in(&env, "/authorize")
        )
    };
    let mut b = Browser::default();
    let refused = b.get(&without_challenge(strict.body["id"].as_str().unwrap())).await;
    let to = refused.location.unwrap();
    assert_eq!(query(&to).get("error").map(String::as_str), Some("invalid_request"), "{to}");
    let allowed = b.get(&without_challenge(relaxed.body["id"].as_str().unwrap())).await;
    assert!(allowed.location.unwrap().contains("/signon/"), "the opted-out one goes on to sign-on");
}

on_both!(a_clients_own_token_is_never_taken_for_a_persons);
async fn a_clients_own_token_is_never_taken_for_a_persons(backend: Backend) {
    use signet_core::model::Application;
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    // An application that took an administrator's id, written beside the
    // checks (RFC 9700 §4.15: an import refuses it now, but a token must not
    // rely on that alone).
    let secret = "a client secret for this test";
    let twin = Application {
        id: admin.id.clone().into(),
        environment_id: s.env_id.clone().into(),
        name: "twin".into(),
        kind: AppKind::Worker,
        secret_hash: Some(signet_core::crypto::sha256(secret.as_bytes()).to_vec()),
        redirect_uris: vec![],
        grant_types: [GrantType::ClientCredentials].into_iter().collect(),
        scopes: Default::default(),
        roles: [signet_proto::roles::Role::Admin].into_iter().collect(),
        admin_api: false,
        pkce_required: true,
        created_at: s.clock.now(),
    };
    s.store().insert_application(&twin, &crate::harness::test_event("planted", None, twin.id.as_str())).await.unwrap();
    let (status, t) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((twin.id.as_str(), secret))).await;
    assert_eq!(status, 200, "{t}");
    let token = t["access_token"].as_str().unwrap();
    let v = crate::vault::Vault::new(&s);
    let made = v.call("POST", "identity/mfa/method/totp", Some(token), Some(json!({"issuer": "Twin"}))).await;
    assert_eq!(made.status, 200, "{:?}", made.body);
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let last = &events.iter().rev().find(|e| e.event.action.starts_with("mfa.method")).unwrap().event;
    assert_eq!(
        last.actor.kind,
        signet_core::audit::ActorKind::Application,
        "the trail names the application, not the person"
    );
}

// Found by the review of issue 15's fixes: each anonymous federation
// answer wrote an event, from as many addresses as one had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_7_anonymous_failures_cannot_flood_the_trail() {
    let s = Server::start().await;
    let before = s.store().audit_events(0, 100_000).await.unwrap().len();
    let mut sent = tokio::task::JoinSet::new();
    for a in 0..20u8 {
        let client =
            reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 1, a + 1])).build().unwrap();
        let url = format!("{}?state=forged.state", s.url("/federation/callback"));
        sent.spawn(async move {
            for _ in 0..20 {
                client.get(&url).send().await.unwrap();
            }
        });
    }
    sent.join_all().await;
    let recorded = s.store().audit_events(0, 100_000).await.unwrap().len() - before;
    assert!(recorded > 0, "some are recorded");
    assert!(
        recorded <= signet_server::ratelimit::ANONYMOUS_PER_WINDOW as usize,
        "{recorded} events from 400 anonymous requests"
    );
}
