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

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::types::{ToSqlOutput, ValueRef};
use signet_core::audit_key::AuditKeys;
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::{Arguments, AssertSqlSafe, Column, Row as _, TypeInfo};

use crate::{Result, StoreError};

/// Reader connections kept open for reuse on SQLite.
const SQLITE_READERS: usize = 8;
/// How long a SQLite statement waits for a lock held by another process
/// (`signetd recover-account` beside a running server) before failing.
const SQLITE_BUSY_MS: u64 = 5_000;
const POSTGRES_CONNECTIONS: u32 = 16;

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

/// The column types the schema uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Text,
    Blob,
}

/// A bound parameter or a column value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// PostgreSQL types its parameters, so a NULL carries the type it stands for.
    Null(Kind),
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// What `Query::bind` accepts.
pub(crate) trait Bind {
    const KIND: Kind;
    fn value(self) -> Value;
}

impl Bind for i64 {
    const KIND: Kind = Kind::Int;
    fn value(self) -> Value {
        Value::Int(self)
    }
}

impl Bind for bool {
    const KIND: Kind = Kind::Int;
    fn value(self) -> Value {
        Value::Int(i64::from(self))
    }
}

impl Bind for String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self)
    }
}

impl Bind for &str {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Bind for &String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Bind for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self)
    }
}

impl Bind for &[u8] {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Bind for &Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: Bind> Bind for Option<T> {
    const KIND: Kind = T::KIND;
    fn value(self) -> Value {
        match self {
            Some(v) => v.value(),
            None => Value::Null(T::KIND),
        }
    }
}

/// What `Row::try_get` returns.
pub(crate) trait Decode: Sized {
    const WANT: &'static str;
    fn decode(v: &Value) -> Option<Self>;
}

impl Decode for i64 {
    const WANT: &'static str = "an integer";
    fn decode(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl Decode for bool {
    const WANT: &'static str = "a flag";
    fn decode(v: &Value) -> Option<bool> {
        i64::decode(v).map(|i| i != 0)
    }
}

impl Decode for String {
    const WANT: &'static str = "text";
    fn decode(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Decode for Vec<u8> {
    const WANT: &'static str = "a blob";
    fn decode(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    const WANT: &'static str = T::WANT;
    fn decode(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null(_) => Some(None),
            v => T::decode(v).map(Some),
        }
    }
}

/// One result row, its values looked up by column name.
#[derive(Debug)]
pub(crate) struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn try_get<T: Decode>(&self, name: &str) -> Result<T> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name} in the result")))?;
        T::decode(&self.values[i]).ok_or_else(|| StoreError::Corrupt(format!("column {name} is not {}", T::WANT)))
    }
}

/// How many rows a statement changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done(u64);

impl Done {
    pub(crate) fn rows_affected(self) -> u64 {
        self.0
    }
}

/// An open database, and the audit trail's keys once they are known (shared
/// by every clone, so every transaction can chain the events it appends).
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
    audit: Arc<OnceLock<Arc<AuditKeys>>>,
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
        Ok(Db::new(Pool::Sqlite(Arc::new(Lite {
            path,
            closed: AtomicBool::new(false),
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Mutex::new(Vec::new()),
        }))))
    }

    pub(crate) async fn open_postgres(url: &str) -> Result<Db> {
        let pool = PgPoolOptions::new().max_connections(POSTGRES_CONNECTIONS).connect(url).await?;
        Ok(Db::new(Pool::Postgres(pool)))
    }

    fn new(pool: Pool) -> Db {
        Db { pool, audit: Arc::new(OnceLock::new()) }
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
            Err(_) => Err(StoreError::Corrupt("this store already chains its audit trail with other keys".into())),
        }
    }

    pub(crate) fn read(&self) -> On<'_> {
        On::Read(self)
    }

    pub(crate) fn write(&self) -> On<'_> {
        On::Write(self)
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        let audit = self.audit.get().cloned();
        let conn = match &self.pool {
            Pool::Sqlite(lite) => {
                let conn = lite.writer.clone().lock_owned().await;
                // Checked with the lock held, so a write queued behind it at
                // shutdown does not run after `close`.
                lite.check_open()?;
                // IMMEDIATE takes the write lock now, so a transaction that has
                // read never fails to upgrade because another process wrote.
                conn.execute_batch("BEGIN IMMEDIATE")?;
                Conn::Sqlite { conn, open: true }
            }
            Pool::Postgres(pool) => Conn::Postgres(Some(pool.begin().await?)),
        };
        Ok(Tx { conn, audit })
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
    StoreError::Corrupt("a statement on a committed transaction".into())
}

/// What the caller wants back from a statement.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// The number of rows changed.
    Count,
    /// The first row, if any.
    One,
    All,
}

/// A statement and its parameters.
#[derive(Debug)]
pub(crate) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Value>,
}

pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query { sql: sql.into(), args: Vec::new() }
}

impl Query {
    pub(crate) fn bind(mut self, v: impl Bind) -> Query {
        self.args.push(v.value());
        self
    }

    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<Done> {
        Ok(self.run(on.into(), Want::Count).await?.0)
    }

    pub(crate) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>> {
        Ok(self.run(on.into(), Want::All).await?.1)
    }

