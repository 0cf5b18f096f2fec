//! Per-environment signing keys, opened from the store and kept in memory.
//! The cache is refreshed after `REFRESH` seconds, so a rotation made on one
//! instance reaches the others, and at once when a scheduled rotation's
//! key starts signing; nothing in it is state that matters.

use signet_core::id::EnvironmentId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use signet_core::clock::UnixTime;
use signet_core::crypto::Kek;
use signet_core::model::{ACCESS_TOKEN_TTL, Environment, ID_TOKEN_TTL, signing_key_purpose};
use signet_core::token::{Signer, Verifier};
use signet_store::Store;

const REFRESH: i64 = 60;
const MIN_RELOAD: i64 = 5;

/// How long a retired key stays published: until every token it signed has expired.
pub const RETIRED_KEY_PUBLISHED: i64 =
    if ACCESS_TOKEN_TTL > ID_TOKEN_TTL { ACCESS_TOKEN_TTL } else { ID_TOKEN_TTL } + 300;

pub struct EnvKeys {
    pub environment: Environment,
    pub signer: Signer,
    pub verifiers: HashMap<String, Verifier>,
    pub jwks: serde_json::Value,
    loaded_at: UnixTime,
    /// When a key loaded starts or stops signing or being published, if one will.
    changes_at: Option<UnixTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("no such environment")]
    UnknownEnvironment,
    #[error("environment {0} has no active signing key")]
    NoActiveKey(String),
    #[error("the private signing key {kid} could not be opened: {cause}")]
    Open { kid: String, cause: signet_core::crypto::CryptoError },
    #[error(transparent)]
    Store(#[from] signet_store::StoreError),
}

#[derive(Default)]
pub struct Keyring {
    envs: RwLock<HashMap<String, Arc<EnvKeys>>>,
}

impl Keyring {
    pub async fn get(
        &self,
        store: &Store,
        kek: &Kek,
        env_id: &str,
        now: UnixTime,
    ) -> Result<Arc<EnvKeys>, KeyringError> {
        if let Some(k) = self.envs.read().ok().and_then(|m| m.get(env_id).cloned())
            && now - k.loaded_at < REFRESH
            && k.changes_at.is_none_or(|at| now < at)
        {
            return Ok(k);
        }
        let loaded = Arc::new(load(store, kek, env_id, now).await?);
        if let Ok(mut m) = self.envs.write() {
            m.insert(env_id.to_owned(), loaded.clone());
        }
        Ok(loaded)
    }

    /// Reloads an environment's keys when a token names a key the cache does not
    /// know: another instance may have rotated. At most once per `MIN_RELOAD`
    /// seconds, so tokens with invented key ids cannot turn into a query each.
    pub async fn reload_for_unknown_kid(
        &self,
        store: &Store,
        kek: &Kek,
        env_id: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<EnvKeys>>, KeyringError> {
        let cached = self.envs.read().ok().and_then(|m| m.get(env_id).cloned());
        if cached.is_some_and(|k| now - k.loaded_at < MIN_RELOAD) {
            return Ok(None);
        }
        let loaded = Arc::new(load(store, kek, env_id, now).await?);
        if let Ok(mut m) = self.envs.write() {
            m.insert(env_id.to_owned(), loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// Drops every environment's cached keys, after this instance replaced them all (an import).
    pub fn forget_all(&self) {
        if let Ok(mut m) = self.envs.write() {
            m.clear();
        }
    }

    /// Drops an environment's cached keys, after a rotation on this instance.
    pub fn forget(&self, env_id: &str) {
        if let Ok(mut m) = self.envs.write() {
            m.remove(env_id);
        }
    }
}

async fn load(store: &Store, kek: &Kek, env_id: &str, now: UnixTime) -> Result<EnvKeys, KeyringError> {
    // Environment ids are UUIDs; anything else cannot name one, and needs no query.
    if uuid::Uuid::try_parse(env_id).is_err() {
        return Err(KeyringError::UnknownEnvironment);
    }
    let environment = store.environment(&EnvironmentId::from(env_id)).await?.ok_or(KeyringError::UnknownEnvironment)?;
    let keys = store.signing_keys(&EnvironmentId::from(env_id), now - RETIRED_KEY_PUBLISHED).await?;
    // The newest key activated and not retired signs; one published ahead
    // of its use is only published until then.
    let active = keys
        .iter()
        .filter(|k| k.signs_at(now))
        .max_by_key(|k| k.activation())
        .ok_or_else(|| KeyringError::NoActiveKey(env_id.to_owned()))?;
    // The next time a key starts or stops signing, or stops being published.
    let changes_at = keys
        .iter()
        .flat_map(|k| [Some(k.activation()), k.retired_at, k.retired_at.map(|r| r + RETIRED_KEY_PUBLISHED)])
        .flatten()
        .filter(|t| *t > now)
        .min();
    let pkcs8 = kek
        .open(&signing_key_purpose(&active.kid), &active.private_sealed)
        .map_err(|cause| KeyringError::Open { kid: active.kid.clone(), cause })?;
    let signer = Signer::from_pkcs8(active.kid.clone(), &pkcs8);
    let mut verifiers = HashMap::new();
    let mut published = Vec::new();
    for k in &keys {
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk)
            .map_err(|e| signet_store::StoreError::Corrupt(format!("public JWK of {}: {e}", k.kid)))?;
        if let Some(v) = Verifier::from_jwk(&jwk) {
            verifiers.insert(k.kid.clone(), v);
            published.push(jwk);
        }
    }
    let jwks = serde_json::json!({ "keys": published });
    Ok(EnvKeys { environment, signer, verifiers, jwks, loaded_at: now, changes_at })
}
