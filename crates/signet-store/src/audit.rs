//! The audit trail: appended in the same transaction as the change it records,
//! chained by hash through the single-row `audit_head`, whose conditional
//! update also serialises concurrent appends across instances.

use serde::Serialize;
use signet_core::audit::AuditEvent;

use crate::db::{Tx, query};
use crate::{Result, Store, StoreError};

pub(crate) async fn append(conn: &mut Tx, ev: &AuditEvent) -> Result<()> {
    let head =
        query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *conn).await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: Vec<u8> = head.try_get("hash")?;
    let hash = ev.chain_hash(seq, &prev);
    let body = serde_json::to_string(ev).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    query(
        "INSERT INTO audit_events (seq, id, at, environment_id, body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(seq)
    .bind(&ev.id)
    .bind(ev.at)
    .bind(ev.environment_id.clone())
    .bind(body)
    .bind(prev)
    .bind(hash.clone())
    .execute(&mut *conn)
    .await?;
    query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(hash).execute(&mut *conn).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: AuditEvent,
    pub hash: String,
}

/// The outcome of walking the chain from the first event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    pub events: i64,
    /// The first sequence number whose hash does not match, if any.
    pub broken_at: Option<i64>,
    /// The head the walk checked against (hex), for a monitor to keep.
    pub head: Option<String>,
}

impl Store {
    /// Records an event that has no other write (a sign-on, a failure worth keeping).
    pub async fn record(&self, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        let rows = query("SELECT seq, body, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(self.db.read())
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.try_get("hash")?;
                Ok(StoredEvent {
                    seq: r.try_get("seq")?,
                    event: crate::from_json(&r.try_get::<String>("body")?, "audit event")?,
                    hash: signet_core::audit::hex(&hash),
                })
            })
            .collect()
    }

    /// Recomputes every hash from the start up to the head as it was when the
    /// walk began; any edit, deletion or reordering shows. Events appended
    /// meanwhile are after that head and are left for the next walk.
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck> {
        let head = query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(self.db.read()).await?;
        let (head_seq, head_hash): (i64, Vec<u8>) = (head.try_get("seq")?, head.try_get("hash")?);
        let mut prev: Vec<u8> = Vec::new();
        let mut expected_seq = 1;
        let mut count = 0;
        let check = |count: i64, broken_at: Option<i64>| ChainCheck {
            events: count,
            broken_at,
            head: (head_seq > 0).then(|| signet_core::audit::hex(&head_hash)),
        };
        while expected_seq <= head_seq {
            let rows = query(
                "SELECT seq, body, prev_hash, hash FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT 500",
            )
            .bind(expected_seq)
            .bind(head_seq)
            .fetch_all(self.db.read())
            .await?;
            if rows.is_empty() {
                break;
            }
            // SQLite answers without ever yielding; a long walk must not
            // hold its thread from the other tasks.
            tokio::task::yield_now().await;
            for r in &rows {
                let seq: i64 = r.try_get("seq")?;
                let stored_prev: Vec<u8> = r.try_get("prev_hash")?;
                let hash: Vec<u8> = r.try_get("hash")?;
                let ev: Option<AuditEvent> = serde_json::from_str(&r.try_get::<String>("body")?).ok();
                let ok = seq == expected_seq
                    && stored_prev == prev
                    && ev.is_some_and(|ev| ev.chain_hash(seq, &prev) == hash);
                if !ok {
                    return Ok(check(count, Some(expected_seq)));
                }
                prev = hash;
                expected_seq += 1;
                count += 1;
            }
        }
        // Events deleted from the end show as a head ahead of the last event.
        let broken_at = (head_seq != count || head_hash != prev).then_some(count + 1);
        Ok(check(count, broken_at))
    }
}
