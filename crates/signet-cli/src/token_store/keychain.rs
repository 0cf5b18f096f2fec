//! `auth.storage.type=secure_local`: the OS keychain.
//!
//! On Linux, two keychains, chosen each time signet starts:
//! - the **Secret Service** (GNOME Keyring, KWallet, KeePassXC) when a D-Bus
//!   session bus exists and a Secret Service answers on it. Items are kept
//!   encrypted on disk by the keyring daemon, so they survive logout and
//!   reboot; the daemon must have the collection unlocked (a desktop login
//!   does that).
//! - the kernel's **keyutils** otherwise: headless machines, SSH sessions,
//!   CI, containers ([`super::keyutils`]). Keys live in kernel memory, in the
//!   user's persistent keyring; they survive the end of a session for a
//!   while (the persistent keyring's expiry, days by default) but never a
//!   reboot.
//!
//! If neither can be reached, that is an error naming `auth.storage.type=file`;
//! signet never falls back to plaintext.

use std::sync::Arc;

use anyhow::anyhow;
use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KeyringError};

use super::keyutils::Keyutils;
use super::{CacheKey, Cached};

const SERVICE: &str = "signet";

fn unavailable(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "the OS keychain cannot be reached: {e}\nhint: signet config set \"auth.storage.type=file\" keeps tokens in 0600 files instead (on Linux, the keychain is a desktop session's Secret Service, or else the kernel's keyutils, which some containers block)"
    )
}

/// Which keychain holds the tokens.
pub enum Backend {
    SecretService(Arc<dbus_secret_service_keyring_store::Store>),
    Keyutils(Keyutils),
}

pub struct Keychain {
    pub backend: Backend,
}

impl Keychain {
    pub fn open() -> anyhow::Result<Keychain> {
        if session_bus_exists() {
            // No Secret Service on the bus (a headless session with D-Bus but
            // no keyring daemon) leaves the kernel's keychain, never a file.
            if let Ok(store) = dbus_secret_service_keyring_store::Store::new() {
                return Ok(Keychain { backend: Backend::SecretService(store) });
            }
        }
        let keyutils = Keyutils::open().map_err(|e| unavailable(format!("kernel keyutils: {e}")))?;
        Ok(Keychain { backend: Backend::Keyutils(keyutils) })
    }

    /// The keychain as `auth status` names it.
    pub fn name(&self) -> &'static str {
        match &self.backend {
            Backend::SecretService(_) => "Secret Service",
            Backend::Keyutils(_) => "kernel keyutils",
        }
    }

    fn entry(store: &dbus_secret_service_keyring_store::Store, key: &CacheKey) -> anyhow::Result<Entry> {
        store.build(SERVICE, &key.id(), None).map_err(unavailable)
    }

    pub fn load(&self, key: &CacheKey) -> anyhow::Result<Option<Cached>> {
        let json = match &self.backend {
            Backend::SecretService(store) => match Self::entry(store, key)?.get_password() {
                Ok(json) => zeroize::Zeroizing::new(json),
                Err(KeyringError::NoEntry) => return Ok(None),
                Err(e) => return Err(unavailable(e)),
            },
            Backend::Keyutils(k) => match k.load(&description(key)).map_err(unavailable)? {
                Some(bytes) => zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()),
                None => return Ok(None),
            },
        };
        Ok(serde_json::from_str(&json).ok())
    }

    /// Saves the tokens, or leaves nothing behind.
    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        let json = zeroize::Zeroizing::new(serde_json::to_string(tokens)?);
        match &self.backend {
            Backend::SecretService(store) => {
                let entry = Self::entry(store, key)?;
                if let Err(e) = entry.set_password(&json) {
                    let _ = entry.delete_credential();
                    return Err(unavailable(e));
                }
                Ok(())
            }
            Backend::Keyutils(k) => k.save(&description(key), json.as_bytes()).map_err(unavailable),
        }
    }

    pub fn delete(&self, key: &CacheKey) -> anyhow::Result<bool> {
        match &self.backend {
            Backend::SecretService(store) => {
                let deleted = match Self::entry(store, key)?.delete_credential() {
                    Ok(()) => true,
                    Err(KeyringError::NoEntry) => false,
                    Err(e) => return Err(unavailable(e)),
                };
                // Tokens kept while no Secret Service answered (over SSH, before a
                // desktop login) are in the kernel's keychain: a logout clears both.
                let also = Keyutils::open().is_ok_and(|k| k.delete(&description(key)).unwrap_or(false));
                Ok(deleted || also)
            }
            Backend::Keyutils(k) => k.delete(&description(key)).map_err(unavailable),
        }
    }
}

/// The keyutils key's name. The form `linux-keyutils-keyring-store` gave
/// it, so tokens kept by earlier versions of signet are still found.
fn description(key: &CacheKey) -> String {
    format!("keyring:{}@{SERVICE}", key.id())
}

/// A session bus is announced in the environment, as every desktop and
/// `dbus-run-session` do. Only then is D-Bus tried: without it, libdbus would
/// try to autolaunch a bus of its own.
fn session_bus_exists() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
}
