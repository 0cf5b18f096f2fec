//! The one query API the store is written against, and its two backends.
//!
//! Statements are written once, in the dialect SQLite and PostgreSQL share
//! (`$n` parameters, `RETURNING`, integers for time and flags, blobs for
//! hashes), and run on either:
//!
//! - **SQLite** through rusqlite, in the calling task. A statement on a hot
//!   path takes microseconds, far less than handing it to a worker thread and
//!   back, which is what made an async driver the bottleneck of every write.
//!   Writes go through one connection behind an async mutex, so writers queue
//!   in-process instead of in SQLite's busy handler; reads take a connection of
//!   their own from a small pool and run beside the writer (WAL).
//! - **PostgreSQL** through sqlx's native driver and its pool.
//!
//! A transaction holds the writer (SQLite) or a pooled connection (PostgreSQL)
//! until it is committed; dropped uncommitted, it rolls back.
//!
//! `value` holds what a statement binds and a row returns; `query` runs a
//! statement on either backend.

mod postgres;
mod query;
mod value;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use signet_core::audit_key::AuditKeys;
use sqlx::postgres::PgPool;

use crate::stats::{PoolSnapshot, Stats};
use crate::{Result, StoreError};

pub(crate) use query::{Query, query};
pub(crate) use value::Row;

/// Reader connections kept open for reuse on SQLite.
const SQLITE_READERS: usize = 8;
/// How long a SQLite statement waits for a lock held by another process
/// (`signetd recover-account` beside a running server) before failing.
const SQLITE_BUSY_MS: u64 = 5_000;

/// A driver error, from whichever backend raised it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Postgres(#[from] sqlx::Error),
}

impl DbError {
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(sqlx::Error::Database(d)) => d.is_unique_violation(),
            _ => false,
        }
    }

    /// The database could not be reached, or not in time, or is going away:
    /// nothing is wrong with the statement, and it may work in a moment.
    /// On SQLite, a lock another process held past the busy timeout.
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            DbError::Sqlite(_) => false,
            DbError::Postgres(e) => postgres::unavailable(e),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Db(DbError::Sqlite(e))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Db(DbError::Postgres(e))
    }
}

/// An open database, and the audit trail's keys once they are known (shared
/// by every clone, so every transaction can chain the events it appends).
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
    audit: Arc<OnceLock<Arc<AuditKeys>>>,
    pub(crate) stats: Arc<Stats>,
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(Arc<Lite>),
    Postgres(PgPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pool {
            Pool::Sqlite(lite) => f.debug_tuple("Sqlite").field(&lite.path).finish(),
            Pool::Postgres(_) => f.write_str("Postgres"),
        }
    }
}

pub(crate) struct Lite {
    path: PathBuf,
    /// Set by `close`: every later statement fails, as on a closed pool.
    closed: AtomicBool,
    writer: Arc<tokio::sync::Mutex<rusqlite::Connection>>,
    readers: Mutex<Vec<rusqlite::Connection>>,
}

/// Where a statement runs.
pub(crate) enum On<'a> {
    /// Any connection; never inside another transaction.
    Read(&'a Db),
    /// The writer, as a transaction of its own.
    Write(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> On<'a> {
        On::Tx(tx)
    }
}

impl Db {
    pub(crate) async fn open_sqlite(path: PathBuf) -> Result<Db> {
        make_private(&path)?;
        let writer = sqlite_connection(&path)?;
        // WAL lets readers run beside the writer; it is a property of the file.
        writer.pragma_update(None, "journal_mode", "WAL")?;
        let pool = Pool::Sqlite(Arc::new(Lite {
            path,
            closed: AtomicBool::new(false),
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Mutex::new(Vec::new()),
        }));
        Ok(Db::new(pool, Arc::default()))
    }

    /// `url` may name several hosts (`postgres.rs`).
    pub(crate) async fn open_postgres(url: &str) -> Result<Db> {
        let stats = Arc::new(Stats::default());
        let pool = postgres::open(url, stats.clone()).await?;
        Ok(Db::new(Pool::Postgres(pool), stats))
    }

