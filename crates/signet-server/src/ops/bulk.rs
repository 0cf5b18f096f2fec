//! The whole configuration (`signet_core::configuration`, `"format": 1`) as
//! one document, exported and imported whole through `/bulk`; the archive
//! (`config_archive`) installs its documents the same way.
//!
//! Secrets appear only as they are stored: passwords as argon2id PHC
//! strings, client secrets as their SHA-256, and TOTP secrets, certificate
//! keys and settings secrets sealed under this server's key-encryption key.
//! Signing keys appear by their public parts only.
//!
//! An import validates the whole document, then replaces everything in one
//! transaction; on any error nothing changes. Runtime state does not survive
//! an import: every grant family is revoked and every session, code, sign-on
//! flow and device authorization ended, since the accounts and applications
//! they belong to may have changed.

use signet_core::audit::{Action as Event, hex};
use signet_core::configuration::{Configuration, Protected};
use signet_core::crypto::sha256;
use signet_core::model::LockoutPolicy;
use signet_core::policy::{Action, Resource};
use signet_store::{KeySource, LOCKOUT_POLICY_KEY, Replaced};

use super::{Authorized, OpError};
use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY};
use crate::state::AppState;

pub use signet_proto::admin::bulk::Imported;

fn imported(r: Replaced) -> Imported {
    Imported {
        environments: r.environments,
        applications: r.applications,
        accounts: r.accounts,
        claim_mappings: r.claim_mappings,
        certificates: r.certificates,
        signing_keys: r.signing_keys,
        settings: r.settings,
        grants_revoked: r.grants_revoked,
        sessions_ended: r.sessions_ended,
    }
}

/// Parses a document, errors naming the field (`accounts[2].roles: …`).
pub fn parse(bytes: &[u8]) -> Result<Configuration, String> {
    if crate::nul::json_has_nul(bytes) {
        return Err(crate::nul::MESSAGE.into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = serde_path_to_error::deserialize(&mut de).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

/// Every configuration object as a JSON document: secrets only as stored
/// hashes or values sealed under this server's key-encryption key, signing
/// keys by their public parts. The export is recorded with its digest.
pub async fn export(state: &AppState, by: &Authorized<'_>) -> Result<Vec<u8>, OpError> {
    by.covers(Resource::Bulk, Action::Read)?;
    let mut doc = state.store.export_configuration().await?;
    for k in &mut doc.signing_keys {
        k.private_key = None;
    }
    let body = serde_json::to_vec(&doc).map_err(OpError::internal)?;
    let mut ev = by.event(Event::AdminBulkExport, None, "configuration", None, state.now())?;
    ev.digest = hex(&sha256(&body));
    state.store.record(&ev).await?;
    Ok(body)
}

/// Replaces the whole configuration with a `/bulk` document whose bytes
/// have the SHA-256 `digest`. Signing keys are not imported: environments
/// that stay keep theirs and new ones get a new key; secrets must be sealed
/// under this server's key-encryption key.
pub async fn import(
    state: &AppState,
    by: &Authorized<'_>,
    mut doc: Configuration,
    digest: String,
) -> Result<Imported, OpError> {
    by.covers(Resource::Bulk, Action::Write)?;
    if let Some(i) = doc.signing_keys.iter().position(|k| k.private_key.is_some()) {
        return Err(OpError::Unprocessable(format!(
            "signing_keys[{i}].private_key: /bulk does not import signing keys; /configArchive carries them"
        )));
    }
    doc.map_secrets(|purpose, p| match p {
        Protected::Sealed(blob) => state.kek.open(purpose, blob).map(|_| p.clone()).map_err(|_| {
            "sealed under a key-encryption key this server does not have; move configuration between servers with /configArchive"
        }),
        Protected::Plain(_) => Err("/bulk takes secrets only sealed as exported; plain ones travel in a /configArchive"),
    })
    .map_err(|(path, why)| OpError::Unprocessable(format!("{path}: {why}")))?;
    let now = state.now();
    let fresh = |env: &str| crate::bootstrap::new_signing_key(&state.kek, env, now).map_err(|e| e.to_string());
    install(state, by, &doc, KeySource::Keep(&fresh), (Event::AdminBulkImport, digest)).await
}

/// Checks what only the server knows how to (settings it reads, certificates
/// it parses), replaces the configuration with the event recorded in the
/// same transaction, and forgets what this instance cached about the old one.
/// Every secret in `doc` is sealed under this server's key-encryption key.
pub(super) async fn install(
    state: &AppState,
    by: &Authorized<'_>,
    doc: &Configuration,
    keys: KeySource<'_>,
    (action, digest): (Event, String),
) -> Result<Imported, OpError> {
    doc.validate(&state.claim_mappings.engine).map_err(|e| OpError::Unprocessable(e.to_string()))?;
    check_server_rules(state, doc).map_err(OpError::Unprocessable)?;
    let now = state.now();
    let mut ev = by.event(action, None, "configuration", None, now)?;
    ev.digest = digest;
    let replaced = state.store.replace_configuration(doc, keys, now, &ev).await?;
    // Other instances catch up as their caches expire: applications in
    // 10 s, the Administrators environment in 10 s, signing keys in 60 s,
    // revocations within a second.
    state.keyring.forget_all();
    state.clients.clear();
    state.claim_mappings.forget_all();
    state.authn.forget();
    state.revocations.stale();
    Ok(imported(replaced))
}

fn check_server_rules(state: &AppState, doc: &Configuration) -> Result<(), String> {
    if let Some(v) = doc.settings.get(SETTINGS_KEY) {
        let mut settings: AuthSettings =
            serde_json::from_value(v.clone()).map_err(|e| format!("settings.{SETTINGS_KEY}: {e}"))?;
        settings
            .check(&state.kek, state.public_url.starts_with("https://"))
            .map_err(|e| format!("settings.{SETTINGS_KEY}.{e}"))?;
    }
    if let Some(v) = doc.settings.get(LOCKOUT_POLICY_KEY) {
        let p: LockoutPolicy =
            serde_json::from_value(v.clone()).map_err(|e| format!("settings.{LOCKOUT_POLICY_KEY}: {e}"))?;
        if p.max_failures < 1 || p.lock_seconds < 0 {
            return Err(format!("settings.{LOCKOUT_POLICY_KEY}: max_failures at least 1, lock_seconds not negative"));
        }
    }
    for (i, c) in doc.certificates.iter().enumerate() {
        let parsed = crate::mtls::parse_pem(&c.pem).map_err(|e| format!("certificates[{i}].pem: {e}"))?;
        if hex(&sha256(&parsed.der)) != c.sha256 {
            return Err(format!("certificates[{i}].sha256: not the fingerprint of its pem"));
        }
        if c.trusted_for_mtls && !parsed.is_ca {
            return Err(format!("certificates[{i}].trusted_for_mtls: only a CA certificate can be a trust anchor"));
        }
    }
    Ok(())
}
