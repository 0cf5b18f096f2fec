//! `/userinfo` (OIDC Core §5.3): the signed-on person's claims, for an access
//! token granted `openid`. Errors follow RFC 6750 §3.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Env;
use super::bearer::{from_header, verify};
use super::issue::has_scope;
use crate::state::AppState;

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge = format!("Bearer realm=\"signetd\", error=\"{error}\", error_description=\"{description}\"");
    let mut res = (status, Json(serde_json::json!({"error": error, "error_description": description}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

pub async fn userinfo(State(state): State<AppState>, env: Env, headers: HeaderMap) -> Response {
    let Some(token) = from_header(&headers) else {
        let mut res = StatusCode::UNAUTHORIZED.into_response();
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"signetd\""));
        return res;
    };
    let claims = match verify(&state, &env, token).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired or revoked",
            );
        }
        Err(e) => return crate::error::OAuthError::internal(e).into_response(),
    };
    if !has_scope(&claims.scope, "openid") {
        return refuse(StatusCode::FORBIDDEN, "insufficient_scope", "the token was not granted openid");
    }
    let account = match state.store.account(&claims.sub).await {
        Ok(Some(a)) if a.active && a.environment_id == env.id() => a,
        Ok(_) => return refuse(StatusCode::UNAUTHORIZED, "invalid_token", "the account is no longer active"),
        Err(e) => return crate::error::OAuthError::internal(e).into_response(),
    };
    let mut body = serde_json::json!({ "sub": account.id });
    if has_scope(&claims.scope, "profile") {
        body["preferred_username"] = account.username.clone().into();
        body["name"] = account.username.into();
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
