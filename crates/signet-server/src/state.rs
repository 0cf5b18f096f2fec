//! The state every handler shares: the store, the injected clock, the
//! key-encryption key, cached signing keys, metrics and the limits. Passed in,
//! never global, so each test can run its own server.

use signet_core::id::EnvironmentId;
use std::sync::Arc;

use signet_core::clock::{Clock, UnixTime};
use signet_core::crypto::Kek;
use signet_store::Store;

use crate::fetch::{FetchError, Fetcher};
use crate::hasher::Hasher;
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
    /// Replaced by a reload (SIGHUP).
    pub trusted_proxies: crate::live::Live<TrustedProxies>,
    /// Set on a stop signal: `/readyz` answers 503 from then on, so load
    /// balancers stop sending requests before the listener closes.
    pub draining: std::sync::atomic::AtomicBool,
    pub failures: FailureLimiter,
    /// Password hashing, one thread per core (a DoS defence).
    pub hasher: Hasher,
    /// Fetches what administrators configured (upstream providers, MFA services).
    pub fetcher: Fetcher,
    /// Discovery documents and key sets of other issuers, as last fetched.
    pub upstreams: crate::upstream::Upstreams,
    /// What admin authentication verified lately, and its settings.
    pub authn: crate::cache::Authn,
    /// Claim-mapping expressions: the sandbox and the compiled mappings.
    pub claim_mappings: crate::claims::ClaimMappings,
    /// Proofs to the token endpoint must carry a nonce the service gave (RFC 9449 §8).
    pub require_dpop_nonce: bool,
    /// LIST answers of the Vault-compatible API, as last built.
    pub vault_lists: crate::cache::ListCache,
    /// Token lifetimes and the refresh reuse interval as last read, and when.
    lifetimes: std::sync::RwLock<TokenPolicy>,
}

/// Token lifetimes and the refresh reuse interval as last read, and when.
type TokenPolicy = (Option<std::time::Instant>, signet_core::model::TokenLifetimes, signet_core::model::RefreshReuse);

/// What `net::ClientIp` needs to tell the client from a proxy.
impl AsRef<crate::live::Live<TrustedProxies>> for AppState {
    fn as_ref(&self) -> &crate::live::Live<TrustedProxies> {
        &self.trusted_proxies
    }
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
    /// Let configured fetch URLs point at private and link-local addresses.
    pub allow_private_fetch: bool,
    /// The admin API's authentication settings from the config file, which
    /// then override the store's.
    pub admin_authentication: Option<crate::config::admin_auth::AuthSettings>,
    /// Ask for DPoP nonces at the token endpoint.
    pub require_dpop_nonce: bool,
}

impl AppState {
    pub fn new(c: StateConfig) -> Result<AppState, FetchError> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let public_url = c.public_url.trim_end_matches('/').to_owned();
        Ok(AppState(Arc::new(Inner {
            store: c.store,
            secure_cookies: public_url.starts_with("https://"),
            clock: c.clock,
            kek: c.kek,
            keyring: Keyring::default(),
            clients: Default::default(),
            revocations: Default::default(),
            metrics: Metrics::default(),
            public_url,
            trusted_proxies: crate::live::Live::new(c.trusted_proxies),
            draining: Default::default(),
            failures: FailureLimiter::default(),
            hasher: Hasher::new(cores),
            fetcher: Fetcher::new(c.allow_private_fetch)?,
            upstreams: Default::default(),
            authn: crate::cache::Authn::new(c.admin_authentication),
            claim_mappings: Default::default(),
            require_dpop_nonce: c.require_dpop_nonce,
            vault_lists: Default::default(),
            lifetimes: Default::default(),
        })))
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub fn issuer(&self, env_id: &EnvironmentId) -> String {
        issuer(&self.public_url, env_id.as_str())
    }

    /// The audience of signetd's own APIs (admin and Vault-compatible).
    pub fn admin_audience(&self) -> String {
        format!("{}/admin-api", self.public_url)
    }

    /// Token lifetimes as last read (`refresh_lifetimes` keeps them fresh).
    pub fn lifetimes(&self) -> signet_core::model::TokenLifetimes {
        self.lifetimes.read().map(|l| l.1).unwrap_or_default()
    }

    /// The refresh reuse interval as last read (`refresh_lifetimes` keeps it fresh).
    pub fn refresh_reuse(&self) -> signet_core::model::RefreshReuse {
        self.lifetimes.read().map(|l| l.2).unwrap_or_default()
    }

    /// Rereads the token lifetimes and the refresh reuse interval if this
    /// instance's copy is over 5 s old,
    /// so a change applies on every instance within that.
    pub async fn refresh_lifetimes(&self) -> Result<(), signet_store::StoreError> {
        const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);
        let fresh = self.lifetimes.read().map(|l| l.0.is_some_and(|at| at.elapsed() < FRESH_FOR)).unwrap_or(false);
        if fresh {
            return Ok(());
        }
        let current = match self.store.setting(signet_core::model::TokenLifetimes::KEY).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Default::default(),
        };
        // Unreadable, the interval is off: a retry is then judged as reuse.
        let reuse = match self.store.setting(signet_core::model::RefreshReuse::KEY).await? {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => Default::default(),
        };
        if let Ok(mut l) = self.lifetimes.write() {
            *l = (Some(std::time::Instant::now()), current, reuse);
        }
        Ok(())
    }

    /// After a change on this instance: the next token rereads them.
    pub fn forget_lifetimes(&self) {
        if let Ok(mut l) = self.lifetimes.write() {
            l.0 = None;
        }
    }

    /// The custom claims (claim mappings) of a person's tokens in
    /// `env_id`, for `client_id` and `scope`.
    pub async fn custom_claims(
        &self,
        (env_id, client_id): (&str, &str),
        account: &signet_core::model::Account,
        scope: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, signet_store::StoreError> {
        self.claim_mappings.for_person(&self.store, self.now(), (env_id, client_id), account, scope).await
    }

    pub async fn env_keys(&self, env_id: &str) -> Result<Arc<EnvKeys>, KeyringError> {
        self.keyring.get(&self.store, &self.kek, env_id, self.now()).await
    }
}

pub fn issuer(public_url: &str, env_id: &str) -> String {
    format!("{}/{env_id}/as", public_url.trim_end_matches('/'))
}
