//! Login MFA: methods, login enforcements and TOTP enrolments (seed 002).
//!
//! Method and enforcement writes take one lock across instances, so the
//! rules that join them (a method in use cannot be deleted; an enforcement
//! names only methods that exist; names are unique) hold under concurrent
//! writers. Each write is recorded in the audit trail in its transaction.

use signet_core::audit::AuditEvent;
use signet_core::clock::UnixTime;
use signet_core::id::{AccountId, MethodId};
use signet_core::mfa::{Enforcement, Method, MethodType, Settings};
use signet_core::model::Account;
use signet_core::totp::Params;

use crate::accounts::COLUMNS as ACCOUNT_COLUMNS;
use crate::db::{Row, Tx, query};
use crate::{Result, Store, StoreError, audit, from_json, to_json};

pub(crate) const MFA_LOCK: i64 = 0x5167_6e65_7405;

/// The outcome of an MFA write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaWritten {
    Done,
    Missing,
    /// Another method has this `method_name`.
    NameTaken,
    /// The method is used by these enforcements (by name).
    InUse(Vec<String>),
    /// An enforcement names a method that does not exist.
    UnknownMethod,
    /// An enforcement would be left without any target.
    NoTarget,
    /// The caller's decision, on what is stored, refused the write.
    Denied,
}

/// One person's enrolment in one TOTP method.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// The method's parameters when the person enrolled.
    pub params: Params,
    pub secret_sealed: Vec<u8>,
    pub last_step: i64,
    pub failures: i64,
    pub failed_until: UnixTime,
}

/// A person's enrolment in a TOTP method, confirmed by its first code: what
/// `enrol_totp` records.
#[derive(Clone, Copy)]
pub struct ConfirmedEnrolment<'a> {
    pub method_id: &'a MethodId,
    pub account_id: &'a str,
    /// The method's parameters now, which the enrolment keeps.
    pub params: &'a Params,
    /// The secret, sealed for `signet_core::mfa::enrolment_purpose`.
    pub sealed: &'a [u8],
    /// The step the first code matched: no code of it or before is taken again.
    pub step: i64,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("params", &self.params)
            .field("last_step", &self.last_step)
            .field("failures", &self.failures)
            .field("failed_until", &self.failed_until)
            .finish_non_exhaustive()
    }
}

pub(crate) const METHOD_COLUMNS: &str =
    "id, method_type, name, username_format, settings, secrets_sealed, version, created_at";

