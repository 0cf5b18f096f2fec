//! The store out of reach (issue 18, items 2 and 3): while PostgreSQL is
//! down every protocol answers 503 `temporarily_unavailable` in its own
//! shape and `/readyz` says so; when it is back, or a replica is promoted,
//! signetd serves again without a restart. Each test runs its own private
//! cluster (`signet_testkit::pg_cluster`), which it crashes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use signet_core::model::{AppKind, GrantType};
use signet_testkit::pg_cluster::PgCluster;

use crate::admin::{Api, basic, new_account};
use crate::harness::*;
use crate::vault::{Vault, admin_token};

/// What each protocol answers, on one server.
struct Callers<'a> {
    s: &'a Server,
    root: String,
    vault_token: String,
    worker: (String, String),
}

impl<'a> Callers<'a> {
    async fn new(s: &'a Server) -> Callers<'a> {
        let root = basic(&s.boot.admin.username, &s.boot.admin.password);
        let vault_token = admin_token(s).await;
        let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
        Callers { s, root, vault_token, worker: (id, secret.unwrap()) }
    }

    async fn token(&self) -> (u16, Value) {
        let (id, secret) = &self.worker;
        self.s.token(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)]).await
    }

    async fn admin(&self) -> crate::admin::Answer {
        Api::new(self.s).get("/accounts", &self.root).await
    }

    async fn vault(&self) -> crate::vault::Answer {
        Vault::new(self.s).call("LIST", "identity/mfa/method/totp", Some(&self.vault_token), None).await
    }

    async fn readyz(&self) -> u16 {
        self.s.http.get(format!("{}/readyz", self.s.base)).send().await.unwrap().status().as_u16()
    }

    /// A sign-on page that must read the store: an application not seen yet.
    async fn page(&self) -> (u16, String, String) {
        let url = format!("{}?response_type=code&client_id=not-seen-yet&redirect_uri=x", self.s.url("/authorize"));
        let res = self.s.http.get(url).send().await.unwrap();
        let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
        (res.status().as_u16(), kind, res.text().await.unwrap())
    }

    async fn store_errors(&self) -> u64 {
        let text = self.s.http.get(format!("{}/metrics", self.s.base)).send().await.unwrap().text().await.unwrap();
        metric(&text, "signetd_store_errors_total{kind=\"unavailable\"}")
    }
}

/// A sample's value in a `/metrics` text.
pub fn metric(text: &str, series: &str) -> u64 {
    let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
}

/// Runs `attempt` until it says done, for at most a minute.
async fn eventually<F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !attempt().await {
        assert!(started.elapsed() < Duration::from_secs(60), "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_stopped_postgres_is_503_in_each_protocols_shape_and_recovers_without_a_restart() {
    let pg = PgCluster::primary().await;
    pg.create_database("signet").await;
    let s = Server::start_at(&pg.url("signet")).await;
    let c = Callers::new(&s).await;
    assert_eq!(c.readyz().await, 200);
    assert_eq!(c.admin().await.status, 200);
    assert_eq!(c.vault().await.status, 404, "no TOTP method yet: Vault's empty list");
    let before = c.store_errors().await;

    pg.crash().await;

    let (status, body) = c.token().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    let admin = c.admin().await;
    assert_eq!(admin.status, 503, "{:?}", admin.body);
    assert_eq!(admin.body["error"], "temporarily_unavailable");
    assert!(admin.body["message"].is_string(), "{:?}", admin.body);
    let vault = c.vault().await;
    assert_eq!(vault.status, 503, "{:?}", vault.body);
    assert!(vault.body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{:?}", vault.body);
    assert_eq!(c.readyz().await, 503);
    let (status, kind, html) = c.page().await;
    assert_eq!(status, 503, "{html}");
    assert!(kind.starts_with("text/html") && html.contains("Temporarily unavailable"), "{kind}: {html}");
    assert!(c.store_errors().await > before, "the store's error counter counts the outage");

    pg.start().await;

    eventually("readiness after PostgreSQL is back", || async { c.readyz().await == 200 }).await;
    let (status, body) = c.token().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.admin().await.status, 200);
    assert_eq!(c.vault().await.status, 404);
    assert_eq!(c.page().await.0, 400, "an unknown application, said as such again");
}

/// An account made through the admin API: 201, or the error's status and body.
async fn create_account(s: &Server, root: &str, n: u32) -> (u16, Value) {
    let name = format!("failover-{n}");
    let body = serde_json::to_value(new_account(&name, "a long enough passphrase", &[], false)).unwrap();
    let a = Api::new(s).call(Method::POST, "/accounts", Some(root), Some(body), None).await;
    (a.status, a.body)
}

#[tokio::test]
async fn writes_follow_a_promoted_replica_listed_first_without_a_restart() {
    let primary = PgCluster::primary().await;
    primary.create_database("signet").await;
    let replica = PgCluster::replica_of(&primary).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/signet?target_session_attrs=read-write",
        replica.port, primary.port
    );
    // Bootstrapping writes: it found the primary behind the replica.
    let s = Server::start_at(&url).await;
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let (status, body) = create_account(&s, &root, 0).await;
    assert_eq!(status, 201, "{body}");
    replica.catch_up_with(&primary).await;

    primary.crash().await;
    replica.promote().await;

    let mut n = 0;
    eventually("a write on the promoted replica", || {
        n += 1;
        let (s, root) = (&s, &root);
        async move {
            let (status, body) = create_account(s, root, n).await;
            assert!(status == 201 || (status == 503 && body["error"] == "temporarily_unavailable"), "{status}: {body}");
            status == 201
        }
    })
    .await;
    let (status, body) = create_account(&s, &root, 0).await;
    assert_eq!(status, 409, "what was written before the failover is there: {body}");
}

