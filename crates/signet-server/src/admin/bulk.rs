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
use signet_core::audit::hex;
use signet_core::configuration::Configuration;
use signet_core::crypto::sha256;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, DOCUMENT_MAX_BODY, ErrorBody, body_bytes};
use crate::ops;
use crate::state::AppState;
pub use signet_proto::admin::bulk::Imported;

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
        let doc = ops::bulk::parse(&bytes).map_err(|e| AdminError::invalid(format!("the body is not valid: {e}")))?;
        Ok(Document { doc, digest: hex(&sha256(&bytes)) })
    }
}

/// Exports every configuration object (all four roles). Secrets only as
/// stored hashes or values sealed under this server's key-encryption key;
/// signing keys by their public parts.
#[utoipa::path(get, path = "/bulk", tag = "bulk",
    responses((status = 200, body = Object, description = "The configuration document, `\"format\": 1`: environments, applications, accounts (admin and end users, with attributes), claim_mappings, certificates, signing_keys (public parts), settings, mfa (methods, enforcements, TOTP enrolments), identity_providers and federated_links; secrets sealed."),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Bulk, Action::Read).await?;
    let body = ops::bulk::export(&state, &by).await?;
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
    Document { doc, digest }: Document,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Bulk, Action::Write).await?;
    let imported = ops::bulk::import(&state, &by, doc, digest).await?;
    Ok(axum::Json(imported).into_response())
}
