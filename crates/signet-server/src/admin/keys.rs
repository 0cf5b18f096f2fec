//! `/environments/{env}/keys`: an environment's signing keys (CryptoAdmin
//! rotates; anyone with a role reads). Only public parts are ever shown.
//! A rotated-out key stays published until the tokens it signed expire.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use signet_core::id::EnvironmentId;
use signet_core::model::ACCESS_TOKEN_TTL;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, ErrorBody, Page, Query, page_of};
use crate::ops;
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
            active: k.retired_at.is_none(),
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
