//! `/environments[/{env}]`: the authorities signetd serves (Admin writes).
//! A new environment gets its own signing key, sealed under the
//! key-encryption key, in the same transaction as its audit event.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signet_core::audit::digest_of;
use signet_core::id::EnvironmentId;
use signet_core::model::Environment;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody};
use crate::state::AppState;
pub use signet_proto::admin::environments::{EnvironmentList, EnvironmentView, NewEnvironment};

fn view(state: &AppState, e: &Environment) -> EnvironmentView {
    EnvironmentView {
        id: e.id.to_string(),
        name: e.name.clone(),
        issuer: state.issuer(&e.id),
        created_at: e.created_at,
    }
}

/// Every environment (there are few: no pages needed, but the shape is a list).
#[utoipa::path(get, path = "/environments", tag = "environments",
    responses((status = 200, body = EnvironmentList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Environments, Action::Read).await?;
    let items = state.store.environments().await?.iter().map(|e| view(&state, e)).collect();
    Ok(axum::Json(EnvironmentList { items }).into_response())
}

#[utoipa::path(get, path = "/environments/{env}", tag = "environments", params(("env" = String, Path)),
    responses((status = 200, body = EnvironmentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Environments, Action::Read).await?;
    let e = state
        .store
        .environment(&EnvironmentId::from(env.as_str()))
        .await?
        .ok_or_else(|| AdminError::not_found("environment"))?;
    Ok(axum::Json(view(&state, &e)).into_response())
}

/// Creates an environment with its first signing key (Admin).
#[utoipa::path(post, path = "/environments", tag = "environments", request_body = NewEnvironment,
    responses((status = 201, body = EnvironmentView, headers(("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewEnvironment>,
) -> Result<Response, AdminError> {
    let by = crate::ops::authorize(&state, &caller, Resource::Environments, Action::Write).await?;
    let e = crate::ops::environments::create(&state, &by, &new.name).await?;
    // Environments carry no version: nothing writes them after creation yet.
    let tag = format!("\"{}\"", &digest_of(&json!({"id": e.id, "name": e.name}))[..24]);
    Ok(super::created(tag, view(&state, &e), &format!("/environments/{}", e.id)))
}
