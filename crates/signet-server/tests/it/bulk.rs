//! `/bulk` and `/configArchive` end to end: what an export holds and never
//! holds, imports onto second servers, who may do either, and bad input
//! that must change nothing.

use reqwest::Method;
use serde_json::{Value, json};
use signet_core::clock::Clock;

use crate::admin::{Api, admin_with, assert_error, basic};
use crate::harness::*;

/// A raw call: the body as given, with its content type.
async fn raw(
    s: &Server,
    path: &str,
    auth: &str,
    content_type: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/admin-api/v1{path}", s.base))
        .header("authorization", auth)
        .header("content-type", content_type)
        .body(body);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
}

fn root(s: &Server) -> String {
    basic(&s.boot.admin.username, &s.boot.admin.password)
}

/// A worker made through the API; its client id and the secret shown once.
async fn worker(api: &Api<'_>, s: &Server, auth: &str) -> (String, String) {
    let made = api
        .call(
            Method::POST,
            &format!("/environments/{}/applications", s.env_id),
            Some(auth),
            Some(json!({"name": "exporter test", "kind": "worker", "grant_types": ["client_credentials"]})),
            None,
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    (made.body["id"].as_str().unwrap().to_owned(), made.body["client_secret"].as_str().unwrap().to_owned())
}

/// Moves a test server's handle onto the Administrators environment it
/// imported, so `code_flow_tokens` and friends sign on where it now is.
fn now_serving(s: &mut Server, from: &Server) {
    s.env_id = from.env_id.clone();
    s.issuer = format!("{}/{}/as", s.base, from.env_id);
    s.boot = from.boot.clone();
}

fn the_admin(s: &Server) -> TestAccount {
    TestAccount {
        id: String::new(),
        username: s.boot.admin.username.clone(),
        password: s.boot.admin.password.clone(),
        secret: signet_core::totp::from_base32(&s.boot.admin.totp_secret),
    }
}

#[tokio::test]
async fn bulk_export_shows_no_plaintext_secret_and_imports_on_a_server_with_the_same_key() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let (worker_id, worker_secret) = worker(&api, &s, &root(&s)).await;

    let exported = api.get("/bulk", &root(&s)).await;
    assert_eq!(exported.status, 200, "{:?}", exported.body);
    assert_eq!(exported.headers["content-type"], "application/json");
    let text = exported.body.to_string();
    for secret in [
        s.boot.admin.password.as_str(),
        s.boot.admin.totp_secret.as_str(),
        s.boot.worker.client_secret.as_str(),
        worker_secret.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret in plain in the export");
    }
    let totp = signet_core::totp::from_base32(&s.boot.admin.totp_secret).unwrap();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    assert!(!text.contains(&b64(&totp)), "nor the TOTP secret in base64");
    let doc = &exported.body;
    assert_eq!(doc["format"], 1);
    let admin = doc["accounts"].as_array().unwrap().iter().find(|a| a["username"] == "administrator").unwrap();
    assert!(admin["password_hash"].as_str().unwrap().starts_with("$argon2id$"), "the stored hash");
    assert!(admin["totp"]["sealed"].is_string(), "sealed, as stored");
    for key in doc["signing_keys"].as_array().unwrap() {
        assert!(key.get("private_key").is_none() && key["public_jwk"].get("d").is_none(), "public parts only");
    }
    let trail = api.get("/audit?action=admin.bulk.export", &root(&s)).await;
    assert_eq!(trail.body["items"].as_array().unwrap().len(), 1, "{:?}", trail.body);

    // A server restored with the same key-encryption key takes it whole.
    let mut s2 = Server::start_with_kek_of(&s).await;
    let api2 = Api::new(&s2);
    let imported = api2.call(Method::POST, "/bulk", Some(&root(&s2)), Some(doc.clone()), None).await;
    assert_eq!(imported.status, 200, "{:?}", imported.body);
    assert_eq!(imported.body["accounts"], 1);
    assert_eq!(imported.body["signing_keys"], 1, "the environment is new here: it got a key of its own");
    assert_eq!(api2.get("/accounts", &root(&s2)).await.status, 401, "s2's own administrator is gone");
    let again = api2.get("/bulk", &root(&s)).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let without_keys = |mut d: Value| {
        d.as_object_mut().unwrap().remove("signing_keys");
        d
    };
    assert_eq!(without_keys(again.body.clone()), without_keys(doc.clone()), "everything but the keys round trips");
    let import_events = api2.get("/audit?action=admin.bulk.import", &root(&s)).await;
    assert_eq!(import_events.body["items"][0]["event"]["actor"]["name"], "administrator");

    // What was imported works: the administrator signs on with password and
    // TOTP, and the worker's secret is good.
    now_serving(&mut s2, &s);
    let tokens = code_flow_tokens(&s2, &the_admin(&s)).await;
    assert!(tokens["access_token"].is_string());
    let (status, t) = s2
        .token(&[("grant_type", "client_credentials"), ("client_id", &worker_id), ("client_secret", &worker_secret)])
        .await;
    assert_eq!(status, 200, "{t}");

    // Onto a server with another key-encryption key, the sealed secrets
    // cannot be opened: refused, naming the first, and nothing changes.
    let s3 = Server::start().await;
    let api3 = Api::new(&s3);
    let before = api3.get("/bulk", &root(&s3)).await.body;
    let refused = api3.call(Method::POST, "/bulk", Some(&root(&s3)), Some(doc.clone()), None).await;
    assert_error(&refused, 422, "unprocessable", "accounts[0].totp: sealed under a key-encryption key");
    assert!(refused.body["message"].as_str().unwrap().contains("/configArchive"));
    assert_eq!(api3.get("/bulk", &root(&s3)).await.body, before);
}

