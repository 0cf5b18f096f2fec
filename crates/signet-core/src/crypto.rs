//! Primitives over aws-lc-rs: digests, randomness, constant-time comparison,
//! ES256 signing keys and the key-encryption key (KEK) that seals private keys
//! and TOTP secrets at rest.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random generator failed")]
    Random,
    #[error("a key could not be generated or parsed")]
    Key,
    #[error("sealed data could not be opened: wrong key-encryption key or corrupt data")]
    Open,
    #[error("sealed data was made with key-encryption key {0}, which is not configured")]
    UnknownKek(String),
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(data: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(data).ok()
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

/// A 256-bit random value, base64url: refresh tokens, codes, client secrets.
pub fn random_token() -> Result<Secret<String>, CryptoError> {
    Ok(Secret::new(b64url(&random_bytes::<32>()?)))
}

/// A random identifier in UUID form (v4), as PingOne uses for ids.
pub fn random_id() -> Result<String, CryptoError> {
    let b = random_bytes::<16>()?;
    Ok(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)]
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// A freshly generated P-256 key pair, as PKCS#8 DER plus its public JWK.
pub struct GeneratedKey {
    pub kid: String,
    pub pkcs8: Secret<Vec<u8>>,
    pub public_jwk: serde_json::Value,
}

pub fn generate_es256_key() -> Result<GeneratedKey, CryptoError> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| CryptoError::Key)?;
    let pkcs8 = doc.as_ref().to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(|_| CryptoError::Key)?;
    let point = pair.public_key().as_ref();
    // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
    if point.len() != 65 || point[0] != 4 {
        return Err(CryptoError::Key);
    }
    let (x, y) = (b64url(&point[1..33]), b64url(&point[33..65]));
    // RFC 7638 thumbprint as the key id: members in lexicographic order, no spaces.
    let thumb = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = b64url(&sha256(thumb.as_bytes()));
    let public_jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256",
    });
    Ok(GeneratedKey { kid, pkcs8: Secret::new(pkcs8), public_jwk })
}

/// The key-encryption key: AES-256-GCM. Sealed blobs are
/// `kek_id (8) || nonce (12) || ciphertext || tag`, bound by AAD to their purpose
/// (for example a signing key's kid), so a blob cannot be moved to another row.
pub struct Kek {
    id: [u8; 8],
    key: LessSafeKey,
    /// HMAC-SHA256 key for [`Kek::mac`]: derived, never the sealing key itself.
    mac: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id_hex())
    }
}

impl Kek {
    pub fn from_bytes(raw: &[u8]) -> Result<Kek, CryptoError> {
        if raw.len() != 32 {
            return Err(CryptoError::Key);
        }
        let digest = sha256(raw);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let key = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| CryptoError::Key)?;
        // A key of its own for MACs (HMAC as a KDF, RFC 5869's extract step).
        let derived =
            aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, raw), b"signet mac key");
        let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref());
        Ok(Kek { id, key: LessSafeKey::new(key), mac })
    }

    /// An HMAC-SHA256 of `message` for `purpose`, under a key derived from
    /// this one: every instance sharing the key-encryption key computes the
    /// same, and it reveals nothing of the key or its id.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.mac);
        ctx.update(&(purpose.len() as u64).to_be_bytes());
        ctx.update(purpose.as_bytes());
        ctx.update(message);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    pub fn generate() -> Result<Secret<Vec<u8>>, CryptoError> {
        Ok(Secret::new(random_bytes::<32>()?.to_vec()))
    }

    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(purpose.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CryptoError::Key)?;
        let mut out = Vec::with_capacity(8 + NONCE_LEN + buf.len());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// True when `sealed` was made with this key.
    pub fn sealed_this(&self, sealed: &[u8]) -> bool {
        sealed.len() > 8 && sealed[..8] == self.id
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, CryptoError> {
        if sealed.len() < 8 + NONCE_LEN + 16 {
            return Err(CryptoError::Open);
        }
        if !self.sealed_this(sealed) {
            let other: String = sealed[..8].iter().map(|b| format!("{b:02x}")).collect();
            return Err(CryptoError::UnknownKek(other));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[8..8 + NONCE_LEN]);
        let mut buf = sealed[8 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Open)?;
        let len = plain.len();
        buf.truncate(len);
        Ok(Secret::new(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_purpose() {
        let k1 = Kek::from_bytes(&[7u8; 32]).unwrap();
        let k2 = Kek::from_bytes(&[8u8; 32]).unwrap();
        let sealed = k1.seal("kid-1", b"private").unwrap();
        assert_eq!(k1.open("kid-1", &sealed).unwrap().expose(), b"private");
        assert!(matches!(k1.open("kid-2", &sealed), Err(CryptoError::Open)));
        assert!(matches!(k2.open("kid-1", &sealed), Err(CryptoError::UnknownKek(_))));
        assert!(!sealed.windows(7).any(|w| w == b"private"));
    }

    #[test]
    fn generated_keys_have_thumbprint_kids() {
        let k = generate_es256_key().unwrap();
        assert_eq!(k.kid.len(), 43);
        assert_eq!(k.public_jwk["kid"], k.kid);
        assert_eq!(k.public_jwk["crv"], "P-256");
    }
}