    pub(crate) async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> Result<Option<Row>> {
        Ok(self.run(on.into(), Want::One).await?.1.pop())
    }

    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a row the schema guarantees is missing".into()))
    }

    async fn run(self, on: On<'_>, want: Want) -> Result<(Done, Vec<Row>)> {
        // PostgreSQL's text cannot hold NUL, which SQLite would store: refused
        // here on both, before either sees it, so the backends never differ.
        if self.args.iter().any(|v| matches!(v, Value::Text(t) if t.contains('\0'))) {
            return Err(StoreError::Unstorable);
        }
        match on {
            On::Read(Db { pool: Pool::Sqlite(lite), .. }) => lite.with_reader(|conn| sqlite_run(conn, &self, want)),
            On::Write(Db { pool: Pool::Sqlite(lite), .. }) => {
                let conn = lite.writer.lock().await;
                lite.check_open()?;
                sqlite_run(&conn, &self, want)
            }
            On::Tx(Tx { conn: Conn::Sqlite { conn, .. }, .. }) => sqlite_run(conn, &self, want),
            On::Read(Db { pool: Pool::Postgres(pool), .. }) | On::Write(Db { pool: Pool::Postgres(pool), .. }) => {
                let (sql, args) = self.postgres()?;
                postgres_run(pool, sql, args, want).await
            }
            On::Tx(Tx { conn: Conn::Postgres(Some(tx)), .. }) => {
                let (sql, args) = self.postgres()?;
                postgres_run(&mut **tx, sql, args, want).await
            }
            On::Tx(Tx { conn: Conn::Postgres(None), .. }) => Err(finished()),
        }
    }

    fn postgres(self) -> Result<(Cow<'static, str>, PgArguments)> {
        let mut args = PgArguments::default();
        for v in self.args {
            let added = match v {
                Value::Int(i) => args.add(i),
                Value::Text(s) => args.add(s),
                Value::Blob(b) => args.add(b),
                Value::Null(Kind::Int) => args.add(None::<i64>),
                Value::Null(Kind::Text) => args.add(None::<String>),
                Value::Null(Kind::Blob) => args.add(None::<Vec<u8>>),
            };
            added.map_err(|e| StoreError::Db(DbError::Postgres(sqlx::Error::Encode(e))))?;
        }
        Ok((self.sql, args))
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null(_) => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn sqlite_run(conn: &rusqlite::Connection, q: &Query, want: Want) -> Result<(Done, Vec<Row>)> {
    let mut st = conn.prepare_cached(&q.sql)?;
    // `$n` is a named parameter to SQLite; its name says which argument it is.
    for i in 1..=st.parameter_count() {
        let n = st
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("parameter {i} of a statement is not $n")))?;
        let arg =
            q.args.get(n - 1).ok_or_else(|| StoreError::Corrupt(format!("statement parameter ${n} was not bound")))?;
        st.raw_bind_parameter(i, arg)?;
    }
    if st.column_count() == 0 {
        let changed = st.raw_execute()?;
        return Ok((Done(changed as u64), Vec::new()));
    }
    let names: Arc<[String]> = st.column_names().into_iter().map(str::to_owned).collect();
    let width = names.len();
    let mut rows = Vec::new();
    let mut raw = st.raw_query();
    while let Some(r) = raw.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null(Kind::Int),
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Text(t) => Value::Text(
                    String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt("text that is not UTF-8".into()))?,
                ),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                ValueRef::Real(_) => return Err(StoreError::Corrupt("a real number where none belongs".into())),
            });
        }
        rows.push(Row { names: names.clone(), values });
        if matches!(want, Want::One) {
            break;
        }
    }
    drop(raw);
    Ok((Done(conn.changes()), rows))
}

async fn postgres_run<'c, E>(on: E, sql: Cow<'static, str>, args: PgArguments, want: Want) -> Result<(Done, Vec<Row>)>
where
    E: sqlx::PgExecutor<'c>,
{
    let query = match sql {
        Cow::Borrowed(s) => sqlx::query_with(s, args),
        Cow::Owned(s) => sqlx::query_with(AssertSqlSafe(s), args),
    };
    Ok(match want {
        Want::Count => (Done(query.execute(on).await?.rows_affected()), Vec::new()),
        Want::One => {
            let row = query.fetch_optional(on).await?;
            (Done(0), postgres_rows(row.as_slice())?)
        }
        Want::All => (Done(0), postgres_rows(&query.fetch_all(on).await?)?),
    })
}

fn postgres_rows(rows: &[PgRow]) -> Result<Vec<Row>> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let names: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    rows.iter()
        .map(|r| {
            let values = r
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(match c.type_info().name() {
                        "INT8" => r.try_get::<Option<i64>, _>(i)?.map_or(Value::Null(Kind::Int), Value::Int),
                        "INT4" => {
                            r.try_get::<Option<i32>, _>(i)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into()))
                        }
                        "INT2" => {
                            r.try_get::<Option<i16>, _>(i)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into()))
                        }
                        "BOOL" => r
                            .try_get::<Option<bool>, _>(i)?
                            .map_or(Value::Null(Kind::Int), |v| Value::Int(i64::from(v))),
                        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                            r.try_get::<Option<String>, _>(i)?.map_or(Value::Null(Kind::Text), Value::Text)
                        }
                        "BYTEA" => r.try_get::<Option<Vec<u8>>, _>(i)?.map_or(Value::Null(Kind::Blob), Value::Blob),
                        other => {
                            return Err(StoreError::Corrupt(format!(
                                "column {} has unsupported type {other}",
                                c.name()
                            )));
                        }
                    })
                })
                .collect::<Result<Vec<Value>>>()?;
            Ok(Row { names: names.clone(), values })
        })
        .collect()
}
