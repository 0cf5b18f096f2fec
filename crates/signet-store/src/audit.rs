//! The audit trail: appended in the same transaction as the change it records,
//! chained through the single-row `audit_head`, whose conditional update also
//! serialises concurrent appends across instances.
//!
//! Events before the chain was keyed are chained by SHA-256, which anyone who
//! can write the database can recompute. From the sealing event on
//! (`audit.chain.keyed`, whose hash covers the old head) each hash is an HMAC
//! under the chain key, which the database holds only sealed under the
//! key-encryption key: an event rewritten or removed there cannot be hidden
//! by recomputing the hashes after it. Removing the newest events is caught
//! only against a checkpoint kept outside the database (`audit_keys`).

use serde::Serialize;
use signet_core::audit::AuditEvent;
use signet_core::audit_key::{AuditKeys, CHAIN_KEYED};
use signet_core::crypto::constant_time_eq;

use crate::db::{Row, Tx, query};
use crate::{Result, Store, StoreError};

pub(crate) async fn append(conn: &mut Tx, ev: &AuditEvent) -> Result<()> {
    let head = query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash, keyed_from")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: Vec<u8> = head.try_get("hash")?;
    let keyed_from: Option<i64> = head.try_get("keyed_from")?;
    let hash = match (conn.audit_keys(), keyed_from) {
        // With the key, always keyed: clearing `keyed_from` in the database
        // must not get new events chained by a hash anyone can recompute.
        (Some(keys), _) => keys.chain.hash(ev, seq, &prev),
        (None, Some(_)) => return Err(StoreError::AuditKeyMissing),
        (None, None) => ev.chain_hash(seq, &prev),
    };
    insert(conn, seq, ev, prev, hash).await
}

/// Inserts the event at `seq` and moves the head to it.
pub(crate) async fn insert(conn: &mut Tx, seq: i64, ev: &AuditEvent, prev: Vec<u8>, hash: Vec<u8>) -> Result<()> {
    let body = crate::encode(ev)?;
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
    /// The head's sequence number: how many events were ever appended.
    pub head_seq: i64,
    /// Events up to this sequence number were pruned; the walk started from
    /// the hash recorded for it.
    pub pruned_through: Option<i64>,
    /// The sealing event the keyed chain starts at, as the walk found it
    /// (or as the pruning anchor's MAC vouches, once it was pruned).
    pub keyed_from: Option<i64>,
}

/// The head row: where the chain ends, where it is keyed from and where
/// pruning left it.
struct Head {
    seq: i64,
    hash: Vec<u8>,
    keyed_from: Option<i64>,
    pruned: Option<(i64, Vec<u8>, Option<Vec<u8>>)>,
}

impl Head {
    fn from_row(r: &Row) -> Result<Head> {
        let pruned_seq: Option<i64> = r.try_get("pruned_seq")?;
        let pruned = match pruned_seq {
            None => None,
            Some(p) => {
                let hash: Option<Vec<u8>> = r.try_get("pruned_hash")?;
                let hash = hash.ok_or_else(|| StoreError::Corrupt("audit_head: pruned_seq without a hash".into()))?;
                Some((p, hash, r.try_get("pruned_mac")?))
            }
        };
        Ok(Head { seq: r.try_get("seq")?, hash: r.try_get("hash")?, keyed_from: r.try_get("keyed_from")?, pruned })
    }
}

