//! A statement and its parameters, run on SQLite or PostgreSQL.

use std::borrow::Cow;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, AssertSqlSafe, Column, Row as _, TypeInfo};

use super::value::{Bind, Done, Kind, Value};
use super::{Conn, Db, DbError, On, Pool, Row, Tx, finished};
use crate::{Result, StoreError};

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
        let stats = match &on {
            On::Read(db) | On::Write(db) => db.stats.clone(),
            On::Tx(tx) => tx.stats.clone(),
        };
        let started = std::time::Instant::now();
        let out = self.run_uncounted(on, want).await;
        stats.statement(started.elapsed(), &out);
        out
    }

    async fn run_uncounted(self, on: On<'_>, want: Want) -> Result<(Done, Vec<Row>)> {
        // PostgreSQL's text cannot hold NUL, which SQLite would store: refused
        // here on both, before either sees it, so the backends never differ.
        if self.args.iter().any(|v| matches!(v, Value::Text(t) if t.contains('\0'))) {
            return Err(StoreError::Unstorable);
        }
        match on {
            On::Read(Db { pool: Pool::Sqlite(lite), .. }) => lite.with_reader(|conn| sqlite_run(conn, &self, want)),
            On::Write(db @ Db { pool: Pool::Sqlite(lite), .. }) => {
                let conn = db.writer(lite).await;
                lite.check_open()?;
                sqlite_run(&conn, &self, want)
            }
            On::Tx(Tx { conn: Conn::Sqlite { conn, .. }, .. }) => sqlite_run(conn, &self, want),
            On::Read(db @ Db { pool: Pool::Postgres(pool), .. })
            | On::Write(db @ Db { pool: Pool::Postgres(pool), .. }) => {
                let (sql, args) = self.postgres()?;
                let mut conn = db.acquire(pool).await?;
                postgres_run(&mut *conn, sql, args, want).await
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

fn sqlite_run(conn: &rusqlite::Connection, q: &Query, want: Want) -> Result<(Done, Vec<Row>)> {
    let mut st = conn.prepare_cached(&q.sql)?;
    // `$n` is a named parameter to SQLite; its name says which argument it is.
    for i in 1..=st.parameter_count() {
        let n = st
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::Misuse(format!("parameter {i} of a statement is not $n")))?;
        let arg =
            q.args.get(n - 1).ok_or_else(|| StoreError::Misuse(format!("statement parameter ${n} was not bound")))?;
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
