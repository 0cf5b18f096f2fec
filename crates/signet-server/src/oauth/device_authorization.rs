//! `/device_authorization` (RFC 8628 §3.1–3.2).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use signet_core::crypto::{random_token, sha256};
use signet_core::model::{DEVICE_CODE_TTL, DEVICE_POLL_INTERVAL, DeviceAuthorization, DeviceStatus, GrantType};
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
    let now = state.now();
    // User codes are unique among live authorizations; draw again on a collision.
    let mut attempts = 0;
    let code = loop {
        let code = user_code::generate().map_err(OAuthError::internal)?;
        let d = DeviceAuthorization {
            device_hash: sha256(device_code.expose().as_bytes()).to_vec(),
            user_code: code.clone(),
            environment_id: env.id().to_owned(),
            client_id: app.id.clone(),
            scope: scope::join(&scopes),
            expires_at: now + DEVICE_CODE_TTL,
            interval: DEVICE_POLL_INTERVAL,
            last_polled_at: None,
            status: DeviceStatus::Pending,
            requested_from: Some(ip.to_string()),
            requested_at: now,
        };
        match state.store.insert_device(&d).await {
            Ok(()) => break code,
            Err(StoreError::Conflict(_)) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let verification_uri = endpoint(&state.issuer(env.id()), routes::DEVICE);
    let shown = user_code::display(&code);
    let body = DeviceAuthorizationResponse {
        device_code: device_code.expose().clone(),
        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
        verification_uri,
        user_code: shown,
        expires_in: DEVICE_CODE_TTL,
        interval: DEVICE_POLL_INTERVAL,
    };
    Ok(([(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}
