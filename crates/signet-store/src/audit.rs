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
    /// Events up to this sequence number were pruned; the walk started from
    /// the hash recorded for it.
    pub pruned_through: Option<i64>,
}

/// Where pruning left the chain: the last pruned event's place and hash.
const PRUNED: &str = "audit.pruned";

#[derive(serde::Deserialize, Serialize)]
struct Anchor {
    seq: i64,
    hash: String,
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
        let anchor: Option<Anchor> = self.setting(PRUNED).await?.and_then(|v| serde_json::from_value(v).ok());
        let pruned_through = anchor.as_ref().map(|a| a.seq);
        let mut prev: Vec<u8> = match &anchor {
            Some(a) => hex_decode(&a.hash).ok_or_else(|| StoreError::Corrupt("audit.pruned: hash".into()))?,
            None => Vec::new(),
        };
        let first = pruned_through.unwrap_or(0) + 1;
        let mut expected_seq = first;
        let mut count = 0;
        let check = |count: i64, broken_at: Option<i64>| ChainCheck {
            events: count,
            broken_at,
            head: (head_seq > 0).then(|| signet_core::audit::hex(&head_hash)),
            pruned_through,
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
        let last = first - 1 + count;
        let broken_at = (head_seq != last || head_hash != prev).then_some(last + 1);
        Ok(check(count, broken_at))
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

impl Store {
    /// Deletes the events recorded before `before` (Unix seconds), keeping
    /// the chain verifiable: the last pruned event's sequence number and
    /// hash are recorded, and the walk starts from them. `ev` records the
    /// pruning itself, in the same transaction. The number pruned.
    pub async fn prune_audit(&self, before: signet_core::clock::UnixTime, ev: &AuditEvent) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        // Holds appends off until this commits, as an append would.
        query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut tx).await?;
        let last = query("SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1")
            .bind(before)
            .fetch_optional(&mut tx)
            .await?;
        let Some(last) = last else { return Ok(0) };
        let seq: i64 = last.try_get("seq")?;
        let hash: Vec<u8> = last.try_get("hash")?;
        let pruned = query("DELETE FROM audit_events WHERE seq <= $1").bind(seq).execute(&mut tx).await?;
        let anchor = serde_json::to_string(&Anchor { seq, hash: signet_core::audit::hex(&hash) })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(PRUNED)
            .bind(anchor)
            .execute(&mut tx)
            .await?;
        append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(pruned.rows_affected() as i64)
    }
}
