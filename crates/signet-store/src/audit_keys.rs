//! The audit trail's keys in the store: kept sealed (the server opens them
//! with the key-encryption key and gives them back), the one sealing event
//! the keyed chain starts at, and signed checkpoints of the head, one per
//! period across every instance.

use signet_core::audit::Action as Event;
use signet_core::audit::Outcome;
use signet_core::audit::{Actor, AuditEvent, digest_of, hex};
use signet_core::audit_key::{AuditKeys, CheckpointError, SealedAuditKeys, verify_checkpoint};
use signet_core::clock::UnixTime;
use signet_proto::audit::{Checkpoint, CheckpointKey};

use crate::db::query;
use crate::{Result, Store, StoreError};

/// How a checkpoint compares with the trail in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointCheck {
    /// Event `seq` is still the one the checkpoint vouches for.
    Intact,
    /// The trail ends before the checkpoint's event: its newest events were removed.
    Truncated { head_seq: i64 },
    /// Event `seq` is missing or has another hash: events up to it were changed
    /// or removed (and the trail may have grown again since).
    Rewritten,
    /// Retention pruned the checkpoint's event: a newer checkpoint is needed.
    Pruned { pruned_through: i64 },
    /// Signed by a key other than this store's checkpoint key.
    ForeignKey,
    /// Not a valid signature at all.
    Invalid(CheckpointError),
}

impl Store {
    /// The sealed keys, if any instance has made them.
    pub async fn sealed_audit_keys(&self) -> Result<Option<SealedAuditKeys>> {
        let row = query("SELECT chain_sealed, checkpoint_sealed FROM audit_keys WHERE id = 1")
            .fetch_optional(self.db.read())
            .await?;
        row.map(|r| {
            Ok(SealedAuditKeys { chain: r.try_get("chain_sealed")?, checkpoint: r.try_get("checkpoint_sealed")? })
        })
        .transpose()
    }

