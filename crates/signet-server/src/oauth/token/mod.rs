//! `/token` (RFC 6749 §3.2): authenticates the client, then hands the request
//! to its grant. Every answer is `no-store`; every failure is an RFC 6749 §5.2 body.

mod authorization_code;
mod client_credentials;
mod device_code;
mod exchange;
mod refresh;

use signet_core::id::AccountId;
use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use signet_core::model::{Account, GrantType};
use signet_proto::oauth::{ErrorCode, TokenResponse};

use super::Env;
use super::client_auth::authenticate;
use super::dpop;
use super::form::{OAuthParams, Params};
use crate::error::OAuthError;
use crate::net::ClientIp;
use crate::state::AppState;

pub async fn token(
    State(state): State<AppState>,
    env: Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthParams(p): OAuthParams,
) -> Response {
    match tokens(&state, &env, ip, &headers, &p).await {
        Ok(body) => {
            let mut res = Json(body).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => {
            if e.code != ErrorCode::InvalidClient {
                state.metrics.failure(e.failure_reason());
            }
            e.into_response()
        }
    }
}

/// The request's grant type, its client authenticated and allowed to use it,
/// handed to the grant with the DPoP key its tokens are bound to.
async fn tokens(state: &AppState, env: &Env, ip: IpAddr, headers: &HeaderMap, p: &Params) -> Grant {
    let grant = p.require("grant_type")?;
    let grant = GrantType::parse(grant).ok_or_else(|| {
        OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant type {grant:?} is not supported"))
    })?;
    let app = authenticate(state, env, ip, headers, p).await?;
    state.refresh_lifetimes().await?;
    if !app.allows(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this application may not use {}", grant.as_str()),
        ));
    }
    let jkt = proof_key(state, env, headers).await?;
    let jkt = jkt.as_deref();
    let response = match grant {
        GrantType::ClientCredentials => client_credentials::grant(state, env, &app, p, jkt).await,
        GrantType::RefreshToken => refresh::grant(state, env, &app, p, jkt).await,
        GrantType::AuthorizationCode => authorization_code::grant(state, env, &app, p, jkt).await,
        GrantType::DeviceCode => device_code::grant(state, env, &app, p, jkt).await,
        GrantType::TokenExchange => exchange::grant(state, env, &app, p, jkt).await,
    }?;
    state.metrics.grant(grant);
    Ok(response)
}

/// The key a valid DPoP proof with the request binds its tokens to, if
/// there is a proof (RFC 9449 §5); a bad one is `invalid_dpop_proof`.
async fn proof_key(state: &AppState, env: &super::Env, headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let refused = |e: dpop::Refused| OAuthError::new(ErrorCode::InvalidDpopProof, e.message());
    let Some(proof) = dpop::header(headers).map_err(refused)? else { return Ok(None) };
    let url = crate::routes::endpoint(&state.issuer(env.id()), crate::routes::TOKEN);
    match dpop::check(state, proof, "POST", &url, None, dpop::Nonce::IfConfigured).await? {
        Ok(p) => Ok(Some(p.jkt)),
        Err(dpop::Refused::Proof(signet_core::dpop::ProofError::Nonce)) => Err(use_nonce(state)),
        Err(e) => Err(refused(e)),
    }
}

/// RFC 9449 §8: a proof lacks the server's nonce; here is one for the next.
fn use_nonce(state: &AppState) -> OAuthError {
    let mut e = OAuthError::new(ErrorCode::UseDpopNonce, "put the DPoP-Nonce header's value in the proofs' nonce");
    e.dpop_nonce = Some(dpop::nonce(state));
    e
}

/// The person a code, device approval or refresh token speaks for, if they
/// may still sign on: a deactivated account's grants stop working.
async fn active_account(state: &AppState, account_id: &AccountId) -> Result<Account, OAuthError> {
    match state.store.account(account_id).await? {
        Some(a) if a.active => Ok(a),
        _ => Err(OAuthError::invalid_grant("the account is no longer active")),
    }
}

type Grant = Result<TokenResponse, OAuthError>;
