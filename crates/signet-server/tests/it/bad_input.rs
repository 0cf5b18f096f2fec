//! Malformed and hostile input: every endpoint answers with its protocol's
//! error, never a 500.

use signet_core::clock::Clock;
use signet_core::model::{AppKind, Environment, GrantType};

use crate::harness::{Browser, CLI_REDIRECT, Server, pkce_pair, query, sign_on};

async fn raw_token(s: &Server, content_type: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let res = s.http.post(s.url("/token")).header("content-type", content_type).body(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn token_endpoint_rejects_malformed_requests() {
    let s = Server::start().await;
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (form, b"client_id=signet-cli".to_vec(), 400, "invalid_request"),
        (form, b"grant_type=password&client_id=signet-cli".to_vec(), 400, "unsupported_grant_type"),
        (form, b"grant_type=client_credentials&grant_type=client_credentials".to_vec(), 400, "invalid_request"),
        (form, b"grant_type=client_credentials&client_id=%FF%FE".to_vec(), 400, "invalid_request"),
        (form, b"grant_type=client_credentials&client_id=\xff\xfe".to_vec(), 400, "invalid_request"),
        (form, [b"grant_type=client_credentials&pad=".to_vec(), vec![b'a'; 20_000]].concat(), 413, "invalid_request"),
        ("application/json", br#"{"grant_type":"client_credentials"}"#.to_vec(), 400, "invalid_request"),
        (form, b"grant_type=refresh_token&client_id=signet-cli".to_vec(), 400, "invalid_request"),
        (form, b"grant_type=refresh_token&client_id=signet-cli&refresh_token=forged".to_vec(), 400, "invalid_grant"),
        (
            form,
            b"grant_type=authorization_code&client_id=signet-cli&code=forged&redirect_uri=x".to_vec(),
            400,
            "invalid_grant",
        ),
        (
            form,
            b"grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=signet-cli&device_code=x".to_vec(),
            400,
            "invalid_grant",
        ),
    ];
    for (ct, body, status, error) in cases {
        let shown = String::from_utf8_lossy(&body).chars().take(80).collect::<String>();
        let (got, json) = raw_token(&s, ct, body).await;
        assert_eq!((got, json["error"].as_str()), (status, Some(error)), "{shown}: {json}");
        assert!(json["error_description"].is_string());
    }
}

#[tokio::test]
async fn authorize_never_redirects_to_an_unregistered_uri() {
    let s = Server::start().await;
    let (_, challenge) = pkce_pair();
    let mut b = Browser::default();
    let base = s.url("/authorize");
    for bad in [
        format!("{base}?response_type=code&redirect_uri={CLI_REDIRECT}"),
        format!("{base}?response_type=code&client_id=nobody&redirect_uri={CLI_REDIRECT}"),
        format!(
            "{base}?response_type=code&client_id=signet-cli&redirect_uri=https://evil.test/cb&code_challenge={challenge}&code_challenge_method=S256"
        ),
        format!(
            "{base}?response_type=code&client_id=signet-cli&redirect_uri=http://127.0.0.1:4711/other&code_challenge={challenge}&code_challenge_method=S256"
        ),
        format!("{base}?response_type=code&client_id=signet-cli&client_id=signet-cli&redirect_uri={CLI_REDIRECT}"),
        format!("{base}?response_type=code&client_id=signet-cli"),
    ] {
        let page = b.get(&bad).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.location.is_none(), "{bad} redirected");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    }
}

#[tokio::test]
async fn authorize_errors_after_the_redirect_is_known_go_back_with_state_and_iss() {
    let s = Server::start().await;
    let (_, challenge) = pkce_pair();
    let mut b = Browser::default();
    let base = format!("{}?client_id=signet-cli&redirect_uri={CLI_REDIRECT}&state=s1", s.url("/authorize"));
    for (extra, error) in [
        (
            format!("&response_type=token&code_challenge={challenge}&code_challenge_method=S256"),
            "unsupported_response_type",
        ),
        ("&response_type=code".to_owned(), "invalid_request"),
        (format!("&response_type=code&code_challenge={challenge}&code_challenge_method=plain"), "invalid_request"),
        (format!("&response_type=code&code_challenge={challenge}"), "invalid_request"),
        ("&response_type=code&code_challenge=short&code_challenge_method=S256".to_owned(), "invalid_request"),
        (
            format!("&response_type=code&scope=openid%20admin&code_challenge={challenge}&code_challenge_method=S256"),
            "invalid_scope",
        ),
    ] {
        let page = b.get(&format!("{base}{extra}")).await;
        assert_eq!(page.status, 303, "{extra}");
        let q = query(page.location.as_deref().unwrap());
        assert_eq!(q["error"], error, "{extra}");
        assert_eq!(q["state"], "s1");
        assert_eq!(q["iss"], s.issuer);
    }
}

#[tokio::test]
async fn code_exchange_refuses_other_clients_wrong_redirects_bad_verifiers_and_old_codes() {
    let s = Server::start().await;
    let admin = s.account(true, true).await;
    let (other, _) = s.application(AppKind::Native, &[GrantType::AuthorizationCode], &[], None).await;
    let mut b = Browser::default();
    let (verifier, challenge) = pkce_pair();
    let q = sign_on(&s, &mut b, "signet-cli", &admin, &challenge).await;
    let code = q["code"].as_str();
    let exchange = |client: &str, redirect: &str, verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", client),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        form.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect::<Vec<_>>()
    };
    let send = |form: Vec<(String, String)>| {
        let s = &s;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            s.token(&form).await
        }
    };
    let (_, r) = send(exchange(&other, CLI_REDIRECT, Some(&verifier))).await;
    assert_eq!(r["error"], "invalid_grant", "a code used by another client");
    let (_, r) = send(exchange("signet-cli", "http://127.0.0.1:9999/callback", Some(&verifier))).await;
    assert_eq!(r["error"], "invalid_grant", "a different redirect_uri");
    let (wrong, _) = pkce_pair();
    let (_, r) = send(exchange("signet-cli", CLI_REDIRECT, Some(&wrong))).await;
    assert_eq!(r["error"], "invalid_grant", "a wrong verifier");
    let (_, r) = send(exchange("signet-cli", CLI_REDIRECT, None)).await;
    assert_eq!(r["error"], "invalid_request", "a missing verifier");
    s.clock.advance(61);
    let (_, r) = send(exchange("signet-cli", CLI_REDIRECT, Some(&verifier))).await;
    assert_eq!(r["error"], "invalid_grant", "an expired code");
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_a_downgrade() {
    let s = Server::start().await;
    let env = s.environment("Customers").await;
    let user = s.account_in(&env, false, false).await;
    let (web, secret) = s.application(AppKind::Web, &[GrantType::AuthorizationCode], &[], Some(&env)).await;
    let secret = secret.unwrap();
    // Only an application that opted out of PKCE gets a code without a challenge.
    let opt_out = |a: &signet_core::model::Application| {
        let next = signet_core::model::Application { pkce_required: false, ..a.clone() };
        Ok::<_, ()>((next, crate::harness::test_event("pkce.opt_out", Some(&env), &web)))
    };
    s.store()
        .update_application(
            &signet_core::id::EnvironmentId::from(env.as_str()),
            &signet_core::id::ClientId::from(web.as_str()),
            opt_out,
        )
        .await
        .unwrap();
    let mut b = Browser::default();
    let url = format!(
        "{}?response_type=code&client_id={web}&redirect_uri=https://app.test/cb&scope=openid",
        s.url_in(&env, "/authorize")
    );
    let signon = b.get(&url).await.location.unwrap();
    let done = b.submit(&signon, &[("username", &user.username), ("password", &user.password)]).await;
    let code = query(done.location.as_deref().unwrap())["code"].clone();
    let (verifier, _) = pkce_pair();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.test/cb"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, r) = s.post_form(&s.url_in(&env, "/token"), &form, Some((&web, &secret))).await;
    assert_eq!((status, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn a_token_from_another_environment_is_not_accepted() {
    let s = Server::start().await;
    let now = s.clock.now();
    let other =
        Environment { id: signet_core::crypto::random_id().unwrap().into(), name: "Other".into(), created_at: now };
    let key = signet_server::bootstrap::new_signing_key(&s.state.kek, other.id.as_str(), now).unwrap();
    let ev = crate::harness::test_event("environment.create", Some(other.id.as_str()), other.id.as_str());
    s.store().create_environment(&other, &key, &ev).await.unwrap();
    let (worker_b, secret_b) =
        s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], Some(other.id.as_str())).await;
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (_, t) = s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let token_a = t["access_token"].as_str().unwrap();
    let other_introspect = format!("{}/{}/as/introspect", s.base, other.id);
    let (status, r) =
        s.post_form(&other_introspect, &[("token", token_a)], Some((&worker_b, secret_b.as_deref().unwrap()))).await;
    assert_eq!(status, 200);
    assert_eq!(r, serde_json::json!({"active": false}));
    // Environment A's worker is unknown in environment B.
    let other_token = format!("{}/{}/as/token", s.base, other.id);
    let (status, r) = s.post_form(&other_token, &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!((status, r["error"].as_str()), (401, Some("invalid_client")));
}
