//! signet's storage: one `Store` over SQLite (the embedded default, WAL, foreign
//! keys on) or PostgreSQL (several signetd instances form one service).
//!
//! Both backends run the same SQL through sqlx's `Any` driver: statements use
//! only the common dialect (`$n` parameters, `RETURNING`, integers for time and
//! flags, blobs for hashes), so no query branches on the backend. Only
//! connecting and the embedded migrations differ.
//!
//! Every write that changes state a person cares about is one transaction, and
//! writes that must not race (single-use codes, refresh rotation, TOTP steps)
//! are conditional `UPDATE`s whose row count says who won.

mod accounts;
mod applications;
pub mod audit;
mod device;
mod flows;
mod grants;
mod keys;
mod settings;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use accounts::NewCredentials;
pub use applications::Bootstrap;
pub use flows::{BrowserSession, LoginFlow};
pub use grants::{CodeRedemption, Rotation};
pub use keys::StoredKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} already exists")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes. On SQLite one connection, so writers queue in-process instead of
    /// meeting at the file lock, where SQLite's busy handler sleeps for
    /// milliseconds; on PostgreSQL the same pool as reads.
    writer: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if need be) the database at `url` and brings its schema up to date.
    /// `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Corrupt(format!(
                "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
                url.split(':').next().unwrap_or_default()
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                // WAL lets readers run beside the writer; it is a property of the file,
                // set once. NORMAL sync is durable across crashes of signetd in WAL mode.
                let sqlite = || {
                    AnyPoolOptions::new().after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").await?;
                            Ok(())
                        })
                    })
                };
                let writer = sqlite().max_connections(1).connect_with(options.clone()).await?;
                writer.execute("PRAGMA journal_mode = WAL;").await?;
                let pool = sqlite().max_connections(8).connect_with(options).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new().max_connections(16).connect_with(options).await?;
                (pool.clone(), pool)
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&writer).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&writer).await?,
        }
        Ok(Store { pool, writer, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Readiness: the store answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Role and string sets are stored as JSON arrays.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Maps a unique-constraint violation to `Conflict`, anything else to `Db`.
pub(crate) fn conflict(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Db(e),
    }
}
