//! A session's key pair (P-256) and the DPoP proofs it signs (RFC 9449 §4).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::Decode;
use pkcs8::der::pem::LineEnding;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Error;

/// PEM label of an unencrypted PKCS#8 key.
const PRIVATE_KEY: &str = "PRIVATE KEY";
const ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A P-256 key pair that signs DPoP proofs (ES256). Its `Debug` shows the
/// thumbprint only, never the private key.
pub struct ProofKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    jwk: Value,
    jkt: String,
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey").field("jkt", &self.jkt).finish_non_exhaustive()
    }
}

impl ProofKey {
    /// A new key pair from the system's random source.
    pub fn generate() -> Result<ProofKey, Error> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| Error::Key("generate"))?;
        let der = pair.to_pkcs8v1().map_err(|_| Error::Key("encode"))?;
        ProofKey::from_pkcs8_der(der.as_ref())
    }

    /// A P-256 private key as PKCS#8 DER (RFC 5958).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<ProofKey, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .or_else(|_| EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der))
            .map_err(|_| Error::Key("a P-256 private key in PKCS#8 or SEC1 form is needed"))?;
        let point = pair.public_key().as_ref();
        // An uncompressed point: 0x04 ‖ x ‖ y.
        if point.len() != 65 || point[0] != 4 {
            return Err(Error::Key("the public key is not an uncompressed P-256 point"));
        }
        let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
        // RFC 7638 §3.2: the required members, in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let jkt = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref());
        let pkcs8 = Zeroizing::new(pair.to_pkcs8v1().map_err(|_| Error::Key("encode"))?.as_ref().to_vec());
        Ok(ProofKey { pair, pkcs8, jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}), jkt })
    }

    /// A private key file's PEM: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY`
    /// (SEC1) or, with `passphrase`, `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2).
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<ProofKey, Error> {
        let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|_| Error::Key("not a PEM document"))?;
        let der = Zeroizing::new(der);
        match (label, passphrase) {
            (PRIVATE_KEY | "EC PRIVATE KEY", _) => ProofKey::from_pkcs8_der(&der),
            (ENCRYPTED_PRIVATE_KEY, Some(p)) => {
                let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|_| Error::Key("malformed"))?;
                bounded(&info.encryption_algorithm)?;
                let plain = info.decrypt(p).map_err(|_| Error::Passphrase)?;
                ProofKey::from_pkcs8_der(plain.as_bytes())
            }
            (ENCRYPTED_PRIVATE_KEY, None) => Err(Error::Key("the key is encrypted and no passphrase was given")),
            _ => Err(Error::Key("the PEM document is not a private key")),
        }
    }

    /// The private key as unencrypted PKCS#8 PEM, for a 0600 file.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        pkcs8::der::pem::encode_string(PRIVATE_KEY, LineEnding::LF, &self.pkcs8)
            .map(Zeroizing::new)
            .map_err(|_| Error::Key("encode"))
    }

    /// The private key as PKCS#8 encrypted under `passphrase` with PBES2
    /// (scrypt, AES-256-CBC; RFC 8018). OpenSSL parses it, but its default
    /// 32 MiB scrypt memory limit is below this cost (128 MiB).
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, Error> {
        let info = pkcs8::PrivateKeyInfo::from_der(&self.pkcs8).map_err(|_| Error::Key("encode"))?;
        let doc = with_pbes2(|p| info.encrypt_with_params(p, passphrase).map_err(|_| Error::Key("encrypt")))?;
        doc.to_pem(ENCRYPTED_PRIVATE_KEY, LineEnding::LF).map(|p| p.to_string()).map_err(|_| Error::Key("encode"))
    }

    /// The public key as SPKI DER, to compare with a public key file.
    pub fn public_spki_der(&self) -> Vec<u8> {
        // id-ecPublicKey with prime256v1, then the point (RFC 5480).
        const PREFIX: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        der
    }

    /// The public key as a `PUBLIC KEY` PEM.
    pub fn public_pem(&self) -> Result<String, Error> {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.public_spki_der())
            .map_err(|_| Error::Key("encode"))
    }

    /// The public JWK that proofs carry.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 thumbprint: what tokens bound to this key carry as `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// A fresh proof for `method url`, with `ath` when `access_token` is
    /// given (at resources) and the server's `nonce` when it asked for one.
    /// The URL's query and fragment are left out of `htu` (RFC 9449 §4.2).
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>, nonce: Option<&str>) -> String {
        self.proof_at(method, url, access_token, nonce, now())
    }

    /// [`proof`](Self::proof) dated `iat`: for proofs made ahead of their use.
    pub fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> String {
        let htu = match url::Url::parse(url) {
            Ok(mut u) => {
                u.set_query(None);
                u.set_fragment(None);
                u.to_string()
            }
            Err(_) => url.to_owned(),
        };
        let mut claims = json!({"jti": jti(), "htm": method, "htu": htu, "iat": iat});
        if let Some(t) = access_token {
            claims["ath"] = json!(ath(t));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        // Signing with a valid key and the system's random source does not fail.
        let signature = self.pair.sign(&SystemRandom::new(), message.as_bytes()).map(|s| b64(s.as_ref()));
        format!("{message}.{}", signature.unwrap_or_default())
    }
}

