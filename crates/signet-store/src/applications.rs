//! Environments and applications (OAuth clients), and the one-transaction bootstrap.

use signet_core::audit::AuditEvent;
use signet_core::id::{ClientId, EnvironmentId};
use signet_core::model::{AppKind, Application, Environment};

use crate::db::{Row, Tx, query};
use crate::keys::StoredKey;
use crate::{Result, Store, StoreError, audit, conflict, flag, from_json, to_json};

/// Serialises conditional writes to applications across instances.
const APPLICATIONS_LOCK: i64 = 0x5167_6e65_7404;

pub(crate) const APP_COLUMNS: &str = "id, environment_id, name, kind, secret_hash, redirect_uris, grant_types, scopes, roles, admin_api, created_at, \
     pkce_required";

pub(crate) fn application(r: &Row) -> Result<Application> {
    let kind: String = r.try_get("kind")?;
    Ok(Application {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        name: r.try_get("name")?,
        kind: AppKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("application kind {kind:?}")))?,
        secret_hash: r.try_get("secret_hash")?,
        redirect_uris: from_json(&r.try_get::<String>("redirect_uris")?, "redirect_uris")?,
        grant_types: from_json(&r.try_get::<String>("grant_types")?, "grant_types")?,
        scopes: from_json(&r.try_get::<String>("scopes")?, "scopes")?,
        roles: from_json(&r.try_get::<String>("roles")?, "application roles")?,
        admin_api: r.try_get::<i64>("admin_api")? != 0,
        pkce_required: r.try_get("pkce_required")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) fn environment(r: &Row) -> Result<Environment> {
    Ok(Environment { id: r.try_get("id")?, name: r.try_get("name")?, created_at: r.try_get("created_at")? })
}

pub(crate) async fn insert_environment(conn: &mut Tx, e: &Environment) -> Result<()> {
    query("INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&e.id)
        .bind(&e.name)
        .bind(e.created_at)
        .execute(conn)
        .await
        .map_err(conflict("environment"))?;
    Ok(())
}

pub(crate) async fn insert_application(conn: &mut Tx, a: &Application) -> Result<()> {
    query(format!(
        "INSERT INTO applications ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&a.id)
    .bind(&a.environment_id)
    .bind(&a.name)
    .bind(a.kind.as_str())
    .bind(a.secret_hash.clone())
    .bind(to_json(&a.redirect_uris))
    .bind(to_json(&a.grant_types))
    .bind(to_json(&a.scopes))
    .bind(to_json(&a.roles))
    .bind(flag(a.admin_api))
    .bind(a.created_at)
    .bind(a.pkce_required)
    .execute(conn)
    .await
    .map_err(conflict("application"))?;
    Ok(())
}

/// The application, read inside `tx` after taking the applications' lock,
/// so what a write decides on is what it replaces.
async fn locked_application(tx: &mut Tx, environment_id: &EnvironmentId, id: &ClientId) -> Result<Option<Application>> {
    tx.serialise(APPLICATIONS_LOCK).await?;
    let row = query(format!("SELECT {APP_COLUMNS} FROM applications WHERE environment_id = $1 AND id = $2"))
        .bind(environment_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(application).transpose()
}

/// Everything first start creates, written at once so a crash leaves nothing half-made.
pub struct Bootstrap<'a> {
    pub environment: &'a Environment,
    pub accounts: &'a [signet_core::model::Account],
    pub applications: &'a [Application],
    pub key: &'a StoredKey,
    /// Settings a new installation starts with, as `(key, value)`.
    pub settings: &'a [(&'a str, serde_json::Value)],
    pub events: &'a [AuditEvent],
}

/// What `bootstrap` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    /// Everything was written and committed.
    Created,
    /// An environment of that name was there already (another instance
    /// bootstrapped first); nothing was written.
    AlreadyThere,
}

/// Serialises first starts of several instances on one PostgreSQL, so one
/// bootstraps and the others find its environment.
const BOOTSTRAP_LOCK: i64 = 0x5167_6e65_7430;