#[tokio::test]
async fn bulk_and_archives_need_all_four_roles() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let doc = api.get("/bulk", &root(&s)).await.body;
    let ed = admin_with(&api, &root(&s), "ed", json!(["Admin"])).await;
    let three = admin_with(&api, &root(&s), "tri", json!(["UserAdmin", "Admin", "ExpressionAdmin"])).await;
    let made = api
        .call(
            Method::POST,
            "/accounts",
            Some(&root(&s)),
            Some(json!({"username": "aud", "password": "a first passphrase", "auditor": true})),
            None,
        )
        .await;
    assert_eq!(made.status, 201);
    let own = json!({"current_password": "a first passphrase", "password": "the auditor's own one"});
    let changed = api
        .call(Method::POST, "/accounts/aud/password", Some(&basic("aud", "a first passphrase")), Some(own), None)
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    let auditor = basic("aud", "the auditor's own one");
    let before = api.get("/bulk", &root(&s)).await.body;

    for (who, missing) in [(&ed, "UserAdmin, ExpressionAdmin, CryptoAdmin"), (&three, "CryptoAdmin")] {
        assert_error(&api.get("/bulk", who).await, 403, "forbidden", missing);
        // The escalation: a write to /bulk that would make the caller all-powerful.
        let mut grab = doc.clone();
        for a in grab["accounts"].as_array_mut().unwrap() {
            a["roles"] = json!(["UserAdmin", "Admin", "ExpressionAdmin", "CryptoAdmin"]);
        }
        let write = api.call(Method::POST, "/bulk", Some(who), Some(grab), None).await;
        assert_error(&write, 403, "forbidden", missing);
        let export = api
            .call(
                Method::POST,
                "/configArchive/export",
                Some(who),
                Some(json!({"passphrase": "long enough passphrase"})),
                None,
            )
            .await;
        assert_error(&export, 403, "forbidden", missing);
        let (status, body) = raw(
            &s,
            "/configArchive/import",
            who,
            "application/octet-stream",
            b"SIGNETCA".to_vec(),
            &[("x-passphrase", "long enough passphrase")],
        )
        .await;
        assert_eq!(status, 403, "{}", json_of(&body));
    }
    assert_error(&api.get("/bulk", &auditor).await, 403, "forbidden", "UserAdmin, Admin, ExpressionAdmin, CryptoAdmin");
    let write = api.call(Method::POST, "/bulk", Some(&auditor), Some(doc.clone()), None).await;
    assert_error(&write, 403, "forbidden", "an Auditor may only read");
    assert_eq!(api.get("/bulk", &root(&s)).await.body, before, "nothing changed");
    let denied = api.get("/audit?action=admin.denied", &root(&s)).await;
    let targets: Vec<&str> =
        denied.body["items"].as_array().unwrap().iter().filter_map(|e| e["event"]["target"].as_str()).collect();
    for t in ["Bulk:Read", "Bulk:Write", "ConfigArchive:Read", "ConfigArchive:Write"] {
        assert!(targets.contains(&t), "{t} refusals are recorded: {targets:?}");
    }
}

