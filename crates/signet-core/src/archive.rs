//! The configuration archive: a document encrypted under a key derived from
//! a passphrase, so it can be carried to another server (another
//! key-encryption key) with its private keys.
//!
//! ```text
//! magic "SIGNETCA" (8) | version 1 (1) | kdf 1 = argon2id v1.3 (1)
//! | m_cost KiB (u32 BE) | t_cost (u32 BE) | p_cost (u32 BE) | salt (16)
//! | aead 1 = AES-256-GCM (1) | nonce (12)
//! | ciphertext | tag (16)
//! ```
//!
//! The 51-byte header is the AEAD's associated data, so a changed parameter,
//! salt or nonce fails authentication like a changed ciphertext does. The key
//! is argon2id(passphrase, salt) with the header's parameters (RFC 9106
//! §4 recommends argon2id; the default here is 64 MiB, 3 passes, 1 lane).
//! An archive's parameters are bounded before any work is done, so a crafted
//! one cannot make the server spend gigabytes or minutes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::crypto::random_bytes;
use crate::secret::Secret;

const MAGIC: &[u8; 8] = b"SIGNETCA";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const AEAD_AES_256_GCM: u8 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
pub const HEADER_LEN: usize = 8 + 1 + 1 + 12 + SALT_LEN + 1 + NONCE_LEN;

/// What an archive is made with, and the most one may demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    pub const DEFAULT: KdfParams = KdfParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 };
    /// Below the OWASP minimum (19 MiB, t=2) an archive is not accepted: its
    /// key would be cheap to guess.
    pub const MIN: KdfParams = KdfParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 };
    pub const MAX: KdfParams = KdfParams { m_cost_kib: 256 * 1024, t_cost: 10, p_cost: 4 };

    fn acceptable(self) -> bool {
        (KdfParams::MIN.m_cost_kib..=KdfParams::MAX.m_cost_kib).contains(&self.m_cost_kib)
            && (KdfParams::MIN.t_cost..=KdfParams::MAX.t_cost).contains(&self.t_cost)
            && (KdfParams::MIN.p_cost..=KdfParams::MAX.p_cost).contains(&self.p_cost)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("this is not a signet configuration archive (or a version this server does not read)")]
    NotAnArchive,
    #[error(
        "the archive's key derivation parameters are outside what this server accepts (argon2id m 19–256 MiB, t 2–10, p 1–4)"
    )]
    Parameters,
    #[error("the archive could not be opened: wrong passphrase or damaged")]
    Open,
    #[error("the archive could not be made")]
    Seal,
}

fn key(passphrase: &str, salt: &[u8], p: KdfParams) -> Result<LessSafeKey, ArchiveError> {
    let params =
        argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(32)).map_err(|_| ArchiveError::Parameters)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase.as_bytes(), salt, raw.as_mut()).map_err(|_| ArchiveError::Parameters)?;
    let unbound = UnboundKey::new(&AES_256_GCM, raw.as_ref()).map_err(|_| ArchiveError::Seal)?;
    Ok(LessSafeKey::new(unbound))
}

fn header(p: KdfParams, salt: &[u8; SALT_LEN], nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.push(KDF_ARGON2ID);
    for n in [p.m_cost_kib, p.t_cost, p.p_cost] {
        h.extend_from_slice(&n.to_be_bytes());
    }
    h.extend_from_slice(salt);
    h.push(AEAD_AES_256_GCM);
    h.extend_from_slice(nonce);
    h
}

/// Encrypts `plaintext` under `passphrase` with a fresh salt and nonce.
pub fn seal(passphrase: &str, plaintext: &[u8], p: KdfParams) -> Result<Vec<u8>, ArchiveError> {
    let salt = random_bytes::<SALT_LEN>().map_err(|_| ArchiveError::Seal)?;
    let nonce = random_bytes::<NONCE_LEN>().map_err(|_| ArchiveError::Seal)?;
    let head = header(p, &salt, &nonce);
    let key = key(passphrase, &salt, p)?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&head);
    out.extend_from_slice(plaintext);
    let (aad, body) = out.split_at_mut(HEADER_LEN);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&*aad), body)
        .map_err(|_| ArchiveError::Seal)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// The parameters an archive asks for, after checking its frame; cheap, so
