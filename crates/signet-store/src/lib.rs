//! signet's storage: one `Store` over SQLite (the embedded default, WAL, foreign
//! keys on) or PostgreSQL (several signetd instances form one service).
//!
//! Both backends run the same SQL through one small query API (`db`):
//! statements use only the common dialect (`$n` parameters, `RETURNING`,
//! integers for time and flags, blobs for hashes), so no query branches on the
//! backend. Only connecting and the embedded migrations differ.
//!
//! Every write that changes state a person cares about is one transaction, and
//! writes that must not race (single-use codes, refresh rotation, TOTP steps)
//! are conditional `UPDATE`s whose row count says who won.

mod accounts;
mod applications;
pub mod audit;
mod audit_keys;
mod backup;
mod bulk;
mod certificates;
mod claims;
mod db;
mod device;
mod federation;
mod flows;
mod grants;
mod keys;
mod lockout;
mod mfa;
mod migrate;
mod settings;
pub mod stats;
mod versioned;

use std::path::PathBuf;

use crate::db::Db;
pub use db::DbError;

pub use accounts::{AdminChange, NewCredentials, Versioned, Written};
pub use applications::{Bootstrap, Bootstrapped, Decided};
pub use audit_keys::CheckpointCheck;
pub use bulk::{KeySource, Replaced};
pub use certificates::Certificate;
pub use claims::StoredMapping;
pub use federation::FederatedLink;
pub use flows::{BrowserSession, LoginFlow};
pub use grants::{Admission, CodeRedemption, ReuseGrace, Revoked, Rotation};
pub use keys::StoredKey;
pub use lockout::{Budget, LockState};
pub use mfa::{ConfirmedEnrolment, MfaWritten, TotpEnrolment};
pub use migrate::{SCHEMA_VERSION, TOLERATED_NEWER_STEPS};
pub use settings::LOCKOUT_POLICY_KEY;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbError),
    #[error("the store is closed")]
    Closed,
    /// The SQLite database file could not be created or made private.
    #[error("{}: {error}", path.display())]
    File { path: PathBuf, error: std::io::Error },
    /// Stored data that cannot be what signet wrote: a column of the wrong
    /// type, JSON that does not parse, a value no version of signet stores.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database's schema is newer than this signet, or its migration
    /// history names a step this signet does not know.
    #[error("{0}")]
    Schema(String),
    /// The database URL names no backend signet has, or no file.
    #[error("{0}")]
    Url(String),
    /// Drawing randomness for an id failed in the store itself.
    #[error("{0}")]
    Crypto(#[from] signet_core::crypto::CryptoError),
    /// The caller's function could not re-seal a secret under the new
    /// key-encryption key (`reseal_all`); nothing was written.
    #[error("a secret could not be re-sealed: {source}")]
    Reseal {
        /// The purpose the secret is sealed for.
        purpose: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The caller's function could not make a new environment's signing key
    /// (`KeySource::Keep`); nothing was written.
    #[error("a signing key for environment {environment_id}: {reason}")]
    SigningKey { environment_id: String, reason: String },
    /// A value signet made could not be written as JSON.
    #[error("encoding JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The store used wrongly by signet itself (a statement on a committed
    /// transaction, a parameter left unbound): a bug, not the data.
    #[error("the store was used wrongly: {0}")]
    Misuse(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// Text that cannot be stored the same way on every backend (a NUL
    /// character): refused before anything is written. Edges answer it as
    /// bad input, not as a failure of the server.
    #[error("text with a NUL character cannot be stored")]
    Unstorable,
    /// A configuration document that cannot be imported; nothing was written.
    #[error("{0}")]
    Invalid(signet_core::configuration::Invalid),
    /// The audit trail is chained with a key this store was not given.
    #[error("the audit trail is keyed: this needs the key-encryption key the server uses")]
    AuditKeyMissing,
    /// The audit trail's keys were given twice, and not the same.
    #[error("this store already chains its audit trail with other keys")]
    AuditKeysDiffer,
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// The database did not answer in time, refused the connection, lost
    /// it, is shutting down, or (SQLite) stayed locked by another process
    /// past the busy timeout; or this store is closed. Nothing is wrong with
    /// the request: the edges answer 503 `temporarily_unavailable`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(d) => d.is_unavailable(),
            StoreError::Closed => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    backend: Backend,
}

impl Store {
    /// Opens (creating if need be) the database at `url` and brings its schema up to date.
    /// `sqlite://PATH` (or `sqlite:PATH`) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store> {
        let (db, backend) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Db::open_postgres(url).await?, Backend::Postgres)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path.starts_with(':') {
                return Err(StoreError::Url("a SQLite database must be a file: sqlite://PATH".into()));
            }
            (Db::open_sqlite(PathBuf::from(path)).await?, Backend::Sqlite)
        } else {
            return Err(StoreError::Url(format!(
                "unsupported database URL scheme in {:?}: use sqlite:// or postgres://",
                url.split(':').next().unwrap_or_default()
            )));
        };
        migrate::run(&db).await?;
        Ok(Store { db, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Readiness: the store answers a query.
    pub async fn ping(&self) -> Result<()> {
        db::query("SELECT 1 AS one").fetch_one(self.db.read()).await?;
        Ok(())
    }

    /// The store's counters and connections now, for `/metrics`.
    pub fn stats(&self) -> stats::StatsSnapshot {
        self.db.stats.snapshot(self.db.pool_snapshot())
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// A value signet made, as JSON text.
pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(StoreError::Encode)
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
pub(crate) fn conflict(what: &str) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match &e {
        StoreError::Db(d) if d.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => e,
    }
}