    fn new(pool: Pool, stats: Arc<Stats>) -> Db {
        Db { pool, audit: Arc::new(OnceLock::new()), stats }
    }

    /// The connections held now.
    pub(crate) fn pool_snapshot(&self) -> PoolSnapshot {
        match &self.pool {
            Pool::Sqlite(lite) => {
                let idle = lite.readers.lock().map_or(0, |r| r.len() as u64);
                let writer_idle = u64::from(lite.writer.try_lock().is_ok());
                PoolSnapshot { size: idle + 1, idle: idle + writer_idle, max: SQLITE_READERS as u64 + 1 }
            }
            Pool::Postgres(pool) => PoolSnapshot {
                size: u64::from(pool.size()),
                idle: pool.num_idle() as u64,
                max: u64::from(pool.options().get_max_connections()),
            },
        }
    }

    /// Takes SQLite's writer, counting the wait.
    async fn writer(&self, lite: &Arc<Lite>) -> tokio::sync::OwnedMutexGuard<rusqlite::Connection> {
        let started = Instant::now();
        let conn = lite.writer.clone().lock_owned().await;
        self.stats.wait(started.elapsed(), false);
        conn
    }

    /// A PostgreSQL connection from the pool, counting the wait.
    async fn acquire(&self, pool: &PgPool) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        let started = Instant::now();
        let conn = pool.acquire().await;
        self.stats.wait(started.elapsed(), matches!(conn, Err(sqlx::Error::PoolTimedOut)));
        Ok(conn?)
    }

    /// The audit trail's keys, if they were given.
    pub(crate) fn audit_keys(&self) -> Option<&Arc<AuditKeys>> {
        self.audit.get()
    }

    /// Gives the audit trail's keys, once; the same keys again are accepted.
    pub(crate) fn use_audit_keys(&self, keys: AuditKeys) -> Result<()> {
        let keys = Arc::new(keys);
        match self.audit.set(keys.clone()) {
            Ok(()) => Ok(()),
            Err(_) if self.audit.get().is_some_and(|k| k.same_as(&keys)) => Ok(()),
            Err(_) => Err(StoreError::AuditKeysDiffer),
        }
    }

    pub(crate) fn read(&self) -> On<'_> {
        On::Read(self)
    }

    pub(crate) fn write(&self) -> On<'_> {
        On::Write(self)
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        let started = Instant::now();
        let tx = self.begin_uncounted().await;
        self.stats.statement(started.elapsed(), &tx);
        tx
    }

    async fn begin_uncounted(&self) -> Result<Tx> {
        let audit = self.audit.get().cloned();
        let conn = match &self.pool {
            Pool::Sqlite(lite) => {
                let conn = self.writer(lite).await;
                // Checked with the lock held, so a write queued behind it at
                // shutdown does not run after `close`.
                lite.check_open()?;
                // IMMEDIATE takes the write lock now, so a transaction that has
                // read never fails to upgrade because another process wrote.
                conn.execute_batch("BEGIN IMMEDIATE")?;
                Conn::Sqlite { conn, open: true }
            }
            Pool::Postgres(pool) => {
                // The wait for a connection is counted with BEGIN's round trip.
                let started = Instant::now();
                let tx = pool.begin().await;
                self.stats.wait(started.elapsed(), matches!(tx, Err(sqlx::Error::PoolTimedOut)));
                Conn::Postgres(Some(tx?))
            }
        };
        Ok(Tx { conn, audit, stats: self.stats.clone() })
    }

    /// A transaction that reads one consistent state of the whole database:
    /// on PostgreSQL a read-only REPEATABLE READ snapshot; on SQLite the
    /// writer (a transaction there is already alone with the data).
    pub(crate) async fn begin_snapshot(&self) -> Result<Tx> {
        let mut tx = self.begin().await?;
        if let Conn::Postgres(_) = tx.conn {
            query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut tx).await?;
        }
        Ok(tx)
    }

    /// Runs a script of several statements with no parameters (migrations) in `tx`.
    pub(crate) async fn script(tx: &mut Tx, sql: &'static str) -> Result<()> {
        match &mut tx.conn {
            Conn::Sqlite { conn, .. } => conn.execute_batch(sql)?,
            Conn::Postgres(Some(tx)) => {
                sqlx::raw_sql(sql).execute(&mut **tx).await?;
            }
            Conn::Postgres(None) => return Err(finished()),
        }
        Ok(())
    }

    pub(crate) async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(lite) => {
                lite.closed.store(true, Ordering::SeqCst);
                if let Ok(mut readers) = lite.readers.lock() {
                    readers.clear();
                }
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

impl Db {
    /// SQLite: writes one consistent copy of the whole database into `to`,
    /// which must not exist or be empty (`VACUUM INTO`, beside writers: it
    /// reads one snapshot). None on PostgreSQL, which `pg_dump` backs up.
    pub(crate) fn sqlite_copy_into(&self, to: &std::path::Path) -> Option<Result<()>> {
        let Pool::Sqlite(lite) = &self.pool else { return None };
        Some(lite.with_reader(|conn| {
            conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
            Ok(())
        }))
    }
}

impl Lite {
    fn check_open(&self) -> Result<()> {
        match self.closed.load(Ordering::SeqCst) {
            true => Err(StoreError::Closed),
            false => Ok(()),
        }
    }

    /// Runs `f` on a reader connection, opening one if none is free.
    fn with_reader<R>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<R>) -> Result<R> {
        self.check_open()?;
        let free = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match free {
            Some(conn) => conn,
            None => sqlite_connection(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < SQLITE_READERS
            && !self.closed.load(Ordering::SeqCst)
        {
            readers.push(conn);
        }
        out
    }
}

/// The store holds password hashes, sealed keys and the audit trail, so only
/// its owner may read it, whatever the umask or the data dir's mode. The file
/// is created 0600 before SQLite opens it, and an older one left readable is
/// made 0600 again: SQLite gives its `-wal` and `-shm` files the database
/// file's mode, so they follow it.
fn make_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file_error = |path: &std::path::Path| {
        let path = path.to_owned();
        move |error| StoreError::File { path, error }
    };
    std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path).map_err(file_error(path))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::Path::new(&name);
        match std::fs::metadata(file) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(file_error(file))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(file)(e)),
        }
    }
    Ok(())
}

