//! `/accounts[/{username}]`: the admin accounts of the Administrators
//! environment. End users are elsewhere and never appear here.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_core::audit::digest_of;
use signet_core::model::Account;
use signet_core::password;
use signet_core::policy::{Action, Resource, check_role_set};
use signet_proto::roles::Role;
use signet_store::{AdminChange, Versioned, Written};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, Page, Query, created, etag, if_match, no_content, page_of, with_etag};
use crate::state::AppState;

const KIND: &str = "account";

/// An admin account as the API shows it: never its password or secrets.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AccountView {
    username: String,
    active: bool,
    /// UserAdmin, Admin, ExpressionAdmin, CryptoAdmin.
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    auditor: bool,
    mfa_enrolled: bool,
    locked: bool,
    password_change_required: bool,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AccountPage {
    items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

fn view(v: &Versioned, now: i64) -> AccountView {
    let a = &v.account;
    AccountView {
        username: a.username.clone(),
        active: a.active,
        roles: a.roles.clone(),
        auditor: a.auditor,
        mfa_enrolled: a.totp_confirmed,
        locked: a.is_locked(now),
        password_change_required: a.password_change_required,
        created_at: a.created_at,
    }
}

fn check_username(u: &str) -> Result<(), AdminError> {
    if signet_core::model::valid_username(u) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!("username: {}", signet_core::model::USERNAME_RULE)))
    }
}

pub(super) fn check_password(p: &str) -> Result<(), AdminError> {
    if p.chars().count() < password::MIN_LENGTH {
        return Err(AdminError::invalid(format!("password: at least {} characters", password::MIN_LENGTH)));
    }
    Ok(())
}

/// A new account, active, with no role, and a password someone else chose:
/// the person replaces it at the first sign-on.
pub(super) async fn with_set_password(
    state: &AppState,
    environment_id: &str,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Account, AdminError> {
    check_username(username)?;
    check_password(password)?;
    let hash = state.hasher.hash(password).await.ok_or_else(|| AdminError::internal("hashing failed"))?;
    Ok(Account {
        id: signet_core::crypto::random_id().map_err(AdminError::internal)?,
        environment_id: environment_id.to_owned(),
        username: username.to_owned(),
        password_hash: Some(hash),
        active: true,
        admin: false,
        roles: BTreeSet::new(),
        auditor: false,
        totp_sealed: None,
        totp_confirmed: false,
        totp_last_step: 0,
        failed_attempts: 0,
        password_change_required: true,
        locked_until: 0,
        created_at: now,
    })
}

/// Inserts a new account with its event; a taken username is a 409 naming it.
pub(super) async fn insert(
    state: &AppState,
    account: &Account,
    ev: &signet_core::audit::AuditEvent,
) -> Result<(), AdminError> {
    state.store.insert_account(account, ev).await.map_err(|e| match e {
        signet_store::StoreError::Conflict(_) => AdminError::conflict(format!("{} already exists", account.username)),
        e => e.into(),
    })
}

async fn find(state: &AppState, username: &str) -> Result<Versioned, AdminError> {
    let admins = crate::authn::administrators(state).await?;
    state
        .store
        .versioned_account(&admins, username)
        .await?
        .filter(|v| v.account.admin)
        .ok_or_else(|| AdminError::not_found("admin account"))
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
    Ok(with_etag(etag(KIND, &v.account.id, v.version), view(&v, state.now())))
}

// No Debug: it holds a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    username: String,
    password: String,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    #[serde(default)]
    auditor: bool,
}

fn yes() -> bool {
    true
}

/// Creates an admin account (UserAdmin). Its password must be replaced at its first sign-on.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = AccountView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(new): Body<NewAccount>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AdminAccounts, Action::Write).await?;
    check_role_set(&new.roles, new.auditor).map_err(AdminError::unprocessable)?;
    let admins = crate::authn::administrators(&state).await?;
    let now = state.now();
    let account = with_set_password(&state, &admins, &new.username, &new.password, now).await?;
    let account =
        Account { active: new.active, admin: true, roles: new.roles.clone(), auditor: new.auditor, ..account };
    let mut ev = caller.event("admin.account.create", &account.id, now)?;
    ev.environment_id = Some(admins.clone());
    ev.digest =
        digest_of(&json!({"username": new.username, "active": new.active, "roles": new.roles, "auditor": new.auditor}));
    insert(&state, &account, &ev).await?;
    let location = format!("/accounts/{}", account.username);
    let v = Versioned { account, version: 1 };
    Ok(created(etag(KIND, &v.account.id, 1), view(&v, now), &location))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// Optional; if given it must be the account's own (usernames do not change).
    username: Option<String>,
    active: bool,
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    auditor: bool,
}

