//! Access tokens of external issuers on the admin API's OAuth scheme,
//! checked against their keys as `upstream` keeps them.

use serde_json::{Map, Value};
use signet_core::token::external_claims_ok;

use crate::config::admin_auth::ExternalIssuer;
use crate::fetch::Reach;
use crate::state::AppState;
use crate::upstream::REFETCH_AFTER;

/// The token's claims if `ext` issued it for its audience; `Ok(None)` when
/// it did not; `Err` when the issuer's keys cannot be had.
pub async fn verify(state: &AppState, ext: &ExternalIssuer, token: &str) -> Result<Option<Map<String, Value>>, String> {
    // Keys the administrator named are theirs to place; keys the issuer's
    // discovery document names are reached only as that document may.
    let (jwks_uri, reach) = match &ext.jwks_uri {
        Some(u) => (u.clone(), Reach::Configured),
        None => {
            let d = state.upstreams.discovery(&state.fetcher, &ext.issuer).await?;
            (d.jwks_uri.clone(), d.reach(&d.jwks_uri))
        }
    };
    let claims = state.upstreams.verify(&state.fetcher, (&jwks_uri, reach), token, REFETCH_AFTER).await?;
    Ok(claims.ok().filter(|c| external_claims_ok(c, &ext.issuer, &ext.audience, state.now())))
}

/// The values of the roles claim: a space-separated string or an array.
pub fn claim_values<'a>(claims: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    match claims.get(name) {
        Some(Value::String(s)) => s.split(' ').filter(|v| !v.is_empty()).collect(),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}