pub(crate) fn method(r: &Row) -> Result<Method> {
    let id: String = r.try_get("id")?;
    let settings: Settings = from_json(&r.try_get::<String>("settings")?, "MFA method")?;
    let kind: String = r.try_get("method_type")?;
    if settings.method_type().as_str() != kind {
        return Err(StoreError::Corrupt(format!("MFA method {id}: its settings are not of type {kind}")));
    }
    Ok(Method {
        id: id.into(),
        name: r.try_get("name")?,
        username_format: r.try_get("username_format")?,
        settings,
        sealed_secrets: r.try_get("secrets_sealed")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Marks every answer built from the methods as stale, on every instance.
pub(crate) async fn bump(tx: &mut Tx) -> Result<()> {
    query("UPDATE mfa_generation SET generation = generation + 1 WHERE id = 1").execute(&mut *tx).await?;
    Ok(())
}

async fn name_taken(tx: &mut Tx, name: &str, id: &str) -> Result<bool> {
    if name.is_empty() {
        return Ok(false);
    }
    let row = query("SELECT id FROM mfa_methods WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.is_some())
}

impl Store {
    pub async fn insert_mfa_method(&self, m: &Method, ev: &AuditEvent) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        tx.serialise(MFA_LOCK).await?;
        if name_taken(&mut tx, &m.name, m.id.as_str()).await? {
            return Ok(MfaWritten::NameTaken);
        }
        query(format!("INSERT INTO mfa_methods ({METHOD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(&m.id)
            .bind(m.method_type().as_str())
            .bind(&m.name)
            .bind(&m.username_format)
            .bind(to_json(&m.settings))
            .bind(m.sealed_secrets.clone())
            .bind(m.version)
            .bind(m.created_at)
            .execute(&mut tx)
            .await?;
        bump(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    /// Replaces a method of the same type; its enrolments stay.
    /// Replaces a method, if `allow` approves of the enforcements that use
    /// it (read in this transaction): changing a method changes how the
    /// people those enforcements reach sign on.
    pub async fn update_mfa_method(
        &self,
        m: &Method,
        allow: impl FnOnce(&[Enforcement]) -> bool,
        ev: &AuditEvent,
    ) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        tx.serialise(MFA_LOCK).await?;
        let users: Vec<Enforcement> = query(
            "SELECT e.document FROM mfa_enforcements e JOIN mfa_enforcement_methods u ON u.enforcement = e.name \
             WHERE u.method_id = $1 ORDER BY e.name",
        )
        .bind(&m.id)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement"))
        .collect::<Result<_>>()?;
        if !allow(&users) {
            return Ok(MfaWritten::Denied);
        }
        if name_taken(&mut tx, &m.name, m.id.as_str()).await? {
            return Ok(MfaWritten::NameTaken);
        }
        let done = query(
            "UPDATE mfa_methods SET name = $3, username_format = $4, settings = $5, secrets_sealed = $6, \
             version = version + 1 WHERE id = $1 AND method_type = $2",
        )
        .bind(&m.id)
        .bind(m.method_type().as_str())
        .bind(&m.name)
        .bind(&m.username_format)
        .bind(to_json(&m.settings))
        .bind(m.sealed_secrets.clone())
        .execute(&mut tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(MfaWritten::Missing);
        }
        bump(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    /// Deletes a method of `kind` and its enrolments, unless an enforcement uses it.
    pub async fn delete_mfa_method(&self, id: &str, kind: MethodType, ev: &AuditEvent) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        tx.serialise(MFA_LOCK).await?;
        let users = query("SELECT enforcement FROM mfa_enforcement_methods WHERE method_id = $1 ORDER BY enforcement")
            .bind(id)
            .fetch_all(&mut tx)
            .await?;
        let exists = query("SELECT id FROM mfa_methods WHERE id = $1 AND method_type = $2")
            .bind(id)
            .bind(kind.as_str())
            .fetch_optional(&mut tx)
            .await?;
        if exists.is_none() {
            return Ok(MfaWritten::Missing);
        }
        if !users.is_empty() {
            let names = users.iter().map(|r| r.try_get::<String>("enforcement")).collect::<Result<_>>()?;
            return Ok(MfaWritten::InUse(names));
        }
        query("DELETE FROM mfa_totp_enrolments WHERE method_id = $1").bind(id).execute(&mut tx).await?;
        query("DELETE FROM mfa_methods WHERE id = $1").bind(id).execute(&mut tx).await?;
        bump(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    /// Changes with every write of methods or enforcements, on any instance.
    pub async fn mfa_generation(&self) -> Result<i64> {
        let row = query("SELECT generation FROM mfa_generation WHERE id = 1").fetch_one(self.db.read()).await?;
        row.try_get("generation")
    }

    pub async fn mfa_method(&self, id: &str) -> Result<Option<Method>> {
        let row = query(format!("SELECT {METHOD_COLUMNS} FROM mfa_methods WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(method).transpose()
    }

    /// Every method, or every method of one type, by id.
    pub async fn mfa_methods(&self, kind: Option<MethodType>) -> Result<Vec<Method>> {
        let rows = match kind {
            Some(k) => {
                query(format!("SELECT {METHOD_COLUMNS} FROM mfa_methods WHERE method_type = $1 ORDER BY id"))
                    .bind(k.as_str())
                    .fetch_all(self.db.read())
                    .await?
            }
            None => {
                query(format!("SELECT {METHOD_COLUMNS} FROM mfa_methods ORDER BY id")).fetch_all(self.db.read()).await?
            }
        };
        rows.iter().map(method).collect()
    }

    /// Creates or replaces the enforcement `name` with what `merge` makes of
    /// the stored one (if any), under the lock, so concurrent partial
    /// updates cannot lose each other. Every method it names must exist and
    /// it needs a target. `event` makes the audit record of the result
    /// (true: created).
    pub async fn put_mfa_enforcement(
        &self,
        name: &str,
        merge: impl FnOnce(Option<Enforcement>) -> Option<Enforcement>,
        now: UnixTime,
        event: impl FnOnce(&Enforcement, bool) -> Result<AuditEvent>,
    ) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        tx.serialise(MFA_LOCK).await?;
        let old: Option<Enforcement> = query("SELECT document FROM mfa_enforcements WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut tx)
            .await?
            .map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement"))
            .transpose()?;
        let created = old.is_none();
        let Some(e) = merge(old) else { return Ok(MfaWritten::Denied) };
        if e.name != name {
            return Err(StoreError::Misuse("an enforcement renamed by its merge".into()));
        }
        if !e.has_target() {
            return Ok(MfaWritten::NoTarget);
        }
        let ev = &event(&e, created)?;
        for id in &e.mfa_method_ids {
            let found = query("SELECT id FROM mfa_methods WHERE id = $1").bind(id).fetch_optional(&mut tx).await?;
            if found.is_none() {
                return Ok(MfaWritten::UnknownMethod);
            }
        }
        let doc = crate::encode(&e)?;
        let updated = query("UPDATE mfa_enforcements SET document = $2, version = version + 1 WHERE name = $1")
            .bind(&e.name)
            .bind(&doc)
            .execute(&mut tx)
            .await?;
        if updated.rows_affected() == 0 {
            query("INSERT INTO mfa_enforcements (name, id, document, version, created_at) VALUES ($1, $2, $3, 1, $4)")
                .bind(&e.name)
                .bind(&e.id)
                .bind(&doc)
                .bind(now)
                .execute(&mut tx)
                .await?;
        }
        query("DELETE FROM mfa_enforcement_methods WHERE enforcement = $1").bind(&e.name).execute(&mut tx).await?;
        for id in &e.mfa_method_ids {
            query("INSERT INTO mfa_enforcement_methods (enforcement, method_id) VALUES ($1, $2)")
                .bind(&e.name)
                .bind(id)
                .execute(&mut tx)
                .await?;
        }
        bump(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    pub async fn mfa_enforcement(&self, name: &str) -> Result<Option<Enforcement>> {
        let row = query("SELECT document FROM mfa_enforcements WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.read())
            .await?;
        row.map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement")).transpose()
    }

    /// Every enforcement, by name.
    pub async fn mfa_enforcements(&self) -> Result<Vec<Enforcement>> {
        let rows = query("SELECT document FROM mfa_enforcements ORDER BY name").fetch_all(self.db.read()).await?;
        rows.iter().map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement")).collect()
    }

    /// Deletes an enforcement if `allow` approves of it as stored (read in
    /// this transaction).
    pub async fn delete_mfa_enforcement(
        &self,
        name: &str,
        allow: impl FnOnce(&Enforcement) -> bool,
        ev: &AuditEvent,
    ) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        tx.serialise(MFA_LOCK).await?;
        let stored: Option<Enforcement> = query("SELECT document FROM mfa_enforcements WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut tx)
            .await?
            .map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement"))
            .transpose()?;
        match stored {
            None => return Ok(MfaWritten::Missing),
            Some(e) if !allow(&e) => return Ok(MfaWritten::Denied),
            Some(_) => {}
        }
        query("DELETE FROM mfa_enforcement_methods WHERE enforcement = $1").bind(name).execute(&mut tx).await?;
        let gone = query("DELETE FROM mfa_enforcements WHERE name = $1").bind(name).execute(&mut tx).await?;
        if gone.rows_affected() == 0 {
            return Ok(MfaWritten::Missing);
        }
        bump(&mut tx).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    pub async fn totp_enrolment(&self, method_id: &MethodId, account_id: &AccountId) -> Result<Option<TotpEnrolment>> {
        let row = query(
            "SELECT params, secret_sealed, last_step, failures, failed_until FROM mfa_totp_enrolments \
             WHERE method_id = $1 AND account_id = $2",
        )
        .bind(method_id)
        .bind(account_id)
        .fetch_optional(self.db.read())
        .await?;
        row.map(|r| {
            Ok(TotpEnrolment {
                params: from_json(&r.try_get::<String>("params")?, "TOTP enrolment")?,
                secret_sealed: r.try_get("secret_sealed")?,
                last_step: r.try_get("last_step")?,
                failures: r.try_get("failures")?,
                failed_until: r.try_get("failed_until")?,
            })
        })
        .transpose()
    }

    /// Ends one person's enrolment in a TOTP method (Vault's `admin-destroy`):
    /// they set it up again at their next sign-on. `allow` decides on the
    /// account as this transaction reads it, and the row goes only while the
    /// account is still an administrator exactly when it was one then.
    /// `Missing` when there was no account or no enrolment.
    pub async fn delete_totp_enrolment(
        &self,
        method_id: &MethodId,
        account_id: &AccountId,
        allow: impl FnOnce(&Account) -> bool,
        ev: &AuditEvent,
    ) -> Result<MfaWritten> {
        let mut tx = self.db.begin().await?;
        let row = query(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"))
            .bind(account_id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(account) = row.as_ref().map(crate::accounts::account).transpose()? else {
            return Ok(MfaWritten::Missing);
        };
        if !allow(&account) {
            return Ok(MfaWritten::Denied);
        }
        // The account must still be what `allow` approved when the row goes.
        let gone = query(
            "DELETE FROM mfa_totp_enrolments WHERE method_id = $1 AND account_id = $2 \
             AND EXISTS (SELECT 1 FROM accounts WHERE id = $2 AND admin = $3)",
        )
        .bind(method_id)
        .bind(account_id)
        .bind(account.admin)
        .execute(&mut tx)
        .await?;
        if gone.rows_affected() == 0 {
            return Ok(MfaWritten::Missing);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(MfaWritten::Done)
    }

    /// Whether the account is enrolled in any TOTP method.
    pub async fn has_totp_enrolment(&self, account_id: &AccountId) -> Result<bool> {
        let row = query("SELECT method_id FROM mfa_totp_enrolments WHERE account_id = $1 LIMIT 1")
            .bind(account_id)
            .fetch_optional(self.db.read())
            .await?;
        Ok(row.is_some())
    }

    /// Records a confirmed enrolment, with the parameters it was made with,
    /// whose first code matched `step`. False when the person enrolled
    /// meanwhile (another tab), or the method is gone.
    pub async fn enrol_totp(&self, enrolment: &ConfirmedEnrolment<'_>, now: UnixTime, ev: &AuditEvent) -> Result<bool> {
        let ConfirmedEnrolment { method_id, account_id, params, sealed, step } = *enrolment;
        let mut tx = self.db.begin().await?;
        let method = query("SELECT id FROM mfa_methods WHERE id = $1").bind(method_id).fetch_optional(&mut tx).await?;
        if method.is_none() {
            return Ok(false);
        }
        let done = query(
            "INSERT INTO mfa_totp_enrolments \
             (method_id, account_id, params, secret_sealed, last_step, failures, failed_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6) ON CONFLICT (method_id, account_id) DO NOTHING",
        )
        .bind(method_id)
        .bind(account_id)
        .bind(to_json(params))
        .bind(sealed.to_vec())
        .bind(step)
        .bind(now)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends a matched step: true once per step and later, never for an
    /// earlier or the same one (RFC 6238 §5.2). Clears the attempt count.
    pub async fn spend_enrolled_step(&self, method_id: &MethodId, account_id: &AccountId, step: i64) -> Result<bool> {
        let done = query(
            "UPDATE mfa_totp_enrolments SET last_step = $3, failures = 0, failed_until = 0 \
             WHERE method_id = $1 AND account_id = $2 AND last_step < $3",
        )
        .bind(method_id)
        .bind(account_id)
        .bind(step)
        .execute(self.db.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes one of the `max` attempts before a code is checked, in one
    /// statement, so parallel attempts cannot all see room for one more.
    /// The count lapses `window` seconds after the last attempt, and a right
    /// code clears it (`spend_enrolled_step`). False: no attempt is left.
    pub async fn reserve_attempt(
        &self,
        method_id: &MethodId,
        account_id: &AccountId,
        max: i64,
        now: UnixTime,
        window: i64,
    ) -> Result<bool> {
        let done = query(
            "UPDATE mfa_totp_enrolments SET \
             failures = CASE WHEN failed_until <= $3 THEN 1 ELSE failures + 1 END, failed_until = $4 \
             WHERE method_id = $1 AND account_id = $2 AND NOT (failures >= $5 AND failed_until > $3)",
        )
        .bind(method_id)
        .bind(account_id)
        .bind(now)
        .bind(now + window)
        .bind(max)
        .execute(self.db.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
