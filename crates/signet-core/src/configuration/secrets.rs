//! The secrets inside a document: sealed under a server's key-encryption
//! key, or in plain inside an encrypted archive, each bound to its purpose.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::Configuration;
use crate::model::{certificate_key_purpose, signing_key_purpose, totp_purpose};
use crate::secret::Secret;

/// A secret in the document: sealed under a server's key-encryption key, or
/// in plain inside an encrypted archive.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Protected {
    Sealed(#[serde(with = "super::b64::bytes")] Vec<u8>),
    Plain(#[serde(with = "super::b64::secret")] Secret<Vec<u8>>),
}

impl std::fmt::Debug for Protected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protected::Sealed(_) => "[sealed]",
            Protected::Plain(_) => "[redacted]",
        })
    }
}

impl PartialEq for Protected {
    fn eq(&self, other: &Protected) -> bool {
        match (self, other) {
            (Protected::Sealed(a), Protected::Sealed(b)) => a == b,
            (Protected::Plain(a), Protected::Plain(b)) => crate::crypto::constant_time_eq(a.expose(), b.expose()),
            _ => false,
        }
    }
}

impl Eq for Protected {}

impl Protected {
    pub fn sealed(&self) -> Option<&[u8]> {
        match self {
            Protected::Sealed(b) => Some(b),
            Protected::Plain(_) => None,
        }
    }
}

impl Configuration {
    /// Replaces every secret by what `f` makes of it, given the purpose it
    /// is bound to (its AAD when sealed): opening them for an archive,
    /// sealing them from one, or checking them. Stops at the first error,
    /// with the path of the secret.
    pub fn map_secrets<E>(
        &mut self,
        mut f: impl FnMut(&str, &Protected) -> Result<Protected, E>,
    ) -> Result<(), (String, E)> {
        for (i, a) in self.accounts.iter_mut().enumerate() {
            if let Some(p) = &a.totp {
                a.totp = Some(f(&totp_purpose(&a.id), p).map_err(|e| (format!("accounts[{i}].totp"), e))?);
            }
        }
        for (i, c) in self.certificates.iter_mut().enumerate() {
            if let Some(p) = &c.private_key {
                let path = format!("certificates[{i}].private_key");
                c.private_key = Some(f(&certificate_key_purpose(&c.id), p).map_err(|e| (path, e))?);
            }
        }
        for (i, k) in self.signing_keys.iter_mut().enumerate() {
            if let Some(p) = &k.private_key {
                let path = format!("signing_keys[{i}].private_key");
                k.private_key = Some(f(&signing_key_purpose(&k.kid), p).map_err(|e| (path, e))?);
            }
        }
        for (key, value) in self.settings.iter_mut() {
            map_setting_secrets(value, &format!("settings.{key}"), &mut f)?;
        }
        for (i, p) in self.identity_providers.iter_mut().flatten().enumerate() {
            let path = format!("identity_providers[{i}].client_secret");
            p.client_secret = f(&crate::federation::secret_purpose(&p.id), &p.client_secret).map_err(|e| (path, e))?;
        }
        if let Some(mfa) = &mut self.mfa {
            for (i, m) in mfa.methods.iter_mut().enumerate() {
                let path = format!("mfa.methods[{i}].secrets");
                m.secrets = f(&crate::mfa::secrets_purpose(&m.id), &m.secrets).map_err(|e| (path, e))?;
            }
            for (i, t) in mfa.totp_enrolments.iter_mut().enumerate() {
                let path = format!("mfa.totp_enrolments[{i}].secret");
                let purpose = crate::mfa::enrolment_purpose(&t.method_id, &t.account_id);
                t.secret = f(&purpose, &t.secret).map_err(|e| (path, e))?;
            }
        }
        Ok(())
    }
}

/// A secret inside a setting: `{"sealed"|"plain": base64, "purpose": …}`.
fn map_setting_secrets<E>(
    v: &mut serde_json::Value,
    path: &str,
    f: &mut impl FnMut(&str, &Protected) -> Result<Protected, E>,
) -> Result<(), (String, E)> {
    match v {
        serde_json::Value::Object(map) => {
            if let Some((purpose, protected)) = setting_secret(map) {
                let (field, blob) = match f(&purpose, &protected).map_err(|e| (path.to_owned(), e))? {
                    Protected::Sealed(b) => ("sealed", STANDARD.encode(b)),
                    Protected::Plain(p) => ("plain", STANDARD.encode(p.expose())),
                };
                map.clear();
                map.insert(field.into(), blob.into());
                map.insert("purpose".into(), purpose.into());
                return Ok(());
            }
            for (k, x) in map.iter_mut() {
                map_setting_secrets(x, &format!("{path}.{k}"), f)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                map_setting_secrets(x, &format!("{path}[{i}]"), f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn setting_secret(map: &serde_json::Map<String, serde_json::Value>) -> Option<(String, Protected)> {
    if map.len() != 2 {
        return None;
    }
    let purpose = map.get("purpose")?.as_str()?.to_owned();
    if let Some(sealed) = map.get("sealed").and_then(|s| s.as_str()) {
        return Some((purpose, Protected::Sealed(STANDARD.decode(sealed).ok()?)));
    }
    let plain = map.get("plain")?.as_str()?;
    Some((purpose, Protected::Plain(Secret::new(STANDARD.decode(plain).ok()?))))
}
