//! Checking signetd's own access tokens: signature by a published key of the
//! environment, issuer, expiry, and revocation (by `jti` or through the family).

use signet_core::token::{self, AccessClaims, TokenError};

use super::Env;
use crate::error::InternalError;
use crate::state::AppState;

#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Invalid,
    Revoked,
}

pub async fn verify(state: &AppState, env: &Env, token: &str) -> Result<Result<AccessClaims, Rejected>, InternalError> {
    let now = state.now();
    let claims = match token::verify_access_with(token, |kid| env.verifiers.get(kid), now) {
        Ok(c) => c,
        // A key this instance has not seen: another instance may have rotated.
        Err(TokenError::UnknownKey) => {
            let reloaded =
                match state.keyring.reload_for_unknown_kid(&state.store, &state.kek, env.id().as_str(), now).await {
                    Ok(Some(k)) => k,
                    Ok(None) => return Ok(Err(Rejected::Invalid)),
                    Err(crate::keyring::KeyringError::Store(e)) => return Err(e.into()),
                    Err(_) => return Ok(Err(Rejected::Invalid)),
                };
            match token::verify_access_with(token, |kid| reloaded.verifiers.get(kid), now) {
                Ok(c) => c,
                Err(_) => return Ok(Err(Rejected::Invalid)),
            }
        }
        Err(_) => return Ok(Err(Rejected::Invalid)),
    };
    if claims.iss != state.issuer(env.id()) {
        return Ok(Err(Rejected::Invalid));
    }
    if state.revocations.is_revoked(&state.store, &claims, state.now()).await? {
        return Ok(Err(Rejected::Revoked));
    }
    Ok(Ok(claims))
}
