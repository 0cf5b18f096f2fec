//! `/revoke` (RFC 7009). Revoking an access token records its `jti` until it
//! would have expired; revoking a refresh token revokes its whole family,
//! access tokens included (RFC 7009 §2.1). Unknown tokens get 200 as well.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use signet_core::clock::UnixTime;
use signet_core::crypto::sha256;
use signet_core::model::Application;
use signet_core::token::{self, AccessClaims};

use super::Env;
use super::client_auth::authenticate;
use super::form::OAuthParams;
use crate::error::OAuthError;
use crate::net::ClientIp;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    env: Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthParams(p): OAuthParams,
) -> Result<StatusCode, OAuthError> {
    let app = authenticate(&state, &env, ip, &headers, &p).await?;
    let presented = p.require("token")?;
    let now = state.now();
    // An access token is a JWS we signed; anything else may be a refresh token.
    let access = token::peek_kid(presented)
        .and_then(|kid| env.verifiers.get(&kid))
        .and_then(|v| token::verify_access(presented, v, now).ok());
    match access {
        Some(c) if app.id == c.client_id => revoke_access(&state, &c, now).await?,
        Some(_) => {}
        None => revoke_family(&state, &app, presented, now).await?,
    }
    Ok(StatusCode::OK)
}

/// Records the access token's `jti` until it would have expired.
async fn revoke_access(state: &AppState, c: &AccessClaims, now: UnixTime) -> Result<(), OAuthError> {
    state.store.revoke_jti(&c.jti, c.exp, now).await?;
    state.revocations.revoked_jti(&c.jti, c.exp);
    Ok(())
}

/// Revokes the family of `app`'s refresh token `presented`, if it is one.
async fn revoke_family(state: &AppState, app: &Application, presented: &str, now: UnixTime) -> Result<(), OAuthError> {
    if let Some(g) = state.store.refresh_token_grant(&sha256(presented.as_bytes())).await?
        && g.client_id == app.id
    {
        state.store.revoke_grant(&g.id, now).await?;
        state.revocations.revoked_grant(&g.id, now);
    }
    Ok(())
}