impl Store {
    /// Writes everything first start creates, in one transaction, unless the
    /// environment exists already. The check runs under a lock held to the
    /// commit (SQLite: the one writer), so instances starting together
    /// bootstrap once and the others are told `AlreadyThere`.
    pub async fn bootstrap(&self, b: Bootstrap<'_>) -> Result<Bootstrapped> {
        let mut tx = self.db.begin().await?;
        tx.serialise(BOOTSTRAP_LOCK).await?;
        let there = query("SELECT id FROM environments WHERE name = $1")
            .bind(b.environment.name.as_str())
            .fetch_optional(&mut tx)
            .await?;
        if there.is_some() {
            return Ok(Bootstrapped::AlreadyThere);
        }
        insert_environment(&mut tx, b.environment).await?;
        for a in b.accounts {
            crate::accounts::insert(&mut tx, a).await?;
        }
        for a in b.applications {
            insert_application(&mut tx, a).await?;
        }
        crate::keys::insert(&mut tx, b.key).await?;
        for (key, value) in b.settings {
            query("INSERT INTO settings (key, value) VALUES ($1, $2)")
                .bind(*key)
                .bind(value.to_string())
                .execute(&mut tx)
                .await?;
        }
        for ev in b.events {
            audit::append(&mut tx, ev).await?;
        }
        tx.commit().await?;
        Ok(Bootstrapped::Created)
    }

