//! The whole configuration, private keys included, as one archive encrypted
//! under a key derived from a passphrase the caller chooses
//! (`signet_core::archive`: argon2id, then AES-256-GCM with the header as
//! associated data). It moves a configuration to a server with another
//! key-encryption key: export opens every sealed secret (signing keys,
//! certificate keys, TOTP secrets, settings secrets) into the encrypted
//! document, and import seals them under the importing server's key.
//!
//! The passphrase is a secret: never logged, never in `Debug` output. The
//! key derivation runs on the password-hashing pool, whose bound it shares
//! with sign-ons.

use signet_core::archive::{self, ArchiveError, KdfParams};
use signet_core::audit::{Action as Event, hex};
use signet_core::configuration::Protected;
use signet_core::crypto::sha256;
use signet_core::policy::{Action, Resource};
use signet_core::secret::Secret;
use signet_store::KeySource;

use super::bulk::{Imported, install, parse};
use super::{Authorized, OpError};
use crate::state::AppState;

const MIN_PASSPHRASE: usize = 12;
const MAX_PASSPHRASE: usize = 1024;

fn checked(passphrase: Secret<String>) -> Result<Secret<String>, OpError> {
    let n = passphrase.expose().chars().count();
    if !(MIN_PASSPHRASE..=MAX_PASSPHRASE).contains(&n) {
        return Err(OpError::Invalid(format!("passphrase: {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters")));
    }
    Ok(passphrase)
}

fn refused(e: ArchiveError) -> OpError {
    match e {
        ArchiveError::Seal => OpError::internal(e),
        e => OpError::Invalid(e.to_string()),
    }
}

/// The whole configuration, every secret opened, sealed in an archive under
/// `passphrase` (m = 64 MiB, t = 3, p = 1). The export is recorded with the
/// archive's digest.
pub async fn export(state: &AppState, by: &Authorized<'_>, passphrase: Secret<String>) -> Result<Vec<u8>, OpError> {
    by.covers(Resource::ConfigArchive, Action::Read)?;
    let passphrase = checked(passphrase)?;
    let mut doc = state.store.export_configuration().await?;
    doc.map_secrets(|purpose, p| match p {
        Protected::Sealed(blob) => state.kek.open(purpose, blob).map(Protected::Plain),
        Protected::Plain(_) => Ok(p.clone()),
    })
    .map_err(|(path, e)| OpError::internal(format!("{path}: {e}")))?;
    let plain = Secret::new(serde_json::to_vec(&doc).map_err(OpError::internal)?);
    drop(doc);
    let sealed = state
        .hasher
        .spend(move || archive::seal(passphrase.expose(), plain.expose(), KdfParams::DEFAULT))
        .await
        .ok_or_else(|| OpError::internal("the hashing pool is gone"))?
        .map_err(refused)?;
    let mut ev = by.event(Event::AdminConfigArchiveExport, None, "configuration", None, state.now())?;
    ev.digest = hex(&sha256(&sealed));
    state.store.record(&ev).await?;
    Ok(sealed)
}

/// Replaces the whole configuration with an archive's, opened with
/// `passphrase` (the caller may have sent none). Atomic, as `/bulk` imports
/// are, and with the same validation; the archive's signing keys replace
/// every key.
pub async fn import(
    state: &AppState,
    by: &Authorized<'_>,
    passphrase: Option<Secret<String>>,
    sealed: Vec<u8>,
) -> Result<Imported, OpError> {
    by.covers(Resource::ConfigArchive, Action::Write)?;
    let passphrase =
        passphrase.ok_or_else(|| OpError::Invalid("X-Passphrase: the archive's passphrase is needed".into()))?;
    let passphrase = checked(passphrase)?;
    // Refused before any work when its parameters are out of bounds.
    archive::params(&sealed).map_err(refused)?;
    let digest = hex(&sha256(&sealed));
    let plain = state
        .hasher
        .spend(move || archive::open(passphrase.expose(), &sealed))
        .await
        .ok_or_else(|| OpError::internal("the hashing pool is gone"))?
        .map_err(refused)?;
    let mut doc = parse(plain.expose()).map_err(|e| OpError::Unprocessable(format!("the archive's document: {e}")))?;
    drop(plain);
    doc.map_secrets(|purpose, p| match p {
        Protected::Plain(secret) => {
            state.kek.seal(purpose, secret.expose()).map(Protected::Sealed).map_err(|_| "sealing failed")
        }
        Protected::Sealed(_) => Err("an archive carries secrets in plain; this one is sealed under some server's key"),
    })
    .map_err(|(path, why)| OpError::Unprocessable(format!("{path}: {why}")))?;
    install(state, by, &doc, KeySource::Document, (Event::AdminConfigArchiveImport, digest)).await
}
