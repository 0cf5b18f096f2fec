//! `/introspect` (RFC 7662). The caller must authenticate as a confidential
//! client; an invalid, expired or revoked token is `{"active": false}`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
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
        Ok(c) => IntrospectionResponse {
            active: true,
            scope: Some(c.scope),
            client_id: Some(c.client_id),
            username: c.username,
            token_type: Some("Bearer".into()),
            exp: Some(c.exp),
            iat: Some(c.iat),
            sub: Some(c.sub),
            aud: Some(c.aud),
            iss: Some(c.iss),
            jti: Some(c.jti),
        },
        Err(_) => IntrospectionResponse::default(),
    };
    Ok(Json(answer))
}
