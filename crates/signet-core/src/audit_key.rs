//! The audit trail's keys. The chain key turns each event's chain hash into
//! an HMAC, so whoever can write the database but lacks the key cannot
//! rewrite an event and recompute the hashes after it. The checkpoint key
//! (Ed25519) signs checkpoints of the head, which, kept outside the
//! database, show a trail that was truncated.
//!
//! Both keys are random and stored only sealed under the key-encryption key
//! (AES-256-GCM, each bound to its purpose). They are not derived from it:
//! `signetd rotate-kek` re-seals them like any other secret, so events keyed
//! before a rotation still verify after it.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use signet_proto::audit::{CHECKPOINT_FORMAT, Checkpoint, CheckpointKey, ed25519_thumbprint_input};

use crate::audit::AuditEvent;
use crate::clock::UnixTime;
use crate::crypto::{CryptoError, Kek, b64url, b64url_decode, random_bytes, sha256};
use crate::secret::Secret;

/// The sealed chain key's purpose (its AAD).
pub const CHAIN_KEY_PURPOSE: &str = "audit.chain_key";
/// The sealed checkpoint signing key's purpose (its AAD).
pub const CHECKPOINT_KEY_PURPOSE: &str = "audit.checkpoint_key";
/// The action of the event that starts the keyed chain. Its hash is the
/// first HMAC, over the old head: every event before it is bound to it.
pub const CHAIN_KEYED: &str = crate::audit::Action::AuditChainKeyed.as_str();

/// Domain separation for the two MACs made with the chain key.
const EVENT_LABEL: &[u8] = b"signet audit event v2\0";
const ANCHOR_LABEL: &[u8] = b"signet audit pruned v2\0";

/// HMAC-SHA256 key for the chain.
pub struct ChainKey {
    key: aws_lc_rs::hmac::Key,
    /// A public fingerprint, to tell two keys apart without showing either.
    id: [u8; 8],
}

impl ChainKey {
    fn from_bytes(raw: &[u8]) -> Result<ChainKey, CryptoError> {
        if raw.len() != 32 {
            return Err(CryptoError::Key);
        }
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, raw);
        let tag = aws_lc_rs::hmac::sign(&key, b"signet audit chain key id");
        let mut id = [0u8; 8];
        id.copy_from_slice(&tag.as_ref()[..8]);
        Ok(ChainKey { key, id })
    }

    /// The keyed chain hash of `ev` placed at `seq` after `prev`: the same
    /// input as [`AuditEvent::chain_hash`], under the key.
    pub fn hash(&self, ev: &AuditEvent, seq: i64, prev: &[u8]) -> Vec<u8> {
        let body = serde_json::to_vec(&(seq, ev)).unwrap_or_default();
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(EVENT_LABEL);
        ctx.update(&(prev.len() as u64).to_be_bytes());
        ctx.update(prev);
        ctx.update(&body);
        ctx.sign().as_ref().to_vec()
    }

    /// The MAC of where pruning left the chain: the last pruned event's
    /// place and hash, and where the keyed chain starts. A database writer
    /// can then neither move the anchor past events it wants gone nor say
    /// the chain starts keyed where it does not.
    pub fn anchor_mac(&self, seq: i64, hash: &[u8], keyed_from: Option<i64>) -> Vec<u8> {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(ANCHOR_LABEL);
        ctx.update(&seq.to_be_bytes());
        ctx.update(&keyed_from.unwrap_or(-1).to_be_bytes());
        ctx.update(&(hash.len() as u64).to_be_bytes());
        ctx.update(hash);
        ctx.sign().as_ref().to_vec()
    }

    /// Whether `mac` is [`ChainKey::anchor_mac`] of these, in constant time.
    pub fn anchor_ok(&self, seq: i64, hash: &[u8], keyed_from: Option<i64>, mac: &[u8]) -> bool {
        crate::crypto::constant_time_eq(&self.anchor_mac(seq, hash, keyed_from), mac)
    }
}

/// The Ed25519 key that signs checkpoints, with its public half as published.
pub struct CheckpointSigner {
    pair: Ed25519KeyPair,
    public_key: String,
    key_id: String,
}

