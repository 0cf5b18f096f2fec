//! Signing keys per environment. The private half is sealed with the
//! key-encryption key before it reaches the store; the store never sees it in clear.

use signet_core::clock::UnixTime;
use signet_core::model::{signing_key_purpose, totp_purpose};

use crate::db::{Row, Tx, query};
use crate::{Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub environment_id: String,
    pub public_jwk: String,
    pub private_sealed: Vec<u8>,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("environment_id", &self.environment_id)
            .field("retired_at", &self.retired_at)
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
    })
}

pub(crate) async fn insert(conn: &mut Tx, k: &StoredKey) -> Result<()> {
    query(
        "INSERT INTO signing_keys (kid, environment_id, public_jwk, private_sealed, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&k.kid)
    .bind(&k.environment_id)
    .bind(&k.public_jwk)
    .bind(k.private_sealed.clone())
    .bind(k.created_at)
    .bind(k.retired_at)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The keys to publish for an environment: the active one first, then every
    /// key retired after `published_since` (its tokens may still be live),
    /// newest first; a rotation within the same second keeps that order.
    pub async fn signing_keys(&self, environment_id: &str, published_since: UnixTime) -> Result<Vec<StoredKey>> {
        let rows = query(
            "SELECT kid, environment_id, public_jwk, private_sealed, created_at, retired_at FROM signing_keys \
             WHERE environment_id = $1 AND (retired_at IS NULL OR retired_at > $2) \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, created_at DESC, kid",
        )
        .bind(environment_id)
        .bind(published_since)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(key).collect()
    }

    /// Rotation: the new key signs from now on; the old ones are retired but stay published.
    pub async fn rotate_signing_key(
        &self,
        new: &StoredKey,
        now: UnixTime,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query("UPDATE signing_keys SET retired_at = $2 WHERE environment_id = $1 AND retired_at IS NULL")
            .bind(&new.environment_id)
            .bind(now)
            .execute(&mut tx)
            .await?;
        insert(&mut tx, new).await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires a key that no longer signs: it is no longer published, so the
    /// tokens it signed stop verifying. `None` when there is no such key,
    /// `Some(false)` when it is the active key (rotate first).
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
        if row.try_get::<Option<UnixTime>>("retired_at")?.is_none() {
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
    pub async fn reseal_all<F>(&self, reseal: F, ev: &signet_core::audit::AuditEvent) -> Result<usize>
    where
        F: Fn(&str, &[u8]) -> std::result::Result<Vec<u8>, String>,
    {
        let mut tx = self.db.begin().await?;
        // Lock what is about to be rewritten before reading it (see `poll_device`).
        // Run this with signetd stopped: an enrolment confirmed meanwhile would
        // still be sealed with the old key.
        query("UPDATE signing_keys SET private_sealed = private_sealed").execute(&mut tx).await?;
        query("UPDATE accounts SET totp_sealed = totp_sealed WHERE totp_sealed IS NOT NULL").execute(&mut tx).await?;
        query("UPDATE mfa_methods SET version = version").execute(&mut tx).await?;
        query("UPDATE identity_providers SET version = version").execute(&mut tx).await?;
        query("UPDATE mfa_totp_enrolments SET last_step = last_step").execute(&mut tx).await?;
        let keys = query("SELECT kid, private_sealed FROM signing_keys").fetch_all(&mut tx).await?;
        let mut count = 0;
        for r in &keys {
            let kid: String = r.try_get("kid")?;
            let sealed: Vec<u8> = r.try_get("private_sealed")?;
            let new = reseal(&signing_key_purpose(&kid), &sealed).map_err(crate::StoreError::Corrupt)?;
            query("UPDATE signing_keys SET private_sealed = $2 WHERE kid = $1")
                .bind(&kid)
                .bind(new)
                .execute(&mut tx)
                .await?;
            count += 1;
        }
        let totps =
            query("SELECT id, totp_sealed FROM accounts WHERE totp_sealed IS NOT NULL").fetch_all(&mut tx).await?;
        for r in &totps {
            let id: String = r.try_get("id")?;
            let sealed: Vec<u8> = r.try_get("totp_sealed")?;
            let new = reseal(&totp_purpose(&id), &sealed).map_err(crate::StoreError::Corrupt)?;
            query("UPDATE accounts SET totp_sealed = $2 WHERE id = $1").bind(&id).bind(new).execute(&mut tx).await?;
            count += 1;
        }
        let certs = query("SELECT id, private_key_sealed FROM certificates WHERE private_key_sealed IS NOT NULL")
            .fetch_all(&mut tx)
            .await?;
        for r in &certs {
            let id: String = r.try_get("id")?;
            let sealed: Vec<u8> = r.try_get("private_key_sealed")?;
            let new = reseal(&signet_core::model::certificate_key_purpose(&id), &sealed)
                .map_err(crate::StoreError::Corrupt)?;
            query("UPDATE certificates SET private_key_sealed = $2 WHERE id = $1")
                .bind(&id)
                .bind(new)
                .execute(&mut tx)
                .await?;
            count += 1;
        }
        let providers = query("SELECT id, secret_sealed FROM identity_providers").fetch_all(&mut tx).await?;
        for r in &providers {
            let id: String = r.try_get("id")?;
            let sealed: Vec<u8> = r.try_get("secret_sealed")?;
            let new =
                reseal(&signet_core::federation::secret_purpose(&id), &sealed).map_err(crate::StoreError::Corrupt)?;
            query("UPDATE identity_providers SET secret_sealed = $2 WHERE id = $1")
                .bind(&id)
                .bind(new)
                .execute(&mut tx)
                .await?;
            count += 1;
        }
        let methods = query("SELECT id, secrets_sealed FROM mfa_methods").fetch_all(&mut tx).await?;
        for r in &methods {
            let id: String = r.try_get("id")?;
            let sealed: Vec<u8> = r.try_get("secrets_sealed")?;
            let new = reseal(&signet_core::mfa::secrets_purpose(&id), &sealed).map_err(crate::StoreError::Corrupt)?;
            query("UPDATE mfa_methods SET secrets_sealed = $2 WHERE id = $1")
                .bind(&id)
                .bind(new)
                .execute(&mut tx)
                .await?;
            count += 1;
        }
        let enrolments =
            query("SELECT method_id, account_id, secret_sealed FROM mfa_totp_enrolments").fetch_all(&mut tx).await?;
        for r in &enrolments {
            let (method, account): (String, String) = (r.try_get("method_id")?, r.try_get("account_id")?);
            let sealed: Vec<u8> = r.try_get("secret_sealed")?;
            let new = reseal(&signet_core::mfa::enrolment_purpose(&method, &account), &sealed)
                .map_err(crate::StoreError::Corrupt)?;
            query("UPDATE mfa_totp_enrolments SET secret_sealed = $3 WHERE method_id = $1 AND account_id = $2")
                .bind(&method)
                .bind(&account)
                .bind(new)
                .execute(&mut tx)
                .await?;
            count += 1;
        }
        // The audit trail's chain and checkpoint keys: the same keys, sealed
        // anew, so every event keyed before the rotation still verifies.
        query("UPDATE audit_keys SET created_at = created_at").execute(&mut tx).await?;
        let audit = query("SELECT chain_sealed, checkpoint_sealed FROM audit_keys WHERE id = 1")
            .fetch_optional(&mut tx)
            .await?;
        if let Some(r) = audit {
            use signet_core::audit_key::{CHAIN_KEY_PURPOSE, CHECKPOINT_KEY_PURPOSE};
            let chain: Vec<u8> = r.try_get("chain_sealed")?;
            let checkpoint: Vec<u8> = r.try_get("checkpoint_sealed")?;
            query("UPDATE audit_keys SET chain_sealed = $1, checkpoint_sealed = $2 WHERE id = 1")
                .bind(reseal(CHAIN_KEY_PURPOSE, &chain).map_err(crate::StoreError::Corrupt)?)
                .bind(reseal(CHECKPOINT_KEY_PURPOSE, &checkpoint).map_err(crate::StoreError::Corrupt)?)
                .execute(&mut tx)
                .await?;
            count += 2;
        }
        // Secrets inside settings documents: `{"sealed": base64, "purpose": …}` objects.
        let settings = query("SELECT key, value FROM settings").fetch_all(&mut tx).await?;
        for r in &settings {
            let key: String = r.try_get("key")?;
            let mut value: serde_json::Value = crate::from_json(&r.try_get::<String>("value")?, &key)?;
            let moved = reseal_json(&mut value, &reseal).map_err(crate::StoreError::Corrupt)?;
            if moved > 0 {
                query("UPDATE settings SET value = $2 WHERE key = $1")
                    .bind(&key)
                    .bind(value.to_string())
                    .execute(&mut tx)
                    .await?;
                count += moved;
            }
        }
        query("DELETE FROM login_flows").execute(&mut tx).await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(count)
    }
}

/// Re-seals every `{"sealed", "purpose"}` object inside a settings document.
fn reseal_json<F>(v: &mut serde_json::Value, reseal: &F) -> std::result::Result<usize, String>
where
    F: Fn(&str, &[u8]) -> std::result::Result<Vec<u8>, String>,
{
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    match v {
        serde_json::Value::Object(map) if map.len() == 2 => {
            if let (Some(serde_json::Value::String(sealed)), Some(serde_json::Value::String(purpose))) =
                (map.get("sealed"), map.get("purpose"))
            {
                let blob = b64.decode(sealed).map_err(|_| format!("{purpose}: not base64"))?;
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
