//! `/environments/{env}/users[/{id}]`: the end users of an environment
//! (Admin). Admin accounts are never listed or changed here, not even in the
//! Administrators environment.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::policy::{Action, Resource};
use signet_store::Versioned;

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, IfMatch, Page, Query, created, environment_exists, etag, no_content, page_of,
    with_etag,
};
use crate::ops;
use crate::state::AppState;

use crate::ops::users::KIND;

/// An end user as the API shows it: never its password or secrets.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: String,
    username: String,
    active: bool,
    mfa_enrolled: bool,
    locked: bool,
    password_change_required: bool,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserPage {
    items: Vec<UserView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

fn view(v: &Versioned, now: i64) -> UserView {
    let a = &v.account;
    UserView {
        id: a.id.to_string(),
        username: a.username.clone(),
        active: a.active,
        mfa_enrolled: a.totp_confirmed,
        locked: a.is_locked(now),
        password_change_required: a.password_change_required,
        created_at: a.created_at,
    }
}

async fn find(state: &AppState, env: &EnvironmentId, id: &AccountId) -> Result<Versioned, AdminError> {
    Ok(ops::users::find(state, env, id).await?)
}

/// An environment's end users, by username.
#[utoipa::path(get, path = "/environments/{env}/users", tag = "users", params(("env" = String, Path), Page),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Read).await?;
    environment_exists(&state, &env).await?;
    let limit = page.limit()?;
    let rows = state.store.accounts_page(&env, false, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |v| v.account.username.clone());
    let now = state.now();
    let items = rows.iter().map(|v| view(v, now)).collect();
    Ok(axum::Json(UserPage { items, next_cursor: next }).into_response())
}

/// One end user, with its ETag.
#[utoipa::path(get, path = "/environments/{env}/users/{id}", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Read).await?;
    let v = find(&state, &env, &id).await?;
    Ok(with_etag(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now())))
}

// No Debug: it holds a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// Creates an end user (Admin). The password must be replaced at the first sign-on.
#[utoipa::path(post, path = "/environments/{env}/users", tag = "users", params(("env" = String, Path)), request_body = NewUser,
    responses((status = 201, body = UserView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Body(new): Body<NewUser>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    let v = ops::users::create(&state, &by, &env, (&new.username, &new.password), new.active).await?;
    let location = format!("/environments/{env}/users/{}", v.account.id);
    Ok(created(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now()), &location))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    active: bool,
}

/// Activates or deactivates an end user (Admin). Deactivating ends its sessions and tokens.
#[utoipa::path(put, path = "/environments/{env}/users/{id}", tag = "users", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UserUpdate,
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
    IfMatch(if_match): IfMatch,
    Body(change): Body<UserUpdate>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    let v = ops::users::set_active(&state, &by, (&env, &id), if_match.as_deref(), change.active).await?;
    Ok(with_etag(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now())))
}

// No Debug: it holds a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    password: String,
    /// Whether the person must replace it at the next sign-on (default yes).
    must_change: Option<bool>,
}

/// Resets an end user's password (Admin). Ends its sessions and tokens.
#[utoipa::path(post, path = "/environments/{env}/users/{id}/password", tag = "users", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PasswordReset,
    responses((status = 204, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn password(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
    IfMatch(if_match): IfMatch,
    Body(reset): Body<PasswordReset>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    let new = (reset.password.as_str(), reset.must_change.unwrap_or(true));
    let version = ops::users::reset_password(&state, &by, (&env, &id), if_match.as_deref(), new).await?;
    Ok(no_content(etag(KIND, id.as_str(), version)))
}

/// An end user's attributes, which claim-mapping expressions read as `user.attributes`.
#[utoipa::path(get, path = "/environments/{env}/users/{id}/attributes", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "a JSON object"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Read).await?;
    let v = find(&state, &env, &id).await?;
    Ok(axum::Json(state.store.account_attributes(&v.account.id).await?).into_response())
}

/// Replaces an end user's attributes (Admin): a JSON object of at most 16 KiB.
#[utoipa::path(put, path = "/environments/{env}/users/{id}/attributes", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    request_body(content = Object, description = "a JSON object"),
    responses((status = 200, description = "the attributes"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
    Body(value): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    ops::users::set_attributes(&state, &by, (&env, &id), &value).await?;
    Ok(axum::Json(value).into_response())
}

/// Ends an end user's lock now (Admin), and every budget of its browsers;
/// recorded with the number of attempts the lock refused.
#[utoipa::path(post, path = "/environments/{env}/users/{id}/unlock", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = super::accounts::Unlocked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, AccountId)>,
) -> Result<Response, AdminError> {
    let by = crate::ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    let v = find(&state, &env, &id).await?;
    let was_locked = crate::ops::accounts::unlock(&state, &by, &v.account, Some(env.as_str())).await?;
    Ok(axum::Json(super::accounts::Unlocked { was_locked }).into_response())
}
