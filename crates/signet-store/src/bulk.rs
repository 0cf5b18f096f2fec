//! The whole configuration at once (`signet_core::configuration`): read in
//! one consistent snapshot, and replaced in one transaction, so an import
//! either happens whole or not at all.
//!
//! A replacement is serialised with the writes that check invariants over
//! many rows (admin accounts' roles, settings) through their advisory locks,
//! so none of them can interleave with it on another instance.
//!
//! Runtime state does not survive a replacement: accounts, applications and
//! keys may all have changed, so every grant family is revoked (refresh
//! tokens, and the access tokens carrying the family, stop working) and
//! every refresh token, code, device authorization, sign-on flow and browser
//! session is deleted. The audit trail is kept and records the import.

use std::collections::{BTreeMap, HashMap, HashSet};

use signet_core::audit::AuditEvent;
use signet_core::claims::ClaimEngine;
use signet_core::clock::UnixTime;
use signet_core::configuration::{
    AccountEntry, ApplicationEntry, CertificateEntry, ClaimMappingEntry, Configuration, EnvironmentEntry, FORMAT,
    Invalid, MfaMethodEntry, MfaSection, Protected, SigningKeyEntry, TotpEnrolmentEntry,
};
use signet_core::model::{Application, Environment};

use crate::certificates::Certificate;
use crate::db::{Tx, query};
use crate::keys::StoredKey;
use crate::{Result, Store, StoreError, audit, flag, from_json, to_json};

/// Where the signing keys come from in a replacement.
pub enum KeySource<'a> {
    /// The document's: every key is replaced by them. Each carries its
    /// private part, sealed under this server's key-encryption key.
    Document,
    /// Environments that stay keep theirs; each new environment gets
    /// `fresh(environment_id)`. The document's keys are not read.
    Keep(&'a (dyn Fn(&str) -> std::result::Result<StoredKey, String> + Sync)),
}

/// What a replacement wrote and ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replaced {
    pub environments: usize,
    pub applications: usize,
    pub accounts: usize,
    pub claim_mappings: usize,
    pub certificates: usize,
    /// Keys installed from the document, or made for new environments.
    pub signing_keys: usize,
    pub settings: usize,
    /// None when the document had no MFA section, which left MFA as it was.
    pub mfa_methods: Option<usize>,
    pub grants_revoked: u64,
    pub sessions_ended: u64,
}

/// The store holds secrets sealed only; a document with one in plain is refused whole.
fn check_sealed(doc: &Configuration) -> Result<()> {
    doc.clone()
        .map_secrets(|_, p| match p {
            Protected::Sealed(_) => Ok(p.clone()),
            Protected::Plain(_) => Err(()),
        })
        .map_err(|(path, ())| {
            StoreError::Invalid(Invalid { path, message: "a secret the store would hold in plain; seal it".into() })
        })
}

fn sealed(p: &Option<Protected>) -> Option<Vec<u8>> {
    p.as_ref().and_then(Protected::sealed).map(<[u8]>::to_vec)
}

