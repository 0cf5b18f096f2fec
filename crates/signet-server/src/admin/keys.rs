//! `/environments/{env}/keys`: an environment's signing keys (CryptoAdmin
//! rotates; anyone with a role reads). Only public parts are ever shown.
//! A rotated-out key stays published until the tokens it signed expire.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_core::id::EnvironmentId;
use signet_core::model::ACCESS_TOKEN_TTL;
use signet_core::model::KeyRotationPolicy;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, page_of, with_etag};
use crate::ops;
use crate::ops::settings::content_tag as tag;
use crate::state::AppState;
pub use signet_proto::admin::keys::{KeyList, KeyView};

async fn keys(state: &AppState, env: &str) -> Result<KeyList, AdminError> {
    state.store.environment(&EnvironmentId::from(env)).await?.ok_or_else(|| AdminError::not_found("environment"))?;
    let now = state.now();
    let stored = state.store.signing_keys(&EnvironmentId::from(env), now - ACCESS_TOKEN_TTL).await?;
    let items = stored
        .into_iter()
        .map(|k| KeyView {
            public_jwk: serde_json::from_str(&k.public_jwk).unwrap_or_default(),
            active: k.signs_at(now),
            activates_at: k.activates_at,
            kid: k.kid,
            created_at: k.created_at,
            retired_at: k.retired_at,
        })
        .collect();
    Ok(KeyList { items, next_cursor: None })
}

/// A page of the published keys (newest first), after the `cursor` kid.
fn page(all: KeyList, page: &Page) -> Result<KeyList, AdminError> {
    let limit = page.limit()?;
    let start = match &page.cursor {
        None => 0,
        Some(kid) => all
            .items
            .iter()
            .position(|k| k.kid == *kid)
            .map(|i| i + 1)
            .ok_or_else(|| AdminError::invalid("cursor: no such key"))?,
    };
    let rows: Vec<KeyView> = all.items.into_iter().skip(start).collect();
    let (items, next_cursor) = page_of(rows, limit, |k| k.kid.clone());
    Ok(KeyList { items, next_cursor })
}

/// The signing keys still published: the active one and those whose tokens may be live.
#[utoipa::path(get, path = "/environments/{env}/keys", tag = "keys", params(("env" = String, Path), Page),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(p): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::SigningKeys, Action::Read).await?;
    Ok(axum::Json(page(keys(&state, &env).await?, &p)?).into_response())
}

/// Rotates: a new key signs from now on (CryptoAdmin).
#[utoipa::path(post, path = "/environments/{env}/keys", tag = "keys", params(("env" = String, Path)),
    responses((status = 201, body = KeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::SigningKeys, Action::Write).await?;
    ops::keys::rotate(&state, &by, &env).await?;
    let mut res = axum::Json(keys(&state, &env).await?).into_response();
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// Retires a key that no longer signs (CryptoAdmin): it is no longer
/// published, so tokens it signed stop verifying here at once and on other
/// instances when they next reload the environment's keys. The active key
/// is rotated out first.
#[utoipa::path(delete, path = "/environments/{env}/keys/{kid}", tag = "keys", params(("env" = String, Path), ("kid" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, kid)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::SigningKeys, Action::Write).await?;
    ops::keys::retire(&state, &by, &env, &kid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An environment's signing key rotation schedule.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// A new key every this many days: 0 (off, the default) to 365.
    rotate_every_days: i64,
    /// How long before it signs a new key is published: 0 to 7 days, and
    /// shorter than the period (default 1 day).
    publish_ahead_seconds: i64,
}

fn schedule(p: KeyRotationPolicy) -> Schedule {
    Schedule { rotate_every_days: p.rotate_every_days, publish_ahead_seconds: p.publish_ahead_seconds }
}

#[utoipa::path(get, path = "/environments/{env}/key-rotation", tag = "keys", params(("env" = String, Path)),
    responses((status = 200, body = Schedule, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::SigningKeys, Action::Read).await?;
    state
        .store
        .environment(&EnvironmentId::from(env.as_str()))
        .await?
        .ok_or_else(|| AdminError::not_found("environment"))?;
    let p = ops::keys::rotation_policy(&state, &env).await?;
    Ok(with_etag(tag(&p), schedule(p)))
}

/// Sets the schedule (CryptoAdmin). Every instance runs it each minute;
/// one publishes each new key.
#[utoipa::path(put, path = "/environments/{env}/key-rotation", tag = "keys", params(("env" = String, Path), ("If-Match" = Option<String>, Header)), request_body = Schedule,
    responses((status = 200, body = Schedule, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    IfMatch(if_match): IfMatch,
    Body(wanted): Body<Schedule>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::SigningKeys, Action::Write).await?;
    let p = KeyRotationPolicy {
        rotate_every_days: wanted.rotate_every_days,
        publish_ahead_seconds: wanted.publish_ahead_seconds,
    };
    ops::settings::set_key_rotation(&state, &by, (&env, p), if_match.as_deref()).await?;
    Ok(with_etag(tag(&p), wanted))
}