#[tokio::test]
async fn a_host_that_does_not_answer_is_skipped() {
    let db = PgDatabase::create().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = db.url.replace("127.0.0.1:5432", &format!("127.0.0.1:{dead},127.0.0.1:5432"));
    let s = Server::start_at(&url).await;
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    assert_eq!(create_account(&s, &root, 1).await.0, 201);
}

#[tokio::test]
async fn a_bad_host_list_is_one_line_that_hides_the_password() {
    for url in [
        "postgres://u:hunter2@h1,,h2/db",
        "postgres://u:hunter2@h1:70000,h2/db",
        "postgres://u:hunter2@h1,h2/db?target_session_attrs=primary",
    ] {
        let e = signet_store::Store::open(url).await.unwrap_err().to_string();
        assert!(!e.contains("hunter2") && !e.contains('\n') && e.contains("PostgreSQL URL"), "{url}: {e}");
    }
    // A reason waiting will not change is said at once, host by host.
    let e = signet_store::Store::open("postgres://postgres@127.0.0.1:5432/no_such_signet_db").await.unwrap_err();
    let e = e.to_string();
    assert!(e.contains("127.0.0.1:5432: ") && e.contains("does not exist") && !e.contains('\n'), "{e}");
}

/// The store's series on `/metrics` (issue 18, item 6): statements, waits
/// for a connection or the writer, connections, errors by kind.
async fn metrics_show_the_stores_work(backend: Backend) {
    let s = Server::start_on(backend).await;
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    assert_eq!(Api::new(&s).get("/accounts", &root).await.status, 200);
    let text = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metric(&text, "signetd_store_statement_duration_seconds_count") > 0, "{text}");
    assert!(metric(&text, "signetd_store_statement_duration_seconds_bucket{le=\"+Inf\"}") > 0, "{text}");
    assert!(metric(&text, "signetd_store_wait_duration_seconds_count") > 0, "{text}");
    assert!(metric(&text, "signetd_store_connections ") > 0, "{text}");
    assert!(metric(&text, "signetd_store_connections_max") > 0, "{text}");
    assert_eq!(metric(&text, "signetd_store_errors_total{kind=\"unavailable\"}"), 0, "{text}");
    assert_eq!(metric(&text, "signetd_store_wait_timeouts_total"), 0, "{text}");
    for series in ["signetd_store_connections_idle", "signetd_store_connections_in_use"] {
        metric(&text, series);
    }
}
crate::conformance::on_both!(metrics_show_the_stores_work);