impl Store {
    /// Every configuration object, secrets as stored (hashes, and values
    /// sealed under the key-encryption key), from one consistent read.
    pub async fn export_configuration(&self) -> Result<Configuration> {
        let mut tx = self.db.begin_snapshot().await?;
        let environments = query("SELECT id, name, created_at FROM environments ORDER BY id")
            .fetch_all(&mut tx)
            .await?
            .iter()
            .map(|r| crate::applications::environment(r).map(|e| EnvironmentEntry::from(&e)))
            .collect::<Result<_>>()?;
        let applications = query(format!("SELECT {} FROM applications ORDER BY id", crate::applications::APP_COLUMNS))
            .fetch_all(&mut tx)
            .await?
            .iter()
            .map(|r| crate::applications::application(r).map(|a| ApplicationEntry::from(&a)))
            .collect::<Result<_>>()?;
        let accounts = export_accounts(&mut tx).await?;
        let claim_mappings = export_claim_mappings(&mut tx).await?;
        let certificates = query(format!("SELECT {} FROM certificates ORDER BY id", crate::certificates::COLUMNS))
            .fetch_all(&mut tx)
            .await?
            .iter()
            .map(|r| crate::certificates::certificate(r).map(certificate_entry))
            .collect::<Result<_>>()?;
        let signing_keys = export_signing_keys(&mut tx).await?;
        let mut settings = BTreeMap::new();
        for r in query("SELECT key, value FROM settings").fetch_all(&mut tx).await? {
            let key: String = r.try_get("key")?;
            let value = from_json(&r.try_get::<String>("value")?, &key)?;
            settings.insert(key, value);
        }
        let mfa = Some(export_mfa(&mut tx).await?);
        let identity_providers = Some(crate::federation::export(&mut tx).await?);
        let federated_links = Some(crate::federation::export_links(&mut tx).await?);
        tx.commit().await?;
        Ok(Configuration {
            format: FORMAT,
            environments,
            applications,
            accounts,
            claim_mappings,
            certificates,
            signing_keys,
            settings,
            mfa,
            identity_providers,
            federated_links,
        })
    }

    /// Replaces the whole configuration with `doc`, and records `ev`, in one
    /// transaction. The document is validated first (`Invalid`, nothing
    /// written); any failure after that rolls everything back. Every secret
    /// in it must be sealed under this server's key-encryption key. Ends all
    /// runtime state (see the module's documentation); `now` is when grant
    /// families are marked revoked.
    pub async fn replace_configuration(
        &self,
        doc: &Configuration,
        keys: KeySource<'_>,
        now: UnixTime,
        ev: &AuditEvent,
    ) -> Result<Replaced> {
        doc.validate(&ClaimEngine::new()).map_err(StoreError::Invalid)?;
        if let KeySource::Document = keys {
            doc.check_signing_keys().map_err(StoreError::Invalid)?;
        }
        check_sealed(doc)?;
        let mut out = Replaced::default();
        let mut tx = self.db.begin().await?;
        // Always in this order; no other transaction takes both.
        tx.serialise(crate::accounts::ADMIN_ACCOUNTS_LOCK).await?;
        tx.serialise(crate::settings::SETTINGS_LOCK).await?;
        end_runtime_state(&mut tx, now, &mut out).await?;

        // Versions are ETags and keep cached password checks valid: every
        // account and mapping that stays gets a new one.
        let account_versions = versions(&mut tx, "accounts").await?;
        let mapping_versions = versions(&mut tx, "claim_mappings").await?;
        for table in ["account_attributes", "claim_mappings", "accounts", "applications", "certificates", "settings"] {
            query(format!("DELETE FROM {table}")).execute(&mut tx).await?;
        }
        let kept = replace_environments(&mut tx, &doc.environments).await?;
        out.environments = doc.environments.len();
        out.signing_keys = replace_keys(&mut tx, doc, keys, &kept).await?;

        for a in &doc.applications {
            crate::applications::insert_application(&mut tx, &Application::from(a)).await?;
        }
        out.applications = doc.applications.len();
        for a in &doc.accounts {
            insert_account(&mut tx, a, account_versions.get(&a.id).map_or(1, |v| v + 1)).await?;
        }
        out.accounts = doc.accounts.len();
        for m in &doc.claim_mappings {
            insert_claim_mapping(&mut tx, m, mapping_versions.get(&m.id).map_or(1, |v| v + 1)).await?;
        }
        out.claim_mappings = doc.claim_mappings.len();
        for c in &doc.certificates {
            crate::certificates::insert(&mut tx, &certificate(c)).await?;
        }
        out.certificates = doc.certificates.len();
        replace_rest(&mut tx, doc, &mut out).await?;
        audit::append(&mut tx, ev).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// Revokes every grant family and deletes every other piece of runtime state.
pub(crate) async fn end_runtime_state(tx: &mut Tx, now: UnixTime, out: &mut Replaced) -> Result<()> {
    out.grants_revoked = query("UPDATE grants SET revoked_at = $1 WHERE revoked_at IS NULL")
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    for table in ["refresh_tokens", "auth_codes", "device_codes", "login_flows"] {
        query(format!("DELETE FROM {table}")).execute(&mut *tx).await?;
    }
    out.sessions_ended = query("DELETE FROM browser_sessions").execute(&mut *tx).await?.rows_affected();
    Ok(())
}

/// Settings, then the sections older documents may lack: providers, links, MFA.
async fn replace_rest(tx: &mut Tx, doc: &Configuration, out: &mut Replaced) -> Result<()> {
    for (key, value) in &doc.settings {
        query("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind(key)
            .bind(value.to_string())
            .execute(&mut *tx)
            .await?;
    }
    out.settings = doc.settings.len();
    if let Some(providers) = &doc.identity_providers {
        crate::federation::replace(tx, providers).await?;
    }
    if let Some(links) = &doc.federated_links {
        crate::federation::replace_links(tx, links).await?;
    }
    if let Some(mfa) = &doc.mfa {
        replace_mfa(tx, mfa).await?;
        out.mfa_methods = Some(mfa.methods.len());
    }
    Ok(())
}

async fn export_accounts(tx: &mut Tx) -> Result<Vec<AccountEntry>> {
    let mut attributes: HashMap<String, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    for r in query("SELECT account_id, value FROM account_attributes").fetch_all(&mut *tx).await? {
        attributes.insert(r.try_get("account_id")?, from_json(&r.try_get::<String>("value")?, "attributes")?);
    }
    query(format!("SELECT {} FROM accounts ORDER BY id", crate::accounts::COLUMNS))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let a = crate::accounts::account(r)?;
            let attrs = attributes.remove(a.id.as_str());
            Ok(AccountEntry::from_account(&a, attrs))
        })
        .collect()
}

async fn export_claim_mappings(tx: &mut Tx) -> Result<Vec<ClaimMappingEntry>> {
    query(format!("SELECT {} FROM claim_mappings ORDER BY id", crate::claims::COLUMNS))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let m = crate::claims::mapping(r)?;
            Ok(ClaimMappingEntry {
                id: m.id,
                environment_id: m.environment_id,
                claim: m.claim,
                expression: m.expression,
                created_at: m.created_at,
            })
        })
        .collect()
}

