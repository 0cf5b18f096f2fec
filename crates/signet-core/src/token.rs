//! Access and ID token claims, and ES256 signing and verification through
//! `jsonwebtoken`. Access tokens follow RFC 9068 (`typ: at+jwt`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::secret::Secret;

/// Claims of an access token (RFC 9068 §2.2), plus the grant family id `gid`
/// so that revoking a family also kills its live access tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::dpop::Confirmation>,
}

/// OpenID Connect Core §2 ID token claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub azp: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token could not be signed")]
    Sign,
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
}

/// An environment's active signing key.
pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.kid)
    }
}

impl Signer {
    pub fn from_pkcs8(kid: String, pkcs8: &Secret<Vec<u8>>) -> Signer {
        Signer { kid, key: EncodingKey::from_ec_der(pkcs8.expose()) }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| TokenError::Sign)
    }
}

/// A published public key.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
}

impl Verifier {
    /// From a public JWK's `x` and `y`.
    pub fn from_jwk(jwk: &serde_json::Value) -> Option<Verifier> {
        let key = DecodingKey::from_ec_components(jwk["x"].as_str()?, jwk["y"].as_str()?).ok()?;
        Some(Verifier { key })
    }
}

/// The `kid` of a compact JWS, without verifying anything.
pub fn peek_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Verifies an ES256 access token's signature and typ, and that it has not
/// expired at `now`. The issuer is compared by the caller.
pub fn verify_access(token: &str, verifier: &Verifier, now: UnixTime) -> Result<AccessClaims, TokenError> {
    verify_access_with(token, |_| Some(verifier), now)
}

/// `verify_access` with the key chosen by the token's `kid`, decoding the header once.
pub fn verify_access_with<'a>(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<&'a Verifier>,
    now: UnixTime,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("at+jwt") {
        return Err(TokenError::Invalid);
    }
    let verifier = key_for(header.kid.as_deref().unwrap_or_default()).ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::ES256);
    // Expiry is checked against the injected clock below, not the system clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<AccessClaims>(token, &verifier.key, &validation).map_err(|_| TokenError::Invalid)?;
    if data.claims.exp <= now {
        return Err(TokenError::Invalid);
    }
    Ok(data.claims)
}

/// Algorithms an external issuer's access tokens may use; never `none`,
/// never HMAC (a public key would be taken for a shared secret).
const EXTERNAL_ALGORITHMS: [Algorithm; 5] =
    [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256, Algorithm::PS256, Algorithm::EdDSA];

/// What was wrong with a signed token of an external issuer, before its claims were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFault {
    /// Not a JWS, or its header is unreadable.
    Malformed,
    /// `none`, HMAC, or an algorithm the key was not made for.
    Algorithm,
    /// No key of the set has the token's `kid`: the set may have rotated.
    UnknownKey,
    Signature,
}

/// Checks a token's signature against an external issuer's JWK set, with
/// an allowed algorithm that matches the key's; its claims, unchecked.
pub fn verify_signature(
    token: &str,
    keys: &jsonwebtoken::jwk::JwkSet,
) -> Result<serde_json::Map<String, serde_json::Value>, SignatureFault> {
    // jsonwebtoken cannot even parse `alg: none`; tell it apart from garbage.
    let header = match jsonwebtoken::decode_header(token) {
        Ok(h) => h,
        Err(_) => {
            return Err(if alg_of(token).is_some() { SignatureFault::Algorithm } else { SignatureFault::Malformed });
        }
    };
    if !EXTERNAL_ALGORITHMS.contains(&header.alg) {
        return Err(SignatureFault::Algorithm);
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid).ok_or(SignatureFault::UnknownKey)?,
        None => match keys.keys.as_slice() {
            [only] => only,
            _ => return Err(SignatureFault::UnknownKey),
        },
    };
    if jwk.common.key_algorithm.is_some_and(|a| a.to_string() != format!("{:?}", header.alg)) {
        return Err(SignatureFault::Algorithm);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| SignatureFault::Algorithm)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => SignatureFault::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => SignatureFault::Algorithm,
            _ => SignatureFault::Malformed,
        })
}

