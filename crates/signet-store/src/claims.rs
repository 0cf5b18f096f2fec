//! Claim-mapping expressions per environment, and the account attributes
//! they read. Every write is conditional on the version the caller read
//! (when it names one) and is recorded in the audit trail in its transaction.

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;
use signet_core::id::{AccountId, EnvironmentId};

use crate::db::{Row, query};
use crate::versioned::{self, Keyed};
use crate::{Result, Store, Written, audit, conflict, from_json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMapping {
    pub id: String,
    pub environment_id: String,
    pub claim: String,
    pub expression: String,
    pub version: i64,
    pub created_at: UnixTime,
}

pub(crate) const COLUMNS: &str = "id, environment_id, claim, expression, version, created_at";

pub(crate) fn mapping(r: &Row) -> Result<StoredMapping> {
    Ok(StoredMapping {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        claim: r.try_get("claim")?,
        expression: r.try_get("expression")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// `Conflict` when the environment already maps that claim.
    pub async fn insert_claim_mapping(&self, m: &StoredMapping, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query(format!("INSERT INTO claim_mappings ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(&m.id)
            .bind(&m.environment_id)
            .bind(&m.claim)
            .bind(&m.expression)
            .bind(m.version)
            .bind(m.created_at)
            .execute(&mut tx)
            .await
            .map_err(conflict("claim mapping"))?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await
    }

    pub async fn claim_mapping(&self, environment_id: &EnvironmentId, id: &str) -> Result<Option<StoredMapping>> {
        let row = query(format!("SELECT {COLUMNS} FROM claim_mappings WHERE environment_id = $1 AND id = $2"))
            .bind(environment_id)
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(mapping).transpose()
    }

    pub async fn claim_mappings_page(
        &self,
        environment_id: &EnvironmentId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredMapping>> {
        let rows = query(format!(
            "SELECT {COLUMNS} FROM claim_mappings WHERE environment_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(environment_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(mapping).collect()
    }

    /// Every mapping of an environment, by claim: what token issuance evaluates.
    pub async fn claim_mappings(&self, environment_id: &EnvironmentId) -> Result<Vec<StoredMapping>> {
        let rows = query(format!("SELECT {COLUMNS} FROM claim_mappings WHERE environment_id = $1 ORDER BY claim"))
            .bind(environment_id)
            .fetch_all(self.db.read())
            .await?;
        rows.iter().map(mapping).collect()
    }

    /// Replaces a mapping's claim and expression, if it is still at `expected`.
    pub async fn update_claim_mapping(
        &self,
        m: &StoredMapping,
        expected: Option<i64>,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let row = Keyed { table: "claim_mappings", environment_id: &m.environment_id, id: &m.id };
        versioned::update(&self.db, row, expected, ev, "claim mapping", |version| {
            query(
                "UPDATE claim_mappings SET claim = $3, expression = $4, version = version + 1 \
                 WHERE environment_id = $1 AND id = $2 AND version = $5",
            )
            .bind(&m.environment_id)
            .bind(&m.id)
            .bind(&m.claim)
            .bind(&m.expression)
            .bind(version)
        })
        .await
    }

    pub async fn delete_claim_mapping(
        &self,
        environment_id: &EnvironmentId,
        id: &str,
        expected: Option<i64>,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let row = Keyed { table: "claim_mappings", environment_id: environment_id.as_str(), id };
        versioned::delete(&self.db, row, expected, ev).await
    }

    /// An account's attributes: a JSON object, empty when never set.
    pub async fn account_attributes(
        &self,
        account_id: &AccountId,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        let row = query("SELECT value FROM account_attributes WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(self.db.read())
            .await?;
        match row {
            None => Ok(serde_json::Map::new()),
            Some(r) => from_json(&r.try_get::<String>("value")?, "account attributes"),
        }
    }

    /// Replaces an account's attributes. False when there is no such account.
    pub async fn set_account_attributes(
        &self,
        account_id: &AccountId,
        value: &serde_json::Map<String, serde_json::Value>,
        ev: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let exists =
            query("SELECT id FROM accounts WHERE id = $1").bind(account_id).fetch_optional(&mut tx).await?.is_some();
        if !exists {
            return Ok(false);
        }
        query(
            "INSERT INTO account_attributes (account_id, value) VALUES ($1, $2) \
             ON CONFLICT (account_id) DO UPDATE SET value = $2",
        )
        .bind(account_id)
        .bind(serde_json::Value::Object(value.clone()).to_string())
        .execute(&mut tx)
        .await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}