async fn insert_claim_mapping(tx: &mut Tx, m: &ClaimMappingEntry, version: i64) -> Result<()> {
    query(format!("INSERT INTO claim_mappings ({}) VALUES ($1, $2, $3, $4, $5, $6)", crate::claims::COLUMNS))
        .bind(&m.id)
        .bind(&m.environment_id)
        .bind(&m.claim)
        .bind(&m.expression)
        .bind(version)
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn export_signing_keys(tx: &mut Tx) -> Result<Vec<SigningKeyEntry>> {
    query(format!("SELECT {} FROM signing_keys ORDER BY kid", crate::keys::KEY_COLUMNS))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let k = crate::keys::key(r)?;
            Ok(SigningKeyEntry {
                public_jwk: from_json(&k.public_jwk, "public_jwk")?,
                kid: k.kid,
                environment_id: k.environment_id.into_string(),
                private_key: Some(Protected::Sealed(k.private_sealed)),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
        })
        .collect()
}

async fn export_mfa(tx: &mut Tx) -> Result<MfaSection> {
    let methods = query(format!("SELECT {} FROM mfa_methods ORDER BY id", crate::mfa::METHOD_COLUMNS))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let m = crate::mfa::method(r)?;
            Ok(MfaMethodEntry {
                id: m.id.into_string(),
                name: m.name,
                username_format: m.username_format,
                settings: m.settings,
                secrets: Protected::Sealed(m.sealed_secrets),
                created_at: m.created_at,
            })
        })
        .collect::<Result<_>>()?;
    let enforcements = query("SELECT document FROM mfa_enforcements ORDER BY name")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| from_json(&r.try_get::<String>("document")?, "MFA enforcement"))
        .collect::<Result<_>>()?;
    let totp_enrolments = query(
        "SELECT method_id, account_id, params, secret_sealed, last_step, created_at FROM mfa_totp_enrolments \
         ORDER BY method_id, account_id",
    )
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| {
        Ok(TotpEnrolmentEntry {
            method_id: r.try_get("method_id")?,
            account_id: r.try_get("account_id")?,
            params: from_json(&r.try_get::<String>("params")?, "TOTP enrolment")?,
            secret: Protected::Sealed(r.try_get("secret_sealed")?),
            last_step: r.try_get("last_step")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(MfaSection { methods, enforcements, totp_enrolments })
}

/// Replaces every MFA method, enforcement and enrolment with the document's.
async fn replace_mfa(tx: &mut Tx, mfa: &MfaSection) -> Result<()> {
    tx.serialise(crate::mfa::MFA_LOCK).await?;
    crate::mfa::bump(tx).await?;
    for table in ["mfa_totp_enrolments", "mfa_enforcement_methods", "mfa_enforcements", "mfa_methods"] {
        query(format!("DELETE FROM {table}")).execute(&mut *tx).await?;
    }
    for m in &mfa.methods {
        query(format!(
            "INSERT INTO mfa_methods ({}) VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
            crate::mfa::METHOD_COLUMNS
        ))
        .bind(&m.id)
        .bind(m.settings.method_type().as_str())
        .bind(&m.name)
        .bind(&m.username_format)
        .bind(to_json(&m.settings))
        .bind(m.secrets.sealed().map(<[u8]>::to_vec).unwrap_or_default())
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
    }
    for e in &mfa.enforcements {
        let doc = crate::encode(e)?;
        query("INSERT INTO mfa_enforcements (name, id, document, version, created_at) VALUES ($1, $2, $3, 1, 0)")
            .bind(&e.name)
            .bind(&e.id)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
        for id in &e.mfa_method_ids {
            query("INSERT INTO mfa_enforcement_methods (enforcement, method_id) VALUES ($1, $2)")
                .bind(&e.name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    for t in &mfa.totp_enrolments {
        query(
            "INSERT INTO mfa_totp_enrolments \
             (method_id, account_id, params, secret_sealed, last_step, failures, failed_until, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6)",
        )
        .bind(&t.method_id)
        .bind(&t.account_id)
        .bind(to_json(&t.params))
        .bind(t.secret.sealed().map(<[u8]>::to_vec).unwrap_or_default())
        .bind(t.last_step)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn versions(tx: &mut Tx, table: &'static str) -> Result<HashMap<String, i64>> {
    let rows = query(format!("SELECT id, version FROM {table}")).fetch_all(&mut *tx).await?;
    rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("version")?))).collect()
}

/// Environments are updated in place, not deleted and made again: deleting
/// one would take its signing keys and revoked families with it. Returns
/// the ids of those that were there before.
async fn replace_environments(tx: &mut Tx, wanted: &[EnvironmentEntry]) -> Result<HashSet<String>> {
    let before: HashSet<String> = query("SELECT id FROM environments")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_>>()?;
    let wanted_ids: HashSet<&str> = wanted.iter().map(|e| e.id.as_str()).collect();
    for gone in before.iter().filter(|id| !wanted_ids.contains(id.as_str())) {
        query("DELETE FROM environments WHERE id = $1").bind(gone).execute(&mut *tx).await?;
    }
    // Names are unique: free them all first, so two environments can swap theirs.
    query("UPDATE environments SET name = 'bulk-import:' || id").execute(&mut *tx).await?;
    let mut kept = HashSet::new();
    for e in wanted {
        if before.contains(e.id.as_str()) {
            query("UPDATE environments SET name = $2, created_at = $3 WHERE id = $1")
                .bind(&e.id)
                .bind(&e.name)
                .bind(e.created_at)
                .execute(&mut *tx)
                .await?;
            kept.insert(e.id.to_string());
        } else {
            crate::applications::insert_environment(tx, &Environment::from(e)).await?;
        }
    }
    Ok(kept)
}

async fn replace_keys(tx: &mut Tx, doc: &Configuration, keys: KeySource<'_>, kept: &HashSet<String>) -> Result<usize> {
    match keys {
        KeySource::Document => {
            query("DELETE FROM signing_keys").execute(&mut *tx).await?;
            for k in &doc.signing_keys {
                // Checked: every key of the document has its private part, sealed.
                let private_sealed = sealed(&k.private_key).unwrap_or_default();
                let stored = StoredKey {
                    kid: k.kid.clone(),
                    environment_id: k.environment_id.clone().into(),
                    public_jwk: k.public_jwk.to_string(),
                    private_sealed,
                    created_at: k.created_at,
                    retired_at: k.retired_at,
                    activates_at: None,
                };
                crate::keys::insert(tx, &stored).await?;
            }
            Ok(doc.signing_keys.len())
        }
        KeySource::Keep(fresh) => {
            let keyed: HashSet<String> = query("SELECT DISTINCT environment_id FROM signing_keys")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("environment_id"))
                .collect::<Result<_>>()?;
            let mut made = 0;
            for e in
                doc.environments.iter().filter(|e| !(kept.contains(e.id.as_str()) && keyed.contains(e.id.as_str())))
            {
                let key = fresh(e.id.as_str())
                    .map_err(|reason| StoreError::SigningKey { environment_id: e.id.to_string(), reason })?;
                crate::keys::insert(tx, &key).await?;
                made += 1;
            }
            Ok(made)
        }
    }
}

async fn insert_account(tx: &mut Tx, a: &AccountEntry, version: i64) -> Result<()> {
    let totp_sealed = sealed(&a.totp);
    query(format!(
        "INSERT INTO accounts ({}, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        crate::accounts::COLUMNS
    ))
    .bind(&a.id)
    .bind(&a.environment_id)
    .bind(&a.username)
    .bind(a.password_hash.clone())
    .bind(flag(a.active))
    .bind(flag(a.admin))
    .bind(to_json(&a.roles))
    .bind(flag(a.auditor))
    .bind(totp_sealed)
    .bind(flag(a.totp_confirmed))
    .bind(a.totp_last_step)
    .bind(a.failed_attempts)
    .bind(a.locked_until)
    .bind(a.created_at)
    .bind(flag(a.password_change_required))
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if let Some(attributes) = &a.attributes {
        query("INSERT INTO account_attributes (account_id, value) VALUES ($1, $2)")
            .bind(&a.id)
            .bind(serde_json::Value::Object(attributes.clone()).to_string())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

fn certificate_entry(c: Certificate) -> CertificateEntry {
    CertificateEntry {
        id: c.id,
        name: c.name,
        pem: c.pem,
        sha256: c.sha256,
        subject: c.subject,
        issuer: c.issuer,
        not_before: c.not_before,
        not_after: c.not_after,
        trusted_for_mtls: c.trusted_for_mtls,
        private_key: c.private_key_sealed.map(Protected::Sealed),
        created_at: c.created_at,
    }
}

fn certificate(c: &CertificateEntry) -> Certificate {
    Certificate {
        id: c.id.clone(),
        name: c.name.clone(),
        pem: c.pem.clone(),
        sha256: c.sha256.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        trusted_for_mtls: c.trusted_for_mtls,
        private_key_sealed: sealed(&c.private_key),
        created_at: c.created_at,
    }
}
