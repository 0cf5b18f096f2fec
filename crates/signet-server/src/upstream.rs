//! Other issuers signetd relies on: external OpenID providers people sign on
//! through (issue 7) and external issuers of admin API tokens. Their
//! discovery documents and key sets are fetched through the guarded fetcher
//! and kept for a while. A token with an unknown `kid` refetches the key
//! set (the issuer may have rotated). Where anyone can present tokens (the
//! admin API), that happens at most once per `REFETCH_AFTER`, so a flood of
//! made-up kids cannot make signetd hammer the issuer; an ID token comes
//! from the provider's own token endpoint, so it may refetch at once.
//!
//! A discovery document is the provider's word, not the administrator's.
//! The endpoints it names are reached as far as the issuer itself only on
//! the issuer's own origin (scheme, host and port); anywhere else, only on
//! public addresses over https (`Reach::Public`). Otherwise a provider, or
//! whoever took over its document, could send signetd (with the code, the
//! PKCE verifier and the client's credentials) to any port on its own
//! host or network (issue 15).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::{Map, Value};
use signet_core::token::{SignatureFault, verify_signature};

use crate::fetch::{Fetcher, Reach};

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

impl Discovery {
    /// How far signetd may reach for `url`, a URL this document names: as
    /// far as for the issuer on the issuer's own origin, public addresses
    /// only anywhere else.
    pub fn reach(&self, url: &str) -> Reach {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin()).filter(url::Origin::is_tuple);
        match (origin(url), origin(&self.issuer)) {
            (Some(at), Some(issuer)) if at == issuer => Reach::Configured,
            _ => Reach::Public,
        }
    }

    fn endpoints(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("authorization_endpoint", self.authorization_endpoint.as_deref()),
            ("token_endpoint", self.token_endpoint.as_deref()),
            ("jwks_uri", Some(self.jwks_uri.as_str())),
        ]
    }
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
    /// be one the fetcher may reach from it (`Discovery::reach`), the
    /// authorization endpoint included, though only browsers go there.
    pub async fn discover(&self, fetcher: &Fetcher, issuer: &str) -> Result<Arc<Discovery>, String> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let d: Discovery =
            fetcher.get_json(&url).await.map_err(|e| format!("its discovery document could not be read: {e}"))?;
        if d.issuer != issuer {
            return Err(format!("the discovery document names {:?}, not this issuer", d.issuer));
        }
        for (field, url) in d.endpoints() {
            let Some(url) = url else { continue };
            let reach = d.reach(url);
            fetcher.check_within(url, reach).map_err(|e| match reach {
                Reach::Configured => format!("its {field}: {e}"),
                Reach::Public => format!(
                    "its {field}: {e}; away from the issuer's own origin, a provider's endpoints must be public https URLs"
                ),
            })?;
        }
        let d = Arc::new(d);
        keep(&self.documents, issuer, d.clone());
        Ok(d)
    }

    async fn fetch_keys(&self, fetcher: &Fetcher, jwks_uri: &str, reach: Reach) -> Result<Arc<JwkSet>, String> {
        let set: JwkSet = fetcher.get_json_within(jwks_uri, reach).await.map_err(|e| e.to_string())?;
        let set = Arc::new(set);
        keep(&self.keys, jwks_uri, set.clone());
        Ok(set)
    }

    /// A token's claims if one of the keys at `jwks_uri` (fetched within
    /// `reach`) signed it, or what was wrong with it; `Err` when the keys
    /// cannot be had. Keys kept for at least `refetch_after` are fetched
    /// again for an unknown `kid`.
    pub async fn verify(
        &self,
        fetcher: &Fetcher,
        (jwks_uri, reach): (&str, Reach),
        token: &str,
        refetch_after: Duration,
    ) -> Result<Result<Map<String, Value>, SignatureFault>, String> {
        let (fetched, keys) = match kept(&self.keys, jwks_uri) {
            Some(k) => k,
            None => (Instant::now(), self.fetch_keys(fetcher, jwks_uri, reach).await?),
        };
        match verify_signature(token, &keys) {
            Err(SignatureFault::UnknownKey) if fetched.elapsed() >= refetch_after => {
                Ok(verify_signature(token, &*self.fetch_keys(fetcher, jwks_uri, reach).await?))
            }
            checked => Ok(checked),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn document(issuer: &str, token_endpoint: &str, jwks_uri: &str) -> Discovery {
        Discovery {
            issuer: issuer.into(),
            authorization_endpoint: Some(format!("{issuer}/authorize")),
            token_endpoint: Some(token_endpoint.into()),
            jwks_uri: jwks_uri.into(),
            token_endpoint_auth_methods_supported: Vec::new(),
        }
    }

    /// Issue 15: a discovery document reaches inside the network only on
    /// its issuer's own origin; elsewhere, only public https URLs pass.
    #[test]
    fn finding_11_discovery_cannot_point_at_loopback() {
        let fetcher = Fetcher::new(false).unwrap();
        let private = Fetcher::new(true).unwrap();
        let passes = |f: &Fetcher, d: &Discovery, url: &str| f.check_within(url, d.reach(url)).is_ok();

        let public =
            document("https://sso.acme.example", "https://sso.acme.example/token", "https://keys.acme.example/jwks");
        assert_eq!(public.reach("https://sso.acme.example/token"), Reach::Configured);
        assert_eq!(
            public.reach("https://sso.acme.example:443/token"),
            Reach::Configured,
            "the default port is the same origin"
        );
        assert_eq!(public.reach("https://keys.acme.example/jwks"), Reach::Public);
        assert_eq!(public.reach("http://sso.acme.example/token"), Reach::Public, "another scheme is another origin");
        assert_eq!(public.reach("not a url"), Reach::Public);
        assert!(passes(&fetcher, &public, "https://keys.acme.example/jwks"));
        for inside in [
            "http://127.0.0.1:5432/token",
            "https://127.0.0.1/token",
            "http://localhost:8080/token",
            "http://[::1]:6379/",
            "https://10.0.0.5/token",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(!passes(&fetcher, &public, inside), "{inside}");
            assert!(!passes(&private, &public, inside), "{inside}, even with allow_private_fetch");
        }

        // A provider on loopback (a test or a sidecar) reaches its own origin, and no other port or name.
        let local = document("http://127.0.0.1:9000", "http://127.0.0.1:9000/token", "http://127.0.0.1:9000/jwks");
        assert!(passes(&fetcher, &local, "http://127.0.0.1:9000/token"));
        for elsewhere in ["http://127.0.0.1:9001/token", "http://localhost:9000/token", "http://127.0.0.2:9000/token"] {
            assert!(!passes(&fetcher, &local, elsewhere), "{elsewhere}");
        }

        // A provider inside the network, allowed by allow_private_fetch, reaches its own origin only.
        let internal = document("https://10.0.0.5", "https://10.0.0.5/token", "https://10.0.0.5/jwks");
        assert!(passes(&private, &internal, "https://10.0.0.5/token"));
        assert!(!passes(&fetcher, &internal, "https://10.0.0.5/token"), "not without the setting");
        for elsewhere in ["https://10.0.0.6/token", "https://10.0.0.5:8443/token", "http://127.0.0.1/token"] {
            assert!(!passes(&private, &internal, elsewhere), "{elsewhere}");
        }
    }
}
