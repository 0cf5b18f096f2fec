//! Access tokens of external issuers on the admin API's OAuth scheme: their
//! keys are fetched through the guarded fetcher (discovery, then JWKS) and
//! kept for a while; a token with an unknown `kid` refetches them, at most
//! once per `REFETCH_AFTER`, so a flood of made-up kids cannot make signetd
//! hammer the issuer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use signet_core::token::{External, verify_external};

use super::schemes::ExternalIssuer;
use crate::state::AppState;

const KEEP_FOR: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct ExternalKeys {
    sets: Mutex<HashMap<String, (Instant, Arc<JwkSet>)>>,
}

#[derive(serde::Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl ExternalKeys {
    fn cached(&self, issuer: &str) -> Option<(Instant, Arc<JwkSet>)> {
        self.sets.lock().ok()?.get(issuer).cloned()
    }

    async fn fetch(&self, state: &AppState, ext: &ExternalIssuer) -> Result<Arc<JwkSet>, String> {
        let jwks_uri = match &ext.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!("{}/.well-known/openid-configuration", ext.issuer.trim_end_matches('/'));
                state.fetcher.get_json::<Discovery>(&url).await.map_err(|e| e.to_string())?.jwks_uri
            }
        };
        let set: JwkSet = state.fetcher.get_json(&jwks_uri).await.map_err(|e| e.to_string())?;
        let set = Arc::new(set);
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(ext.issuer.clone(), (Instant::now(), set.clone()));
        }
        Ok(set)
    }

    /// The token's claims if `ext` issued it for its audience; `Ok(None)`
    /// when it did not; `Err` when the issuer's keys cannot be had.
    pub async fn verify(
        &self,
        state: &AppState,
        ext: &ExternalIssuer,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, String> {
        let now = state.now();
        let (fetched, keys) = match self.cached(&ext.issuer) {
            Some((at, keys)) if at.elapsed() < KEEP_FOR => (at, keys),
            _ => (Instant::now(), self.fetch(state, ext).await?),
        };
        match verify_external(token, &keys, &ext.issuer, &ext.audience, now) {
            Ok(claims) => Ok(Some(claims)),
            Err(External::Invalid) => Ok(None),
            Err(External::UnknownKey) if fetched.elapsed() >= REFETCH_AFTER => {
                let keys = self.fetch(state, ext).await?;
                Ok(verify_external(token, &keys, &ext.issuer, &ext.audience, now).ok())
            }
            Err(External::UnknownKey) => Ok(None),
        }
    }
}

/// The values of the roles claim: a space-separated string or an array.
pub fn claim_values<'a>(claims: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    match claims.get(name) {
        Some(Value::String(s)) => s.split(' ').filter(|v| !v.is_empty()).collect(),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}