    pub async fn create_environment(&self, e: &Environment, key: &StoredKey, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_environment(&mut tx, e).await?;
        crate::keys::insert(&mut tx, key).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn environment(&self, id: &EnvironmentId) -> Result<Option<Environment>> {
        let row = query("SELECT id, name, created_at FROM environments WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(environment).transpose()
    }

    pub async fn environment_by_name(&self, name: &str) -> Result<Option<Environment>> {
        let row = query("SELECT id, name, created_at FROM environments WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(environment).transpose()
    }

    pub async fn environments(&self) -> Result<Vec<Environment>> {
        let rows = query("SELECT id, name, created_at FROM environments ORDER BY created_at, id")
            .fetch_all(self.db.read())
            .await?;
        rows.iter().map(environment).collect()
    }

    pub async fn insert_application(&self, a: &Application, ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_application(&mut tx, a).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn application(&self, environment_id: &EnvironmentId, id: &ClientId) -> Result<Option<Application>> {
        let row = query(format!("SELECT {APP_COLUMNS} FROM applications WHERE environment_id = $1 AND id = $2"))
            .bind(environment_id)
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(application).transpose()
    }

    /// An environment's applications by id, a page at a time.
    pub async fn applications_page(
        &self,
        environment_id: &EnvironmentId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Application>> {
        let rows = query(format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE environment_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(environment_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(application).collect()
    }

    /// Gives a confidential application the secret whose hash is `next`, if
    /// `decide` approves of the application as stored (read in this
    /// transaction: whether it may, and who did, are decided on what is
    /// replaced). Tokens minted with the old secret are revoked.
    pub async fn rotate_application_secret<E>(
        &self,
        environment_id: &EnvironmentId,
        id: &ClientId,
        next: &[u8],
        decide: impl FnOnce(&Application) -> std::result::Result<AuditEvent, E>,
    ) -> Result<Decided<Application, E>> {
        let mut tx = self.db.begin().await?;
        let Some(current) = locked_application(&mut tx, environment_id, id).await? else {
            return Ok(Decided::Missing);
        };
        let ev = match decide(&current) {
            Ok(ev) => ev,
            Err(e) => return Ok(Decided::Refused(e)),
        };
        query("UPDATE applications SET secret_hash = $3 WHERE environment_id = $1 AND id = $2")
            .bind(environment_id)
            .bind(id)
            .bind(next.to_vec())
            .execute(&mut tx)
            .await?;
        // Tokens minted with the old secret carry no family to revoke: by subject.
        crate::grants::revoke_subject(&mut tx, id.as_str(), ev.at).await?;
        audit::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(Decided::Done(current))
    }

    /// Replaces an application's name, redirect URIs, grants, scopes, roles
    /// and PKCE requirement with what `change` makes of the stored one (read in this
    /// transaction), and records who did with the event it returns. Its id,
    /// environment, kind, secret and creation stay. A change of roles revokes
    /// the tokens the worker holds. Done: the application before and after.
    pub async fn update_application<E>(
        &self,
        environment_id: &EnvironmentId,
        id: &ClientId,
        change: impl FnOnce(&Application) -> std::result::Result<(Application, AuditEvent), E>,
    ) -> Result<Decided<(Application, Application), E>> {
        let mut tx = self.db.begin().await?;
        let Some(current) = locked_application(&mut tx, environment_id, id).await? else {
            return Ok(Decided::Missing);
        };
        let (next, ev) = match change(&current) {
            Ok(c) => c,
            Err(e) => return Ok(Decided::Refused(e)),
        };
        let next = Application {
            id: current.id.clone(),
            environment_id: current.environment_id.clone(),
            kind: current.kind,
            secret_hash: current.secret_hash.clone(),
            admin_api: current.admin_api,
            created_at: current.created_at,
            ..next
        };
        query(
            "UPDATE applications SET name = $3, redirect_uris = $4, grant_types = $5, scopes = $6, roles = $7, \
             pkce_required = $8 WHERE environment_id = $1 AND id = $2",
        )
        .bind(environment_id)
        .bind(id)
        .bind(&next.name)
        .bind(to_json(&next.redirect_uris))
        .bind(to_json(&next.grant_types))
        .bind(to_json(&next.scopes))
        .bind(to_json(&next.roles))
        .bind(next.pkce_required)
        .execute(&mut tx)
        .await?;
        if current.roles != next.roles {
            crate::grants::revoke_subject(&mut tx, id.as_str(), ev.at).await?;
        }
        audit::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(Decided::Done((current, next)))
    }

    /// Deletes an application if `decide` approves of it as stored (read in
    /// this transaction), revoking every grant family issued to it and its
    /// own tokens, and records who did with the event it returns.
    pub async fn delete_application<E>(
        &self,
        environment_id: &EnvironmentId,
        id: &ClientId,
        decide: impl FnOnce(&Application) -> std::result::Result<AuditEvent, E>,
    ) -> Result<Decided<Application, E>> {
        let mut tx = self.db.begin().await?;
        let Some(current) = locked_application(&mut tx, environment_id, id).await? else {
            return Ok(Decided::Missing);
        };
        let ev = match decide(&current) {
            Ok(ev) => ev,
            Err(e) => return Ok(Decided::Refused(e)),
        };
        query("UPDATE grants SET revoked_at = $3 WHERE environment_id = $1 AND client_id = $2 AND revoked_at IS NULL")
            .bind(environment_id)
            .bind(id)
            .bind(ev.at)
            .execute(&mut tx)
            .await?;
        crate::grants::revoke_subject(&mut tx, id.as_str(), ev.at).await?;
        query("DELETE FROM applications WHERE environment_id = $1 AND id = $2")
            .bind(environment_id)
            .bind(id)
            .execute(&mut tx)
            .await?;
        audit::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(Decided::Done(current))
    }

    /// Every application of every environment, for checks at start-up.
    pub async fn all_applications(&self) -> Result<Vec<Application>> {
        let rows = query(format!("SELECT {APP_COLUMNS} FROM applications ORDER BY environment_id, id"))
            .fetch_all(self.db.read())
            .await?;
        rows.iter().map(application).collect()
    }
}

/// What a write that decides on the stored row (in its own transaction) did.
#[derive(Debug, PartialEq, Eq)]
pub enum Decided<T, E> {
    /// There was no such row; nothing was written.
    Missing,
    /// The decision refused the row as stored; nothing was written.
    Refused(E),
    Done(T),
}
