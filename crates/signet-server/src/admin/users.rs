//! `/environments/{env}/users[/{id}]`: the end users of an environment
//! (Admin). Admin accounts are never listed or changed here, not even in the
//! Administrators environment.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::model::Account;
use signet_core::policy::{Action, Resource};
use signet_store::{Versioned, Written};

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, Page, Query, created, environment_exists, etag, if_match, no_content, page_of,
    with_etag,
};
use crate::state::AppState;

const KIND: &str = "user";

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
        id: a.id.clone(),
        username: a.username.clone(),
        active: a.active,
        mfa_enrolled: a.totp_confirmed,
        locked: a.is_locked(now),
        password_change_required: a.password_change_required,
        created_at: a.created_at,
    }
}

async fn find(state: &AppState, env: &str, id: &str) -> Result<Versioned, AdminError> {
    environment_exists(state, env).await?;
    state.store.versioned_user(env, id).await?.ok_or_else(|| AdminError::not_found("user"))
}

/// An environment's end users, by username.
#[utoipa::path(get, path = "/environments/{env}/users", tag = "users", params(("env" = String, Path), Page),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
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
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Read).await?;
    let v = find(&state, &env, &id).await?;
    Ok(with_etag(etag(KIND, &v.account.id, v.version), view(&v, state.now())))
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
    Path(env): Path<String>,
    Body(new): Body<NewUser>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Write).await?;
    environment_exists(&state, &env).await?;
    let now = state.now();
    let account = crate::ops::accounts::with_set_password(&state, &env, &new.username, &new.password, now).await?;
    let account = Account { active: new.active, ..account };
    let mut ev = caller.event(Event::AdminUserCreate, &account.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"username": new.username, "active": new.active}));
    crate::ops::accounts::insert(&state, &account, &ev).await?;
    let location = format!("/environments/{env}/users/{}", account.id);
    let v = Versioned { account, version: 1 };
    Ok(created(etag(KIND, &v.account.id, 1), view(&v, now), &location))
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
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(change): Body<UserUpdate>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Write).await?;
    let v = find(&state, &env, &id).await?;
    let expected = if_match(&headers, KIND, &v.account.id, v.version)?;
    let now = state.now();
    let mut ev = caller.event(Event::AdminUserUpdate, &v.account.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"id": id, "active": change.active}));
    match state.store.set_user_active(&v.account.id, expected, change.active, now, &ev).await? {
        Written::Done(version) => {
            state.revocations.stale();
            let v = find(&state, &env, &id).await?;
            Ok(with_etag(etag(KIND, &v.account.id, version), view(&v, now)))
        }
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("user")),
    }
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
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(reset): Body<PasswordReset>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Write).await?;
    let v = find(&state, &env, &id).await?;
    crate::ops::accounts::check_password(&reset.password)?;
    let expected = if_match(&headers, KIND, &v.account.id, v.version)?;
    let hash = state.hasher.hash(&reset.password).await.ok_or_else(|| AdminError::internal("hashing failed"))?;
    let now = state.now();
    let must_change = reset.must_change.unwrap_or(true);
    let mut ev = caller.event(Event::AdminUserPasswordReset, &v.account.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"id": id, "must_change": must_change}));
    match state.store.set_password(&v.account.id, expected, &hash, must_change, now, &ev).await? {
        Written::Done(version) => {
            state.revocations.stale();
            Ok(no_content(etag(KIND, &v.account.id, version)))
        }
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("user")),
    }
}

/// An end user's attributes, which claim-mapping expressions read as `user.attributes`.
#[utoipa::path(get, path = "/environments/{env}/users/{id}/attributes", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "a JSON object"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn attributes(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
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
    Path((env, id)): Path<(String, String)>,
    Body(value): Body<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::EndUsers, Action::Write).await?;
    let v = find(&state, &env, &id).await?;
    let size = serde_json::to_vec(&value).map_err(AdminError::internal)?.len();
    if size > 16 * 1024 {
        return Err(AdminError::invalid(format!("attributes: {size} bytes; at most 16384")));
    }
    let mut ev = caller.event(Event::AdminUserAttributes, &v.account.id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&serde_json::Value::Object(value.clone()));
    if !state.store.set_account_attributes(&v.account.id, &value, &ev).await? {
        return Err(AdminError::not_found("user"));
    }
    Ok(axum::Json(value).into_response())
}

/// Ends an end user's lock now (Admin), and every budget of its browsers;
/// recorded with the number of attempts the lock refused.
#[utoipa::path(post, path = "/environments/{env}/users/{id}/unlock", tag = "users", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = super::accounts::Unlocked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let by = crate::ops::authorize(&state, &caller, Resource::EndUsers, Action::Write).await?;
    let v = find(&state, &env, &id).await?;
    let was_locked = crate::ops::accounts::unlock(&state, &by, &v.account, Some(&env)).await?;
    Ok(axum::Json(super::accounts::Unlocked { was_locked }).into_response())
}
