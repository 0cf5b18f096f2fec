//! `/introspect` (RFC 7662). The caller must authenticate as a confidential
//! client; an invalid, expired or revoked token is `{"active": false}`.
//! Access tokens are described to any client of the environment; refresh
//! tokens only to the client that holds them.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use signet_core::crypto::sha256;
use signet_core::model::Application;
use signet_core::token::AccessClaims;
use signet_proto::oauth::IntrospectionResponse;

use super::Env;
use super::bearer::verify;
use super::client_auth::authenticate;
use super::form::OAuthParams;
use crate::error::OAuthError;
use crate::net::ClientIp;
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    env: Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthParams(p): OAuthParams,
) -> Result<Json<IntrospectionResponse>, OAuthError> {
    let app = authenticate(&state, &env, ip, &headers, &p).await?;
    if app.kind.is_public() {
        return Err(OAuthError::invalid_client());
    }
    let token = p.require("token")?;
    let answer = match verify(&state, &env, token).await? {
        Ok(c) => access(c),
        // Not an access token: a refresh token is described to the client it was issued to.
        Err(_) => refresh(&state, &env, &app, token).await?,
    };
    Ok(Json(answer))
}

/// A live access token, described.
fn access(c: AccessClaims) -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        scope: Some(c.scope),
        client_id: Some(c.client_id),
        username: c.username,
        token_type: Some(if c.cnf.is_some() { "DPoP" } else { "Bearer" }.into()),
        cnf: c.cnf.map(|c| signet_proto::oauth::Confirmation { jkt: c.jkt }),
        exp: Some(c.exp),
        iat: Some(c.iat),
        sub: Some(c.sub),
        aud: Some(c.aud),
        iss: Some(c.iss),
        jti: Some(c.jti),
    }
}

/// A live refresh token of `app`'s in this environment, described; anything
/// else is inactive.
async fn refresh(
    state: &AppState,
    env: &Env,
    app: &Application,
    token: &str,
) -> Result<IntrospectionResponse, OAuthError> {
    Ok(match state.store.live_refresh_token(&sha256(token.as_bytes()), state.now()).await? {
        Some((t, g)) if g.client_id == app.id && &g.environment_id == env.id() => IntrospectionResponse {
            active: true,
            scope: Some(g.scope),
            client_id: Some(g.client_id.into_string()),
            token_type: Some("refresh_token".into()),
            exp: Some(t.expires_at),
            iat: Some(g.created_at),
            sub: Some(g.account_id.into_string()),
            iss: Some(state.issuer(env.id())),
            ..IntrospectionResponse::default()
        },
        _ => IntrospectionResponse::default(),
    })
}
