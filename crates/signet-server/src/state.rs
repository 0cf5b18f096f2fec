//! The state every handler shares: the store, the injected clock, the
//! key-encryption key, cached signing keys, metrics and the limits. Passed in,
//! never global, so each test can run its own server.

use std::sync::Arc;

use signet_core::clock::{Clock, UnixTime};
use signet_core::crypto::Kek;
use signet_store::Store;
use tokio::sync::Semaphore;

use crate::keyring::{EnvKeys, Keyring, KeyringError};
use crate::metrics::Metrics;
use crate::net::TrustedProxies;
use crate::ratelimit::FailureLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub kek: Kek,
    pub keyring: Keyring,
    pub clients: crate::cache::Clients,
    pub revocations: crate::cache::Revocations,
    pub metrics: Metrics,
    /// The external base URL, without a trailing slash.
    pub public_url: String,
    pub secure_cookies: bool,
    pub trusted_proxies: TrustedProxies,
    pub failures: FailureLimiter,
    /// Bounds concurrent password hashes to the cores (DoS defence).
    pub hash_permits: Semaphore,
    /// One argon2 working buffer per permit, reused from hash to hash.
    hash_memory: std::sync::Mutex<Vec<signet_core::password::HashMemory>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct StateConfig {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub kek: Kek,
    pub public_url: String,
    pub trusted_proxies: TrustedProxies,
}

impl AppState {
    pub fn new(c: StateConfig) -> AppState {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let public_url = c.public_url.trim_end_matches('/').to_owned();
        AppState(Arc::new(Inner {
            store: c.store,
            secure_cookies: public_url.starts_with("https://"),
            clock: c.clock,
            kek: c.kek,
            keyring: Keyring::default(),
            clients: Default::default(),
            revocations: Default::default(),
            metrics: Metrics::default(),
            public_url,
            trusted_proxies: c.trusted_proxies,
            failures: FailureLimiter::default(),
            hash_permits: Semaphore::new(cores),
            hash_memory: std::sync::Mutex::new(Vec::new()),
        }))
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub fn issuer(&self, env_id: &str) -> String {
        issuer(&self.public_url, env_id)
    }

    /// The audience of signetd's own APIs (admin and Vault-compatible).
    pub fn admin_audience(&self) -> String {
        format!("{}/admin-api", self.public_url)
    }

    pub async fn env_keys(&self, env_id: &str) -> Result<Arc<EnvKeys>, KeyringError> {
        self.keyring.get(&self.store, &self.kek, env_id, self.now()).await
    }

    /// Verifies a password on the bounded hashing pool, off the async threads.
    pub async fn verify_password(&self, password: &str, phc: Option<&str>) -> bool {
        let Ok(_permit) = self.hash_permits.acquire().await else { return false };
        let password = signet_core::secret::Secret::new(password.to_owned());
        let phc = phc.unwrap_or(signet_core::password::DUMMY_HASH).to_owned();
        let mut memory = self.hash_memory.lock().ok().and_then(|mut m| m.pop()).unwrap_or_default();
        let done = tokio::task::spawn_blocking(move || {
            let ok = signet_core::password::verify_with(password.expose(), &phc, &mut memory);
            (ok, memory)
        })
        .await;
        let Ok((ok, memory)) = done else { return false };
        if let Ok(mut m) = self.hash_memory.lock() {
            m.push(memory);
        }
        ok
    }

    /// Hashes a new password on the bounded hashing pool.
    pub async fn hash_password(&self, password: &str) -> Option<String> {
        let _permit = self.hash_permits.acquire().await.ok()?;
        let password = signet_core::secret::Secret::new(password.to_owned());
        tokio::task::spawn_blocking(move || signet_core::password::hash(password.expose()).ok()).await.ok().flatten()
    }
}

pub fn issuer(public_url: &str, env_id: &str) -> String {
    format!("{}/{env_id}/as", public_url.trim_end_matches('/'))
}
