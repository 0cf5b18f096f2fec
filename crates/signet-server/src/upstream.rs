//! Other issuers signetd relies on: external OpenID providers people sign on
//! through (issue 7) and external issuers of admin API tokens. Their
//! discovery documents and key sets are fetched through the guarded fetcher
//! and kept for a while. A token with an unknown `kid` refetches the key
//! set (the issuer may have rotated). Where anyone can present tokens (the
//! admin API), that happens at most once per `REFETCH_AFTER`, so a flood of
//! made-up kids cannot make signetd hammer the issuer; an ID token comes
//! from the provider's own token endpoint, so it may refetch at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::{Map, Value};
use signet_core::token::{SignatureFault, verify_signature};

use crate::fetch::Fetcher;

const KEEP_FOR: Duration = Duration::from_secs(300);
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// What signetd reads of an issuer's discovery document.
#[derive(Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

type Kept<T> = Mutex<HashMap<String, (Instant, Arc<T>)>>;

#[derive(Default)]
pub struct Upstreams {
    documents: Kept<Discovery>,
    keys: Kept<JwkSet>,
}

fn kept<T>(map: &Kept<T>, key: &str) -> Option<(Instant, Arc<T>)> {
    map.lock().ok()?.get(key).filter(|(at, _)| at.elapsed() < KEEP_FOR).cloned()
}

fn keep<T>(map: &Kept<T>, key: &str, value: Arc<T>) {
    if let Ok(mut m) = map.lock() {
        m.insert(key.to_owned(), (Instant::now(), value));
    }
}

impl Upstreams {
    /// The issuer's discovery document, as kept or fetched.
    pub async fn discovery(&self, fetcher: &Fetcher, issuer: &str) -> Result<Arc<Discovery>, String> {
        match kept(&self.documents, issuer) {
            Some((_, d)) => Ok(d),
            None => self.discover(fetcher, issuer).await,
        }
    }

    /// Fetches the issuer's discovery document: it must name the same
    /// issuer (OpenID Connect Discovery §4.3), and every endpoint in it must
    /// be one the fetcher may reach.
    pub async fn discover(&self, fetcher: &Fetcher, issuer: &str) -> Result<Arc<Discovery>, String> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let d: Discovery =
            fetcher.get_json(&url).await.map_err(|e| format!("its discovery document could not be read: {e}"))?;
        if d.issuer != issuer {
            return Err(format!("the discovery document names {:?}, not this issuer", d.issuer));
        }
        let endpoints = [("authorization_endpoint", &d.authorization_endpoint), ("token_endpoint", &d.token_endpoint)];
        for (field, url) in endpoints.into_iter().chain([("jwks_uri", &Some(d.jwks_uri.clone()))]) {
            if let Some(url) = url {
                fetcher.check(url).map_err(|e| format!("its {field}: {e}"))?;
            }
        }
        let d = Arc::new(d);
        keep(&self.documents, issuer, d.clone());
        Ok(d)
    }

    async fn fetch_keys(&self, fetcher: &Fetcher, jwks_uri: &str) -> Result<Arc<JwkSet>, String> {
        let set: JwkSet = fetcher.get_json(jwks_uri).await.map_err(|e| e.to_string())?;
        let set = Arc::new(set);
        keep(&self.keys, jwks_uri, set.clone());
        Ok(set)
    }

    /// A token's claims if one of the keys at `jwks_uri` signed it, or what
    /// was wrong with it; `Err` when the keys cannot be had. Keys kept for
    /// at least `refetch_after` are fetched again for an unknown `kid`.
    pub async fn verify(
        &self,
        fetcher: &Fetcher,
        jwks_uri: &str,
        token: &str,
        refetch_after: Duration,
    ) -> Result<Result<Map<String, Value>, SignatureFault>, String> {
        let (fetched, keys) = match kept(&self.keys, jwks_uri) {
            Some(k) => k,
            None => (Instant::now(), self.fetch_keys(fetcher, jwks_uri).await?),
        };
        match verify_signature(token, &keys) {
            Err(SignatureFault::UnknownKey) if fetched.elapsed() >= refetch_after => {
                Ok(verify_signature(token, &*self.fetch_keys(fetcher, jwks_uri).await?))
            }
            checked => Ok(checked),
        }
    }
}
