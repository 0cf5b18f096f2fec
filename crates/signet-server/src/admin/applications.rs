//! `/environments/{env}/applications[/{id}]`: OAuth clients (Admin). Who
//! else a change needs, and why, is `ops::applications`'s to decide.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_core::id::{ClientId, EnvironmentId};
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, created, page_of, with_etag};
use crate::ops;
use crate::ops::applications::{tag, view};
use crate::state::AppState;
pub use signet_proto::admin::applications::{ApplicationPage, ApplicationView, NewApplication};

#[utoipa::path(get, path = "/environments/{env}/applications", tag = "applications", params(("env" = String, Path), Page),
    responses((status = 200, body = ApplicationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Read).await?;
    let limit = page.limit()?;
    let rows = ops::applications::page(&state, &env, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |a| a.id.to_string());
    let items = rows.iter().map(|a| view(a, None)).collect();
    Ok(axum::Json(ApplicationPage { items, next_cursor: next }).into_response())
}

#[utoipa::path(get, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, ClientId)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Read).await?;
    let a = ops::applications::find(&state, &env, &id).await?;
    Ok(with_etag(tag(&a), view(&a, None)))
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

/// Creates an application (Admin; UserAdmin too when it holds roles, every
/// role when its tokens would carry the admin API's audience). A
/// confidential one's secret is in this answer only.
#[utoipa::path(post, path = "/environments/{env}/applications", tag = "applications", params(("env" = String, Path)), request_body = NewApplication,
    responses((status = 201, body = ApplicationView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Body(new): Body<NewApplication>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Applications, Action::Write).await?;
    let (app, secret) = ops::applications::create(&state, &by, &env, &new).await?;
    let body = view(&app, secret.map(|s| s.expose().clone()));
    Ok(no_store(created(tag(&app), body, &format!("/environments/{env}/applications/{}", app.id))))
}

/// Issues a new secret; the old one stops working at once on this instance
/// and within the client cache's lifetime (10 s) on the others.
#[utoipa::path(post, path = "/environments/{env}/applications/{id}/secret", tag = "applications", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, ClientId)>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Applications, Action::Write).await?;
    let (app, secret) = ops::applications::rotate_secret(&state, &by, (&env, &id)).await?;
    Ok(no_store(with_etag(tag(&app), view(&app, Some(secret.expose().clone())))))
}

/// Replaces an application's settings (Admin; UserAdmin too when its admin
/// roles change; every role when its tokens carry the admin API's
/// audience). The kind cannot change, nor the CLI's redirect URIs and
/// grants. A change of roles revokes the tokens the worker holds.
#[utoipa::path(put, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = NewApplication,
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, ClientId)>,
    IfMatch(if_match): IfMatch,
    Body(new): Body<NewApplication>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Applications, Action::Write).await?;
    let after = ops::applications::update(&state, &by, (&env, &id), if_match.as_deref(), &new).await?;
    Ok(with_etag(tag(&after), view(&after, None)))
}

/// Deletes an application (Admin; UserAdmin too when it holds admin roles;
/// every role when its tokens carry the admin API's audience), revoking
/// every token issued to it. signet's own CLI client stays.
#[utoipa::path(delete, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, ClientId)>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Applications, Action::Write).await?;
    ops::applications::delete(&state, &by, (&env, &id), if_match.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