/// Replaces an admin account's state and roles (UserAdmin). Deactivating it or
/// changing its roles ends its sessions and tokens.
#[utoipa::path(put, path = "/accounts/{username}", tag = "accounts", params(("username" = String, Path), ("If-Match" = Option<String>, Header)), request_body = AccountUpdate,
    responses((status = 200, body = AccountView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    headers: HeaderMap,
    Body(change): Body<AccountUpdate>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AdminAccounts, Action::Write).await?;
    if change.username.as_deref().is_some_and(|u| u != username) {
        return Err(AdminError::invalid("username: an account's username cannot change"));
    }
    check_role_set(&change.roles, change.auditor).map_err(AdminError::unprocessable)?;
    let v = find(&state, &username).await?;
    let expected = if_match(&headers, KIND, &v.account.id, v.version)?;
    let now = state.now();
    let mut ev = caller.event("admin.account.update", &v.account.id, now)?;
    ev.environment_id = Some(v.account.environment_id.clone());
    ev.digest = digest_of(
        &json!({"username": username, "active": change.active, "roles": change.roles, "auditor": change.auditor}),
    );
    let wanted = AdminChange { active: change.active, roles: change.roles, auditor: change.auditor };
    match state.store.update_admin_account(&v.account.id, expected, &wanted, now, &ev).await? {
        Written::Done(version) => {
            state.revocations.stale();
            let v = find(&state, &username).await?;
            Ok(with_etag(etag(KIND, &v.account.id, version), view(&v, now)))
        }
        Written::Stale => Err(AdminError::stale()),
        Written::Missing => Err(AdminError::not_found("admin account")),
        // Someone must always be able to manage admin accounts.
        Written::LastUserAdmin => {
            Err(AdminError::conflict("this is the last active UserAdmin; grant UserAdmin to another account first"))
        }
    }
}

// No Debug: it holds a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required to change one's own password, so that a stolen token or
    /// session cannot turn itself into the account's password.
    current_password: Option<String>,
    password: String,
    /// For a reset by a UserAdmin: whether the person must replace it at the
    /// next sign-on (default yes). One's own new password never must.
    must_change: Option<bool>,
}

/// Changes one's own password, or resets another's (UserAdmin). Ends the account's sessions and tokens.
#[utoipa::path(post, path = "/accounts/{username}/password", tag = "accounts", params(("username" = String, Path), ("If-Match" = Option<String>, Header)), request_body = PasswordChange,
    responses((status = 204, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn password(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    headers: HeaderMap,
    Body(change): Body<PasswordChange>,
) -> Result<Response, AdminError> {
    let v = find(&state, &username).await;
    let own = matches!(&v, Ok(v) if caller.account_id.as_deref() == Some(v.account.id.as_str()));
    let resource = if own { Resource::OwnPassword } else { Resource::AdminAccounts };
    caller.allow(&state, resource, Action::Write).await?;
    let v = v?;
    check_password(&change.password)?;
    if own {
        let current = change.current_password.as_deref().unwrap_or_default();
        if current.is_empty() {
            return Err(AdminError::invalid("current_password: needed to change your own password"));
        }
        // The current password is checked like a sign-on's: against the
        // account's budget, and never while it is locked, or a stolen token
        // would be a password oracle with no limit (issue 15).
        let now = state.now();
        let wrong = || {
            AdminError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "current_password is not this account's password",
            )
        };
        let mut ev = caller.event("account.password.change", &v.account.id, now)?;
        ev.outcome = Some("failure".into());
        let policy = state.store.lockout_policy().await?;
        let budget = signet_store::Budget::Password;
        let locked = crate::lockout::current(&state, &v.account, now).await?.locked(now);
        if locked || !state.store.reserve_budget(&v.account.id, budget, now, policy).await? {
            ev.outcome = Some("denied".into());
            ev.reason = Some("locked".into());
            state.store.count_refused(&v.account.id, &ev).await?;
            return Err(wrong());
        }
        if !state.hasher.verify(current, v.account.password_hash.as_deref()).await {
            // A wrong password like any other: it spends the account's budget, and is in the trail.
            ev.reason = Some("wrong_current_password".into());
            state.store.count_failure(&v.account.id, budget, now, policy, &ev).await?;
            return Err(wrong());
        }
        state.store.first_factor_passed(&v.account.id, None).await?;
        if change.current_password.as_deref() == Some(change.password.as_str()) {
            return Err(AdminError::invalid("password: the new password must differ from the current one"));
        }
    }
    let expected = if_match(&headers, KIND, &v.account.id, v.version)?;
    let must_change = !own && change.must_change.unwrap_or(true);
    let hash = state.hasher.hash(&change.password).await.ok_or_else(|| AdminError::internal("hashing failed"))?;
    let now = state.now();
    let action = if own { "admin.account.password.change" } else { "admin.account.password.reset" };
    let mut ev = caller.event(action, &v.account.id, now)?;
    ev.environment_id = Some(v.account.environment_id.clone());
    ev.digest = digest_of(&json!({"username": username, "must_change": must_change}));
    match state.store.set_password(&v.account.id, expected, &hash, must_change, now, &ev).await? {
        Written::Done(version) => {
            state.revocations.stale();
            Ok(no_content(etag(KIND, &v.account.id, version)))
        }
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("admin account")),
    }
}

/// What an unlock found.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Unlocked {
    /// Whether the account was locked (its failure counts are cleared either way).
    pub was_locked: bool,
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
    caller.allow(&state, Resource::AdminAccounts, Action::Write).await?;
    let v = find(&state, &username).await?;
    unlocked(&state, &caller, &v.account, None).await
}

/// Unlocks `account` for `caller`, answering what it found.
pub(super) async fn unlocked(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    env: Option<&str>,
) -> Result<Response, AdminError> {
    let now = state.now();
    // What strangers spent in its name at this instance's address limits goes too.
    state.failures.forgive(&account.username.to_ascii_lowercase());
    state.failures.forgive(&format!("account:{}", account.id));
    let mut ev = caller.event("account.unlock", &account.id, now)?;
    ev.environment_id = env.map(str::to_owned).or_else(|| Some(account.environment_id.clone()));
    match state.store.unlock_account(&account.id, now, &ev).await? {
        Some(was_locked) => Ok(axum::Json(Unlocked { was_locked }).into_response()),
        None => Err(AdminError::not_found("account")),
    }
}
