//! What someone who can write signetd's database (but lacks its
//! key-encryption key) can do to the audit trail, on either backend: raw
//! statements behind the store's back, and rewriting events with every
//! SHA-256 hash after them recomputed, the head moved along.

use signet_core::audit::{AuditEvent, hex};
use signet_store::Store;

/// Raw access to one test server's database.
pub struct Tamper {
    url: String,
}

impl crate::Server {
    pub fn tamper(&self) -> Tamper {
        Tamper { url: self.database_url() }
    }
}

impl Tamper {
    /// Runs one statement; the rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self.url.strip_prefix("sqlite://") {
            Some(path) => rusqlite::Connection::open(path).unwrap().execute(sql, []).unwrap() as u64,
            None => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                done.rows_affected()
            }
        }
    }

    /// A blob as an SQL literal of this backend.
    pub fn blob(&self, bytes: &[u8]) -> String {
        if self.url.starts_with("sqlite://") {
            format!("X'{}'", hex(bytes))
        } else {
            format!("'\\x{}'::bytea", hex(bytes))
        }
    }

    /// Replaces the events from `from` on with `events`, renumbered from
    /// `from` and chained by SHA-256 from the hash before it (all anyone
    /// without the key can compute), and moves the head to the last.
    pub async fn rechain(&self, store: &Store, from: i64, events: &[AuditEvent]) {
        let before = store.audit_events(from - 2, 1).await.unwrap();
        let mut prev = before.first().filter(|e| e.seq == from - 1).map(|e| unhex(&e.hash)).unwrap_or_default();
        self.execute(&format!("DELETE FROM audit_events WHERE seq >= {from}")).await;
        let mut seq = from;
        for ev in events {
            let hash = ev.chain_hash(seq, &prev);
            let body = serde_json::to_string(ev).unwrap().replace('\'', "''");
            let sql = format!(
                "INSERT INTO audit_events (seq, id, at, environment_id, body, prev_hash, hash) \
                 VALUES ({seq}, '{}', {}, NULL, '{body}', {}, {})",
                ev.id,
                ev.at,
                self.blob(&prev),
                self.blob(&hash)
            );
            assert_eq!(self.execute(&sql).await, 1);
            prev = hash;
            seq += 1;
        }
        let head = format!("UPDATE audit_head SET seq = {}, hash = {} WHERE id = 1", seq - 1, self.blob(&prev));
        assert_eq!(self.execute(&head).await, 1);
    }

    /// Removes every event after `keep_through` and moves the head back to it.
    pub async fn truncate(&self, store: &Store, keep_through: i64) {
        let kept = store.audit_events(keep_through - 1, 1).await.unwrap().remove(0);
        assert_eq!(kept.seq, keep_through);
        self.execute(&format!("DELETE FROM audit_events WHERE seq > {keep_through}")).await;
        let head = format!(
            "UPDATE audit_head SET seq = {keep_through}, hash = {} WHERE id = 1",
            self.blob(&unhex(&kept.hash))
        );
        assert_eq!(self.execute(&head).await, 1);
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