/// a caller can refuse before deriving anything.
pub fn params(archive: &[u8]) -> Result<KdfParams, ArchiveError> {
    if archive.len() < HEADER_LEN + TAG_LEN
        || &archive[..8] != MAGIC
        || archive[8] != VERSION
        || archive[9] != KDF_ARGON2ID
        || archive[22 + SALT_LEN] != AEAD_AES_256_GCM
    {
        return Err(ArchiveError::NotAnArchive);
    }
    let n = |at: usize| u32::from_be_bytes([archive[at], archive[at + 1], archive[at + 2], archive[at + 3]]);
    let p = KdfParams { m_cost_kib: n(10), t_cost: n(14), p_cost: n(18) };
    if !p.acceptable() {
        return Err(ArchiveError::Parameters);
    }
    Ok(p)
}

/// Decrypts an archive. A wrong passphrase and any changed byte look the same.
pub fn open(passphrase: &str, archive: &[u8]) -> Result<Secret<Vec<u8>>, ArchiveError> {
    let p = params(archive)?;
    let salt = &archive[22..22 + SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&archive[HEADER_LEN - NONCE_LEN..HEADER_LEN]);
    let key = key(passphrase, salt, p)?;
    let mut buf = archive[HEADER_LEN..].to_vec();
    let len = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&archive[..HEADER_LEN]), &mut buf)
        .map_err(|_| ArchiveError::Open)?
        .len();
    buf.truncate(len);
    Ok(Secret::new(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small but acceptable parameters, so the tests stay quick.
    const QUICK: KdfParams = KdfParams::MIN;

    #[test]
    fn an_archive_opens_with_its_passphrase_only() {
        let sealed = seal("correct horse battery", b"{\"format\":1}", QUICK).unwrap();
        assert_eq!(&sealed[..8], b"SIGNETCA");
        assert!(!sealed.windows(8).any(|w| w == b"\"format\""), "the document is not in clear");
        assert_eq!(open("correct horse battery", &sealed).unwrap().expose(), b"{\"format\":1}");
        assert_eq!(open("correct horse batterz", &sealed).unwrap_err(), ArchiveError::Open);
    }

    #[test]
    fn every_changed_byte_is_detected() {
        let sealed = seal("correct horse battery", b"some configuration", QUICK).unwrap();
        // Header bytes (salt, nonce, a parameter within bounds) and body bytes alike.
        for at in [13, 25, 40, HEADER_LEN - 1, HEADER_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open("correct horse battery", &bad).is_err(), "byte {at}");
        }
        assert_eq!(open("x", &sealed[..HEADER_LEN]).unwrap_err(), ArchiveError::NotAnArchive);
        assert_eq!(open("x", b"PK\x03\x04 a zip file, say").unwrap_err(), ArchiveError::NotAnArchive);
    }

    #[test]
    fn parameters_outside_the_bounds_are_refused_before_any_work() {
        let sealed = seal("correct horse battery", b"x", QUICK).unwrap();
        let mut greedy = sealed.clone();
        greedy[10..14].copy_from_slice(&(4u32 * 1024 * 1024).to_be_bytes());
        assert_eq!(params(&greedy).unwrap_err(), ArchiveError::Parameters);
        let mut weak = sealed;
        weak[14..18].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(open("correct horse battery", &weak).unwrap_err(), ArchiveError::Parameters);
        assert_eq!(params(&seal("p", b"x", KdfParams::DEFAULT).unwrap()).unwrap(), KdfParams::DEFAULT);
    }
}