impl CheckpointSigner {
    fn from_pkcs8(pkcs8: &[u8]) -> Result<CheckpointSigner, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError::Key)?;
        let raw = pair.public_key().as_ref().to_vec();
        Ok(CheckpointSigner { public_key: b64url(&raw), key_id: key_id(&raw), pair })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn published(&self) -> CheckpointKey {
        CheckpointKey { key_id: self.key_id.clone(), alg: "Ed25519".into(), public_key: self.public_key.clone() }
    }

    /// A checkpoint of the head `head` (hex) after `seq` events, at `at`.
    pub fn sign(&self, seq: i64, head: &str, at: UnixTime) -> Checkpoint {
        let mut cp = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            seq,
            head: head.to_owned(),
            at,
            key_id: self.key_id.clone(),
            public_key: self.public_key.clone(),
            signature: String::new(),
        };
        cp.signature = b64url(self.pair.sign(&cp.signed_message()).as_ref());
        cp
    }
}

/// The key id of an Ed25519 public key: its RFC 7638 thumbprint, base64url.
pub fn key_id(public_key: &[u8]) -> String {
    b64url(&sha256(ed25519_thumbprint_input(&b64url(public_key)).as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not in a format this version knows ({0:?})")]
    Format(String),
    #[error("the checkpoint's key id does not match its public key")]
    KeyId,
    #[error("the checkpoint's signature does not verify: it was forged or altered")]
    Signature,
}

/// Checks that `cp` is signed by the public key it names. Whether that key is
/// the right one is for the caller to decide, against a key it trusts.
pub fn verify_checkpoint(cp: &Checkpoint) -> Result<(), CheckpointError> {
    if cp.format != CHECKPOINT_FORMAT {
        return Err(CheckpointError::Format(cp.format.clone()));
    }
    let public = b64url_decode(&cp.public_key).filter(|k| k.len() == 32).ok_or(CheckpointError::Signature)?;
    if key_id(&public) != cp.key_id {
        return Err(CheckpointError::KeyId);
    }
    let signature = b64url_decode(&cp.signature).ok_or(CheckpointError::Signature)?;
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(&cp.signed_message(), &signature)
        .map_err(|_| CheckpointError::Signature)
}

/// Both keys, sealed under the key-encryption key, as the store keeps them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedAuditKeys {
    pub chain: Vec<u8>,
    pub checkpoint: Vec<u8>,
}

impl std::fmt::Debug for SealedAuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedAuditKeys([sealed])")
    }
}

impl SealedAuditKeys {
    /// Two new random keys, sealed under `kek`.
    pub fn generate(kek: &Kek) -> Result<SealedAuditKeys, CryptoError> {
        let (chain, pkcs8) = fresh()?;
        Ok(SealedAuditKeys {
            chain: kek.seal(CHAIN_KEY_PURPOSE, chain.expose())?,
            checkpoint: kek.seal(CHECKPOINT_KEY_PURPOSE, pkcs8.expose())?,
        })
    }
}

/// A new chain key and an Ed25519 key (PKCS#8), in plain.
type RawKeys = (Secret<Vec<u8>>, Secret<Vec<u8>>);

fn fresh() -> Result<RawKeys, CryptoError> {
    let chain = Secret::new(random_bytes::<32>()?.to_vec());
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| CryptoError::Key)?;
    Ok((chain, Secret::new(doc.as_ref().to_vec())))
}

/// The audit trail's keys, opened.
pub struct AuditKeys {
    pub chain: ChainKey,
    pub checkpoint: CheckpointSigner,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKeys({})", self.checkpoint.key_id)
    }
}

impl AuditKeys {
    pub fn open(kek: &Kek, sealed: &SealedAuditKeys) -> Result<AuditKeys, CryptoError> {
        let chain = kek.open(CHAIN_KEY_PURPOSE, &sealed.chain)?;
        let pkcs8 = kek.open(CHECKPOINT_KEY_PURPOSE, &sealed.checkpoint)?;
        Ok(AuditKeys {
            chain: ChainKey::from_bytes(chain.expose())?,
            checkpoint: CheckpointSigner::from_pkcs8(pkcs8.expose())?,
        })
    }

