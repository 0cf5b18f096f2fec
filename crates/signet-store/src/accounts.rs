//! Accounts: administrators and end users, their credentials and lockout state.

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::model::Account;

use crate::db::{Row, Tx, query};
use crate::{Result, Store, StoreError, audit, conflict, flag, from_json, to_json};

pub(crate) const COLUMNS: &str = "id, environment_id, username, password_hash, active, admin, roles, auditor, totp_sealed, \
     totp_confirmed, totp_last_step, failed_attempts, locked_until, created_at, password_change_required";

pub(crate) fn account(r: &Row) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        active: r.try_get::<i64>("active")? != 0,
        admin: r.try_get::<i64>("admin")? != 0,
        roles: from_json(&r.try_get::<String>("roles")?, "account roles")?,
        auditor: r.try_get::<i64>("auditor")? != 0,
        totp_sealed: r.try_get("totp_sealed")?,
        totp_confirmed: r.try_get::<i64>("totp_confirmed")? != 0,
        totp_last_step: r.try_get("totp_last_step")?,
        failed_attempts: r.try_get("failed_attempts")?,
        locked_until: r.try_get("locked_until")?,
        created_at: r.try_get("created_at")?,
        password_change_required: r.try_get::<i64>("password_change_required")? != 0,
    })
}

/// An account with its version: the admin API's ETag, bumped by every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub account: Account,
    pub version: i64,
}

/// What an administrator may change on an admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminChange {
    pub active: bool,
    pub roles: std::collections::BTreeSet<signet_proto::roles::Role>,
    pub auditor: bool,
}

/// The outcome of a versioned write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the new version.
    Done(i64),
    /// The caller's version is not the stored one: someone else wrote first.
    Stale,
    Missing,
    /// Refused: no active account would hold UserAdmin afterwards, and
    /// nobody could manage admin accounts any more.
    LastUserAdmin,
}

/// Serialises writes to admin accounts' roles and state across instances,
/// so two concurrent demotions cannot both pass the last-UserAdmin check.
pub(crate) const ADMIN_ACCOUNTS_LOCK: i64 = 0x5167_6e65_7402;

fn versioned(r: &Row) -> Result<Versioned> {
    Ok(Versioned { account: account(r)?, version: r.try_get("version")? })
}