#[tokio::test]
async fn bulk_import_refuses_bad_documents_and_changes_nothing() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let auth = root(&s);
    let doc = api.get("/bulk", &auth).await.body;
    let unchanged = || async { assert_eq!(api.get("/bulk", &auth).await.body, doc, "nothing changed") };
    let json_type = "application/json";

    let (status, body) = raw(&s, "/bulk", &auth, json_type, b"{\"format\": 1, ".to_vec(), &[]).await;
    assert_eq!((status, json_of(&body)["error"].as_str()), (400, Some("invalid_request")), "malformed JSON");
    let (status, _) = raw(&s, "/bulk", &auth, "text/plain", doc.to_string().into_bytes(), &[]).await;
    assert_eq!(status, 415);

    let mut extra = doc.clone();
    extra["accounts"][0]["is_root"] = json!(true);
    let refused = api.call(Method::POST, "/bulk", Some(&auth), Some(extra), None).await;
    assert_error(&refused, 400, "invalid_request", "accounts[0]");
    assert!(refused.body["message"].as_str().unwrap().contains("is_root"), "{:?}", refused.body);
    let mut top = doc.clone();
    top["grants"] = json!([]);
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(top), None).await,
        400,
        "invalid_request",
        "grants",
    );
    let mut missing = doc.clone();
    missing.as_object_mut().unwrap().remove("settings");
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(missing), None).await,
        400,
        "invalid_request",
        "settings",
    );

    let mut format = doc.clone();
    format["format"] = json!(2);
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(format), None).await,
        422,
        "unprocessable",
        "format",
    );
    let mut nobody = doc.clone();
    for a in nobody["accounts"].as_array_mut().unwrap() {
        a["active"] = json!(false);
    }
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(nobody), None).await,
        422,
        "unprocessable",
        "UserAdmin",
    );
    let mut dangling = doc.clone();
    dangling["applications"][0]["environment_id"] = json!("00000000-0000-4000-8000-000000000000");
    let refused = api.call(Method::POST, "/bulk", Some(&auth), Some(dangling), None).await;
    assert_error(&refused, 422, "unprocessable", "applications[0].environment_id");
    let mut bad_role = doc.clone();
    bad_role["accounts"][0]["roles"] = json!(["UserAdmin"]);
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(bad_role), None).await,
        422,
        "unprocessable",
        "accounts[0].roles",
    );
    let mut keyed = doc.clone();
    keyed["signing_keys"][0]["private_key"] = json!({"sealed": "AAAA"});
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(keyed), None).await,
        422,
        "unprocessable",
        "/configArchive",
    );
    let mut plain = doc.clone();
    plain["accounts"][0]["totp"] = json!({"plain": "AAAA"});
    assert_error(
        &api.call(Method::POST, "/bulk", Some(&auth), Some(plain), None).await,
        422,
        "unprocessable",
        "accounts[0].totp",
    );

    // Larger than 16 MiB: refused before it is read.
    let huge = [b"{\"format\":1,\"pad\":\"".to_vec(), vec![b'a'; 16 * 1024 * 1024 + 1], b"\"}".to_vec()].concat();
    let (status, body) = raw(&s, "/bulk", &auth, json_type, huge, &[]).await;
    assert_eq!((status, json_of(&body)["error"].as_str()), (413, Some("too_large")));
    unchanged().await;

    // Larger than the rest of the admin API takes, but within /bulk's limit.
    let mut big = doc.clone();
    big["accounts"][0]["attributes"] = json!({"notes": "n".repeat(400 * 1024)});
    let imported = api.call(Method::POST, "/bulk", Some(&auth), Some(big), None).await;
    assert_eq!(imported.status, 200, "{:?}", imported.body);
    let elsewhere = api
        .call(
            Method::POST,
            "/accounts",
            Some(&auth),
            Some(json!({"username": "x", "password": "p".repeat(400 * 1024)})),
            None,
        )
        .await;
    assert_eq!(elsewhere.status, 413, "other routes keep their 256 KiB");
}

