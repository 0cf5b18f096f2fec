//! Reaching a provider the way networks make you: through a private CA and
//! through an HTTPS proxy (`HTTPS_PROXY`, bypassed by `NO_PROXY`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use signet_testkit::Server;
use signet_testkit::tls::TestCa;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::Home;

/// A forward proxy that speaks only `CONNECT`, as HTTPS proxies do, and
/// counts the tunnels it opened.
struct Proxy {
    url: String,
    tunnels: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = Arc::new(AtomicUsize::new(0));
        let count = tunnels.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut client = BufReader::new(client);
                    let mut line = String::new();
                    client.read_line(&mut line).await.unwrap();
                    let mut parts = line.split_whitespace();
                    assert_eq!(parts.next(), Some("CONNECT"), "{line}");
                    let target = parts.next().unwrap().to_owned();
                    loop {
                        let mut header = String::new();
                        client.read_line(&mut header).await.unwrap();
                        if header == "\r\n" || header.is_empty() {
                            break;
                        }
                    }
                    let mut upstream = TcpStream::connect(&target).await.unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut client = client.into_inner();
                    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Proxy { url, tunnels }
    }

    fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

async fn https_signetd(h: &Home) -> (Server, TestCa) {
    let ca = TestCa::create(&h.dir.join("ca")).await;
    let s = Server::start_tls(&ca).await;
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "worker"),
            ("service.pingone.authentication.worker.clientID", &id),
            ("service.pingone.authentication.worker.clientSecret", &secret),
        ],
    );
    (s, ca)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_trusted_once_configured() {
    let h = Home::new();
    let (_s, ca) = https_signetd(&h).await;
    let untrusted = h.run_async(&["auth", "login"]).await;
    assert_eq!(untrusted.code, 1);
    assert!(untrusted.stderr.contains("caCertificatePemFiles"), "{}", untrusted.stderr);
    h.ok(&["config", "set", &format!("service.pingone.caCertificatePemFiles={}", ca.ca.display())]);
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.json()["services"][0]["status"], "authenticated", "{}", status.stdout);
    let logout = h.run_async(&["auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(!logout.stderr.contains("warning"), "revoked over TLS at the provider: {}", logout.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_proxy_carries_every_request_unless_no_proxy_names_the_host() {
    let h = Home::new();
    let (_s, ca) = https_signetd(&h).await;
    h.ok(&["config", "set", &format!("service.pingone.caCertificatePemFiles={}", ca.ca.display())]);
    let proxy = Proxy::start().await;

    let login = h.run_async_with(&["auth", "login"], &[("HTTPS_PROXY", &proxy.url)]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let through = proxy.tunnels();
    assert!(through >= 1, "the sign-on went through the proxy");
    let logout = h.run_async_with(&["auth", "logout"], &[("https_proxy", &proxy.url)]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(proxy.tunnels() > through, "the lower-case variable is honoured too");

    let before = proxy.tunnels();
    let login = h.run_async_with(&["auth", "login"], &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", "127.0.0.1")]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_eq!(proxy.tunnels(), before, "NO_PROXY bypasses the proxy");

    // A proxy that is not there is an error, not a silent direct connection.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    h.run_async(&["auth", "logout"]).await;
    let r = h.run_async_with(&["auth", "login"], &[("HTTPS_PROXY", &dead)]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().filter(|l| !l.starts_with("hint:")).count(), 1, "one line: {}", r.stderr);
}

/// `authentication.type=clientCertificate` against signetd's real mutual-TLS
/// scheme: a certificate from the CA a CryptoAdmin trusts names an admin
/// account; one from another CA is refused with the API's 401.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_signs_the_cli_on_to_the_admin_api() {
    use signet_testkit::pki::{TestAuthority, Validity};
    let h = Home::new();
    let ca = TestCa::create(&h.dir.join("ca")).await;
    let s = Server::start_tls(&ca).await;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca.ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let api = format!("{}/admin-api/v1", s.base);
    let root = (s.boot.admin.username.clone(), s.boot.admin.password.clone());
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{api}{path}")).basic_auth(&root.0, Some(&root.1)).json(&body).send()
    };
    let clients = TestAuthority::new("cli clients");
    let made = call(
        reqwest::Method::POST,
        "/accounts",
        serde_json::json!({"username": "alice", "password": "alice's long passphrase", "roles": ["Admin"]}),
    )
    .await
    .unwrap();
    assert_eq!(made.status(), 201);
    let anchor = call(
        reqwest::Method::POST,
        "/certificates",
        serde_json::json!({"name": "cli clients", "pem": clients.pem, "trusted_for_mtls": true}),
    )
    .await
    .unwrap();
    assert_eq!(anchor.status(), 201);
    let set =
        call(reqwest::Method::PUT, "/settings/authentication", serde_json::json!({"schemes": ["native", "mtls"]}))
            .await
            .unwrap();
    assert_eq!(set.status(), 200);

    let write_identity = |name: &str, cert: &signet_testkit::pki::ClientCert| {
        let (c, k) = (h.dir.join(format!("{name}.crt")), h.dir.join(format!("{name}.key")));
        std::fs::write(&c, &cert.cert_pem).unwrap();
        std::fs::write(&k, &cert.key_pem).unwrap();
        (c.display().to_string(), k.display().to_string())
    };
    let (cert, key) = write_identity("alice", &clients.client("alice", 5, Validity::Now));
    for setting in [
        format!("service.pingfederate.httpsHost={}", s.base),
        format!("service.pingfederate.caCertificatePemFiles={}", ca.ca.display()),
        "service.pingfederate.authentication.type=clientCertificate".into(),
        format!("service.pingfederate.authentication.clientCertificate.certFile={cert}"),
        format!("service.pingfederate.authentication.clientCertificate.keyFile={key}"),
    ] {
        h.ok(&["config", "set", &setting]);
    }
    let listed = h.run_async(&["-O", "json", "accounts", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let usernames: Vec<String> =
        listed.json()["items"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap().to_owned()).collect();
    assert!(usernames.contains(&"alice".to_owned()), "{usernames:?}");

    let (cert, key) = write_identity("mallory", &TestAuthority::new("elsewhere").client("alice", 6, Validity::Now));
    h.ok(&["config", "set", &format!("service.pingfederate.authentication.clientCertificate.certFile={cert}")]);
    h.ok(&["config", "set", &format!("service.pingfederate.authentication.clientCertificate.keyFile={key}")]);
    let refused = h.run_async(&["accounts", "list"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("401"), "{}", refused.stderr);
}
