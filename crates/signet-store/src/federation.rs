//! External OpenID providers per environment (issue 7). Every write is
//! conditional on the version the caller read (when it names one) and is
//! recorded in the audit trail in its transaction.

use serde::{Deserialize, Serialize};
use signet_core::audit::AuditEvent;
use signet_core::federation::{Provider, ProviderMfa};
use signet_core::id::EnvironmentId;
use signet_core::model::Account;

use signet_core::configuration::{FederatedLinkEntry, IdentityProviderEntry, Protected};

use crate::db::{Row, Tx, query};
use crate::versioned::{self, Keyed};
use crate::{Result, Store, Written, audit, conflict, from_json, to_json};

const COLUMNS: &str = "id, environment_id, name, issuer, client_id, secret_sealed, settings, version, created_at";

/// The JSON `settings` column.
#[derive(Serialize, Deserialize)]
struct Settings {
    scopes: Vec<String>,
    jit: bool,
    mfa: ProviderMfa,
}

fn provider(r: &Row) -> Result<(Provider, Vec<u8>)> {
    let s: Settings = from_json(&r.try_get::<String>("settings")?, "identity provider")?;
    let p = Provider {
        id: r.try_get("id")?,
        environment_id: r.try_get("environment_id")?,
        name: r.try_get("name")?,
        issuer: r.try_get("issuer")?,
        client_id: r.try_get("client_id")?,
        scopes: s.scopes,
        jit: s.jit,
        mfa: s.mfa,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
    };
    Ok((p, r.try_get("secret_sealed")?))
}

fn settings(p: &Provider) -> String {
    to_json(&Settings { scopes: p.scopes.clone(), jit: p.jit, mfa: p.mfa.clone() })
}

