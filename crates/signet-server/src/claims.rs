//! Custom claims at token issuance: the environment's claim mappings,
//! compiled once and cached for a few seconds per environment (a change on
//! this instance applies at once; on others within `FRESH_FOR`), evaluated
//! in the sandbox against the account. A mapping that fails for one person
//! is left out of their tokens and logged; it never fails the sign-on.

use signet_core::id::EnvironmentId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use signet_core::claims::{ClaimClient, ClaimEngine, ClaimInput, ClaimMapping, ClaimUser, CompiledMapping};
use signet_core::clock::UnixTime;
use signet_core::model::Account;
use signet_store::{Store, StoreError};

const FRESH_FOR: UnixTime = 5;

/// An environment's compiled mappings and when they were read.
type Cached = (UnixTime, Arc<Vec<CompiledMapping>>);

#[derive(Default)]
pub struct ClaimMappings {
    pub engine: ClaimEngine,
    cache: Mutex<HashMap<String, Cached>>,
}

impl ClaimMappings {
    /// Drops an environment's compiled mappings after a change to them.
    pub fn forget(&self, env_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(env_id);
        }
    }

    /// Drops every environment's compiled mappings, after an import.
    pub fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    async fn compiled(
        &self,
        store: &Store,
        env_id: &str,
        now: UnixTime,
    ) -> Result<Arc<Vec<CompiledMapping>>, StoreError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, m)) = cache.get(env_id)
            && now - at < FRESH_FOR
        {
            return Ok(m.clone());
        }
        let stored = store.claim_mappings(&EnvironmentId::from(env_id)).await?;
        let compiled: Vec<CompiledMapping> = stored
            .into_iter()
            .filter_map(|m| {
                let mapping = ClaimMapping { claim: m.claim, expression: m.expression };
                // Checked when written; a mapping the engine now refuses is skipped, not fatal.
                self.engine
                    .compile_mapping(&mapping)
                    .inspect_err(
                        |e| tracing::warn!(env = env_id, claim = %mapping.claim, error = %e, "claim mapping skipped"),
                    )
                    .ok()
            })
            .collect();
        let compiled = Arc::new(compiled);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(env_id.to_owned(), (now, compiled.clone()));
        }
        Ok(compiled)
    }

    /// The custom claims of a person's tokens in `env_id`, for `client_id` and `scope`.
    pub async fn for_person(
        &self,
        store: &Store,
        now: UnixTime,
        (env_id, client_id): (&str, &str),
        account: &Account,
        scope: &str,
    ) -> Result<Map<String, Value>, StoreError> {
        let mappings = self.compiled(store, env_id, now).await?;
        if mappings.is_empty() {
            return Ok(Map::new());
        }
        let input = ClaimInput {
            user: ClaimUser {
                id: account.id.to_string(),
                username: account.username.clone(),
                email: None,
                attributes: store.account_attributes(&account.id).await?,
            },
            client: ClaimClient { id: client_id.to_owned() },
            scope: scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        };
        let mut claims = Map::new();
        for m in mappings.iter() {
            match self.engine.evaluate(m.expression(), &input) {
                Ok(Some(v)) => {
                    claims.insert(m.claim().to_owned(), v);
                }
                Ok(None) => {}
                // The error may quote attribute values: the claim and the account are enough to look.
                Err(_) => {
                    tracing::warn!(env = env_id, claim = m.claim(), account = %account.id, "claim mapping failed for an account; claim left out")
                }
            }
        }
        Ok(claims)
    }
}
