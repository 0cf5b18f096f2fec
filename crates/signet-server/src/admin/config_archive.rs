//! `/configArchive`: the whole configuration, private keys included, as one
//! archive encrypted under a key derived from a passphrase the caller
//! chooses (`signet_core::archive`: argon2id, then AES-256-GCM with the
//! header as associated data). It moves a configuration to a server with
//! another key-encryption key: export opens every sealed secret (signing
//! keys, certificate keys, TOTP secrets, settings secrets) into the
//! encrypted document, and import seals them under the importing server's
//! key. All four roles, both ways.
//!
//! The passphrase is a secret: never logged, never in `Debug` output. Import
//! takes it in the `X-Passphrase` header, like Basic credentials, so the
//! body stays the archive exactly as exported. The key derivation runs on
//! the password-hashing pool, whose bound it shares with sign-ons.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_core::archive::{self, ArchiveError, KdfParams};
use signet_core::audit::Action as Event;
use signet_core::audit::hex;
use signet_core::configuration::Protected;
use signet_core::crypto::sha256;
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;
use signet_store::KeySource;

use super::bulk::{Imported, install, parse};
use super::caller::Caller;
use super::{AdminError, Body, DOCUMENT_MAX_BODY, ErrorBody, body_bytes};
use crate::state::AppState;

/// The header an import's passphrase comes in.
pub const PASSPHRASE_HEADER: &str = "x-passphrase";
const MIN_PASSPHRASE: usize = 12;
const MAX_PASSPHRASE: usize = 1024;

/// A passphrase as sent: never in `Debug` output, zeroized when dropped.
pub struct Passphrase(Secret<String>);

impl<'de> Deserialize<'de> for Passphrase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Passphrase, D::Error> {
        Ok(Passphrase(Secret::new(String::deserialize(d)?)))
    }
}

impl Passphrase {
    fn checked(self) -> Result<Secret<String>, AdminError> {
        let n = self.0.expose().chars().count();
        if !(MIN_PASSPHRASE..=MAX_PASSPHRASE).contains(&n) {
            return Err(AdminError::invalid(format!("passphrase: {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters")));
        }
        Ok(self.0)
    }
}

// No Debug: it holds a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// What the archive's key is derived from (argon2id): 12 to 1024
    /// characters. Keep it: without it the archive cannot be opened.
    #[schema(value_type = String, min_length = 12, max_length = 1024)]
    passphrase: Passphrase,
}

/// An archive as the body: `application/octet-stream`, at most 16 MiB.
pub struct ArchiveBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for ArchiveBody {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        body_bytes(req, state, "application/octet-stream", DOCUMENT_MAX_BODY).await.map(ArchiveBody)
    }
}

fn refused(e: ArchiveError) -> AdminError {
    match e {
        ArchiveError::Seal => AdminError::internal(e),
        e => AdminError::invalid(e.to_string()),
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
    Body(request): Body<ExportRequest>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ConfigArchive, Action::Read).await?;
    let passphrase = request.passphrase.checked()?;
    let mut doc = state.store.export_configuration().await?;
    doc.map_secrets(|purpose, p| match p {
        Protected::Sealed(blob) => state.kek.open(purpose, blob).map(Protected::Plain),
        Protected::Plain(_) => Ok(p.clone()),
    })
    .map_err(|(path, e)| AdminError::internal(format!("{path}: {e}")))?;
    let plain = Secret::new(serde_json::to_vec(&doc).map_err(AdminError::internal)?);
    drop(doc);
    let sealed = state
        .hasher
        .spend(move || archive::seal(passphrase.expose(), plain.expose(), KdfParams::DEFAULT))
        .await
        .ok_or_else(|| AdminError::internal("the hashing pool is gone"))?
        .map_err(refused)?;
    let mut ev = caller.event(Event::AdminConfigArchiveExport, "configuration", state.now())?;
    ev.digest = hex(&sha256(&sealed));
    state.store.record(&ev).await?;
    let mut res = sealed.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"signet-configuration.archive\""),
    );
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
    caller.allow(&state, Resource::ConfigArchive, Action::Write).await?;
    let passphrase = headers
        .get(PASSPHRASE_HEADER)
        .and_then(|v| String::from_utf8(v.as_bytes().to_vec()).ok())
        .map(|p| Passphrase(Secret::new(p)))
        .ok_or_else(|| AdminError::invalid("X-Passphrase: the archive's passphrase is needed"))?
        .checked()?;
    // Refused before any work when its parameters are out of bounds.
    archive::params(&sealed).map_err(refused)?;
    let digest = hex(&sha256(&sealed));
    let plain = state
        .hasher
        .spend(move || archive::open(passphrase.expose(), &sealed))
        .await
        .ok_or_else(|| AdminError::internal("the hashing pool is gone"))?
        .map_err(refused)?;
    let mut doc =
        parse(plain.expose()).map_err(|e| AdminError::unprocessable(format!("the archive's document: {e}")))?;
    drop(plain);
    doc.map_secrets(|purpose, p| match p {
        Protected::Plain(secret) => {
            state.kek.seal(purpose, secret.expose()).map(Protected::Sealed).map_err(|_| "sealing failed")
        }
        Protected::Sealed(_) => Err("an archive carries secrets in plain; this one is sealed under some server's key"),
    })
    .map_err(|(path, why)| AdminError::unprocessable(format!("{path}: {why}")))?;
    let imported = install(&state, &caller, &doc, KeySource::Document, Event::AdminConfigArchiveImport, digest).await?;
    Ok(axum::Json::<Imported>(imported).into_response())
}