    /// Stores `keys` unless another instance stored its own first; either
    /// way, the keys every instance is to use.
    pub async fn put_sealed_audit_keys(&self, keys: &SealedAuditKeys, now: UnixTime) -> Result<SealedAuditKeys> {
        query(
            "INSERT INTO audit_keys (id, chain_sealed, checkpoint_sealed, created_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(keys.chain.clone())
        .bind(keys.checkpoint.clone())
        .bind(now)
        .execute(self.db.write())
        .await?;
        self.sealed_audit_keys().await?.ok_or_else(|| StoreError::Corrupt("audit_keys: the row is missing".into()))
    }

    /// Gives this store (every clone of it) the audit trail's keys, opened.
    /// From then on every event it appends is chained by HMAC.
    pub fn use_audit_keys(&self, keys: AuditKeys) -> Result<()> {
        self.db.use_audit_keys(keys)
    }

    /// The checkpoint signing key's public half, once the keys are given.
    pub fn audit_checkpoint_key(&self) -> Option<CheckpointKey> {
        self.db.audit_keys().map(|k| k.checkpoint.published())
    }

    /// Starts the keyed chain, once for the store whichever instance gets
    /// here first: appends the sealing event, whose HMAC covers the head it
    /// follows, and vouches for a pruning anchor already there. The sealing
    /// event's sequence number, or None when the chain was keyed already.
    pub async fn seal_audit_chain(&self, at: UnixTime) -> Result<Option<i64>> {
        let keys = self.db.audit_keys().cloned().ok_or(StoreError::AuditKeyMissing)?;
        let mut tx = self.db.begin().await?;
        let head = query(
            "UPDATE audit_head SET seq = seq + 1, keyed_from = seq + 1 WHERE id = 1 AND keyed_from IS NULL \
             RETURNING seq, hash, pruned_seq, pruned_hash",
        )
        .fetch_optional(&mut tx)
        .await?;
        let Some(head) = head else { return Ok(None) };
        let seq: i64 = head.try_get("seq")?;
        let prev: Vec<u8> = head.try_get("hash")?;
        let pruned_seq: Option<i64> = head.try_get("pruned_seq")?;
        let pruned_hash: Option<Vec<u8>> = head.try_get("pruned_hash")?;
        let mut ev = AuditEvent::new(Actor::console("audit chain"), Event::AuditChainKeyed, None, "audit", at)?;
        ev.digest = digest_of(&serde_json::json!({
            "sealed_seq": seq - 1,
            "sealed_head": hex(&prev),
            "checkpoint_key_id": keys.checkpoint.key_id(),
        }));
        ev.set_outcome(Outcome::Success);
        let hash = keys.chain.hash(&ev, seq, &prev);
        crate::audit::insert(&mut tx, seq, &ev, prev, hash).await?;
        if let (Some(p), Some(h)) = (pruned_seq, pruned_hash) {
            query("UPDATE audit_head SET pruned_mac = $1 WHERE id = 1")
                .bind(keys.chain.anchor_mac(p, &h, Some(seq)))
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(seq))
    }

    /// A checkpoint of the head as it is now, signed at `at`.
    pub async fn sign_audit_checkpoint(&self, at: UnixTime) -> Result<Checkpoint> {
        let keys = self.db.audit_keys().cloned().ok_or(StoreError::AuditKeyMissing)?;
        let head = query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(self.db.read()).await?;
        let hash: Vec<u8> = head.try_get("hash")?;
        Ok(keys.checkpoint.sign(head.try_get("seq")?, &hex(&hash), at))
    }

    /// The checkpoint for `period`, if this call is the first of any
    /// instance to claim that period (a conditional update of the head row,
    /// which also reads the head it vouches for); None when another did.
    pub async fn write_audit_checkpoint(&self, period: i64, at: UnixTime) -> Result<Option<Checkpoint>> {
        let keys = self.db.audit_keys().cloned().ok_or(StoreError::AuditKeyMissing)?;
        let head = query(
            "UPDATE audit_head SET checkpoint_period = $1 WHERE id = 1 AND checkpoint_period < $1 RETURNING seq, hash",
        )
        .bind(period)
        .fetch_optional(self.db.write())
        .await?;
        head.map(|h| {
            let hash: Vec<u8> = h.try_get("hash")?;
            Ok(keys.checkpoint.sign(h.try_get("seq")?, &hex(&hash), at))
        })
        .transpose()
    }

    /// Compares a checkpoint with the trail: signed by this store's key, and
    /// is its event still there with the same hash?
    pub async fn check_audit_checkpoint(&self, cp: &Checkpoint) -> Result<CheckpointCheck> {
        let keys = self.db.audit_keys().cloned().ok_or(StoreError::AuditKeyMissing)?;
        if let Err(e) = verify_checkpoint(cp) {
            return Ok(CheckpointCheck::Invalid(e));
        }
        if cp.public_key != keys.checkpoint.published().public_key {
            return Ok(CheckpointCheck::ForeignKey);
        }
        let head = query("SELECT seq, pruned_seq FROM audit_head WHERE id = 1").fetch_one(self.db.read()).await?;
        let head_seq: i64 = head.try_get("seq")?;
        let pruned: Option<i64> = head.try_get("pruned_seq")?;
        if head_seq < cp.seq {
            return Ok(CheckpointCheck::Truncated { head_seq });
        }
        if let Some(p) = pruned.filter(|p| *p >= cp.seq) {
            return Ok(CheckpointCheck::Pruned { pruned_through: p });
        }
        let row =
            query("SELECT hash FROM audit_events WHERE seq = $1").bind(cp.seq).fetch_optional(self.db.read()).await?;
        let hash: Option<Vec<u8>> = row.map(|r| r.try_get("hash")).transpose()?;
        Ok(match hash {
            Some(h) if hex(&h) == cp.head => CheckpointCheck::Intact,
            _ => CheckpointCheck::Rewritten,
        })
    }
}
