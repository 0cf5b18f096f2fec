//! Where tokens are kept (`auth.storage.type`): the OS keychain
//! (`secure_local`), one 0600 file per credential (`file`), or nowhere
//! (`none`, this command only). The cache key covers the profile, issuer,
//! client id and grant type, so changing any of them never reuses a token.

mod file;
mod keychain;
mod keyutils;

pub use file::{private_state_dir, probe_dir};

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::services::{Grant, Service};

/// Tokens as cached. `Debug` shows no token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Cached {
    pub issuer: String,
    pub client_id: String,
    pub grant: String,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    /// Unix seconds; `None` when the provider gave no lifetime.
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// `Bearer`, or `DPoP` for a session's key-bound token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("grant", &self.grant)
            .field("expires_at", &self.expires_at)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Identifies one cached credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub profile: String,
    pub service: String,
    pub issuer: String,
    pub client_id: String,
    pub grant: Grant,
}

impl CacheKey {
    pub fn new(profile: &str, service: &Service, client_id: &str, grant: Grant) -> CacheKey {
        CacheKey {
            profile: profile.to_owned(),
            service: service.name.clone(),
            issuer: service.issuer.clone(),
            client_id: client_id.to_owned(),
            grant,
        }
    }

    /// A stable name: readable prefix, then a digest of everything that must match.
    pub fn id(&self) -> String {
        let material = format!("{}\0{}\0{}\0{}", self.profile, self.issuer, self.client_id, self.grant.as_str());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
        let hex: String = digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{hex}", sanitize(&self.profile), sanitize(&self.service))
    }
}

impl CacheKey {
    /// A key of this process's own, for [`Store::check`]: no issuer is named so.
    fn probe() -> CacheKey {
        CacheKey {
            profile: "probe".into(),
            service: "signet-probe".into(),
            issuer: format!("signet-probe:{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            client_id: "probe".into(),
            grant: Grant::DeviceCode,
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The configured storage cannot keep tokens: found by [`Store::check`]
/// before a sign-on, or by `auth status`.
#[derive(Debug, thiserror::Error)]
#[error("token storage {storage} cannot keep tokens: {why}\nhint: {hint}")]
pub struct Unavailable {
    /// As `auth status` names it: `secure_local (kernel keyutils)`.
    pub storage: String,
    pub why: String,
    pub hint: String,
}

const FILE_HINT: &str = "make $XDG_STATE_HOME/signet (by default ~/.local/state/signet) a directory of your own, or signet config set \"auth.storage.type=secure_local\" keeps tokens in the OS keychain";

/// `why` in one line, with its own hint, else `hint`.
fn unavailable(storage: String, e: &anyhow::Error, hint: &str) -> Unavailable {
    let (why, hints) = crate::output::explain(e);
    Unavailable { storage, why, hint: hints.into_iter().next().unwrap_or_else(|| hint.to_owned()) }
}

/// [`Store::check`] for the files of a profile's session in `dir`, before
/// `session authenticate` signs on or `session refresh` spends a refresh token.
pub fn check_session_dir(dir: &std::path::Path) -> Result<(), Unavailable> {
    let checked = private_state_dir("sessions").and_then(|_| probe_dir(dir));
    // Sessions are files whatever auth.storage.type says.
    let hint = "make $XDG_STATE_HOME/signet (by default ~/.local/state/signet) a directory of your own, or set XDG_STATE_HOME to one";
    checked.map_err(|e| unavailable(format!("session directory {}", dir.display()), &e, hint))
}

pub enum Store {
    Keychain(keychain::Keychain),
    File(file::FileStore),
    None(Mutex<HashMap<CacheKey, Cached>>),
}

impl Store {
    /// The store `auth.storage.type` names.
    pub fn open(kind: &str) -> anyhow::Result<Store> {
        match kind {
            "file" => Ok(Store::File(file::FileStore::open()?)),
            "none" => Ok(Store::None(Mutex::new(HashMap::new()))),
            "secure_local" => Ok(Store::Keychain(keychain::Keychain::open()?)),
            other => anyhow::bail!("unknown auth.storage.type {other:?}"),
        }
    }

    /// Where tokens go, as `auth status` shows it.
    pub fn describe(&self) -> String {
        match self {
            Store::Keychain(k) => format!("secure_local ({})", k.name()),
            Store::File(_) => "file".into(),
            Store::None(_) => "none (this command only)".into(),
        }
    }

    /// Whether tokens can be kept: a probe entry written, read back and
    /// removed through the store's own calls (for files, in the tokens
    /// directory). Made before any sign-on starts, so a store that cannot
    /// keep tokens fails before a person types a password, and before the
    /// provider records a sign-on whose tokens would be thrown away.
    pub fn check(&self) -> Result<(), Unavailable> {
        let checked = match self {
            Store::None(_) => Ok(()),
            Store::File(f) => f.check(),
            Store::Keychain(_) => self.probe(),
        };
        let hint = match self {
            Store::File(_) => FILE_HINT,
            _ => "signet config set \"auth.storage.type=file\" keeps tokens in 0600 files instead",
        };
        checked.map_err(|e| unavailable(self.describe(), &e, hint))
    }

    fn probe(&self) -> anyhow::Result<()> {
        let key = CacheKey::probe();
        let tokens = Cached {
            issuer: key.issuer.clone(),
            client_id: key.client_id.clone(),
            grant: key.grant.as_str().into(),
            access_token: "probe".into(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            scope: None,
            subject: None,
            token_type: None,
        };
        let kept = self.save(&key, &tokens).and_then(|()| match self.load(&key)? {
            Some(t) if t.access_token == tokens.access_token => Ok(()),
            _ => anyhow::bail!("an entry written could not be read back"),
        });
        let removed = self.delete(&key);
        kept?;
        removed?;
        Ok(())
    }

    pub fn load(&self, key: &CacheKey) -> anyhow::Result<Option<Cached>> {
        match self {
            Store::Keychain(k) => k.load(key),
            Store::File(f) => f.load(key),
            Store::None(m) => Ok(m.lock().ok().and_then(|m| m.get(key).cloned())),
        }
    }

    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        match self {
            Store::Keychain(k) => k.save(key, tokens),
            Store::File(f) => f.save(key, tokens),
            Store::None(m) => {
                if let Ok(mut m) = m.lock() {
                    m.insert(key.clone(), tokens.clone());
                }
                Ok(())
            }
        }
    }

    pub fn delete(&self, key: &CacheKey) -> anyhow::Result<bool> {
        match self {
            Store::Keychain(k) => k.delete(key),
            Store::File(f) => f.delete(key),
            Store::None(m) => Ok(m.lock().map(|mut m| m.remove(key).is_some()).unwrap_or(false)),
        }
    }

    /// A lock held while a refresh token is spent, so two `signet` processes
    /// never both spend the same one. `None` for stores with nothing to share.
    pub fn refresh_lock(&self, key: &CacheKey) -> anyhow::Result<Option<std::fs::File>> {
        match self {
            // Kept for this process alone: nothing to share, and nothing to leave on disk.
            Store::None(_) => Ok(None),
            Store::Keychain(_) | Store::File(_) => file::lock(key).map(Some),
        }
    }
}
