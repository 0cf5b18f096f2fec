//! Signing keys per environment. The private half is sealed with the
//! key-encryption key before it reaches the store; the store never sees it in clear.
//!
//! A key may be published ahead of its use (`activates_at`, a scheduled
//! rotation): the key it replaces then has its `retired_at` set to that same
//! time, in the future. At any time the key that signs is the newest one
//! activated and not yet retired (`StoredKey::signs_at`).

use signet_core::clock::UnixTime;
use signet_core::id::EnvironmentId;
use signet_core::model::{signing_key_purpose, totp_purpose};

use crate::db::{Row, Tx, query};
use crate::{Result, Store, StoreError};

#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub environment_id: EnvironmentId,
    pub public_jwk: String,
    pub private_sealed: Vec<u8>,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
    /// When it starts signing, if later than its creation.
    pub activates_at: Option<UnixTime>,
}

impl StoredKey {
    /// When it starts signing.
    pub fn activation(&self) -> UnixTime {
        self.activates_at.unwrap_or(self.created_at)
    }

    /// Whether it may sign at `now`: activated, and not retired.
    pub fn signs_at(&self, now: UnixTime) -> bool {
        self.activation() <= now && self.retired_at.is_none_or(|r| r > now)
    }
}

/// Serialises the writes that decide which key signs, across instances.
const SIGNING_KEYS_LOCK: i64 = 0x5167_6e65_7420;

