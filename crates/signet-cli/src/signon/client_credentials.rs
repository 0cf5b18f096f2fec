//! The client credentials grant for `worker` services (seed 001).

use oauth2::Scope;

use super::Provider;
use crate::services::Grant;
use crate::token_store::Cached;

pub async fn sign_on(p: &Provider, client_id: &str, secret: &str, scopes: Option<&str>) -> anyhow::Result<Cached> {
    let client = p.client(client_id, Some(secret))?;
    let mut req = client.exchange_client_credentials()?;
    for s in scopes.unwrap_or_default().split(' ').filter(|s| !s.is_empty()) {
        req = req.add_scope(Scope::new(s.to_owned()));
    }
    let tokens = req.request_async(&p.sender()).await.map_err(|e| p.explain("client credentials sign-on", e))?;
    Ok(p.cache(client_id, Grant::ClientCredentials, &tokens, None))
}
