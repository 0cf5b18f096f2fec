//! `signet request` against signetd's admin API: static credentials, a
//! signed-on service's token, and credentials that never leave home.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signet_testkit::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::Home;

/// The admin API of `s` as the bootstrap administrator, with `password`.
pub fn admin_basic(h: &Home, s: &Server, password: &str) {
    basic_at(h, &s.base, &s.boot.admin.username, password);
}

/// The admin API at `base` (signetd, or something in front of it) with Basic credentials.
pub fn basic_at(h: &Home, base: &str, username: &str, password: &str) {
    h.ok(&["config", "set", "auth.storage.type=file"]);
    h.ok(&["config", "set", &format!("service.pingfederate.httpsHost={base}")]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=basicAuth"]);
    h.ok(&["config", "set", &format!("service.pingfederate.authentication.basicAuth.username={username}")]);
    h.ok(&["config", "set", &format!("service.pingfederate.authentication.basicAuth.password={password}")]);
}

/// A listener on another origin that records whether credentials reached it.
async fn elsewhere() -> (u16, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (hits, saw_auth) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let (h, a) = (hits.clone(), saw_auth.clone());
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let n = c.read(&mut buf).await.unwrap_or(0);
            if String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase().contains("\r\nauthorization:") {
                a.store(true, Ordering::SeqCst);
            }
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await;
        }
    });
    (port, hits, saw_auth)
}

#[tokio::test(flavor = "multi_thread")]
async fn request_calls_the_admin_api_and_keeps_credentials_home() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);

    let list = h.run_async(&["request", "GET", "/accounts"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.json()["items"][0]["username"], s.boot.admin.username.as_str());
    let made = h
        .run_async(&[
            "request",
            "post",
            "/accounts",
            "--data",
            r#"{"username": "ada", "password": "a long passphrase", "roles": ["Admin"]}"#,
        ])
        .await;
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert_eq!(made.json()["username"], "ada");
    let file = h.dir.join("ada.json");
    std::fs::write(&file, r#"{"active": true, "roles": ["Admin", "CryptoAdmin"], "auditor": false}"#).unwrap();
    let put = h.run_async(&["request", "PUT", "/accounts/ada", "--data", &format!("@{}", file.display())]).await;
    assert_eq!(put.code, 0, "{}", put.stderr);
    assert_eq!(put.json()["roles"], serde_json::json!(["Admin", "CryptoAdmin"]));

    // The API's refusals are one line with their code and message.
    let again = h
        .run_async(&[
            "request",
            "POST",
            "/accounts",
            "--data",
            r#"{"username": "ada", "password": "a long passphrase"}"#,
        ])
        .await;
    assert_eq!(again.code, 1);
    assert_eq!(
        again.stderr.trim(),
        "error: POST /admin-api/v1/accounts answered 409: conflict: ada already exists",
        "{}",
        again.stderr
    );
    let bad = h.run_async(&["request", "POST", "/accounts", "--data", "{nope"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.starts_with("error: --data is not JSON") && bad.stderr.contains("hint:"), "{}", bad.stderr);
    let verb = h.run_async(&["request", "FROB", "/accounts"]).await;
    assert_eq!(verb.code, 1);
    assert!(verb.stderr.contains("not a method") && verb.stderr.contains("hint:"), "{}", verb.stderr);

    // Another origin never gets the credentials, unless trusted by name.
    let (port, hits, saw_auth) = elsewhere().await;
    let foreign = format!("http://127.0.0.1:{port}/steal");
    let refused = h.run_async(&["request", "GET", &foreign]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("does not send credentials there") && refused.stderr.contains("--trust-host"),
        "{}",
        refused.stderr
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was sent");
    let trusted = h.run_async(&["request", "GET", &foreign, "--trust-host", "127.0.0.1"]).await;
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    assert!(saw_auth.load(Ordering::SeqCst), "a trusted host gets them");

    // Wrong credentials: 401 with a hint, and the password is not echoed.
    let wrong = Home::new();
    admin_basic(&wrong, &s, "not the password at all");
    let r = wrong.run_async(&["request", "GET", "/accounts"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("answered 401") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!r.stderr.contains("not the password at all"));
}

#[tokio::test(flavor = "multi_thread")]
async fn request_uses_the_token_of_the_service_the_admin_api_names() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let on = h
        .run_async(&["request", "PUT", "/settings/authentication", "--data", r#"{"schemes": ["oauth", "native"]}"#])
        .await;
    assert_eq!(on.code, 0, "{}", on.stderr);

    // A worker holding Admin, signed on through the pingone connector.
    let (id, secret) = s
        .application(
            signet_core::model::AppKind::Worker,
            &[signet_core::model::GrantType::ClientCredentials],
            &[signet_proto::roles::Role::Admin],
            None,
        )
        .await;
    let secret = secret.unwrap();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "worker"),
            ("service.pingone.authentication.worker.clientID", &id),
            ("service.pingone.authentication.worker.clientSecret", &secret),
        ],
    );
    h.ok(&["config", "set", "service.pingfederate.authentication.type=oauth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.oauth.service=pingone"]);
    let list = h.run_async(&["request", "GET", "/accounts"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.json()["items"].as_array().unwrap().iter().any(|a| a["username"] == s.boot.admin.username.as_str()));
    // Its roles, not the profile's wishes, decide.
    let write = h
        .run_async(&["request", "POST", "/accounts", "--data", r#"{"username": "w", "password": "a long passphrase"}"#])
        .await;
    assert_eq!(write.code, 1);
    assert!(write.stderr.contains("answered 403: forbidden: this needs the UserAdmin role"), "{}", write.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_list_and_verify_read_the_trail() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let made = h
        .run_async(&[
            "request",
            "POST",
            "/accounts",
            "--data",
            r#"{"username": "ada", "password": "a long passphrase"}"#,
        ])
        .await;
    assert_eq!(made.code, 0, "{}", made.stderr);

    let list = h.run_async(&["audit", "list", "--action", "admin.account.create"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let header = list.stdout.lines().next().unwrap();
    assert!(header.contains("ACTOR") && header.contains("ACTION"), "{}", list.stdout);
    let row = list.stdout.lines().nth(1).unwrap();
    assert!(
        row.contains("person administrator") && row.contains("admin.account.create") && row.contains("127.0.0.1"),
        "{row}"
    );
    let json = h.run_async(&["-O", "json", "audit", "list", "--account", "administrator", "--limit", "500"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert!(json.json()["items"].as_array().unwrap().iter().all(|e| e["event"]["actor"]["name"] == "administrator"));
    let bad = h.run_async(&["audit", "list", "--limit", "0"]).await;
    assert_eq!(bad.code, 2, "a usage error: {}", bad.stderr);

    let verify = h.run_async(&["audit", "verify"]).await;
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(verify.stdout.starts_with("audit trail intact: ") && verify.stdout.contains("head "), "{}", verify.stdout);
    // Rewrite an event behind the API's back: verify notices and says where.
    s.store().record(&signet_testkit::test_event("tamper.me", None, "x")).await.unwrap();
    let db = s.dir.join("signet.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let changed = conn
        .execute(
            "UPDATE audit_events SET body = replace(body, 'tamper.me', 'innocent') WHERE body LIKE '%tamper.me%'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let broken = h.run_async(&["audit", "verify"]).await;
    assert_eq!(broken.code, 1);
    assert!(
        broken.stderr.starts_with("error: the audit trail is broken at event ") && broken.stderr.contains("hint:"),
        "{}",
        broken.stderr
    );
}