#[tokio::test]
async fn an_archive_moves_everything_to_a_server_with_another_key() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let (worker_id, worker_secret) = worker(&api, &s, &root(&s)).await;
    let passphrase = "correct horse battery staple";
    // Login MFA travels too, its secrets resealed under the new key.
    let vault_token = crate::vault::admin_token(&s).await;
    let ping = crate::vault::Vault::new(&s)
        .call(
            "POST",
            "identity/mfa/method/pingid",
            Some(&vault_token),
            Some(json!({"settings_file_base64": crate::vault::b64(crate::vault::FIXTURE), "method_name": "ping"})),
        )
        .await;
    let method_id = ping.body["data"]["method_id"].as_str().unwrap().to_owned();
    // So do identity providers, with their client secret.
    let idp = signet_core::federation::Provider {
        id: signet_core::crypto::random_id().unwrap(),
        environment_id: s.env_id.clone(),
        name: "Acme SSO".into(),
        issuer: "https://sso.acme.test".into(),
        client_id: "signetd".into(),
        scopes: vec!["openid".into()],
        jit: false,
        mfa: Default::default(),
        version: 1,
        created_at: 1,
    };
    let idp_sealed = s.state.kek.seal(&signet_core::federation::secret_purpose(&idp.id), b"upstream-secret-2").unwrap();
    s.store().insert_identity_provider(&idp, &idp_sealed, &test_event("idp.create", None, &idp.id)).await.unwrap();

    let short = api
        .call(Method::POST, "/configArchive/export", Some(&root(&s)), Some(json!({"passphrase": "short"})), None)
        .await;
    assert_error(&short, 400, "invalid_request", "passphrase");
    let res = reqwest::Client::new()
        .post(format!("{}/admin-api/v1/configArchive/export", s.base))
        .header("authorization", root(&s))
        .json(&json!({"passphrase": passphrase}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    let archive = res.bytes().await.unwrap().to_vec();
    assert_eq!(&archive[..8], b"SIGNETCA");
    assert!(!archive.windows(9).any(|w| w == b"$argon2id"), "nothing in clear");
    let exported = api.get("/audit?action=admin.config_archive.export", &root(&s)).await;
    assert_eq!(exported.body["items"].as_array().unwrap().len(), 1);

    // Another server, another key-encryption key, another backend.
    let mut s2 = Server::start_on(Backend::Postgres).await;
    let api2 = Api::new(&s2);
    let before = api2.get("/bulk", &root(&s2)).await.body;
    let octets = "application/octet-stream";
    let import = |body: Vec<u8>, pass: &'static str| {
        let (s2, auth) = (&s2, root(&s2));
        async move { raw(s2, "/configArchive/import", &auth, octets, body, &[("x-passphrase", pass)]).await }
    };
    let (status, body) = import(archive.clone(), "correct horse battery stapler").await;
    assert_eq!(status, 400, "{}", json_of(&body));
    assert_eq!(json_of(&body)["message"], "the archive could not be opened: wrong passphrase or damaged");
    let mut flipped = archive.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let (status, body) = import(flipped, "correct horse battery staple").await;
    assert_eq!(
        (status, json_of(&body)["message"].as_str()),
        (400, Some("the archive could not be opened: wrong passphrase or damaged"))
    );
    let mut greedy = archive.clone();
    greedy[10..14].copy_from_slice(&(4u32 * 1024 * 1024).to_be_bytes());
    let (status, body) = import(greedy, "correct horse battery staple").await;
    assert_eq!(status, 400, "{}", json_of(&body));
    assert!(json_of(&body)["message"].as_str().unwrap().contains("parameters"));
    let (status, _) = raw(&s2, "/configArchive/import", &root(&s2), octets, archive.clone(), &[]).await;
    assert_eq!(status, 400, "no passphrase");
    let (status, _) = import(b"PK\x03\x04 a zip, never".to_vec(), "correct horse battery staple").await;
    assert_eq!(status, 400);
    assert_eq!(api2.get("/bulk", &root(&s2)).await.body, before, "nothing changed");

    let (status, body) = import(archive.clone(), "correct horse battery staple").await;
    assert_eq!(status, 200, "{}", json_of(&body));
    assert_eq!(json_of(&body)["signing_keys"], 1, "the archive's key");
    assert_eq!(api2.get("/accounts", &root(&s2)).await.status, 401, "s2's own administrator is gone");
    let listed = api2.get("/accounts", &root(&s)).await;
    assert_eq!(listed.status, 200, "the imported administrator manages s2: {:?}", listed.body);
    let events = api2.get("/audit?action=admin.config_archive.import", &root(&s)).await;
    assert_eq!(events.body["items"].as_array().unwrap().len(), 1);

    // The same keys sign and verify: s2 publishes s's key, and a token s2
    // issues now verifies with the key s published.
    now_serving(&mut s2, &s);
    let jwks: Value = reqwest::get(format!("{}/jwks", s.issuer)).await.unwrap().json().await.unwrap();
    let jwks2: Value = reqwest::get(format!("{}/jwks", s2.issuer)).await.unwrap().json().await.unwrap();
    assert_eq!(jwks2, jwks);
    let tokens = code_flow_tokens(&s2, &the_admin(&s)).await;
    let access = tokens["access_token"].as_str().unwrap();
    let verifier = signet_core::token::Verifier::from_jwk(&jwks["keys"][0]).unwrap();
    let claims = signet_core::token::verify_access(access, &verifier, s2.clock.now()).unwrap();
    assert_eq!(claims.iss, s2.issuer);
    let (status, t) = s2
        .token(&[("grant_type", "client_credentials"), ("client_id", &worker_id), ("client_secret", &worker_secret)])
        .await;
    assert_eq!(status, 200, "{t}");

    let moved = crate::vault::Vault::new(&s2)
        .call("GET", &format!("identity/mfa/method/{method_id}"), Some(access), None)
        .await;
    assert_eq!((moved.status, moved.body["data"]["name"].as_str()), (200, Some("ping")), "{}", moved.body);
    let stored = s2.store().mfa_method(&method_id).await.unwrap().unwrap();
    let secrets = s2.state.kek.open(&signet_core::mfa::secrets_purpose(&method_id), &stored.sealed_secrets).unwrap();
    assert!(String::from_utf8_lossy(secrets.expose()).contains("widgets-token-1"), "sealed under s2's key");
    let listed = Api::new(&s2).get(&format!("/environments/{}/identity-providers", s.env_id), &root(&s)).await;
    assert_eq!(listed.body["items"][0]["name"], "Acme SSO", "{:?}", listed.body);
    let (_, sealed) = s2
        .store()
        .identity_provider(&signet_core::id::EnvironmentId::from(s.env_id.as_str()), &idp.id)
        .await
        .unwrap()
        .unwrap();
    let secret = s2.state.kek.open(&signet_core::federation::secret_purpose(&idp.id), &sealed).unwrap();
    assert_eq!(secret.expose().as_slice(), b"upstream-secret-2");
}
