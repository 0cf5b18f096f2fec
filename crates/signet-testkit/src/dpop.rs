//! A DPoP key pair for tests (RFC 9449): makes proofs, good and bad.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use signet_core::crypto::{b64url, generate_es256_key, random_id};

pub struct DpopKey {
    encoding: EncodingKey,
    /// The public JWK.
    pub jwk: Value,
}

impl Default for DpopKey {
    fn default() -> Self {
        DpopKey::new()
    }
}

impl DpopKey {
    pub fn new() -> DpopKey {
        let k = generate_es256_key().unwrap();
        DpopKey { encoding: EncodingKey::from_ec_der(k.pkcs8.expose()), jwk: k.public_jwk }
    }

    /// The RFC 7638 thumbprint: what bound tokens carry as `cnf.jkt`.
    pub fn jkt(&self) -> String {
        signet_core::dpop::thumbprint(self.jwk.as_object().unwrap()).unwrap()
    }

    /// A fresh proof for `method url` at `iat`, with `ath` for `token`.
    pub fn proof_at(&self, method: &str, url: &str, token: Option<&str>, iat: i64) -> String {
        let mut claims = json!({"jti": random_id().unwrap(), "htm": method, "htu": url, "iat": iat});
        if let Some(t) = token {
            claims["ath"] = json!(signet_core::dpop::ath(t));
        }
        self.sign(&self.jwk, &claims)
    }

    /// A proof with whatever header `jwk` (taken as written, private
    /// members included) and claims the test chose, signed by this key.
    pub fn sign(&self, jwk: &Value, claims: &Value) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
        let b64 = |v: &Value| b64url(v.to_string().as_bytes());
        let message = format!("{}.{}", b64(&header), b64(claims));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::ES256).unwrap();
        format!("{message}.{signature}")
    }
}
