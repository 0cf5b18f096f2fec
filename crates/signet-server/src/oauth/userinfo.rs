//! `/userinfo` (OIDC Core §5.3): the signed-on person's claims, for an access
//! token granted `openid`. Errors follow RFC 6750 §3, and RFC 9449 §7.1 for
//! DPoP-bound tokens, which come as `Authorization: DPoP` with a proof.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_core::id::AccountId;
use signet_core::token::AccessClaims;

use super::Env;
use super::bearer::verify;
use super::dpop::{Presented, authorization, presented_as_bound};
use super::issue::has_scope;
use crate::state::AppState;

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    challenge("Bearer", status, error, description)
}

fn challenge(scheme: &str, status: StatusCode, error: &str, description: &str) -> Response {
    let algs = if scheme == "DPoP" {
        format!(" algs=\"{}\",", signet_core::dpop::ALGORITHMS.join(" "))
    } else {
        String::new()
    };
    let challenge = format!("{scheme} realm=\"signetd\",{algs} error=\"{error}\", error_description=\"{description}\"");
    let mut res = (status, Json(serde_json::json!({"error": error, "error_description": description}))).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

pub async fn userinfo(State(state): State<AppState>, env: Env, method: Method, headers: HeaderMap) -> Response {
    let Some((token, as_dpop)) = authorization(&headers) else { return unauthenticated() };
    let claims = match verified(&state, &env, token).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let how = if as_dpop {
        let url = crate::routes::endpoint(&state.issuer(env.id()), crate::routes::USERINFO);
        Presented::Dpop { headers: &headers, method: method.as_str(), url }
    } else {
        Presented::Bearer
    };
    if let Err(res) = bound(&state, &claims, token, &how).await {
        return res;
    }
    if !has_scope(&claims.scope, "openid") {
        return refuse(StatusCode::FORBIDDEN, "insufficient_scope", "the token was not granted openid");
    }
    match person(&state, &env, &claims).await {
        Ok(body) => ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response(),
        Err(res) => res,
    }
}

/// No token at all: 401 with a challenge for either scheme (RFC 6750 §3.1, RFC 9449 §7.1).
fn unauthenticated() -> Response {
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    let both = format!(
        "Bearer realm=\"signetd\", DPoP realm=\"signetd\", algs=\"{}\"",
        signet_core::dpop::ALGORITHMS.join(" ")
    );
    if let Ok(v) = HeaderValue::from_str(&both) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// The token's claims, if it is one of ours, live and not revoked.
async fn verified(state: &AppState, env: &Env, token: &str) -> Result<AccessClaims, Response> {
    match verify(state, env, token).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(_)) => {
            Err(refuse(StatusCode::UNAUTHORIZED, "invalid_token", "the access token is invalid, expired or revoked"))
        }
        Err(e) => Err(crate::error::OAuthError::internal(e).into_response()),
    }
}

/// Whether the token came as its binding requires (RFC 9449 §7.1).
async fn bound(state: &AppState, claims: &AccessClaims, token: &str, how: &Presented<'_>) -> Result<(), Response> {
    match presented_as_bound(state, claims, token, how).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refused)) => {
            let error = if refused.is_proof() { "invalid_dpop_proof" } else { "invalid_token" };
            Err(challenge("DPoP", StatusCode::UNAUTHORIZED, error, refused.message()))
        }
        Err(e) => Err(crate::error::OAuthError::internal(e).into_response()),
    }
}

/// The claims of the person the token speaks for, if their account is still active here.
async fn person(state: &AppState, env: &Env, claims: &AccessClaims) -> Result<serde_json::Value, Response> {
    let account = match state.store.account(&AccountId::from(claims.sub.as_str())).await {
        Ok(Some(a)) if a.active && &a.environment_id == env.id() => a,
        Ok(_) => return Err(refuse(StatusCode::UNAUTHORIZED, "invalid_token", "the account is no longer active")),
        Err(e) => return Err(crate::error::OAuthError::internal(e).into_response()),
    };
    let mut body = serde_json::json!({ "sub": account.id });
    if has_scope(&claims.scope, "profile") {
        body["preferred_username"] = account.username.clone().into();
        body["name"] = account.username.into();
    }
    Ok(body)
}
