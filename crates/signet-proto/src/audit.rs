//! The audit trail's signed checkpoint: what signetd publishes and what
//! `signet audit verify --checkpoint` checks offline.

use serde::{Deserialize, Serialize};

/// `format` of every checkpoint this version writes.
pub const CHECKPOINT_FORMAT: &str = "signet.audit.checkpoint.v1";

/// A signed statement that the trail's head was `head` after `seq` events,
/// at `at`. Kept outside the database, it shows a trail that was later
/// truncated (the trail ends before `seq`) or rewritten (event `seq` has
/// another hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// How many events had been appended: the head's sequence number.
    pub seq: i64,
    /// The head event's chain hash (hex).
    pub head: String,
    /// Unix seconds when it was signed.
    pub at: i64,
    /// The signing key's RFC 7638 thumbprint (of its OKP JWK), base64url.
    pub key_id: String,
    /// The Ed25519 public key, base64url (32 bytes). Check it against the
    /// key the server publishes, or one kept from before: a forger can put
    /// their own key here.
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::signed_message`], base64url.
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes the signature covers: part of the wire format, so a
    /// verifier never depends on how JSON was laid out.
    pub fn signed_message(&self) -> Vec<u8> {
        format!("{}\n{}\n{}\n{}\n{}\n", self.format, self.seq, self.head, self.at, self.key_id).into_bytes()
    }
}

/// The RFC 7638 thumbprint input of an Ed25519 public key (`x`, base64url):
/// its OKP JWK's required members in lexicographic order, no spaces. The key
/// id is the base64url SHA-256 of these bytes.
pub fn ed25519_thumbprint_input(x: &str) -> String {
    format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#)
}

/// The checkpoint signing key, as `GET /audit/checkpoint/key` publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointKey {
    pub key_id: String,
    /// `Ed25519`.
    pub alg: String,
    /// base64url, 32 bytes.
    pub public_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_message_covers_every_field_but_the_key_and_signature() {
        let cp = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            seq: 7,
            head: "ab".into(),
            at: 1_700_000_000,
            key_id: "k".into(),
            public_key: "p".into(),
            signature: "s".into(),
        };
        assert_eq!(cp.signed_message(), b"signet.audit.checkpoint.v1\n7\nab\n1700000000\nk\n".to_vec());
        assert_ne!(Checkpoint { seq: 8, ..cp.clone() }.signed_message(), cp.signed_message());
        assert_ne!(Checkpoint { head: "ac".into(), ..cp.clone() }.signed_message(), cp.signed_message());
        assert_ne!(Checkpoint { at: 1, ..cp.clone() }.signed_message(), cp.signed_message());
    }
}
