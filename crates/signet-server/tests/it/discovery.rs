use crate::harness::Server;

#[tokio::test]
async fn discovery_lists_every_endpoint_and_capability() {
    let s = Server::start().await;
    let d: serde_json::Value =
        s.http.get(s.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["issuer"], s.issuer);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("device_authorization_endpoint", "/device_authorization"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
    ] {
        assert_eq!(d[key], s.url(path), "{key}");
        // Every advertised endpoint is routed: none of them is a 404.
        let status = s.http.post(s.url(path)).send().await.unwrap().status().as_u16();
        assert_ne!(status, 404, "{key} is advertised but not routed");
    }
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let grants = d["grant_types_supported"].as_array().unwrap();
    for g in
        ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"]
    {
        assert!(grants.iter().any(|x| x == g), "{g}");
    }
    let auth = d["token_endpoint_auth_methods_supported"].as_array().unwrap();
    assert!(auth.iter().any(|x| x == "client_secret_basic") && auth.iter().any(|x| x == "client_secret_post"));
}

#[tokio::test]
async fn the_administrators_environment_names_the_admin_api_its_tokens_are_for() {
    let s = Server::start().await;
    let get = |url: String| {
        let http = s.http.clone();
        async move { http.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let admins = get(s.url("/.well-known/openid-configuration")).await;
    assert_eq!(admins["signet_admin_api"], format!("{}/admin-api/v1", s.base));
    // The document it names answers: it is the admin API.
    let openapi = s.http.get(format!("{}/admin-api/v1/openapi.json", s.base)).send().await.unwrap();
    assert_eq!(openapi.status(), 200);
    // Another environment's tokens are not for the admin API: its document says nothing.
    let customers = s.environment("Customers").await;
    let other = get(s.url_in(&customers, "/.well-known/openid-configuration")).await;
    assert_eq!(other["issuer"], s.url_in(&customers, "").trim_end_matches('/'));
    assert!(other.get("signet_admin_api").is_none(), "{other}");
}

#[tokio::test]
async fn jwks_publishes_the_es256_key_without_private_parts() {
    let s = Server::start().await;
    let jwks: serde_json::Value = s.http.get(s.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("d").is_none(), "a private key part is published");
}

#[tokio::test]
async fn an_unknown_environment_is_a_404_with_an_oauth_body() {
    let s = Server::start().await;
    for env in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let res = s.http.get(format!("{}/{env}/as/.well-known/openid-configuration", s.base)).send().await.unwrap();
        assert_eq!(res.status(), 404);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}
