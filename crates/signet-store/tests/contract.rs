//! The store contract: every behaviour the rest of signet relies on, written
//! once and run against both backends (a fresh SQLite file and a fresh
//! PostgreSQL database per test), so the two can never drift apart.
//!
//! Each contract is an `async fn(TestDb)`; `contracts!` turns it into a module
//! with a `sqlite` and a `postgres` test. Tests share nothing, so they run in
//! parallel and in any order. PostgreSQL must listen on 127.0.0.1:5432 with
//! trust authentication for the `postgres` user.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::PathBuf;

use signet_core::clock::UnixTime;
use signet_core::crypto::random_id;
use signet_store::{Backend, Store, StoreError};
use sqlx::{AssertSqlSafe, Connection};

/// `contracts!(a, #[ignore = "why"] b)` makes `a::sqlite`, `a::postgres`,
/// `b::sqlite` and `b::postgres`, each running the contract on a fresh database.
macro_rules! contracts {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            $(#[$attr])*
            async fn sqlite() {
                crate::run(signet_store::Backend::Sqlite, super::$name).await
            }
            #[tokio::test]
            $(#[$attr])*
            async fn postgres() {
                crate::run(signet_store::Backend::Postgres, super::$name).await
            }
        }
    )*};
}

#[path = "contract/accounts.rs"]
mod accounts;
#[path = "contract/audit.rs"]
mod audit;
#[path = "contract/audit_keyed.rs"]
mod audit_keyed;
#[path = "contract/bulk.rs"]
mod bulk;
#[path = "contract/certificates.rs"]
mod certificates;
#[path = "contract/claims.rs"]
mod claims;
#[path = "contract/device.rs"]
mod device;
#[path = "contract/federation.rs"]
mod federation;
#[path = "contract/fixtures.rs"]
mod fixtures;
#[path = "contract/keys.rs"]
mod keys;
#[path = "contract/lockout.rs"]
mod lockout;
#[path = "contract/mfa.rs"]
mod mfa;
#[path = "contract/sessions.rs"]
mod sessions;
#[path = "contract/setup.rs"]
mod setup;
#[path = "contract/tokens.rs"]
mod tokens;
#[path = "contract/unstorable.rs"]
mod unstorable;

/// The PostgreSQL server the suite creates its databases on.
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const POSTGRES_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// A fixed "now"; the store only ever sees injected time.
const NOW: UnixTime = 1_700_000_000;

/// Where a test's database lives, so it can be removed afterwards.
#[derive(Clone, Debug)]
enum Place {
    Dir(PathBuf),
    Database(String),
}

/// One test's private database and the store opened on it.
#[derive(Clone, Debug)]
struct TestDb {
    store: Store,
    url: String,
    place: Place,
}

impl TestDb {
    async fn create(backend: Backend) -> TestDb {
        let (url, place) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("signet-store-contract-{}", random_id().unwrap()));
                std::fs::create_dir_all(&dir).unwrap();
                (format!("sqlite://{}", dir.join("db.sqlite").display()), Place::Dir(dir))
            }
            Backend::Postgres => {
                let name = format!("signet_test_{}", random_id().unwrap().replace('-', "_"));
                let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL must run on 127.0.0.1:5432: {e}"));
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut admin).await.unwrap();
                admin.close().await.unwrap();
                (format!("{POSTGRES_BASE_URL}/{name}"), Place::Database(name))
            }
        };
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), backend);
        TestDb { store, url, place }
    }

    async fn destroy(self) {
        self.store.close().await;
        match self.place {
            Place::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Database(name) => {
                let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
            }
        }
    }

    /// Runs `sql` on a plain connection of its own, behind the store's back
    /// (tampering with the audit trail), with `text` as `$1` if given.
    /// Returns the first column of the first row, if any, and the rows changed.
    async fn raw(&self, sql: &str, text: Option<&str>) -> (Option<String>, u64) {
        match &self.place {
            Place::Dir(_) => {
                let path = self.url.strip_prefix("sqlite://").unwrap();
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut st = conn.prepare(sql).unwrap();
                let params: Vec<&str> = text.into_iter().collect();
                let mut rows = st.query(rusqlite::params_from_iter(params)).unwrap();
                let first = rows.next().unwrap().map(|row| row.get::<_, String>(0).unwrap());
                drop(rows);
                (first, conn.changes())
            }
            Place::Database(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
                if let Some(t) = text {
                    q = q.bind(t.to_owned());
                }
                let out = if sql.starts_with("SELECT") {
                    let row = q.fetch_optional(&mut conn).await.unwrap();
                    (row.map(|r| sqlx::Row::get::<String, _>(&r, 0)), 0)
                } else {
                    (None, q.execute(&mut conn).await.unwrap().rows_affected())
                };
                conn.close().await.unwrap();
                out
            }
        }
    }
}

/// Runs one contract on a fresh database of `backend`, and removes the
/// database afterwards even when the contract fails.
async fn run<F, Fut>(backend: Backend, contract: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = TestDb::create(backend).await;
    let outcome = tokio::spawn(contract(db.clone())).await;
    db.destroy().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("contract task failed: {e}"),
        }
    }
}

#[tokio::test]
async fn open_rejects_unknown_url_schemes() {
    let r = Store::open("mysql://root@127.0.0.1/signet").await;
    assert!(matches!(r, Err(StoreError::Url(_))), "{r:?}");
}

/// Finding 9: the SQLite files are 0600 whatever the process umask, and a
/// database an older signetd left readable is made private when opened.
/// (SQLite only: PostgreSQL keeps its files itself.)
#[tokio::test]
async fn finding_9_sqlite_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = std::env::temp_dir().join(format!("signet-store-private-{}", random_id().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("signet.db").display());

    // A new database: the migrations write, so the WAL and its index exist.
    let store = Store::open(&url).await.unwrap();
    for name in ["signet.db", "signet.db-wal", "signet.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    store.close().await;

    // One left world-readable, as signetd made them before.
    std::fs::set_permissions(dir.join("signet.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&url).await.unwrap();
    store.ping().await.unwrap();
    for name in ["signet.db", "signet.db-wal", "signet.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
