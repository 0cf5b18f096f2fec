//! DPoP proofs (RFC 9449): with each request, a client proves that it holds
//! the private key its tokens are bound to. A proof is a JWT signed by that
//! key, which it carries in its header, naming the request (`htm`, `htu`),
//! its time (`iat`), a unique `jti`, and at resources the hash of the access
//! token (`ath`). Tokens bound to the key carry its RFC 7638 thumbprint as
//! `cnf.jkt`.
//!
//! This module checks one proof against the request it came with; that its
//! `jti` was never seen before is the store's to say, across instances.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::crypto::{b64url, sha256};

/// The algorithms signetd takes proofs in, as discovery advertises them.
pub const ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];

/// How far a proof's `iat` may be from signetd's clock, either way.
pub const IAT_WINDOW: UnixTime = 60;

/// How long a `jti` must be remembered: past that, its proof is stale anyway.
pub const REPLAY_WINDOW: UnixTime = 2 * IAT_WINDOW;

const MAX_JTI: usize = 256;
const MAX_PROOF: usize = 8 * 1024;

/// The confirmation claim of a bound token (RFC 9449 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// A checked proof: the key's thumbprint, and what makes it unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    pub iat: UnixTime,
}

/// What was wrong with a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    Malformed,
    Type,
    Algorithm,
    Key,
    PrivateKey,
    Signature,
    Method,
    Url,
    Stale,
    Jti,
    AccessTokenHash,
    Nonce,
}

impl ProofError {
    /// For the `error_description` of `invalid_dpop_proof`.
    pub fn message(self) -> &'static str {
        match self {
            ProofError::Malformed => "the DPoP proof is not a JWT",
            ProofError::Type => "the DPoP proof's typ must be dpop+jwt",
            ProofError::Algorithm => "the DPoP proof must be signed with ES256 or EdDSA",
            ProofError::Key => "the DPoP proof's jwk is not a P-256 or Ed25519 public key matching its alg",
            ProofError::PrivateKey => "the DPoP proof's jwk carries private key material",
            ProofError::Signature => "the DPoP proof's signature does not verify with its jwk",
            ProofError::Method => "the DPoP proof's htm is not this request's method",
            ProofError::Url => "the DPoP proof's htu is not this request's URL",
            ProofError::Stale => "the DPoP proof's iat is too far from the server's time",
            ProofError::Jti => "the DPoP proof needs a jti of at most 256 characters, none of them control characters",
            ProofError::AccessTokenHash => "the DPoP proof's ath is not the hash of this access token",
            ProofError::Nonce => "the DPoP proof must carry the server's nonce",
        }
    }
}

/// The request a proof must name.
pub struct Expect<'a> {
    pub method: &'a str,
    /// The request's absolute URL; its query and fragment are ignored.
    pub url: &'a str,
    pub now: UnixTime,
    /// At resources: the access token the proof goes with.
    pub access_token: Option<&'a str>,
    /// When the server asks for nonces: whether a proof's `nonce` is one it gave.
    pub nonce: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

/// The `ath` of an access token: its SHA-256, base64url.
pub fn ath(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes()))
}

/// The RFC 7638 thumbprint of a public P-256 or Ed25519 JWK.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let text = |k: &str| jwk.get(k).and_then(Value::as_str);
    // Members in lexicographic order, no spaces (RFC 7638 §3.2).
    let canonical = match (text("kty")?, text("crv")?) {
        ("EC", crv) => serde_json::to_string(&serde_json::json!({
            "crv": crv, "kty": "EC", "x": text("x")?, "y": text("y")?,
        }))
        .ok()?,
        ("OKP", crv) => serde_json::to_string(&serde_json::json!({"crv": crv, "kty": "OKP", "x": text("x")?})).ok()?,
        _ => return None,
    };
    Some(b64url(&sha256(canonical.as_bytes())))
}

/// Members a public key never has (RFC 7517 §9.2, RFC 7518 §6).
const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn json_part(part: &str) -> Result<Map<String, Value>, ProofError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).map_err(|_| ProofError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ProofError::Malformed),
    }
}

