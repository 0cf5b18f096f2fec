//! Secrets inside settings documents: an LDAP bind password, a RADIUS shared
//! secret. An administrator writes them in plain; they are sealed under the
//! key-encryption key before they are stored, and only ever shown sealed, so
//! a read, an export or a log line never holds one in plain.

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use signet_core::crypto::Kek;
use signet_core::secret::Secret;

/// A secret setting: `"plain text"` on the way in, `{"sealed": "…", "purpose": "…"}` stored and shown.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingSecret {
    Sealed(Sealed),
    Plain(Plain),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Base64 of the AES-256-GCM blob, bound to the setting it belongs to.
    sealed: String,
    /// Which setting: the blob's AAD, so it cannot be moved to another, and
    /// what lets a key-encryption-key rotation re-seal it.
    purpose: String,
}

/// Plain text, as written. It serialises as `[redacted]`: a document that
/// was not sealed before it was stored loses the secret instead of leaking it.
#[derive(Clone)]
pub struct Plain(Secret<String>);

impl std::fmt::Debug for SettingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SettingSecret::Sealed(_) => "[sealed]",
            SettingSecret::Plain(_) => "[redacted]",
        })
    }
}

impl Serialize for Plain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Plain, D::Error> {
        Ok(Plain(Secret::new(String::deserialize(d)?)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} could not be opened: it was sealed under another key or for another setting")]
    Open(&'static str),
    #[error("{0}: {1}")]
    Crypto(&'static str, signet_core::crypto::CryptoError),
}

impl SettingSecret {
    pub fn plain(text: String) -> SettingSecret {
        SettingSecret::Plain(Plain(Secret::new(text)))
    }

    /// The plain text, when this is plain (as written, or once `opened`).
    pub fn exposed(&self) -> Option<&str> {
        match self {
            SettingSecret::Plain(Plain(p)) => Some(p.expose()),
            SettingSecret::Sealed(_) => None,
        }
    }

    /// The same secret in plain, for the moment it is used.
    pub fn opened(&self, kek: &Kek, purpose: &'static str) -> Result<SettingSecret, SealError> {
        Ok(SettingSecret::Plain(Plain(self.open(kek, purpose)?)))
    }

    /// Plain text is sealed for `purpose` (the setting's path); a sealed
    /// value is kept as it is, after checking it opens.
    pub fn seal(&mut self, kek: &Kek, purpose: &'static str) -> Result<(), SealError> {
        match self {
            SettingSecret::Sealed(_) => self.open(kek, purpose).map(drop),
            SettingSecret::Plain(Plain(plain)) => {
                if plain.expose().is_empty() {
                    return Err(SealError::Empty(purpose));
                }
                let blob = kek.seal(purpose, plain.expose().as_bytes()).map_err(|e| SealError::Crypto(purpose, e))?;
                let sealed = base64::engine::general_purpose::STANDARD.encode(blob);
                *self = SettingSecret::Sealed(Sealed { sealed, purpose: purpose.to_owned() });
                Ok(())
            }
        }
    }

    pub fn open(&self, kek: &Kek, purpose: &'static str) -> Result<Secret<String>, SealError> {
        match self {
            SettingSecret::Plain(Plain(plain)) => Ok(plain.clone()),
            SettingSecret::Sealed(Sealed { sealed, purpose: sealed_for }) => {
                if sealed_for != purpose {
                    return Err(SealError::Open(purpose));
                }
                let blob =
                    base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| SealError::Open(purpose))?;
                let plain = kek.open(purpose, &blob).map_err(|_| SealError::Open(purpose))?;
                let text = String::from_utf8(plain.expose().clone()).map_err(|_| SealError::Open(purpose))?;
                Ok(Secret::new(text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> Kek {
        Kek::from_bytes(&[9; 32]).unwrap()
    }

    #[test]
    fn plain_text_is_sealed_and_never_serialised() {
        let mut s: SettingSecret = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""[redacted]""#);
        assert_eq!(format!("{s:?}"), "[redacted]");
        s.seal(&kek(), "ldap.bind_password").unwrap();
        let shown = serde_json::to_string(&s).unwrap();
        assert!(shown.starts_with(r#"{"sealed":""#) && !shown.contains("hunter2"), "{shown}");
        let back: SettingSecret = serde_json::from_str(&shown).unwrap();
        assert_eq!(back.open(&kek(), "ldap.bind_password").unwrap().expose(), "hunter2");
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_setting_and_key() {
        let mut s = SettingSecret::Plain(Plain(Secret::new("x".into())));
        s.seal(&kek(), "ldap.bind_password").unwrap();
        assert!(s.open(&kek(), "radius.secret").is_err());
        assert!(s.open(&Kek::from_bytes(&[8; 32]).unwrap(), "ldap.bind_password").is_err());
        // Moving it to another setting is refused when that setting is written.
        assert!(s.clone().seal(&kek(), "radius.secret").is_err());
        assert!(s.seal(&kek(), "ldap.bind_password").is_ok());
    }

    #[test]
    fn empty_and_malformed_values_are_refused() {
        let mut s: SettingSecret = serde_json::from_str(r#""""#).unwrap();
        assert!(matches!(s.seal(&kek(), "p"), Err(SealError::Empty("p"))));
        assert!(serde_json::from_str::<SettingSecret>(r#"{"sealed":"x","extra":1}"#).is_err());
        let s: SettingSecret = serde_json::from_str(r#"{"sealed":"not base64!","purpose":"p"}"#).unwrap();
        assert!(s.open(&kek(), "p").is_err());
    }
}