/// The SPKI DER of a `PUBLIC KEY` PEM, to compare with [`ProofKey::public_spki_der`].
pub fn public_key_der(pem: &str) -> Result<Vec<u8>, Error> {
    match pkcs8::der::pem::decode_vec(pem.as_bytes()) {
        Ok(("PUBLIC KEY", der)) => Ok(der),
        _ => Err(Error::Key("not a PEM public key")),
    }
}

/// The `ath` of an access token: base64url(SHA-256(token)) (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes()).as_ref())
}

fn jti() -> String {
    let mut bytes = [0u8; 16];
    // The system's random source does not fail on a working machine; a
    // zero jti would only be refused by the server as a replay.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    b64(&bytes)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// PEM label of secrets sealed by [`seal`].
pub const SEALED: &str = "SIGNET ENCRYPTED SECRETS";

/// Encrypts `plaintext` under `passphrase` with PBES2 (RFC 8018: scrypt,
/// AES-256-CBC), in the ASN.1 shape of an encrypted PKCS#8 key
/// (`EncryptedPrivateKeyInfo`: the algorithm, then the ciphertext), as PEM.
pub fn seal(passphrase: &[u8], plaintext: &[u8]) -> Result<String, Error> {
    use pkcs8::der::Encode;
    with_pbes2(|params| {
        let scheme = pkcs8::pkcs5::EncryptionScheme::Pbes2(params);
        let encrypted = scheme.encrypt(passphrase, plaintext).map_err(|_| Error::Key("encrypt"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo { encryption_algorithm: scheme, encrypted_data: &encrypted };
        let der = info.to_der().map_err(|_| Error::Encode)?;
        pkcs8::der::pem::encode_string(SEALED, LineEnding::LF, &der).map_err(|_| Error::Encode)
    })
}

/// Opens what [`seal`] made. A wrong passphrase is [`Error::Passphrase`]
/// (CBC padding catches most; the caller checks what it decrypted).
pub fn open(passphrase: &[u8], pem: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (label, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|_| Error::Sealed)?;
    if label != SEALED {
        return Err(Error::Sealed);
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|_| Error::Sealed)?;
    bounded(&info.encryption_algorithm)?;
    info.encryption_algorithm
        .decrypt(passphrase, info.encrypted_data)
        .map(Zeroizing::new)
        .map_err(|_| Error::Passphrase)
}

/// scrypt's cost: N = 2^17, r = 8, p = 1 (OWASP's minimum): 128 MiB, a
/// fraction of a second.
const SCRYPT_LOG_N: u8 = 17;

/// Refuses encryption settings signet never writes before deriving a key:
/// the settings come with the data, and an archive asking scrypt for
/// terabytes of memory or hours of work would stop the program reading it.
fn bounded(scheme: &pkcs8::pkcs5::EncryptionScheme<'_>) -> Result<(), Error> {
    use pkcs8::pkcs5::pbes2::{EncryptionScheme, Kdf};
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(p) = scheme else { return Err(Error::Cost) };
    match (&p.kdf, &p.encryption) {
        (Kdf::Scrypt(s), EncryptionScheme::Aes256Cbc { .. })
            if s.cost_parameter.is_power_of_two()
                && (2..=1 << SCRYPT_LOG_N).contains(&s.cost_parameter)
                && s.block_size == 8
                && s.parallelization == 1
                && s.key_length.is_none_or(|l| l == 32) =>
        {
            Ok(())
        }
        _ => Err(Error::Cost),
    }
}

/// Calls `f` with PBES2 parameters: scrypt (N = 2^17, r = 8, p = 1,
/// OWASP's minimum) and AES-256-CBC, under a fresh salt and IV.
pub(crate) fn with_pbes2<T>(
    f: impl FnOnce(pkcs8::pkcs5::pbes2::Parameters<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| Error::Key("random"))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::Key("random"))?;
    let params = pkcs8::pkcs5::scrypt::Params::new(SCRYPT_LOG_N, 8, 1, 32).map_err(|_| Error::Key("scrypt"))?;
    f(pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv).map_err(|_| Error::Key("pbes2"))?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(proof: &str) -> Value {
        let part = proof.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_names_the_request_without_its_query_and_binds_the_token() {
        let k = ProofKey::generate().unwrap();
        let p = k.proof("GET", "https://as.example/admin-api/v1/keys?limit=1#x", Some("tok"), Some("n-1"));
        let c = claims(&p);
        assert_eq!(c["htu"], "https://as.example/admin-api/v1/keys");
        assert_eq!(c["htm"], "GET");
        assert_eq!(c["ath"], ath("tok"));
        assert_eq!(c["nonce"], "n-1");
        assert_ne!(c["jti"], claims(&k.proof("GET", "https://as.example/", None, None))["jti"]);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["typ"], "dpop+jwt");
        assert!(header["jwk"].get("d").is_none(), "no private member: {header}");
        // The signature verifies with the public key.
        let (message, signature) = p.rsplit_once('.').unwrap();
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            k.pair.public_key().as_ref().to_vec(),
        );
        public.verify(message.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    }

    #[test]
    fn keys_round_trip_through_pem_and_only_the_right_passphrase_opens_an_encrypted_one() {
        let k = ProofKey::generate().unwrap();
        let again = ProofKey::from_pem(&k.to_pem().unwrap(), None).unwrap();
        assert_eq!(again.thumbprint(), k.thumbprint());
        let sealed = k.to_encrypted_pem(b"correct horse").unwrap();
        assert!(sealed.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{sealed}");
        assert_eq!(ProofKey::from_pem(&sealed, Some(b"correct horse")).unwrap().thumbprint(), k.thumbprint());
        assert!(matches!(ProofKey::from_pem(&sealed, Some(b"wrong")), Err(Error::Passphrase)));
        assert!(matches!(ProofKey::from_pem(&sealed, None), Err(Error::Key(_))));
        assert_eq!(format!("{k:?}"), format!("ProofKey {{ jkt: {:?}, .. }}", k.thumbprint()));
    }

    #[test]
    fn sealed_secrets_open_with_the_passphrase_only() {
        let sealed = seal(b"pass phrase", br#"{"refresh_token":"r-1"}"#).unwrap();
        assert!(sealed.starts_with("-----BEGIN SIGNET ENCRYPTED SECRETS-----"), "{sealed}");
        assert!(!sealed.contains("r-1"));
        assert_eq!(&open(b"pass phrase", &sealed).unwrap()[..], br#"{"refresh_token":"r-1"}"#);
        assert!(open(b"pass phrasf", &sealed).map_or(true, |p| &p[..] != br#"{"refresh_token":"r-1"}"#));
        assert!(matches!(open(b"pass phrase", "not pem"), Err(Error::Sealed)));
    }

    /// An envelope naming its own scrypt cost, as an attacker's archive would.
    fn sealed_with(log_n: u8, r: u32, p: u32) -> String {
        use pkcs8::der::Encode;
        let params = pkcs8::pkcs5::scrypt::Params::new(log_n, r, p, 32).unwrap();
        let pbes2 = pkcs8::pkcs5::pbes2::Parameters::scrypt_aes256cbc(params, &[7; 16], &[9; 16]).unwrap();
        let scheme = pkcs8::pkcs5::EncryptionScheme::Pbes2(pbes2);
        let info = pkcs8::EncryptedPrivateKeyInfo { encryption_algorithm: scheme, encrypted_data: &[0; 32] };
        let der = info.to_der().unwrap();
        pkcs8::der::pem::encode_string(SEALED, LineEnding::LF, &der).unwrap()
    }

    #[test]
    fn costs_signet_never_writes_are_refused_before_any_work() {
        // 2^40 blocks of memory, or 65,535 passes: refused at once, not attempted.
        for (log_n, r, p) in [(40, 8, 1), (17, 8, 4096), (17, 64, 1)] {
            assert!(matches!(open(b"x", &sealed_with(log_n, r, p)), Err(Error::Cost)), "{log_n} {r} {p}");
            let key = sealed_with(log_n, r, p).replace(SEALED, ENCRYPTED_PRIVATE_KEY);
            assert!(matches!(ProofKey::from_pem(&key, Some(b"x")), Err(Error::Cost)), "{log_n} {r} {p}");
        }
        // Cheaper than signet's own is fine to try (and fails on the passphrase).
        assert!(matches!(open(b"x", &sealed_with(10, 8, 1)), Err(Error::Passphrase)));
    }

    #[test]
    fn the_thumbprint_is_the_one_signetd_computes() {
        let k = ProofKey::generate().unwrap();
        assert_eq!(k.thumbprint(), signet_core::dpop::thumbprint(k.jwk().as_object().unwrap()).unwrap());
    }
}