impl Store {
    /// `Conflict` when the environment has a provider of that name.
    pub async fn insert_identity_provider(&self, p: &Provider, secret_sealed: &[u8], ev: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        query(format!("INSERT INTO identity_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&p.id)
            .bind(&p.environment_id)
            .bind(&p.name)
            .bind(&p.issuer)
            .bind(&p.client_id)
            .bind(secret_sealed.to_vec())
            .bind(settings(p))
            .bind(p.version)
            .bind(p.created_at)
            .execute(&mut tx)
            .await
            .map_err(conflict("identity provider name"))?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await
    }

    /// A provider and its sealed client secret.
    pub async fn identity_provider(
        &self,
        environment_id: &EnvironmentId,
        id: &str,
    ) -> Result<Option<(Provider, Vec<u8>)>> {
        let row = query(format!("SELECT {COLUMNS} FROM identity_providers WHERE environment_id = $1 AND id = $2"))
            .bind(environment_id)
            .bind(id)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(provider).transpose()
    }

    pub async fn identity_providers_page(
        &self,
        environment_id: &EnvironmentId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Provider>> {
        let rows = query(format!(
            "SELECT {COLUMNS} FROM identity_providers WHERE environment_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(environment_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(|r| provider(r).map(|(p, _)| p)).collect()
    }

    /// Replaces a provider (and its sealed secret), if it is still at `expected`.
    pub async fn update_identity_provider(
        &self,
        p: &Provider,
        secret_sealed: &[u8],
        expected: Option<i64>,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let row = Keyed { table: "identity_providers", environment_id: &p.environment_id, id: &p.id };
        versioned::update(&self.db, row, expected, ev, "identity provider name", |version| {
            query(
                "UPDATE identity_providers SET name = $3, issuer = $4, client_id = $5, secret_sealed = $6, settings = $7, \
                 version = version + 1 WHERE environment_id = $1 AND id = $2 AND version = $8",
            )
            .bind(&p.environment_id)
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.issuer)
            .bind(&p.client_id)
            .bind(secret_sealed.to_vec())
            .bind(settings(p))
            .bind(version)
        })
        .await
    }

    pub async fn delete_identity_provider(
        &self,
        environment_id: &EnvironmentId,
        id: &str,
        expected: Option<i64>,
        ev: &AuditEvent,
    ) -> Result<Written> {
        let row = Keyed { table: "identity_providers", environment_id: environment_id.as_str(), id };
        versioned::delete(&self.db, row, expected, ev).await
    }
}

/// A person at an upstream issuer, linked to a local account: the same
/// record a configuration document carries.
pub type FederatedLink = FederatedLinkEntry;

fn link(r: &Row) -> Result<FederatedLink> {
    Ok(FederatedLink {
        issuer: r.try_get("issuer")?,
        subject: r.try_get("subject")?,
        account_id: r.try_get("account_id")?,
        provider_id: r.try_get("provider_id")?,
        created_at: r.try_get("created_at")?,
    })
}

const LINK_COLUMNS: &str = "issuer, subject, account_id, provider_id, created_at";

async fn insert_link(tx: &mut Tx, l: &FederatedLink) -> Result<()> {
    query(format!("INSERT INTO federated_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
        .bind(&l.issuer)
        .bind(&l.subject)
        .bind(&l.account_id)
        .bind(&l.provider_id)
        .bind(l.created_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict("link of that subject"))?;
    Ok(())
}

impl Store {
    /// `Conflict` when that upstream person is linked already. The events
    /// (the link, and a sign-on it is part of) are recorded with it.
    pub async fn insert_federated_link(&self, l: &FederatedLink, events: &[AuditEvent]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        insert_link(&mut tx, l).await?;
        for ev in events {
            audit::append(&mut tx, ev).await?;
        }
        tx.commit().await
    }

    /// An end-user account made just in time for an upstream person, with
    /// its link, in one transaction: `Conflict` when the username is taken
    /// in any case (it comes from an email, where `Ada@` and `ada@` are one
    /// person: issue 15) or the person was linked meanwhile, and then
    /// nothing is written. Usernames are ASCII, so `lower` is the same on
    /// both backends.
    pub async fn insert_federated_account(&self, a: &Account, l: &FederatedLink, events: &[AuditEvent]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        crate::accounts::insert_new(&mut tx, a).await?;
        insert_link(&mut tx, l).await?;
        for ev in events {
            audit::append(&mut tx, ev).await?;
        }
        tx.commit().await
    }

    /// The link of an upstream person, if any.
    pub async fn federated_link(&self, issuer: &str, subject: &str) -> Result<Option<FederatedLink>> {
        let row = query(format!("SELECT {LINK_COLUMNS} FROM federated_links WHERE issuer = $1 AND subject = $2"))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(self.db.read())
            .await?;
        row.as_ref().map(link).transpose()
    }

    /// The links of an issuer, by subject, a page at a time.
    pub async fn federated_links_page(
        &self,
        issuer: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FederatedLink>> {
        let rows = query(format!(
            "SELECT {LINK_COLUMNS} FROM federated_links WHERE issuer = $1 AND subject > $2 ORDER BY subject LIMIT $3"
        ))
        .bind(issuer)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.read())
        .await?;
        rows.iter().map(link).collect()
    }

    /// False when there was no such link.
    pub async fn delete_federated_link(&self, issuer: &str, subject: &str, ev: &AuditEvent) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let gone = query("DELETE FROM federated_links WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .execute(&mut tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Every provider, for a configuration document.
pub(crate) async fn export(tx: &mut Tx) -> Result<Vec<IdentityProviderEntry>> {
    let rows = query(format!("SELECT {COLUMNS} FROM identity_providers ORDER BY id")).fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|r| {
            let (p, sealed) = provider(r)?;
            Ok(IdentityProviderEntry {
                id: p.id,
                environment_id: p.environment_id,
                name: p.name,
                issuer: p.issuer,
                client_id: p.client_id,
                client_secret: Protected::Sealed(sealed),
                scopes: p.scopes,
                jit: p.jit,
                mfa: p.mfa,
                created_at: p.created_at,
            })
        })
        .collect()
}

/// Replaces every provider with a document's (secrets sealed).
pub(crate) async fn replace(tx: &mut Tx, providers: &[IdentityProviderEntry]) -> Result<()> {
    query("DELETE FROM identity_providers").execute(&mut *tx).await?;
    for e in providers {
        let p = e.provider();
        query(format!("INSERT INTO identity_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&p.id)
            .bind(&p.environment_id)
            .bind(&p.name)
            .bind(&p.issuer)
            .bind(&p.client_id)
            .bind(e.client_secret.sealed().map(<[u8]>::to_vec).unwrap_or_default())
            .bind(settings(&p))
            .bind(p.version)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Every link, for a configuration document.
pub(crate) async fn export_links(tx: &mut Tx) -> Result<Vec<FederatedLinkEntry>> {
    let rows = query(format!("SELECT {LINK_COLUMNS} FROM federated_links ORDER BY issuer, subject"))
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(link).collect()
}

/// Replaces every link with a document's.
pub(crate) async fn replace_links(tx: &mut Tx, links: &[FederatedLinkEntry]) -> Result<()> {
    query("DELETE FROM federated_links").execute(&mut *tx).await?;
    for l in links {
        insert_link(tx, l).await?;
    }
    Ok(())
}