const HEAD: &str = "SELECT seq, hash, keyed_from, pruned_seq, pruned_hash, pruned_mac FROM audit_head WHERE id = 1";

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
    ///
    /// A store given the audit keys checks the keyed part by HMAC, and finds
    /// the trail broken where nothing it can check vouches for it: a pruning
    /// anchor without a valid MAC, or a trail that never reaches the sealing
    /// event. A store without them cannot check a keyed trail and says so.
    pub async fn verify_audit_chain(&self) -> Result<ChainCheck> {
        let keys = self.db.audit_keys().cloned();
        let head = Head::from_row(&query(HEAD).fetch_one(self.db.read()).await?)?;
        if keys.is_none() && head.keyed_from.is_some() {
            return Err(StoreError::AuditKeyMissing);
        }
        let pruned_through = head.pruned.as_ref().map(|p| p.0);
        let check = |count: i64, broken_at: Option<i64>, keyed_from: Option<i64>| ChainCheck {
            events: count,
            broken_at,
            head: (head.seq > 0).then(|| signet_core::audit::hex(&head.hash)),
            head_seq: head.seq,
            pruned_through,
            keyed_from,
        };
        let mut keyed_from = None;
        let mut prev: Vec<u8> = match &head.pruned {
            None => Vec::new(),
            Some((seq, hash, mac)) => {
                if let Some(k) = &keys {
                    let vouched = mac.as_deref().is_some_and(|m| k.chain.anchor_ok(*seq, hash, head.keyed_from, m));
                    if !vouched {
                        return Ok(check(0, Some(seq + 1), None));
                    }
                    keyed_from = head.keyed_from.filter(|from| seq >= from);
                }
                hash.clone()
            }
        };
        let first = pruned_through.unwrap_or(0) + 1;
        let mut expected_seq = first;
        let mut count = 0;
        while expected_seq <= head.seq {
            let rows = query(
                "SELECT seq, body, prev_hash, hash FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT 500",
            )
            .bind(expected_seq)
            .bind(head.seq)
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
                let expected = match ev {
                    Some(ev) if seq == expected_seq && stored_prev == prev => {
                        expected_hash(keys.as_deref(), &mut keyed_from, &ev, seq, &prev)
                    }
                    _ => None,
                };
                if expected.is_none_or(|e| !constant_time_eq(&e, &hash)) {
                    return Ok(check(count, Some(expected_seq), keyed_from));
                }
                prev = hash;
                expected_seq += 1;
                count += 1;
            }
        }
        // Events deleted from the end show as a head ahead of the last event.
        let last = first - 1 + count;
        let mut broken_at = (head.seq != last || head.hash != prev).then_some(last + 1);
        if broken_at.is_none() && keys.is_some() && keyed_from.is_none() && count > 0 {
            // Nothing keyed vouches for this trail: its sealing event is gone.
            broken_at = Some(first);
        }
        Ok(check(count, broken_at, keyed_from))
    }
}

/// The hash `ev` must have at `seq` after `prev`: keyed once the walk has
/// passed the sealing event (which `keyed_from` then records), plain SHA-256
/// before it. None when it cannot be known (a keyed trail, no key).
fn expected_hash(
    keys: Option<&AuditKeys>,
    keyed_from: &mut Option<i64>,
    ev: &AuditEvent,
    seq: i64,
    prev: &[u8],
) -> Option<Vec<u8>> {
    match keys {
        Some(k) if keyed_from.is_some() => Some(k.chain.hash(ev, seq, prev)),
        Some(k) if ev.action == CHAIN_KEYED => {
            *keyed_from = Some(seq);
            Some(k.chain.hash(ev, seq, prev))
        }
        None if ev.action == CHAIN_KEYED => None,
        _ => Some(ev.chain_hash(seq, prev)),
    }
}

impl Store {
    /// Deletes the events recorded before `before` (Unix seconds), keeping
    /// the chain verifiable: the last pruned event's sequence number and
    /// hash are recorded, with their MAC under the chain key, and the walk
    /// starts from them. `ev` records the pruning itself, in the same
    /// transaction. The number pruned.
    pub async fn prune_audit(&self, before: signet_core::clock::UnixTime, ev: &AuditEvent) -> Result<i64> {
        let mut tx = self.db.begin().await?;
        // Holds appends off until this commits, as an append would.
        let head =
            query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING keyed_from").fetch_one(&mut tx).await?;
        let keyed_from: Option<i64> = head.try_get("keyed_from")?;
        let last = query("SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1")
            .bind(before)
            .fetch_optional(&mut tx)
            .await?;
        let Some(last) = last else { return Ok(0) };
        let seq: i64 = last.try_get("seq")?;
        let hash: Vec<u8> = last.try_get("hash")?;
        let mac = match (tx.audit_keys(), keyed_from) {
            (Some(k), _) => Some(k.chain.anchor_mac(seq, &hash, keyed_from)),
            (None, Some(_)) => return Err(StoreError::AuditKeyMissing),
            (None, None) => None,
        };
        let pruned = query("DELETE FROM audit_events WHERE seq <= $1").bind(seq).execute(&mut tx).await?;
        query("UPDATE audit_head SET pruned_seq = $1, pruned_hash = $2, pruned_mac = $3 WHERE id = 1")
            .bind(seq)
            .bind(hash)
            .bind(mac)
            .execute(&mut tx)
            .await?;
        append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(pruned.rows_affected() as i64)
    }
}
