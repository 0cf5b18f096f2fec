//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew.
//! A code is accepted once: the caller records the matched step and refuses any
//! step at or before it (RFC 6238 §5.2).

use totp_rs::{Builder, Totp};

use crate::clock::UnixTime;
use crate::crypto::{CryptoError, random_bytes};
use crate::secret::Secret;

pub const STEP: u64 = 30;

/// A new 160-bit secret (RFC 4226 §4 recommends 160 bits).
pub fn generate_secret() -> Result<Secret<Vec<u8>>, CryptoError> {
    Ok(Secret::new(random_bytes::<20>()?.to_vec()))
}

pub fn to_base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

pub fn from_base32(s: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::try_from_base32(s.trim().to_ascii_uppercase()).ok().map(|s| s.as_bytes().to_vec())
}

fn totp(secret: &[u8]) -> Option<Totp> {
    Builder::new().with_secret(secret.to_vec()).build().ok()
}

/// The step a code matches, if any. Codes are six digits; spaces are ignored.
pub fn check(secret: &[u8], code: &str, now: UnixTime) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || now < 0 {
        return None;
    }
    totp(secret)?.check(&code, now as u64).map(|s| s as i64)
}

/// The code for a moment: for tests and for the CLI's own tooling.
pub fn code_at(secret: &[u8], now: UnixTime) -> Option<String> {
    Some(totp(secret)?.generate(now.max(0) as u64).to_string())
}

/// The `otpauth://` URI authenticator apps read from a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        to_base32(secret),
        enc(issuer)
    )
}

/// A TOTP method's hash (Vault's `algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    SHA1,
    SHA256,
    SHA512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::SHA1 => "SHA1",
            Algorithm::SHA256 => "SHA256",
            Algorithm::SHA512 => "SHA512",
        }
    }
}

/// A TOTP method's parameters (Vault's `algorithm`, `digits`, `period`, `skew`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u32,
    pub skew: u32,
}

impl Params {
    fn totp(&self, secret: &[u8]) -> Option<Totp> {
        let algorithm = match self.algorithm {
            Algorithm::SHA1 => totp_rs::Algorithm::SHA1,
            Algorithm::SHA256 => totp_rs::Algorithm::SHA256,
            Algorithm::SHA512 => totp_rs::Algorithm::SHA512,
        };
        Builder::new()
            .with_secret(secret.to_vec())
            .with_algorithm(algorithm)
            .with_digits(u8::try_from(self.digits).ok()?)
            .with_step_duration(u64::from(self.period))
            .with_skew(u16::try_from(self.skew).ok()?)
            .build()
            .ok()
    }

    /// The step a code matches, within the skew; spaces are ignored.
    pub fn check(&self, secret: &[u8], code: &str, now: UnixTime) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) || now < 0 {
            return None;
        }
        self.totp(secret)?.check(&code, now as u64).map(|s| s as i64)
    }

    pub fn code_at(&self, secret: &[u8], now: UnixTime) -> Option<String> {
        Some(self.totp(secret)?.generate(now.max(0) as u64).to_string())
    }

    /// The `otpauth://` URI with these parameters.
    pub fn otpauth_uri(&self, issuer: &str, account: &str, secret: &[u8]) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            enc(issuer),
            enc(account),
            to_base32(secret),
            enc(issuer),
            self.algorithm.as_str(),
            self.digits,
            self.period
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B, T = 59: 94287082 (8 digits); the last six are ours.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59).as_deref(), Some("287082"));
        assert_eq!(check(secret, "287082", 59), Some(1));
        assert_eq!(check(secret, "287 082", 59), Some(1));
        assert_eq!(check(secret, "287083", 59), None);
        assert_eq!(check(secret, "28708", 59), None);
    }

    #[test]
    fn rfc6238_vectors_for_every_algorithm() {
        // RFC 6238 Appendix B, T = 59, 8 digits; the seeds are 20, 32 and 64 bytes long.
        let cases: [(Algorithm, &[u8], &str); 3] = [
            (Algorithm::SHA1, b"12345678901234567890", "94287082"),
            (Algorithm::SHA256, b"12345678901234567890123456789012", "46119246"),
            (Algorithm::SHA512, b"1234567890123456789012345678901234567890123456789012345678901234", "90693936"),
        ];
        for (algorithm, secret, code) in cases {
            let p = Params { algorithm, digits: 8, period: 30, skew: 0 };
            assert_eq!(p.code_at(secret, 59).as_deref(), Some(code), "{algorithm:?}");
            assert_eq!(p.check(secret, code, 59), Some(1));
            // No skew: the next step's time does not take it.
            assert_eq!(p.check(secret, code, 61), None);
            assert_eq!(Params { skew: 1, ..p }.check(secret, code, 61), Some(1));
            assert_eq!(p.check(secret, &code[2..], 59), None, "six digits are not eight");
        }
    }

    #[test]
    fn base32_round_trips() {
        let s = [1u8; 20];
        assert_eq!(from_base32(&to_base32(&s)).as_deref(), Some(&s[..]));
        assert_eq!(from_base32(&to_base32(&s).to_lowercase()).as_deref(), Some(&s[..]));
        assert!(otpauth_uri("signet", "ada lovelace", &s).starts_with("otpauth://totp/signet:ada%20lovelace?secret="));
    }
}
