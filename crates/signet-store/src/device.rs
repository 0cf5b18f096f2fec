//! Device authorizations (RFC 8628): created by the device, approved or denied
//! in a browser, and spent once by the polling device.

use signet_core::clock::UnixTime;
use signet_core::id::EnvironmentId;
use signet_core::model::{DeviceAuthorization, DeviceStatus, Grant, RefreshToken};

use crate::db::{Row, query};
use crate::{Result, Store, StoreError, conflict, from_json, to_json};

const COLUMNS: &str = "device_hash, user_code, environment_id, client_id, scope, expires_at, interval_secs, \
     last_polled_at, status, account_id, auth_time, amr, requested_from, requested_at";

fn device(r: &Row) -> Result<DeviceAuthorization> {
    let status: String = r.try_get("status")?;
    let status = match status.as_str() {
        "pending" => DeviceStatus::Pending,
        "denied" => DeviceStatus::Denied,
        "consumed" => DeviceStatus::Consumed,
        "approved" => DeviceStatus::Approved {
            account_id: r.try_get::<Option<String>>("account_id")?.unwrap_or_default().into(),
            auth_time: r.try_get::<Option<i64>>("auth_time")?.unwrap_or_default(),
            amr: from_json(&r.try_get::<Option<String>>("amr")?.unwrap_or_else(|| "[]".into()), "amr")?,
        },
        other => return Err(StoreError::Corrupt(format!("device status {other:?}"))),
    };
    Ok(DeviceAuthorization {
        device_hash: r.try_get("device_hash")?,
        user_code: r.try_get("user_code")?,
        environment_id: r.try_get("environment_id")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        expires_at: r.try_get("expires_at")?,
        interval: r.try_get("interval_secs")?,
        last_polled_at: r.try_get("last_polled_at")?,
        status,
        requested_from: r.try_get("requested_from")?,
        requested_at: r.try_get("requested_at")?,
    })
}

impl Store {
    /// Fails with `Conflict` if the user code is taken; the caller draws another.
    pub async fn insert_device(&self, d: &DeviceAuthorization) -> Result<()> {
        query(format!(
            "INSERT INTO device_codes ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, 'pending', NULL, NULL, NULL, $8, $9)"
        ))
        .bind(d.device_hash.clone())
        .bind(&d.user_code)
        .bind(&d.environment_id)
        .bind(&d.client_id)
        .bind(&d.scope)
        .bind(d.expires_at)
        .bind(d.interval)
        .bind(d.requested_from.as_deref())
        .bind(d.requested_at)
        .execute(self.db.write())
        .await
        .map_err(conflict("user code"))?;
        Ok(())
    }

    pub async fn device_by_user_code(
        &self,
        environment_id: &EnvironmentId,
        user_code: &str,
    ) -> Result<Option<DeviceAuthorization>> {
        let row = query(format!("SELECT {COLUMNS} FROM device_codes WHERE environment_id = $1 AND user_code = $2"))
            .bind(environment_id)
            .bind(user_code)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(device).transpose()
    }

    /// Records a poll and returns the authorization as it was before it, so the
    /// caller can tell a poll that came too soon (RFC 8628 §3.5 `slow_down`).
    pub async fn poll_device(&self, device_hash: &[u8], now: UnixTime) -> Result<Option<DeviceAuthorization>> {
        let mut tx = self.db.begin().await?;
        // Write first: this takes the row lock (PostgreSQL) or the write lock
        // (SQLite) before reading, so racing polls serialise instead of both
        // reading the old time or failing to upgrade a read transaction.
        query("UPDATE device_codes SET last_polled_at = last_polled_at WHERE device_hash = $1")
            .bind(device_hash.to_vec())
            .execute(&mut tx)
            .await?;
        let before = query(format!("SELECT {COLUMNS} FROM device_codes WHERE device_hash = $1"))
            .bind(device_hash.to_vec())
            .fetch_optional(&mut tx)
            .await?;
        let Some(before) = before.as_ref().map(device).transpose()? else { return Ok(None) };
        query("UPDATE device_codes SET last_polled_at = $2 WHERE device_hash = $1")
            .bind(device_hash.to_vec())
            .bind(now)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(before))
    }

    /// After `slow_down`, the device must poll 5 seconds slower (RFC 8628 §3.5).
    pub async fn slow_device_down(&self, device_hash: &[u8]) -> Result<()> {
        query("UPDATE device_codes SET interval_secs = interval_secs + 5 WHERE device_hash = $1")
            .bind(device_hash.to_vec())
            .execute(self.db.write())
            .await?;
        Ok(())
    }

    /// Approves or denies a pending authorization. False if it was no longer pending.
    /// Approves or denies a pending authorization, recording `ev` with the
    /// decision. False, and nothing recorded, when it was not pending.
    pub async fn decide_device(
        &self,
        user_code: &str,
        decision: &DeviceStatus,
        now: UnixTime,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<bool> {
        let (status, account, auth_time, amr) = match decision {
            DeviceStatus::Approved { account_id, auth_time, amr } => {
                ("approved", Some(account_id.clone()), Some(*auth_time), Some(to_json(amr)))
            }
            DeviceStatus::Denied => ("denied", None, None, None),
            _ => return Ok(false),
        };
        let mut tx = self.db.begin().await?;
        let done = query(
            "UPDATE device_codes SET status = $2, account_id = $3, auth_time = $4, amr = $5 \
             WHERE user_code = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(user_code)
        .bind(status)
        .bind(account)
        .bind(auth_time)
        .bind(amr)
        .bind(now)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends an approved authorization and creates its family. False if it was
    /// spent already (two polls racing).
    pub async fn consume_device(&self, device_hash: &[u8], g: &Grant, refresh: Option<&RefreshToken>) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = query("UPDATE device_codes SET status = 'consumed' WHERE device_hash = $1 AND status = 'approved'")
            .bind(device_hash.to_vec())
            .execute(&mut tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::grants::insert_grant(&mut tx, g).await?;
        if let Some(t) = refresh {
            crate::grants::insert_refresh(&mut tx, t).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
