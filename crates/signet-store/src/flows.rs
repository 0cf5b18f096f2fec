//! Sign-on flows in progress and browser sessions. Both live in the store, not
//! in memory, so any instance can serve the next step of a flow.

use signet_core::clock::UnixTime;
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::login::{Purpose, Step};

use crate::db::{Row, Tx, query};
use crate::{Result, Store, from_json, to_json};

/// A flow is addressed by `id` (in the URL) and bound to the browser that
/// started it by a cookie whose hash is `cookie_hash`. `version` makes each
/// step a compare-and-swap, so a form posted twice advances the flow once.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginFlow {
    pub id: String,
    pub environment_id: EnvironmentId,
    pub cookie_hash: Vec<u8>,
    pub csrf: String,
    pub purpose: Purpose,
    pub step: Step,
    pub version: i64,
    pub expires_at: UnixTime,
}

/// Leaves out the cookie's hash and the CSRF token.
impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlow")
            .field("id", &self.id)
            .field("environment_id", &self.environment_id)
            .field("purpose", &self.purpose)
            .field("step", &self.step)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub environment_id: EnvironmentId,
    pub account_id: AccountId,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    pub expires_at: UnixTime,
}

async fn insert_session(conn: &mut Tx, hash: &[u8], s: &BrowserSession) -> Result<()> {
    query(
        "INSERT INTO browser_sessions (hash, environment_id, account_id, auth_time, amr, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash.to_vec())
    .bind(&s.environment_id)
    .bind(&s.account_id)
    .bind(s.auth_time)
    .bind(to_json(&s.amr))
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

fn flow(r: &Row) -> Result<LoginFlow> {
    Ok(LoginFlow {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        cookie_hash: r.try_get("cookie_hash")?,
        csrf: r.try_get("csrf")?,
        purpose: from_json(&r.try_get::<String>("purpose")?, "flow purpose")?,
        step: from_json(&r.try_get::<String>("step")?, "flow step")?,
        version: r.try_get("version")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// Ends flow `id` if it is still at `version`, inside `tx`: false when a
/// concurrent request moved or ended it first.
async fn end_flow_in(tx: &mut Tx, id: &str, version: i64) -> Result<bool> {
    let ended =
        query("DELETE FROM login_flows WHERE id = $1 AND version = $2").bind(id).bind(version).execute(tx).await?;
    Ok(ended.rows_affected() == 1)
}

impl Store {
    pub async fn insert_flow(&self, f: &LoginFlow) -> Result<()> {
        query(
            "INSERT INTO login_flows (id, environment_id, cookie_hash, csrf, purpose, step, version, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&f.id)
        .bind(&f.environment_id)
        .bind(f.cookie_hash.clone())
        .bind(&f.csrf)
        .bind(to_json(&f.purpose))
        .bind(to_json(&f.step))
        .bind(f.version)
        .bind(f.expires_at)
        .execute(self.db.write())
        .await?;
        Ok(())
    }

    /// A live flow of this environment.
    pub async fn flow(&self, environment_id: &EnvironmentId, id: &str, now: UnixTime) -> Result<Option<LoginFlow>> {
        let row = query(
            "SELECT id, environment_id, cookie_hash, csrf, purpose, step, version, expires_at FROM login_flows \
             WHERE id = $1 AND environment_id = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(environment_id)
        .bind(now)
        .fetch_optional(self.db.read())
        .await?;
        row.as_ref().map(flow).transpose()
    }

    /// Moves a flow from the version the caller read to `step`. False if someone
    /// else moved it first.
    pub async fn advance_flow(&self, id: &str, version: i64, step: &Step) -> Result<bool> {
        let done = query("UPDATE login_flows SET step = $3, version = version + 1 WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(version)
            .bind(to_json(step))
            .execute(self.db.write())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_flow(&self, id: &str) -> Result<()> {
        query("DELETE FROM login_flows WHERE id = $1").bind(id).execute(self.db.write()).await?;
        Ok(())
    }

    pub async fn insert_session(&self, hash: &[u8], s: &BrowserSession) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_session(&mut tx, hash, s).await?;
        tx.commit().await
    }

    pub async fn session(&self, hash: &[u8], now: UnixTime) -> Result<Option<BrowserSession>> {
        let row = query(
            "SELECT environment_id, account_id, auth_time, amr, expires_at FROM browser_sessions \
             WHERE hash = $1 AND expires_at > $2",
        )
        .bind(hash.to_vec())
        .bind(now)
        .fetch_optional(self.db.read())
        .await?;
        row.map(|r| {
            Ok(BrowserSession {
                environment_id: r.try_get("environment_id")?,
                account_id: r.try_get("account_id")?,
                auth_time: r.try_get("auth_time")?,
                amr: from_json(&r.try_get::<String>("amr")?, "amr")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, hash: &[u8]) -> Result<()> {
        query("DELETE FROM browser_sessions WHERE hash = $1").bind(hash.to_vec()).execute(self.db.write()).await?;
        Ok(())
    }

    /// Everything a completed sign-on writes, in one transaction: the
    /// account's failure count reset, the audit event, the browser session,
    /// and for an authorization request its code, with the flow ended at the
    /// version the caller read. False, with nothing written, if the flow moved
    /// meanwhile (the form was posted twice).
    /// Ends a flow at `version` and stores the code it issues, at once: a
    /// confirmation posted twice issues one code. False when the flow moved.
    pub async fn end_flow_with_code(
        &self,
        id: &str,
        version: i64,
        code: &signet_core::model::AuthCode,
        ev: &signet_core::audit::AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        if !end_flow_in(&mut tx, id, version).await? {
            return Ok(false);
        }
        crate::grants::insert_code(&mut tx, code).await?;
        crate::audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn complete_signon(
        &self,
        ev: &signet_core::audit::AuditEvent,
        reset_failures: bool,
        session_hash: &[u8],
        session: &BrowserSession,
        code: Option<&signet_core::model::AuthCode>,
        end_flow: Option<(&str, i64)>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        if let Some((id, version)) = end_flow
            && !end_flow_in(&mut tx, id, version).await?
        {
            return Ok(false);
        }
        if reset_failures {
            query("UPDATE accounts SET failed_attempts = 0 WHERE id = $1")
                .bind(&session.account_id)
                .execute(&mut tx)
                .await?;
        }
        crate::audit::append(&mut tx, ev).await?;
        insert_session(&mut tx, session_hash, session).await?;
        if let Some(c) = code {
            crate::grants::insert_code(&mut tx, c).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