/// Ends everything an account holds: its grant families (so refresh tokens
/// and, through their `gid`, live access tokens fail) and browser sessions.
async fn revoke_holdings(tx: &mut Tx, id: &AccountId, now: UnixTime) -> Result<()> {
    query("UPDATE grants SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    query("DELETE FROM browser_sessions WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
    Ok(())
}

/// What `recover-account` installs: a new password hash and no MFA enrolment.
pub struct NewCredentials {
    pub password_hash: String,
}

pub(crate) async fn insert(conn: &mut Tx, a: &Account) -> Result<()> {
    query(format!(
        "INSERT INTO accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&a.id)
    .bind(&a.environment_id)
    .bind(&a.username)
    .bind(a.password_hash.clone())
    .bind(flag(a.active))
    .bind(flag(a.admin))
    .bind(to_json(&a.roles))
    .bind(flag(a.auditor))
    .bind(a.totp_sealed.clone())
    .bind(flag(a.totp_confirmed))
    .bind(a.totp_last_step)
    .bind(a.failed_attempts)
    .bind(a.locked_until)
    .bind(a.created_at)
    .bind(flag(a.password_change_required))
    .execute(conn)
    .await
    .map_err(conflict("account"))?;
    Ok(())
}

/// Serialises new accounts' names across instances, so two writes cannot
/// both find a name free in different cases.
const ACCOUNT_NAMES_LOCK: i64 = 0x5167_6e65_7418;

/// Inserts a new account whose name no account of its environment has in
/// any case: `Alice` beside `alice` would read as the same person in the
/// trail and on every page (issue 15). Usernames are ASCII, so `lower`
/// agrees on both backends.
pub(crate) async fn insert_new(tx: &mut Tx, a: &Account) -> Result<()> {
    tx.serialise(ACCOUNT_NAMES_LOCK).await?;
    let taken = query("SELECT id FROM accounts WHERE environment_id = $1 AND lower(username) = lower($2)")
        .bind(&a.environment_id)
        .bind(&a.username)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict("account".into()));
    }
    insert(tx, a).await
}

impl Store {
    pub async fn insert_account(&self, a: &Account, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_new(&mut tx, a).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>> {
        let row = query(format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(account).transpose()
    }

    pub async fn account_by_username(&self, environment_id: &EnvironmentId, username: &str) -> Result<Option<Account>> {
        let row = query(format!("SELECT {COLUMNS} FROM accounts WHERE environment_id = $1 AND username = $2"))
            .bind(environment_id)
            .bind(username)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(account).transpose()
    }

    /// Spends a TOTP step: true only for the first use of a step later than any
    /// used before (RFC 6238 §5.2), even with several instances racing.
    pub async fn spend_totp_step(&self, id: &AccountId, step: i64) -> Result<bool> {
        let done = query("UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2")
            .bind(id)
            .bind(step)
            .execute(self.db.write())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Confirms a TOTP enrolment with the step of its first code. Fails (false)
    /// if another enrolment was confirmed meanwhile.
    pub async fn confirm_totp(&self, id: &AccountId, sealed: &[u8], step: i64, ev: &AuditEvent) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = query(
            "UPDATE accounts SET totp_sealed = $2, totp_confirmed = 1, totp_last_step = $3 \
             WHERE id = $1 AND totp_confirmed = 0",
        )
        .bind(id)
        .bind(sealed.to_vec())
        .bind(step)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The ids of the admin accounts (those in the Administrators environment).
    pub async fn admin_account_ids(&self) -> Result<std::collections::HashSet<String>> {
        let rows = query("SELECT id FROM accounts WHERE admin = 1").fetch_all(self.db.read()).await?;
        rows.iter().map(|r| r.try_get::<String>("id")).collect()
    }

    /// An environment's accounts of one kind, by username, a page at a time:
    /// those after `after`, at most `limit`.
    pub async fn accounts_page(
        &self,
        environment_id: &EnvironmentId,
        admin: bool,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Versioned>> {
        let rows = query(format!(
            "SELECT {COLUMNS}, version FROM accounts WHERE environment_id = $1 AND admin = $2 AND username > $3 \
             ORDER BY username LIMIT $4"
        ))
        .bind(environment_id)
        .bind(flag(admin))
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(versioned).collect()
    }

    pub async fn versioned_account(&self, environment_id: &EnvironmentId, username: &str) -> Result<Option<Versioned>> {
        let row = query(format!("SELECT {COLUMNS}, version FROM accounts WHERE environment_id = $1 AND username = $2"))
            .bind(environment_id)
            .bind(username)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(versioned).transpose()
    }

    /// Changes an admin account's state and roles if it is still at `expected`
    /// (any version when `None`). Deactivating it or changing its roles also
    /// ends everything it holds. The event is recorded in the same transaction.
    pub async fn update_admin_account(
        &self,
        id: &AccountId,
        expected: Option<i64>,
        change: &AdminChange,
        now: UnixTime,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let mut tx = self.db.begin().await?;
        tx.serialise(ADMIN_ACCOUNTS_LOCK).await?;
        let row = query("SELECT version, active, roles, auditor FROM accounts WHERE id = $1 AND admin = 1")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else { return Ok(Written::Missing) };
        let version: i64 = row.try_get("version")?;
        if expected.is_some_and(|e| e != version) {
            return Ok(Written::Stale);
        }
        let roles: std::collections::BTreeSet<signet_proto::roles::Role> =
            from_json(&row.try_get::<String>("roles")?, "account roles")?;
        let was_active = row.try_get::<i64>("active")? != 0;
        let was_auditor = row.try_get::<i64>("auditor")? != 0;
        // Conditional on the version read: what was read is what is replaced.
        let done = query(
            "UPDATE accounts SET active = $2, roles = $3, auditor = $4, version = version + 1 \
             WHERE id = $1 AND version = $5",
        )
        .bind(id)
        .bind(flag(change.active))
        .bind(to_json(&change.roles))
        .bind(flag(change.auditor))
        .bind(version)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(Written::Stale);
        }
        let user_admin = signet_proto::roles::Role::UserAdmin;
        if roles.contains(&user_admin) && was_active && !(change.active && change.roles.contains(&user_admin)) {
            let holders = query("SELECT roles FROM accounts WHERE admin = 1 AND active = 1").fetch_all(&mut tx).await?;
            let mut any = false;
            for r in &holders {
                let held: std::collections::BTreeSet<signet_proto::roles::Role> =
                    from_json(&r.try_get::<String>("roles")?, "account roles")?;
                any |= held.contains(&user_admin);
            }
            if !any {
                return Ok(Written::LastUserAdmin);
            }
        }
        if (was_active && !change.active) || roles != change.roles || was_auditor != change.auditor {
            revoke_holdings(&mut tx, id, now).await?;
        }
        if !was_active && change.active {
            crate::lockout::unlock_in(&mut tx, id, now, ev, "reactivated").await?;
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(Written::Done(version + 1))
    }

    /// An end user by id, with its version; never an admin account.
    pub async fn versioned_user(&self, environment_id: &EnvironmentId, id: &AccountId) -> Result<Option<Versioned>> {
        let row = query(format!(
            "SELECT {COLUMNS}, version FROM accounts WHERE environment_id = $1 AND id = $2 AND admin = 0"
        ))
        .bind(environment_id)
        .bind(id)
        .fetch_optional(self.db.read())
        .await?;
        row.as_ref().map(versioned).transpose()
    }

    /// Activates or deactivates an end user if it is still at `expected`;
    /// deactivating ends everything it holds.
    pub async fn set_user_active(
        &self,
        id: &AccountId,
        expected: Option<i64>,
        active: bool,
        now: UnixTime,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let mut tx = self.db.begin().await?;
        let row = query("SELECT version, active FROM accounts WHERE id = $1 AND admin = 0")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(row) = row else { return Ok(Written::Missing) };
        let version: i64 = row.try_get("version")?;
        if expected.is_some_and(|e| e != version) {
            return Ok(Written::Stale);
        }
        let was_active = row.try_get::<i64>("active")? != 0;
        let done = query("UPDATE accounts SET active = $2, version = version + 1 WHERE id = $1 AND version = $3")
            .bind(id)
            .bind(flag(active))
            .bind(version)
            .execute(&mut tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(Written::Stale);
        }
        if was_active && !active {
            revoke_holdings(&mut tx, id, now).await?;
        }
        if !was_active && active {
            crate::lockout::unlock_in(&mut tx, id, now, ev, "reactivated").await?;
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(Written::Done(version + 1))
    }

    /// Sets a new password chosen by an administrator or the account itself,
    /// if the account is still at `expected`, and ends everything it holds.
    /// `must_change`: the person must replace it at the next sign-on (a reset).
    pub async fn set_password(
        &self,
        id: &AccountId,
        expected: Option<i64>,
        password_hash: &str,
        must_change: bool,
        now: UnixTime,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let mut tx = self.db.begin().await?;
        let row = query("SELECT version FROM accounts WHERE id = $1").bind(id).fetch_optional(&mut tx).await?;
        let Some(row) = row else { return Ok(Written::Missing) };
        let version: i64 = row.try_get("version")?;
        if expected.is_some_and(|e| e != version) {
            return Ok(Written::Stale);
        }
        let done = query(
            "UPDATE accounts SET password_hash = $2, password_change_required = $3, \
             version = version + 1 WHERE id = $1 AND version = $4",
        )
        .bind(id)
        .bind(password_hash)
        .bind(flag(must_change))
        .bind(version)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(Written::Stale);
        }
        revoke_holdings(&mut tx, id, now).await?;
        // A reset ends the lock: the person it was for has a new password (finding 2).
        crate::lockout::unlock_in(&mut tx, id, now, ev, "password reset").await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(Written::Done(version + 1))
    }

    /// Replaces a password the person was made to change; clears the requirement.
    pub async fn change_password(&self, id: &AccountId, password_hash: &str, ev: &AuditEvent) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = query(
            "UPDATE accounts SET password_hash = $2, password_change_required = 0, version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Break-glass recovery: new password, MFA enrolment cleared, unlocked, and
    /// the account's browser sessions ended. False if there is no such account.
    pub async fn recover_account(&self, id: &AccountId, creds: &NewCredentials, ev: &AuditEvent) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = query(
            "UPDATE accounts SET password_hash = $2, totp_sealed = NULL, totp_confirmed = 0, \
             active = 1, password_change_required = 1, version = version + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(&creds.password_hash)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        crate::lockout::unlock_in(&mut tx, id, ev.at, ev, "recovery").await?;
        query("DELETE FROM browser_sessions WHERE account_id = $1").bind(id).execute(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}
