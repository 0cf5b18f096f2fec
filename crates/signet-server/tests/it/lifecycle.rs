//! Issue 18: signetd as a service, through the binary. SIGTERM turns
//! `/readyz` off first, keeps serving for the shutdown delay, then drains
//! requests in flight and exits 0; SIGHUP reloads the TLS pair (checked),
//! the log level and the trusted proxies, and audits what changed.

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use signet_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::basic;
use crate::cli::{Daemon, bootstrap, temp_dir};

/// Polls `check` every 50 ms, 30 s at most, until it holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

async fn readyz(base: &str) -> Option<u16> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    client.get(format!("{base}/readyz")).send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test]
async fn issue_18_sigterm_turns_readyz_off_then_drains_requests_in_flight_and_exits_0() {
    let dir = temp_dir();
    let args = ["--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0", "--shutdown-delay-secs", "1"];
    let d = Daemon::start(&args, &[("SIGNETD_DRAIN_TIMEOUT_SECS", "60")]).await;
    let boot = bootstrap(&dir);
    let to = d.base.strip_prefix("http://").unwrap().to_owned();
    assert_eq!(readyz(&d.base).await, Some(200));

    // A slow client: its token request is in the handler (signetd asked for
    // the body with 100 Continue), and half its body is still to come.
    let body = "grant_type=client_credentials&scope=";
    let path = format!("/{}/as/token", boot["environment_id"].as_str().unwrap());
    let auth = basic(boot["worker"]["client_id"].as_str().unwrap(), boot["worker"]["client_secret"].as_str().unwrap());
    let mut slow = TcpStream::connect(&to).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: signetd\r\nAuthorization: {auth}\r\nExpect: 100-continue\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = slow.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"), "{}", String::from_utf8_lossy(&buf[..n]));
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();

    d.signal("TERM").await;
    // Not ready, while still answering: a load balancer takes it out.
    eventually("/readyz answers 503", || async { readyz(&d.base).await == Some(503) }).await;
    // Then the listener closes...
    eventually("the listener closes", || async { TcpStream::connect(&to).await.is_err() }).await;
    // ...and the request in flight is still answered in full.
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("access_token"), "{answer}");

    let (status, log) = d.exited().await;
    assert!(status.success(), "exits 0 after draining: {status}\n{log}");
    assert!(log.contains("/readyz answers 503") && log.contains("draining"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn der(pem: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(pem).unwrap()
}

/// The certificate signetd presents to a new connection.
async fn served_certificate(base: &str, roots: &[&Path]) -> Vec<u8> {
    let roots = roots.iter().map(|p| reqwest::Certificate::from_pem(&std::fs::read(p).unwrap()).unwrap());
    let client = reqwest::Client::builder().tls_certs_only(roots).tls_info(true).build().unwrap();
    let res = client.get(format!("{base}/healthz")).send().await.unwrap();
    let info = res.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

async fn reload_events(data: &Path) -> Vec<String> {
    let store = Store::open(&format!("sqlite://{}", data.join("signet.db").display())).await.unwrap();
    let events = store.audit_events(0, 10_000).await.unwrap();
    store.close().await;
    events.into_iter().filter(|e| e.event.action == "server.reload").map(|e| e.event.target).collect()
}

#[tokio::test]
async fn issue_18_sighup_reloads_a_matching_tls_pair_and_keeps_the_old_one_for_a_mismatch() {
    let dir = temp_dir();
    let (a, b) = (
        signet_testkit::tls::TestCa::create(&dir.join("a")).await,
        signet_testkit::tls::TestCa::create(&dir.join("b")).await,
    );
    let (cert, key, data) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("data"));
    std::fs::copy(&a.cert, &cert).unwrap();
    std::fs::copy(&a.key, &key).unwrap();
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let d = Daemon::start(&args, &[]).await;
    let roots = [a.ca.as_path(), b.ca.as_path()];
    assert_eq!(served_certificate(&d.base, &roots).await, der(&a.cert).to_vec());

    // B's certificate with A's key: refused, A's pair is kept.
    std::fs::copy(&b.cert, &cert).unwrap();
    d.signal("HUP").await;
    d.logged("reload refused").await;
    assert!(d.stderr().contains("do not form a usable pair"), "the log says why: {}", d.stderr());
    let key_pem = std::fs::read_to_string(&a.key).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(!d.stderr().contains(key_line), "no key material in the log");
    assert_eq!(served_certificate(&d.base, &roots).await, der(&a.cert).to_vec());
    assert!(reload_events(&data).await.is_empty(), "a refused reload changes nothing and is not audited");

    // B's pair: new connections get B.
    std::fs::copy(&b.key, &key).unwrap();
    d.signal("HUP").await;
    let want = der(&b.cert).to_vec();
    eventually("the new certificate is served", || async { served_certificate(&d.base, &roots).await == want }).await;
    eventually("the reload is audited", || async { reload_events(&data).await == ["tls"] }).await;

    // Nothing changed: nothing audited.
    d.signal("HUP").await;
    d.logged("reload: nothing changed").await;
    assert_eq!(reload_events(&data).await, ["tls"]);
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The source address the audit trail gives the last failed admin sign-on.
async fn last_failure_source(data: &Path) -> Option<String> {
    let store = Store::open(&format!("sqlite://{}", data.join("signet.db").display())).await.unwrap();
    let events = store.audit_events(0, 10_000).await.unwrap();
    store.close().await;
    events.into_iter().rev().find(|e| e.event.action == "admin.signon.failure").and_then(|e| e.event.source_ip)
}

async fn failed_signon_through_proxy(d: &Daemon, admin: &str) {
    let res = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit/checkpoint", d.base))
        .header("authorization", basic(admin, "not the password"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn issue_18_sighup_reloads_trusted_proxies_and_log_level_from_the_config_file() {
    let dir = temp_dir();
    let data = dir.join("data");
    let config = dir.join("signetd.toml");
    let write = |proxies: &str, level: &str| {
        let text = format!("data_dir = {data:?}\ntrusted_proxies = [{proxies}]\nlog_level = {level:?}\n");
        std::fs::write(&config, text).unwrap();
    };
    write("", "info");
    let d = Daemon::start(&["--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"], &[]).await;
    let admin = bootstrap(&data)["admin"]["username"].as_str().unwrap().to_owned();
    failed_signon_through_proxy(&d, &admin).await;
    assert_eq!(last_failure_source(&data).await.as_deref(), Some("127.0.0.1"), "an untrusted peer is the client");

    // An invalid file: refused, nothing changes.
    std::fs::write(&config, "trusted_proxies = [\"not an address\"]\n").unwrap();
    d.signal("HUP").await;
    d.logged("reload refused").await;
    assert!(reload_events(&data).await.is_empty());

    write("\"127.0.0.1\"", "info,signet_server=debug");
    d.signal("HUP").await;
    eventually("the reload is audited", || async { !reload_events(&data).await.is_empty() }).await;
    assert_eq!(reload_events(&data).await, ["log_level,trusted_proxies"]);
    failed_signon_through_proxy(&d, &admin).await;
    assert_eq!(last_failure_source(&data).await.as_deref(), Some("203.0.113.9"), "the proxy's header is believed");
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