/// Checks a proof against the request it came with.
pub fn check(proof: &str, expect: &Expect<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF {
        return Err(ProofError::Malformed);
    }
    let header = json_part(proof.split('.').next().ok_or(ProofError::Malformed)?)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::Type);
    }
    let (alg, kty, crv) = match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => (Algorithm::ES256, "EC", "P-256"),
        Some("EdDSA") => (Algorithm::EdDSA, "OKP", "Ed25519"),
        _ => return Err(ProofError::Algorithm),
    };
    let Some(Value::Object(jwk)) = header.get("jwk") else { return Err(ProofError::Key) };
    if PRIVATE.iter().any(|m| jwk.contains_key(*m)) {
        return Err(ProofError::PrivateKey);
    }
    let text = |k: &str| jwk.get(k).and_then(Value::as_str);
    if text("kty") != Some(kty) || text("crv") != Some(crv) {
        return Err(ProofError::Key);
    }
    let jkt = thumbprint(jwk).ok_or(ProofError::Key)?;
    let parsed: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(Value::Object(jwk.clone())).map_err(|_| ProofError::Key)?;
    let key = DecodingKey::from_jwk(&parsed).map_err(|_| ProofError::Key)?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => ProofError::Signature,
            _ => ProofError::Malformed,
        })?
        .claims;
    let claim = |k: &str| claims.get(k).and_then(Value::as_str);
    // Stored to be spent once: no control characters (NUL cannot be stored alike everywhere).
    let jti = claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI && !j.chars().any(char::is_control))
        .ok_or(ProofError::Jti)?;
    if claim("htm") != Some(expect.method) {
        return Err(ProofError::Method);
    }
    if !claim("htu").is_some_and(|htu| same_resource(htu, expect.url)) {
        return Err(ProofError::Url);
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(ProofError::Stale)?;
    if iat.abs_diff(expect.now) > IAT_WINDOW.unsigned_abs() {
        return Err(ProofError::Stale);
    }
    if let Some(token) = expect.access_token
        && claim("ath") != Some(ath(token).as_str())
    {
        return Err(ProofError::AccessTokenHash);
    }
    if let Some(given) = expect.nonce
        && !claim("nonce").is_some_and(given)
    {
        return Err(ProofError::Nonce);
    }
    Ok(Proof { jkt, jti: jti.to_owned(), iat })
}

