//! `auth.storage.type=secure_local`: the OS keychain through `keyring-core`.
//! On Linux that is the kernel's keyutils (works headless and in CI); its
//! keys live in memory in the user's persistent and session keyrings, and do
//! not survive a reboot. If the keychain cannot be reached, that is an error
//! naming `auth.storage.type=file`; signet never falls back to plaintext.

use anyhow::anyhow;
use keyring_core::{Entry, Error as KeyringError};

use super::{CacheKey, Cached};

const SERVICE: &str = "signet";

fn unavailable(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "the OS keychain cannot be reached: {e}\nhint: signet config set \"auth.storage.type=file\" keeps tokens in 0600 files instead (on Linux without a session keyring, or run signet under `keyctl session -`)"
    )
}

pub struct Keychain;

impl Keychain {
    pub fn open() -> anyhow::Result<Keychain> {
        let store = linux_keyutils_keyring_store::Store::new().map_err(unavailable)?;
        keyring_core::set_default_store(store);
        Ok(Keychain)
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

    pub fn save(&self, key: &CacheKey, tokens: &Cached) -> anyhow::Result<()> {
        Self::entry(key)?.set_password(&serde_json::to_string(tokens)?).map_err(unavailable)
    }

    pub fn delete(&self, key: &CacheKey) -> anyhow::Result<bool> {
        match Self::entry(key)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
