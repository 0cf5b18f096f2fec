//! `/bulk`: every object the admin API manages, as one JSON document
//! (`signet_core::configuration`, `"format": 1`), exported and imported
//! whole. Both directions need all four roles.
//!
//! Secrets appear only as they are stored: passwords as argon2id PHC
//! strings, client secrets as their SHA-256, and TOTP secrets, certificate
//! keys and settings secrets sealed under this server's key-encryption key.
//! Signing keys appear by their public parts only. A document therefore
//! imports only where that key-encryption key is (this server, or one
//! restored with the same key); `/configArchive` carries the configuration,
//! private keys included, to a server with another.
//!
//! An import validates the whole document, then replaces everything in one
//! transaction; on any error nothing changes. Signing keys are not imported:
//! an environment that stays keeps its keys, and one new to this server gets
//! a new key. Runtime state does not survive an import: every grant family
//! is revoked and every session, code, sign-on flow and device authorization
//! ended, since the accounts and applications they belong to may have
//! changed. Access tokens without a family (client credentials) stay valid
//! until they expire for anyone who checks them offline.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use signet_core::audit::Action as Event;
use signet_core::audit::hex;
use signet_core::configuration::{Configuration, Protected};
use signet_core::crypto::sha256;
use signet_core::model::LockoutPolicy;
use signet_core::policy::{Action, Resource};
use signet_store::{KeySource, LOCKOUT_POLICY_KEY, Replaced};

use super::caller::Caller;
use super::{AdminError, DOCUMENT_MAX_BODY, ErrorBody, body_bytes};
use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY};
use crate::state::AppState;

/// What an import wrote, and the runtime state it ended.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Imported {
    environments: usize,
    applications: usize,
    accounts: usize,
    claim_mappings: usize,
    certificates: usize,
    /// Keys installed (an archive) or made for environments new to this server (`/bulk`).
    signing_keys: usize,
    settings: usize,
    /// Grant families revoked: their refresh and access tokens stopped working.
    grants_revoked: u64,
    /// Browser sessions ended.
    sessions_ended: u64,
}

impl From<Replaced> for Imported {
    fn from(r: Replaced) -> Imported {
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
}

/// A configuration document as the body: JSON, at most `DOCUMENT_MAX_BODY`,
/// no unknown fields, errors naming the field by its path; with the
/// SHA-256 of the bytes, which the audit event records.
pub struct Document {
    doc: Configuration,
    digest: String,
}

impl<S: Send + Sync> FromRequest<S> for Document {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state, "application/json", DOCUMENT_MAX_BODY).await?;
        let doc = parse(&bytes).map_err(|e| AdminError::invalid(format!("the body is not valid: {e}")))?;
        Ok(Document { doc, digest: hex(&sha256(&bytes)) })
    }
}

/// Parses a document, errors naming the field (`accounts[2].roles: …`).
pub(super) fn parse(bytes: &[u8]) -> Result<Configuration, String> {
    if crate::nul::json_has_nul(bytes) {
        return Err(crate::nul::MESSAGE.into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = serde_path_to_error::deserialize(&mut de).map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| e.to_string())?;
    Ok(doc)
}

/// Exports every configuration object (all four roles). Secrets only as
/// stored hashes or values sealed under this server's key-encryption key;
/// signing keys by their public parts.
#[utoipa::path(get, path = "/bulk", tag = "bulk",
    responses((status = 200, body = Object, description = "The configuration document, `\"format\": 1`: environments, applications, accounts (admin and end users, with attributes), claim_mappings, certificates, signing_keys (public parts), settings, mfa (methods, enforcements, TOTP enrolments), identity_providers and federated_links; secrets sealed."),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Bulk, Action::Read).await?;
    let mut doc = state.store.export_configuration().await?;
    for k in &mut doc.signing_keys {
        k.private_key = None;
    }
    let body = serde_json::to_vec(&doc).map_err(AdminError::internal)?;
    let mut ev = caller.event(Event::AdminBulkExport, "configuration", state.now())?;
    ev.digest = hex(&sha256(&body));
    state.store.record(&ev).await?;
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Replaces the whole configuration with a `/bulk` document (all four
/// roles), in one transaction, after validating all of it: 400 for a body
/// that is not a document (malformed, unknown fields), 422 naming the field
/// for one that cannot be imported (a broken reference, no active
/// UserAdmin left, a secret sealed under another key-encryption key), and
/// nothing changes. Signing keys are not imported: environments that stay
/// keep theirs and new ones get a new key. Ends every grant family,
/// session, code, sign-on flow and device authorization.
#[utoipa::path(post, path = "/bulk", tag = "bulk",
    request_body(content = Object, content_type = "application/json", description = "A document as `GET /bulk` returns it; at most 16 MiB."),
    responses((status = 200, body = Imported), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Document { mut doc, digest }: Document,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Bulk, Action::Write).await?;
    if let Some(i) = doc.signing_keys.iter().position(|k| k.private_key.is_some()) {
        return Err(AdminError::unprocessable(format!(
            "signing_keys[{i}].private_key: /bulk does not import signing keys; /configArchive carries them"
        )));
    }
    doc.map_secrets(|purpose, p| match p {
        Protected::Sealed(blob) => state.kek.open(purpose, blob).map(|_| p.clone()).map_err(|_| {
            "sealed under a key-encryption key this server does not have; move configuration between servers with /configArchive"
        }),
        Protected::Plain(_) => Err("/bulk takes secrets only sealed as exported; plain ones travel in a /configArchive"),
    })
    .map_err(|(path, why)| AdminError::unprocessable(format!("{path}: {why}")))?;
    let now = state.now();
    let fresh = |env: &str| crate::bootstrap::new_signing_key(&state.kek, env, now).map_err(|e| e.to_string());
    let imported = install(&state, &caller, &doc, KeySource::Keep(&fresh), Event::AdminBulkImport, digest).await?;
    Ok(axum::Json(imported).into_response())
}

/// Checks what only the server knows how to (settings it reads, certificates
/// it parses), replaces the configuration with the event recorded in the
/// same transaction, and forgets what this instance cached about the old one.
/// Every secret in `doc` is sealed under this server's key-encryption key.
pub(super) async fn install(
    state: &AppState,
    caller: &Caller,
    doc: &Configuration,
    keys: KeySource<'_>,
    action: Event,
    digest: String,
) -> Result<Imported, AdminError> {
    doc.validate(&state.claim_mappings.engine).map_err(|e| AdminError::unprocessable(e.to_string()))?;
    check_server_rules(state, doc).map_err(AdminError::unprocessable)?;
    let now = state.now();
    let mut ev = caller.event(action, "configuration", now)?;
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
    Ok(replaced.into())
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
