//! `auth.storage.type=secure_local`: the OS keychain through `keyring-core`.
//!
//! On Linux, two keychains, chosen each time signet starts:
//! - the **Secret Service** (GNOME Keyring, KWallet, KeePassXC) when a D-Bus
//!   session bus exists and a Secret Service answers on it. Items are kept
//!   encrypted on disk by the keyring daemon, so they survive logout and
//!   reboot; the daemon must have the collection unlocked (a desktop login
//!   does that).
//! - the kernel's **keyutils** otherwise: headless machines, SSH sessions, CI.
//!   Keys live in kernel memory in the user's persistent and session keyrings;
//!   they survive the end of a session for a while (the persistent keyring's
//!   expiry, days by default) but never a reboot.
//!
//! If neither can be reached, that is an error naming `auth.storage.type=file`;
//! signet never falls back to plaintext.

use anyhow::anyhow;
use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KeyringError};

use super::{CacheKey, Cached};

const SERVICE: &str = "signet";

fn unavailable(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "the OS keychain cannot be reached: {e}\nhint: signet config set \"auth.storage.type=file\" keeps tokens in 0600 files instead (on Linux, a desktop session's Secret Service or a kernel session keyring, as `keyctl session -` gives, is needed)"
    )
}

/// Which keychain holds the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SecretService,
    Keyutils,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::SecretService => "Secret Service",
            Backend::Keyutils => "kernel keyutils",
        }
    }
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
                keyring_core::set_default_store(store);
                return Ok(Keychain { backend: Backend::SecretService });
            }
        }
        let store = linux_keyutils_keyring_store::Store::new().map_err(unavailable)?;
        keyring_core::set_default_store(store);
        Ok(Keychain { backend: Backend::Keyutils })
    }

    fn entry(key: &CacheKey) -> anyhow::Result<Entry> {
        Entry::new(SERVICE, &key.id()).map_err(unavailable)
    }

    pub fn load(&self, key: &CacheKey) -> anyhow::Result<Option<Cached>> {
        match Self::entry(key)?.get_password() {
            Ok(json) => Ok(serde_json::from_str(&json).ok()),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Saves the tokens, or leaves nothing behind. A save can fail half
    /// way: keyutils adds the key to the session keyring, then links it to
    /// the persistent one; when the link is refused (a process with no
    /// session keyring of its own writes to the user-session keyring) the
    /// key stays there, the error says nothing was kept, and `auth logout`
    /// cannot find it to remove it. So a failed save removes what it wrote.
    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        let entry = Self::entry(key)?;
        let json = zeroize::Zeroizing::new(serde_json::to_string(tokens)?);
        if let Err(e) = entry.set_password(&json) {
            let _ = entry.delete_credential();
            remove_keyutils_leftover(&entry);
            return Err(unavailable(e));
        }
        Ok(())
    }

    pub fn delete(&self, key: &CacheKey) -> anyhow::Result<bool> {
        let deleted = match Self::entry(key)?.delete_credential() {
            Ok(()) => true,
            Err(KeyringError::NoEntry) => false,
            Err(e) => return Err(unavailable(e)),
        };
        // Tokens kept while no Secret Service answered (over SSH, before a
        // desktop login) are in the kernel's keychain: a logout clears both.
        let mut also = false;
        if self.backend == Backend::SecretService
            && let Ok(store) = linux_keyutils_keyring_store::Store::new()
            && let Ok(entry) = store.build(SERVICE, &key.id(), None)
        {
            also = entry.delete_credential().is_ok();
        }
        Ok(deleted || also)
    }
}

/// Removes the keyutils key of `entry` from the keyrings a failed save may
/// have left it in. In a process that starts without a session keyring of
/// its own, the store adds the key to the user-session keyring, but asking
/// for the persistent keyring gives the process an anonymous session
/// keyring first; from then on the key is not this process's to search
/// (EACCES), so it cannot be found by name. Its keyring can still be
/// listed and written by its owner: the key is unlinked from there, and
/// with no link left the kernel collects it.
fn remove_keyutils_leftover(entry: &Entry) {
    use linux_keyutils::{KeyRing, KeyRingIdentifier, LinkNode};
    let Some(cred) = entry.as_any().downcast_ref::<linux_keyutils_keyring_store::Cred>() else { return };
    let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false).ok();
    for ring in [Some(cred.session), user_session].into_iter().flatten() {
        let Ok(links) = ring.get_links(1024) else { continue };
        for key in links.iter().filter_map(LinkNode::as_key) {
            if key.metadata().is_ok_and(|m| m.get_description() == cred.description) {
                let _ = ring.unlink_key(key);
            }
        }
    }
}

/// A session bus is announced in the environment, as every desktop and
/// `dbus-run-session` do. Only then is D-Bus tried: without it, libdbus would
/// try to autolaunch a bus of its own.
fn session_bus_exists() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
}