fn sqlite_connection(path: &std::path::Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    // NORMAL is durable across crashes of signetd in WAL mode; only a power
    // loss can take back the last commits.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_MS))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// A write transaction, carrying the audit trail's keys (if given) so an
/// event appended in it is chained with them.
pub(crate) struct Tx {
    conn: Conn,
    audit: Option<Arc<AuditKeys>>,
    stats: Arc<Stats>,
}

enum Conn {
    Sqlite {
        conn: tokio::sync::OwnedMutexGuard<rusqlite::Connection>,
        open: bool,
    },
    /// `None` once committed.
    Postgres(Option<sqlx::Transaction<'static, sqlx::Postgres>>),
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Tx {
    /// The audit trail's keys, if the store was given them.
    pub(crate) fn audit_keys(&self) -> Option<&AuditKeys> {
        self.audit.as_deref()
    }

    /// Serialises this transaction with every other holding the same `key`
    /// until commit or rollback, across instances. On SQLite every write
    /// transaction is serialised already (one writer, BEGIN IMMEDIATE).
    pub(crate) async fn serialise(&mut self, key: i64) -> Result<()> {
        if let Conn::Postgres(_) = self.conn {
            query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(self).await?;
        }
        Ok(())
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        let started = Instant::now();
        let stats = self.stats.clone();
        let done = self.commit_uncounted().await;
        stats.statement(started.elapsed(), &done);
        done
    }

    async fn commit_uncounted(&mut self) -> Result<()> {
        match &mut self.conn {
            Conn::Sqlite { conn, open } => {
                conn.execute_batch("COMMIT")?;
                *open = false;
            }
            Conn::Postgres(tx) => {
                if let Some(tx) = tx.take() {
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Conn::Sqlite { conn, open: true } = self
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "rolling back a SQLite transaction failed");
        }
    }
}

fn finished() -> StoreError {
    StoreError::Misuse("a statement on a committed transaction".into())
}
