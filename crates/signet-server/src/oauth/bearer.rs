//! Checking signetd's own access tokens: signature by a published key of the
//! environment, issuer, expiry, and revocation (by `jti` or through the family).

use signet_core::token::{self, AccessClaims};

use super::Env;
use crate::state::AppState;

#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Invalid,
    Revoked,
}

pub async fn verify(
    state: &AppState,
    env: &Env,
    token: &str,
) -> Result<Result<AccessClaims, Rejected>, signet_store::StoreError> {
    let Some(kid) = token::peek_kid(token) else { return Ok(Err(Rejected::Invalid)) };
    let reloaded;
    let verifier = match env.verifiers.get(&kid) {
        Some(v) => v,
        None => {
            reloaded = match state.keyring.reload_for_unknown_kid(&state.store, &state.kek, env.id(), state.now()).await
            {
                Ok(Some(k)) => k,
                Ok(None) => return Ok(Err(Rejected::Invalid)),
                Err(crate::keyring::KeyringError::Store(e)) => return Err(e),
                Err(_) => return Ok(Err(Rejected::Invalid)),
            };
            match reloaded.verifiers.get(&kid) {
                Some(v) => v,
                None => return Ok(Err(Rejected::Invalid)),
            }
        }
    };
    let claims = match token::verify_access(token, verifier, state.now()) {
        Ok(c) if c.iss == state.issuer(env.id()) => c,
        _ => return Ok(Err(Rejected::Invalid)),
    };
    if state.revocations.is_revoked(&state.store, &claims.jti, claims.gid.as_deref(), state.now()).await? {
        return Ok(Err(Rejected::Revoked));
    }
    Ok(Ok(claims))
}

/// The token of an `Authorization: Bearer …` header.
pub fn from_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
