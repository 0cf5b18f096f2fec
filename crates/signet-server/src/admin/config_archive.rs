//! `/configArchive`: the whole configuration, private keys included, as one
//! archive encrypted under a key derived from a passphrase the caller
//! chooses (`ops::config_archive`). All four roles, both ways.
//!
//! The passphrase is a secret: never logged, never in `Debug` output. Import
//! takes it in the `X-Passphrase` header, like Basic credentials, so the
//! body stays the archive exactly as exported.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;

use super::caller::Caller;
use super::{AdminError, Body, DOCUMENT_MAX_BODY, ErrorBody, body_bytes};
use crate::ops;
use crate::state::AppState;
pub use signet_proto::admin::bulk::Imported;
pub use signet_proto::admin::config_archive::ExportRequest;

/// The header an import's passphrase comes in.
pub const PASSPHRASE_HEADER: &str = "x-passphrase";

/// An archive as the body: `application/octet-stream`, at most 16 MiB.
pub struct ArchiveBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for ArchiveBody {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        body_bytes(req, state, "application/octet-stream", DOCUMENT_MAX_BODY).await.map(ArchiveBody)
    }
}

/// Exports the whole configuration, private keys included, as an archive
/// encrypted under the passphrase (all four roles). The archive is
/// `"SIGNETCA" | version 1 | kdf 1 (argon2id v1.3) | m KiB, t, p (u32 BE
/// each) | salt (16) | aead 1 (AES-256-GCM) | nonce (12) | ciphertext | tag
/// (16)`; the 51-byte header is the associated data. Made with m = 64 MiB,
/// t = 3, p = 1.
#[utoipa::path(post, path = "/configArchive/export", tag = "configArchive", request_body = ExportRequest,
    responses((status = 200, body = Vec<u8>, content_type = "application/octet-stream", description = "The archive."),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<ExportRequest<'static>>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ConfigArchive, Action::Read).await?;
    let sealed = ops::config_archive::export(&state, &by, Secret::new(request.passphrase.into_owned())).await?;
    let mut res = sealed.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let attachment = HeaderValue::from_static("attachment; filename=\"signet-configuration.archive\"");
    headers.insert(header::CONTENT_DISPOSITION, attachment);
    Ok(res)
}

/// Replaces the whole configuration with an archive's (all four roles): the
/// archive as exported in the body, its passphrase in `X-Passphrase`.
/// Atomic, as `/bulk` imports are, and with the same validation; the
/// archive's signing keys replace every key. 400 "the archive could not be
/// opened: wrong passphrase or damaged" when it does not open, and nothing
/// changes. Ends every grant family, session, code, sign-on flow and device
/// authorization.
#[utoipa::path(post, path = "/configArchive/import", tag = "configArchive",
    params(("X-Passphrase" = String, Header, description = "The archive's passphrase.")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An archive as exported; at most 16 MiB."),
    responses((status = 200, body = Imported), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ArchiveBody(sealed): ArchiveBody,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ConfigArchive, Action::Write).await?;
    let passphrase =
        headers.get(PASSPHRASE_HEADER).and_then(|v| String::from_utf8(v.as_bytes().to_vec()).ok()).map(Secret::new);
    let imported = ops::config_archive::import(&state, &by, passphrase, Vec::from(sealed)).await?;
    Ok(axum::Json(imported).into_response())
}
