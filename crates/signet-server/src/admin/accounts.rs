//! `/accounts[/{username}]`: the admin accounts of the Administrators
//! environment. End users are elsewhere and never appear here.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use signet_core::policy::{Action, Resource};
use signet_store::{AdminChange, Versioned};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, created, etag, no_content, page_of, with_etag};
use crate::ops;
use crate::ops::accounts::{KIND, NewAdmin, PasswordFor};
use crate::state::AppState;
pub use signet_proto::admin::accounts::{
    AccountPage, AccountUpdate, AccountView, NewAccount, PasswordChange, Unlocked,
};

fn view(v: &Versioned, now: i64) -> AccountView {
    let a = &v.account;
    AccountView {
        username: a.username.clone(),
        active: a.active,
        roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        auditor: a.auditor,
        mfa_enrolled: a.totp_confirmed,
        locked: a.is_locked(now),
        password_change_required: a.password_change_required,
        created_at: a.created_at,
    }
}

async fn find(state: &AppState, username: &str) -> Result<Versioned, AdminError> {
    Ok(ops::accounts::find(state, username).await?)
}

/// Admin accounts, by username.
#[utoipa::path(get, path = "/accounts", tag = "accounts", params(Page),
    responses((status = 200, body = AccountPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AdminAccounts, Action::Read).await?;
    let limit = page.limit()?;
    let admins = crate::authn::administrators(&state).await?;
    let rows = state.store.accounts_page(&admins, true, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |v| v.account.username.clone());
    let now = state.now();
    let items = rows.iter().map(|v| view(v, now)).collect();
    Ok(axum::Json(AccountPage { items, next_cursor: next }).into_response())
}

/// One admin account, with its ETag.
#[utoipa::path(get, path = "/accounts/{username}", tag = "accounts", params(("username" = String, Path)),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AdminAccounts, Action::Read).await?;
    let v = find(&state, &username).await?;
    Ok(with_etag(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now())))
}

/// Creates an admin account (UserAdmin). Its password must be replaced at its first sign-on.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = AccountView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewAccount<'static>>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::AdminAccounts, Action::Write).await?;
    let (username, password) = (new.username.as_ref(), new.password.as_ref());
    let new = NewAdmin { username, password, active: new.active, roles: new.roles, auditor: new.auditor };
    let v = ops::accounts::create(&state, &by, new).await?;
    Ok(created(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now()), &format!("/accounts/{username}")))
}

/// Replaces an admin account's state and roles (UserAdmin). Deactivating it or
/// changing its roles ends its sessions and tokens.
#[utoipa::path(put, path = "/accounts/{username}", tag = "accounts", params(("username" = String, Path), ("If-Match" = Option<String>, Header)), request_body = AccountUpdate,
    responses((status = 200, body = AccountView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    IfMatch(if_match): IfMatch,
    Body(change): Body<AccountUpdate>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::AdminAccounts, Action::Write).await?;
    if change.username.as_deref().is_some_and(|u| u != username) {
        return Err(AdminError::invalid("username: an account's username cannot change"));
    }
    let wanted = AdminChange { active: change.active, roles: change.roles, auditor: change.auditor };
    let v = ops::accounts::update(&state, &by, &username, if_match.as_deref(), wanted).await?;
    Ok(with_etag(etag(KIND, v.account.id.as_str(), v.version), view(&v, state.now())))
}

/// Changes one's own password, or resets another's (UserAdmin). Ends the account's sessions and tokens.
#[utoipa::path(post, path = "/accounts/{username}/password", tag = "accounts", params(("username" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PasswordChange,
    responses((status = 204, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn password(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    IfMatch(if_match): IfMatch,
    Body(change): Body<PasswordChange<'static>>,
) -> Result<Response, AdminError> {
    let v = find(&state, &username).await;
    let own = matches!(&v, Ok(v) if caller.account_id.as_deref() == Some(v.account.id.as_str()));
    let resource = if own { Resource::OwnPassword } else { Resource::AdminAccounts };
    let by = ops::authorize(&state, &caller, resource, Action::Write).await?;
    let v = v?;
    let how = match own {
        true => PasswordFor::Own { current: change.current_password.as_deref().unwrap_or_default() },
        false => PasswordFor::Reset { must_change: change.must_change.unwrap_or(true) },
    };
    let version = ops::accounts::set_password(&state, &by, &v, if_match.as_deref(), &change.password, how).await?;
    Ok(no_content(etag(KIND, v.account.id.as_str(), version)))
}

/// Ends an admin account's lock now (UserAdmin), and every budget of its
/// browsers; recorded with the number of attempts the lock refused.
#[utoipa::path(post, path = "/accounts/{username}/unlock", tag = "accounts", params(("username" = String, Path)),
    responses((status = 200, body = Unlocked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::AdminAccounts, Action::Write).await?;
    let v = find(&state, &username).await?;
    let was_locked = ops::accounts::unlock(&state, &by, &v.account, None).await?;
    Ok(axum::Json(Unlocked { was_locked }).into_response())
}