/// The `alg` a JWS header names, read without trusting anything else.
fn alg_of(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

/// Leeway for the clocks of other issuers.
pub const EXTERNAL_LEEWAY: UnixTime = 60;

/// Whether an `aud` claim (a string or an array) contains `audience`.
pub fn audience_contains(claims: &serde_json::Map<String, serde_json::Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == audience,
        Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// Whether a signature-checked access token of an external issuer has `iss`
/// exactly, `aud` containing `audience`, and `exp`/`nbf` fitting `now`
/// (60 s leeway).
pub fn external_claims_ok(
    claims: &serde_json::Map<String, serde_json::Value>,
    issuer: &str,
    audience: &str,
    now: UnixTime,
) -> bool {
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
    claims.get("iss").and_then(serde_json::Value::as_str) == Some(issuer)
        && number("exp").is_some_and(|exp| exp.saturating_add(EXTERNAL_LEEWAY) > now)
        && number("nbf").is_none_or(|nbf| nbf.saturating_sub(EXTERNAL_LEEWAY) <= now)
        && audience_contains(claims, audience)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::generate_es256_key;

    fn claims(exp: UnixTime) -> AccessClaims {
        AccessClaims {
            iss: "https://as".into(),
            sub: "s".into(),
            aud: vec!["a".into()],
            exp,
            iat: 0,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "openid".into(),
            gid: None,
            auth_time: None,
            amr: vec![],
            username: None,
            cnf: None,
        }
    }

    #[test]
    fn signed_tokens_verify_only_with_their_key_and_before_expiry() {
        let k = generate_es256_key().unwrap();
        let other = generate_es256_key().unwrap();
        let signer = Signer::from_pkcs8(k.kid.clone(), &k.pkcs8);
        let jwt = signer.sign("at+jwt", &claims(100)).unwrap();
        assert_eq!(peek_kid(&jwt).as_deref(), Some(k.kid.as_str()));
        let v = Verifier::from_jwk(&k.public_jwk).unwrap();
        assert_eq!(verify_access(&jwt, &v, 99).unwrap(), claims(100));
        assert!(verify_access(&jwt, &v, 100).is_err());
        let v2 = Verifier::from_jwk(&other.public_jwk).unwrap();
        assert!(verify_access(&jwt, &v2, 99).is_err());
        let id = signer.sign("JWT", &claims(100)).unwrap();
        assert!(verify_access(&id, &v, 99).is_err(), "an ID token is not an access token");
        assert!(verify_access("not.a.jwt", &v, 0).is_err());
    }

    #[test]
    fn external_signatures_refuse_none_hmac_unknown_keys_and_tampering() {
        use crate::crypto::b64url;
        let key = generate_es256_key().unwrap();
        let keys: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(serde_json::json!({"keys": [key.public_jwk]})).unwrap();
        let signer = Signer::from_pkcs8(key.kid.clone(), &key.pkcs8);
        let body = serde_json::json!({"iss": "https://idp", "sub": "u"});
        let good = signer.sign("JWT", &body).unwrap();
        assert_eq!(verify_signature(&good, &keys).unwrap()["sub"], "u");

        let other = generate_es256_key().unwrap();
        let unknown = Signer::from_pkcs8(other.kid.clone(), &other.pkcs8).sign("JWT", &body).unwrap();
        assert_eq!(verify_signature(&unknown, &keys), Err(SignatureFault::UnknownKey));
        // The right kid on someone else's signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let foreign_sig = unknown.split('.').nth(2).unwrap();
        parts[2] = foreign_sig;
        assert_eq!(verify_signature(&parts.join("."), &keys), Err(SignatureFault::Signature));
        let payload = b64url(br#"{"iss":"https://idp","sub":"admin"}"#);
        let tampered = format!("{}.{payload}.{}", good.split('.').next().unwrap(), good.split('.').nth(2).unwrap());
        assert_eq!(verify_signature(&tampered, &keys), Err(SignatureFault::Signature));

        let none = format!("{}.{payload}.", b64url(br#"{"alg":"none"}"#));
        assert_eq!(verify_signature(&none, &keys), Err(SignatureFault::Algorithm));
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid.clone());
        let hmac = jsonwebtoken::encode(&hs, &body, &EncodingKey::from_secret(b"the public key as a secret")).unwrap();
        assert_eq!(verify_signature(&hmac, &keys), Err(SignatureFault::Algorithm));
        // An allowed algorithm the key was not made for.
        let es384 =
            format!("{}.{payload}.{}", b64url(format!(r#"{{"alg":"ES384","kid":"{}"}}"#, key.kid).as_bytes()), "AAAA");
        assert_eq!(verify_signature(&es384, &keys), Err(SignatureFault::Algorithm));
        assert_eq!(verify_signature("garbage", &keys), Err(SignatureFault::Malformed));
    }
}
