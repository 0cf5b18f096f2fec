//! Server-wide settings kept in the store, so every instance applies the same policy.

use signet_core::model::LockoutPolicy;

use signet_core::audit::AuditEvent;

use crate::db::query;
use crate::{Result, Store, audit, from_json, to_json};

/// The lockout policy's key among the settings.
pub const LOCKOUT_POLICY_KEY: &str = "lockout_policy";
/// Serialises conditional settings writes across instances.
pub(crate) const SETTINGS_LOCK: i64 = 0x5167_6e65_7403;

impl Store {
    pub async fn lockout_policy(&self) -> Result<LockoutPolicy> {
        let row = query("SELECT value FROM settings WHERE key = $1")
            .bind(LOCKOUT_POLICY_KEY)
            .fetch_optional(self.db.read())
            .await?;
        match row {
            Some(r) => from_json(&r.try_get::<String>("value")?, LOCKOUT_POLICY_KEY),
            None => Ok(LockoutPolicy::default()),
        }
    }

    pub async fn set_lockout_policy(&self, p: &LockoutPolicy) -> Result<()> {
        query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(LOCKOUT_POLICY_KEY)
            .bind(to_json(p))
            .execute(self.db.write())
            .await?;
        Ok(())
    }

    /// A setting's JSON value, if it was ever set.
    pub async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let row = query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(self.db.read()).await?;
        row.map(|r| from_json(&r.try_get::<String>("value")?, key)).transpose()
    }

    /// Sets a setting and records who did, in one transaction, if `still`
    /// approves of the value it replaces (read in that transaction; `None`
    /// when never set). False, and nothing written, when it does not.
    pub async fn put_setting_if(
        &self,
        key: &str,
        still: impl FnOnce(Option<&serde_json::Value>) -> bool,
        value: &serde_json::Value,
        ev: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        tx.serialise(SETTINGS_LOCK).await?;
        let row = query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&mut tx).await?;
        let current: Option<serde_json::Value> =
            row.map(|r| from_json(&r.try_get::<String>("value")?, key)).transpose()?;
        if !still(current.as_ref()) {
            return Ok(false);
        }
        query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
            .bind(key)
            .bind(value.to_string())
            .execute(&mut tx)
            .await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Settings whose keys start with `prefix`, after `after`, by key.
    pub async fn settings_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let after = after.map_or_else(|| prefix.to_owned(), |a| format!("{prefix}{a}"));
        let rows =
            query("SELECT key, value FROM settings WHERE key > $1 AND substr(key, 1, CAST($2 AS INTEGER)) = $3 ORDER BY key LIMIT $4")
                .bind(after)
                .bind(prefix.chars().count() as i64)
                .bind(prefix)
                .bind(limit)
            .fetch_all(self.db.read())
            .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("key")?;
                let value = from_json(&r.try_get::<String>("value")?, &key)?;
                Ok((key[prefix.len()..].to_owned(), value))
            })
            .collect()
    }

    /// Deletes a setting if `still` approves of its current value, and records
    /// who did. `None` when there was none; `Some(false)` when refused.
    pub async fn delete_setting_if(
        &self,
        key: &str,
        still: impl FnOnce(&serde_json::Value) -> bool,
        ev: &AuditEvent,
    ) -> Result<Option<bool>> {
        let mut tx = self.db.begin().await?;
        tx.serialise(SETTINGS_LOCK).await?;
        let row = query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&mut tx).await?;
        let Some(row) = row else { return Ok(None) };
        let current: serde_json::Value = from_json(&row.try_get::<String>("value")?, key)?;
        if !still(&current) {
            return Ok(Some(false));
        }
        query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(Some(true))
    }
}
