//! `/device_authorization` (RFC 8628 §3.1–3.2).

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use signet_core::crypto::{random_token, sha256};
use signet_core::model::{
    Application, DEVICE_CODE_TTL, DEVICE_POLL_INTERVAL, DeviceAuthorization, DeviceStatus, GrantType,
};
use signet_core::secret::Secret;
use signet_core::{scope, user_code};
use signet_proto::oauth::{DeviceAuthorizationResponse, ErrorCode};
use signet_store::StoreError;

use super::Env;
use super::client_auth::authenticate;
use super::form::OAuthParams;
use crate::error::OAuthError;
use crate::net::ClientIp;
use crate::routes::{self, endpoint};
use crate::state::AppState;

pub async fn device_authorization(
    State(state): State<AppState>,
    env: Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthParams(p): OAuthParams,
) -> Result<Response, OAuthError> {
    let app = authenticate(&state, &env, ip, &headers, &p).await?;
    if !app.allows(GrantType::DeviceCode) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this application may not use the device flow"));
    }
    let scopes = scope::narrow(p.get("scope"), &app.scopes)
        .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "the scope is malformed or not allowed"))?;
    let device_code = random_token().map_err(OAuthError::internal)?;
    let requested = Requested { app: &app, scope: scope::join(&scopes), ip };
    let code = store_pending(&state, &env, &device_code, &requested).await?;
    let body = answer(&state, &env, device_code, &code);
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// What a device asked for, and from where.
struct Requested<'a> {
    app: &'a Application,
    scope: String,
    ip: IpAddr,
}

/// Stores the pending authorization under a new user code, and answers the
/// code. User codes are unique among live authorizations; draw again on a collision.
async fn store_pending(
    state: &AppState,
    env: &Env,
    device_code: &Secret<String>,
    requested: &Requested<'_>,
) -> Result<String, OAuthError> {
    let now = state.now();
    let mut attempts = 0;
    loop {
        let code = user_code::generate().map_err(OAuthError::internal)?;
        let d = DeviceAuthorization {
            device_hash: sha256(device_code.expose().as_bytes()).to_vec(),
            user_code: code.clone(),
            environment_id: env.id().to_owned(),
            client_id: requested.app.id.clone(),
            scope: requested.scope.clone(),
            expires_at: now + DEVICE_CODE_TTL,
            interval: DEVICE_POLL_INTERVAL,
            last_polled_at: None,
            status: DeviceStatus::Pending,
            requested_from: Some(requested.ip.to_string()),
            requested_at: now,
        };
        match state.store.insert_device(&d).await {
            Ok(()) => return Ok(code),
            Err(StoreError::Conflict(_)) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// RFC 8628 §3.2: the codes, and where the person enters the user code.
fn answer(state: &AppState, env: &Env, device_code: Secret<String>, code: &str) -> DeviceAuthorizationResponse {
    let verification_uri = endpoint(&state.issuer(env.id()), routes::DEVICE);
    let shown = user_code::display(code);
    DeviceAuthorizationResponse {
        device_code: device_code.expose().clone(),
        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
        verification_uri,
        user_code: shown,
        expires_in: DEVICE_CODE_TTL,
        interval: DEVICE_POLL_INTERVAL,
    }
}