/// Whether `htu` names `url`, ignoring query and fragment (RFC 9449 §4.3),
/// after URL normalisation (case of scheme and host, default ports).
fn same_resource(htu: &str, url: &str) -> bool {
    let base = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (base(htu), base(url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::generate_es256_key;
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    const URL: &str = "https://signet.test/env/as/token";

    struct Key {
        encoding: EncodingKey,
        public: Value,
        alg: Algorithm,
    }

    fn es256() -> Key {
        let k = generate_es256_key().unwrap();
        Key { encoding: EncodingKey::from_ec_der(k.pkcs8.expose()), public: k.public_jwk, alg: Algorithm::ES256 }
    }

    fn ed25519() -> Key {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())});
        Key { encoding: EncodingKey::from_ed_der(pkcs8.as_ref()), public, alg: Algorithm::EdDSA }
    }

    /// The header as written (a parsed `Jwk` would drop private members).
    fn proof(key: &Key, typ: &str, jwk: Value, claims: Value) -> String {
        let alg = match key.alg {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            _ => "HS256",
        };
        let header = json!({"typ": typ, "alg": alg, "jwk": jwk});
        let message = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg).unwrap();
        format!("{message}.{signature}")
    }

    fn claims(now: UnixTime) -> Value {
        json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": now})
    }

    fn expect(now: UnixTime) -> Expect<'static> {
        Expect { method: "POST", url: URL, now, access_token: None, nonce: None }
    }

    #[test]
    fn good_proofs_give_the_thumbprint_of_their_key() {
        for key in [es256(), ed25519()] {
            let p = check(&proof(&key, "dpop+jwt", key.public.clone(), claims(1_000)), &expect(1_000)).unwrap();
            assert_eq!(p.jkt, thumbprint(key.public.as_object().unwrap()).unwrap());
            assert_eq!((p.jti.as_str(), p.iat), ("j-1", 1_000));
        }
        // The query of the request is not part of htu.
        let key = es256();
        let p = proof(&key, "dpop+jwt", key.public.clone(), claims(1_000));
        let with_query = Expect { url: "https://SIGNET.test:443/env/as/token?x=1", ..expect(1_000) };
        assert!(check(&p, &with_query).is_ok());
    }

    #[test]
    fn the_rfc_8037_thumbprint() {
        // RFC 8037 Appendix A.3: the Ed25519 key of A.2 and its RFC 7638 thumbprint.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        // And the EC form, as signetd's own keys use it for their kid.
        let k = generate_es256_key().unwrap();
        assert_eq!(thumbprint(k.public_jwk.as_object().unwrap()).unwrap(), k.kid);
    }

    #[test]
    fn an_iat_at_the_ends_of_time_is_stale_not_a_panic() {
        let key = es256();
        for iat in [i64::MIN, i64::MIN + 1_000, i64::MAX] {
            let mut c = claims(1_000);
            c["iat"] = json!(iat);
            let p = proof(&key, "dpop+jwt", key.public.clone(), c);
            assert_eq!(check(&p, &expect(1_000)), Err(ProofError::Stale), "{iat}");
        }
    }

    #[test]
    fn bad_proofs_are_refused_with_their_reason() {
        let key = es256();
        let other = es256();
        let good = claims(1_000);
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        let mut private = key.public.clone();
        private["d"] = json!("c2VjcmV0");
        let cases: Vec<(String, ProofError)> = vec![
            (proof(&key, "JWT", key.public.clone(), good.clone()), ProofError::Type),
            (proof(&key, "dpop+jwt", private, good.clone()), ProofError::PrivateKey),
            (proof(&key, "dpop+jwt", other.public.clone(), good.clone()), ProofError::Signature),
            (proof(&key, "dpop+jwt", key.public.clone(), with("htm", json!("GET"))), ProofError::Method),
            (
                proof(&key, "dpop+jwt", key.public.clone(), with("htu", json!("https://signet.test/other"))),
                ProofError::Url,
            ),
            (proof(&key, "dpop+jwt", key.public.clone(), with("iat", json!(1_000 - 61))), ProofError::Stale),
            (proof(&key, "dpop+jwt", key.public.clone(), with("iat", json!(1_000 + 61))), ProofError::Stale),
            (proof(&key, "dpop+jwt", key.public.clone(), with("jti", json!(""))), ProofError::Jti),
            (proof(&key, "dpop+jwt", key.public.clone(), with("jti", json!("x".repeat(257)))), ProofError::Jti),
            (proof(&key, "dpop+jwt", key.public.clone(), with("jti", json!("j\u{0}1"))), ProofError::Jti),
            ("not a jwt".into(), ProofError::Malformed),
        ];
        for (p, want) in cases {
            assert_eq!(check(&p, &expect(1_000)), Err(want), "{}", want.message());
        }
        // alg none, and HS256 with the public key as a secret.
        let none = format!(
            "{}.{}.",
            b64url(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public}).to_string().as_bytes()),
            b64url(good.to_string().as_bytes())
        );
        assert_eq!(check(&none, &expect(1_000)), Err(ProofError::Algorithm));
        let hmac =
            Key { encoding: EncodingKey::from_secret(b"public"), public: key.public.clone(), alg: Algorithm::HS256 };
        assert_eq!(
            check(&proof(&hmac, "dpop+jwt", key.public.clone(), good.clone()), &expect(1_000)),
            Err(ProofError::Algorithm)
        );
        // An Ed25519 key named with ES256.
        let ed = ed25519();
        let mismatched = format!(
            "{}.{}.AAAA",
            b64url(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": ed.public}).to_string().as_bytes()),
            b64url(good.to_string().as_bytes())
        );
        assert_eq!(check(&mismatched, &expect(1_000)), Err(ProofError::Key));
    }

    #[test]
    fn resources_check_the_token_hash_and_nonces() {
        let key = es256();
        let mut c = claims(1_000);
        c["ath"] = json!(ath("the-token"));
        c["nonce"] = json!("n-1");
        let p = proof(&key, "dpop+jwt", key.public.clone(), c);
        let n1 = |n: &str| n == "n-1";
        let n2 = |n: &str| n == "n-2";
        let at = |token| Expect { access_token: Some(token), nonce: Some(&n1), ..expect(1_000) };
        assert!(check(&p, &at("the-token")).is_ok());
        assert_eq!(check(&p, &at("another-token")), Err(ProofError::AccessTokenHash));
        let other = Expect { nonce: Some(&n2), ..at("the-token") };
        assert_eq!(check(&p, &other), Err(ProofError::Nonce));
        // Asked for, but missing.
        let bare = proof(&key, "dpop+jwt", key.public.clone(), claims(1_000));
        assert_eq!(check(&bare, &Expect { nonce: Some(&n1), ..expect(1_000) }), Err(ProofError::Nonce));
    }
}
