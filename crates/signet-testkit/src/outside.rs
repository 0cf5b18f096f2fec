//! A transaction opened beside a running signetd, on its own connection to
//! the same database, as another instance's would be: for tests that must
//! put a committed change between what a request reads and what it writes.

use std::time::Duration;

use sqlx::Connection;

use crate::server::Server;

/// An open write transaction outside the server.
pub enum Outside {
    Postgres(sqlx::PgConnection),
    Sqlite(rusqlite::Connection),
}

impl Outside {
    /// Begins a write transaction. On SQLite it holds the database's write
    /// lock from now on (BEGIN IMMEDIATE), so the server's next write waits.
    pub async fn begin(s: &Server) -> Outside {
        match s.database_url.strip_prefix("sqlite://") {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                Outside::Sqlite(conn)
            }
            None => {
                let mut conn = sqlx::PgConnection::connect(&s.database_url).await.unwrap();
                sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
                Outside::Postgres(conn)
            }
        }
    }

    /// Runs statements (no parameters) in the transaction.
    pub async fn execute(&mut self, sql: &str) {
        match self {
            Outside::Sqlite(conn) => conn.execute_batch(sql).unwrap(),
            Outside::Postgres(conn) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *conn).await.unwrap();
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Outside::Postgres(_))
    }

    /// Commits once the server is blocked behind this transaction. On
    /// PostgreSQL that is seen in `pg_locks`: some other session of this
    /// database waits for a lock (an advisory lock is one, so take the lock
    /// the server's write takes). SQLite shows nobody waiting, so there it
    /// waits a while, long enough for an in-process request to have read and
    /// reached its write, on a thread of its own: the server's write waits in
    /// SQLite's busy handler, which blocks the thread it runs on.
    pub async fn commit_once_waited(self) {
        match self {
            Outside::Sqlite(conn) => {
                tokio::task::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(500));
                    conn.execute_batch("COMMIT").unwrap();
                })
                .await
                .unwrap();
            }
            Outside::Postgres(mut conn) => {
                for _ in 0..500 {
                    // This database's waiters only: other tests run beside this one.
                    let waiting: (i64,) = sqlx::query_as(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted \
                         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    )
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                    if waiting.0 > 0 {
                        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("nobody waited for the outside transaction");
            }
        }
    }

    pub async fn commit(self) {
        match self {
            Outside::Sqlite(conn) => conn.execute_batch("COMMIT").unwrap(),
            Outside::Postgres(mut conn) => {
                sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// Every text and binary value the database holds, one per line (binary
/// values as lossy UTF-8): for a test that proves a secret was never
/// stored as it was sent.
pub async fn stored_text(s: &Server) -> String {
    let mut out = String::new();
    match s.database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let mut tables = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
            let tables: Vec<String> = tables.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            for table in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
                let columns = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    for i in 0..columns {
                        if let rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) =
                            row.get_ref(i).unwrap()
                        {
                            out.push_str(&String::from_utf8_lossy(b));
                            out.push('\n');
                        }
                    }
                }
            }
        }
        None => {
            let mut conn = sqlx::PgConnection::connect(&s.database_url).await.unwrap();
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for (table,) in tables {
                // Each row as PostgreSQL's text form: text as it is, bytea as hex.
                let sql = format!("SELECT t::text FROM \"{table}\" t");
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
                for (row,) in rows {
                    out.push_str(&row);
                    out.push('\n');
                }
            }
            conn.close().await.unwrap();
        }
    }
    out
}