pub(crate) const KEY_COLUMNS: &str =
    "kid, environment_id, public_jwk, private_sealed, created_at, retired_at, activates_at";

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("environment_id", &self.environment_id)
            .field("retired_at", &self.retired_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

pub(crate) fn key(r: &Row) -> Result<StoredKey> {
    Ok(StoredKey {
        kid: r.try_get("kid")?,
        environment_id: r.try_get("environment_id")?,
        public_jwk: r.try_get("public_jwk")?,
        private_sealed: r.try_get("private_sealed")?,
        created_at: r.try_get("created_at")?,
        retired_at: r.try_get("retired_at")?,
        activates_at: r.try_get("activates_at")?,
    })
}

pub(crate) async fn insert(conn: &mut Tx, k: &StoredKey) -> Result<()> {
    query(format!("INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
        .bind(&k.kid)
        .bind(&k.environment_id)
        .bind(&k.public_jwk)
        .bind(k.private_sealed.clone())
        .bind(k.created_at)
        .bind(k.retired_at)
        .bind(k.activates_at)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// The keys to publish for an environment: those not retired (the one
    /// that signs, and one published ahead of its use) first, then every
    /// key retired after `published_since` (its tokens may still be live),
    /// newest first; a rotation within the same second keeps that order.
    pub async fn signing_keys(
        &self,
        environment_id: &EnvironmentId,
        published_since: UnixTime,
    ) -> Result<Vec<StoredKey>> {
        let rows = query(format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys \
             WHERE environment_id = $1 AND (retired_at IS NULL OR retired_at > $2) \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, created_at DESC, kid"
        ))
        .bind(environment_id)
        .bind(published_since)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(key).collect()
    }

    /// Rotation: the new key signs from now on; the old ones are retired but
    /// stay published, and so is one that was published ahead of its use,
    /// which now never signs.
    pub async fn rotate_signing_key(
        &self,
        new: &StoredKey,
        now: UnixTime,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        tx.serialise(SIGNING_KEYS_LOCK).await?;
        query(
            "UPDATE signing_keys SET retired_at = $2 \
             WHERE environment_id = $1 AND (retired_at IS NULL OR retired_at > $2)",
        )
        .bind(&new.environment_id)
        .bind(now)
        .execute(&mut tx)
        .await?;
        insert(&mut tx, new).await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Schedules a rotation, if `due` finds one due on the environment's keys
    /// as they stand (read under a lock every instance takes, so of several
    /// instances deciding on the same keys exactly one schedules): `new` is
    /// published from now and signs from the time `due` answers; the keys
    /// that sign until then are retired at that time. Whether it scheduled.
    pub async fn schedule_signing_key(
        &self,
        new: &StoredKey,
        now: UnixTime,
        due: impl FnOnce(&[StoredKey]) -> Option<(UnixTime, signet_core::audit::AuditEvent)>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        tx.serialise(SIGNING_KEYS_LOCK).await?;
        let rows = query(format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE environment_id = $1 AND (retired_at IS NULL OR retired_at > $2)"
        ))
        .bind(&new.environment_id)
        .bind(now)
        .fetch_all(&mut tx)
        .await?;
        let live = rows.iter().map(key).collect::<Result<Vec<_>>>()?;
        let Some((at, ev)) = due(&live) else { return Ok(false) };
        query("UPDATE signing_keys SET retired_at = $2 WHERE environment_id = $1 AND retired_at IS NULL")
            .bind(&new.environment_id)
            .bind(at)
            .execute(&mut tx)
            .await?;
        insert(&mut tx, &StoredKey { activates_at: Some(at), ..new.clone() }).await?;
        crate::audit::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Retires a key that no longer signs: it is no longer published, so the
    /// tokens it signed stop verifying. `None` when there is no such key,
    /// `Some(false)` when it is the active key, or one that signs until a
    /// scheduled rotation (rotate first).
    pub async fn retire_signing_key(
        &self,
        environment_id: &str,
        kid: &str,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<Option<bool>> {
        let mut tx = self.db.begin().await?;
        let row = query("SELECT retired_at FROM signing_keys WHERE environment_id = $1 AND kid = $2")
            .bind(environment_id)
            .bind(kid)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(retired_at) = row.try_get::<Option<UnixTime>>("retired_at")? else { return Ok(Some(false)) };
        // Retired by a schedule, it signs until its successor starts.
        let successor = query("SELECT COUNT(*) AS n FROM signing_keys WHERE environment_id = $1 AND activates_at = $2")
            .bind(environment_id)
            .bind(retired_at)
            .fetch_one(&mut tx)
            .await?;
        if retired_at > ev.at && successor.try_get::<i64>("n")? > 0 {
            return Ok(Some(false));
        }
        query("DELETE FROM signing_keys WHERE environment_id = $1 AND kid = $2 AND retired_at IS NOT NULL")
            .bind(environment_id)
            .bind(kid)
            .execute(&mut tx)
            .await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Re-seals every sealed secret (signing keys and TOTP secrets) under a new
    /// key-encryption key, in one transaction: either all move or none does.
    /// `reseal(purpose, sealed)` opens with the old key and seals with the new.
    /// Sign-on flows in progress hold secrets sealed with the old key; they are ended.
    pub async fn reseal_all<F, E>(&self, reseal: F, ev: &signet_core::audit::AuditEvent) -> Result<usize>
    where
        F: Fn(&str, &[u8]) -> std::result::Result<Vec<u8>, E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let reseal = |purpose: &str, sealed: &[u8]| {
            reseal(purpose, sealed).map_err(|e| StoreError::Reseal { purpose: purpose.to_owned(), source: e.into() })
        };
        let mut tx = self.db.begin().await?;
        // Lock what is about to be rewritten before reading it (see `poll_device`).
        // Run this with signetd stopped: an enrolment confirmed meanwhile would
        // still be sealed with the old key.
        for lock in RESEAL_LOCKS {
            query(lock).execute(&mut tx).await?;
        }
        let mut count = 0;
        for column in &SEALED_COLUMNS {
            count += reseal_column(&mut tx, column, &reseal).await?;
        }
        count += reseal_audit_keys(&mut tx, &reseal).await?;
        count += reseal_settings(&mut tx, &reseal).await?;
        query("DELETE FROM login_flows").execute(&mut tx).await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(count)
    }
}

/// What `reseal_all` locks before it reads.
const RESEAL_LOCKS: [&str; 5] = [
    "UPDATE signing_keys SET private_sealed = private_sealed",
    "UPDATE accounts SET totp_sealed = totp_sealed WHERE totp_sealed IS NOT NULL",
    "UPDATE mfa_methods SET version = version",
    "UPDATE identity_providers SET version = version",
    "UPDATE mfa_totp_enrolments SET last_step = last_step",
];

/// A column of sealed secrets, one per row (when set), and the purpose each
/// is sealed for, made from the columns that name its row.
struct SealedColumn {
    table: &'static str,
    /// The columns naming a row, in the order `purpose` takes them.
    key: &'static [&'static str],
    column: &'static str,
    purpose: fn(&[String]) -> String,
}

/// Every column `reseal_all` moves, in the order it moves them.
const SEALED_COLUMNS: [SealedColumn; 6] = [
    SealedColumn {
        table: "signing_keys",
        key: &["kid"],
        column: "private_sealed",
        purpose: |k| signing_key_purpose(&k[0]),
    },
    SealedColumn { table: "accounts", key: &["id"], column: "totp_sealed", purpose: |k| totp_purpose(&k[0]) },
    SealedColumn {
        table: "certificates",
        key: &["id"],
        column: "private_key_sealed",
        purpose: |k| signet_core::model::certificate_key_purpose(&k[0]),
    },
    SealedColumn {
        table: "identity_providers",
        key: &["id"],
        column: "secret_sealed",
        purpose: |k| signet_core::federation::secret_purpose(&k[0]),
    },
    SealedColumn {
        table: "mfa_methods",
        key: &["id"],
        column: "secrets_sealed",
        purpose: |k| signet_core::mfa::secrets_purpose(&k[0]),
    },
    SealedColumn {
        table: "mfa_totp_enrolments",
        key: &["method_id", "account_id"],
        column: "secret_sealed",
        purpose: |k| signet_core::mfa::enrolment_purpose(&k[0], &k[1]),
    },
];

/// Re-seals every secret of one column; how many it moved.
async fn reseal_column<R>(tx: &mut Tx, c: &SealedColumn, reseal: &R) -> Result<usize>
where
    R: Fn(&str, &[u8]) -> Result<Vec<u8>>,
{
    let (table, column) = (c.table, c.column);
    let rows = query(format!("SELECT {}, {column} FROM {table} WHERE {column} IS NOT NULL", c.key.join(", ")))
        .fetch_all(&mut *tx)
        .await?;
    let matching: Vec<String> = c.key.iter().enumerate().map(|(i, k)| format!("{k} = ${}", i + 1)).collect();
    let update = format!("UPDATE {table} SET {column} = ${} WHERE {}", c.key.len() + 1, matching.join(" AND "));
    for r in &rows {
        let key = c.key.iter().map(|k| r.try_get::<String>(k)).collect::<Result<Vec<String>>>()?;
        let sealed: Vec<u8> = r.try_get(column)?;
        let new = reseal(&(c.purpose)(&key), &sealed)?;
        let mut q = query(update.clone());
        for k in &key {
            q = q.bind(k);
        }
        q.bind(new).execute(&mut *tx).await?;
    }
    Ok(rows.len())
}

/// The audit trail's chain and checkpoint keys: the same keys, sealed anew,
/// so every event keyed before the rotation still verifies.
async fn reseal_audit_keys<R>(tx: &mut Tx, reseal: &R) -> Result<usize>
where
    R: Fn(&str, &[u8]) -> Result<Vec<u8>>,
{
    use signet_core::audit_key::{CHAIN_KEY_PURPOSE, CHECKPOINT_KEY_PURPOSE};
    query("UPDATE audit_keys SET created_at = created_at").execute(&mut *tx).await?;
    let audit =
        query("SELECT chain_sealed, checkpoint_sealed FROM audit_keys WHERE id = 1").fetch_optional(&mut *tx).await?;
    let Some(r) = audit else { return Ok(0) };
    let chain: Vec<u8> = r.try_get("chain_sealed")?;
    let checkpoint: Vec<u8> = r.try_get("checkpoint_sealed")?;
    query("UPDATE audit_keys SET chain_sealed = $1, checkpoint_sealed = $2 WHERE id = 1")
        .bind(reseal(CHAIN_KEY_PURPOSE, &chain)?)
        .bind(reseal(CHECKPOINT_KEY_PURPOSE, &checkpoint)?)
        .execute(&mut *tx)
        .await?;
    Ok(2)
}

/// Secrets inside settings documents: `{"sealed": base64, "purpose": …}` objects.
async fn reseal_settings<R>(tx: &mut Tx, reseal: &R) -> Result<usize>
where
    R: Fn(&str, &[u8]) -> Result<Vec<u8>>,
{
    let mut count = 0;
    let settings = query("SELECT key, value FROM settings").fetch_all(&mut *tx).await?;
    for r in &settings {
        let key: String = r.try_get("key")?;
        let mut value: serde_json::Value = crate::from_json(&r.try_get::<String>("value")?, &key)?;
        let moved = reseal_json(&mut value, reseal)?;
        if moved > 0 {
            query("UPDATE settings SET value = $2 WHERE key = $1")
                .bind(&key)
                .bind(value.to_string())
                .execute(&mut *tx)
                .await?;
            count += moved;
        }
    }
    Ok(count)
}

/// Re-seals every `{"sealed", "purpose"}` object inside a settings document.
fn reseal_json<F>(v: &mut serde_json::Value, reseal: &F) -> Result<usize>
where
    F: Fn(&str, &[u8]) -> Result<Vec<u8>>,
{
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    match v {
        serde_json::Value::Object(map) if map.len() == 2 => {
            if let (Some(serde_json::Value::String(sealed)), Some(serde_json::Value::String(purpose))) =
                (map.get("sealed"), map.get("purpose"))
            {
                let blob = b64.decode(sealed).map_err(|_| StoreError::Corrupt(format!("{purpose}: not base64")))?;
                let new = b64.encode(reseal(purpose, &blob)?);
                map.insert("sealed".into(), serde_json::Value::String(new));
                return Ok(1);
            }
            map.values_mut().map(|x| reseal_json(x, reseal)).sum()
        }
        serde_json::Value::Object(map) => map.values_mut().map(|x| reseal_json(x, reseal)).sum(),
        serde_json::Value::Array(items) => items.iter_mut().map(|x| reseal_json(x, reseal)).sum(),
        _ => Ok(0),
    }
}