    /// New keys that are never sealed (tests, and tools that only verify).
    pub fn generate() -> Result<AuditKeys, CryptoError> {
        let (chain, pkcs8) = fresh()?;
        Ok(AuditKeys {
            chain: ChainKey::from_bytes(chain.expose())?,
            checkpoint: CheckpointSigner::from_pkcs8(pkcs8.expose())?,
        })
    }

    /// True when both keys are the same as `other`'s.
    pub fn same_as(&self, other: &AuditKeys) -> bool {
        self.chain.id == other.chain.id && self.checkpoint.key_id == other.checkpoint.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Actor;

    fn event() -> AuditEvent {
        AuditEvent::new(Actor::console("t"), crate::audit::Action::AuditPrune, None, "y", 10).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_under_their_kek_and_keep_hashing_the_same() {
        let kek = Kek::from_bytes(&[3; 32]).unwrap();
        let sealed = SealedAuditKeys::generate(&kek).unwrap();
        let a = AuditKeys::open(&kek, &sealed).unwrap();
        let b = AuditKeys::open(&kek, &sealed).unwrap();
        assert!(a.same_as(&b));
        let ev = event();
        assert_eq!(a.chain.hash(&ev, 1, &[]), b.chain.hash(&ev, 1, &[]));
        assert!(AuditKeys::open(&Kek::from_bytes(&[4; 32]).unwrap(), &sealed).is_err());
        let swapped = SealedAuditKeys { chain: sealed.checkpoint.clone(), checkpoint: sealed.chain.clone() };
        assert!(AuditKeys::open(&kek, &swapped).is_err(), "each blob is bound to its purpose");
        assert_eq!(format!("{sealed:?}"), "SealedAuditKeys([sealed])");
    }

    #[test]
    fn the_keyed_hash_differs_from_the_plain_one_and_depends_on_the_key() {
        let (k1, k2) = (AuditKeys::generate().unwrap(), AuditKeys::generate().unwrap());
        let ev = event();
        let h = k1.chain.hash(&ev, 2, &[1; 32]);
        assert_ne!(h, ev.chain_hash(2, &[1; 32]));
        assert_ne!(h, k2.chain.hash(&ev, 2, &[1; 32]));
        assert_ne!(h, k1.chain.hash(&ev, 3, &[1; 32]));
        assert_ne!(h, k1.chain.hash(&ev, 2, &[2; 32]));
        let mac = k1.chain.anchor_mac(5, &[7; 32], Some(3));
        assert!(k1.chain.anchor_ok(5, &[7; 32], Some(3), &mac));
        assert!(!k1.chain.anchor_ok(6, &[7; 32], Some(3), &mac));
        assert!(!k1.chain.anchor_ok(5, &[7; 32], None, &mac));
        assert!(!k2.chain.anchor_ok(5, &[7; 32], Some(3), &mac));
    }

    #[test]
    fn checkpoints_verify_and_any_change_is_refused() {
        let keys = AuditKeys::generate().unwrap();
        let cp = keys.checkpoint.sign(42, "00ff", 1_700_000_000);
        assert_eq!(verify_checkpoint(&cp), Ok(()));
        assert_eq!(cp.key_id.len(), 43);
        assert_eq!(verify_checkpoint(&Checkpoint { seq: 41, ..cp.clone() }), Err(CheckpointError::Signature));
        assert_eq!(
            verify_checkpoint(&Checkpoint { head: "00fe".into(), ..cp.clone() }),
            Err(CheckpointError::Signature)
        );
        // Another key signing the same statement, passed off under the first key's id.
        let other = AuditKeys::generate().unwrap().checkpoint.sign(42, "00ff", 1_700_000_000);
        let passed_off = Checkpoint { key_id: cp.key_id.clone(), ..other.clone() };
        assert_eq!(verify_checkpoint(&passed_off), Err(CheckpointError::KeyId));
        let grafted = Checkpoint { signature: other.signature.clone(), ..cp.clone() };
        assert_eq!(verify_checkpoint(&grafted), Err(CheckpointError::Signature));
        assert_eq!(keys.checkpoint.published().public_key, cp.public_key);
    }
}
