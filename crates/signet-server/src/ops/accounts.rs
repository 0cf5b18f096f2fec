//! Admin accounts of the Administrators environment: made, changed, their
//! passwords set, their locks lifted. A change to an account's state, roles
//! or password ends its sessions and tokens on every instance.

use signet_core::id::EnvironmentId;
use std::collections::BTreeSet;

use serde_json::json;
use signet_core::audit::{Action as Event, AuditEvent, Outcome};
use signet_core::model::Account;
use signet_core::password;
use signet_core::policy::{Action, Resource, check_role_set};
use signet_proto::roles::Role;
use signet_store::{AdminChange, Budget, StoreError, Versioned, Written};

use super::{Authorized, OpError, expected};
use crate::state::AppState;

pub const KIND: &str = "account";

pub fn check_username(u: &str) -> Result<(), OpError> {
    if signet_core::model::valid_username(u) {
        Ok(())
    } else {
        Err(OpError::Invalid(format!("username: {}", signet_core::model::USERNAME_RULE)))
    }
}

pub fn check_password(p: &str) -> Result<(), OpError> {
    if p.chars().count() < password::MIN_LENGTH {
        return Err(OpError::Invalid(format!("password: at least {} characters", password::MIN_LENGTH)));
    }
    Ok(())
}

/// The admin account `username`, with its version.
pub async fn find(state: &AppState, username: &str) -> Result<Versioned, OpError> {
    let admins = crate::authn::administrators(state).await?;
    let found = state.store.versioned_account(&admins, username).await?;
    found.filter(|v| v.account.admin).ok_or(OpError::NotFound("admin account"))
}

/// A new account, active, with no role, and a password someone else chose:
/// the person replaces it at the first sign-on.
pub async fn with_set_password(
    state: &AppState,
    environment_id: &EnvironmentId,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Account, OpError> {
    check_username(username)?;
    check_password(password)?;
    let hash = state.hasher.hash(password).await.ok_or_else(|| OpError::internal("hashing failed"))?;
    let id = signet_core::crypto::random_id().map_err(OpError::internal)?;
    Ok(Account::with_set_password(id.into(), environment_id, username, hash, now))
}

/// Inserts a new account with its event; a taken username is a conflict naming it.
pub async fn insert(state: &AppState, account: &Account, ev: &AuditEvent) -> Result<(), OpError> {
    state.store.insert_account(account, ev).await.map_err(|e| match e {
        StoreError::Conflict(_) => OpError::Conflict(format!("{} already exists", account.username)),
        e => e.into(),
    })
}

/// What a new admin account is made with.
pub struct NewAdmin<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub active: bool,
    pub roles: BTreeSet<Role>,
    pub auditor: bool,
}

/// Makes an admin account. Its password must be replaced at its first sign-on.
pub async fn create(state: &AppState, by: &Authorized<'_>, new: NewAdmin<'_>) -> Result<Versioned, OpError> {
    by.covers(Resource::AdminAccounts, Action::Write)?;
    check_role_set(&new.roles, new.auditor).map_err(OpError::unprocessable)?;
    let admins = crate::authn::administrators(state).await?;
    let now = state.now();
    let account = with_set_password(state, &admins, new.username, new.password, now).await?;
    let account = Account { active: new.active, admin: true, roles: new.roles, auditor: new.auditor, ..account };
    let digest =
        json!({"username": new.username, "active": new.active, "roles": account.roles, "auditor": new.auditor});
    let ev = by.event(Event::AdminAccountCreate, Some(admins.as_str()), account.id.as_str(), Some(&digest), now)?;
    insert(state, &account, &ev).await?;
    Ok(Versioned { account, version: 1 })
}

/// Replaces an admin account's state and roles. Deactivating it or changing
/// its roles ends its sessions and tokens; the last active UserAdmin stays.
pub async fn update(
    state: &AppState,
    by: &Authorized<'_>,
    username: &str,
    if_match: Option<&str>,
    change: AdminChange,
) -> Result<Versioned, OpError> {
    by.covers(Resource::AdminAccounts, Action::Write)?;
    check_role_set(&change.roles, change.auditor).map_err(OpError::unprocessable)?;
    let v = find(state, username).await?;
    let expected = expected(if_match, KIND, v.account.id.as_str(), v.version)?;
    let now = state.now();
    let digest =
        json!({"username": username, "active": change.active, "roles": change.roles, "auditor": change.auditor});
    let ev = by.event(
        Event::AdminAccountUpdate,
        Some(v.account.environment_id.as_str()),
        v.account.id.as_str(),
        Some(&digest),
        now,
    )?;
    match state.store.update_admin_account(&v.account.id, expected, &change, now, &ev).await? {
        Written::Done(_) => {
            state.revocations.stale();
            find(state, username).await
        }
        Written::Stale => Err(OpError::Stale),
        Written::Missing => Err(OpError::NotFound("admin account")),
        // Someone must always be able to manage admin accounts.
        Written::LastUserAdmin => {
            Err(OpError::Conflict("this is the last active UserAdmin; grant UserAdmin to another account first".into()))
        }
    }
}

/// Whose password is set, and what proves the right to.
pub enum PasswordFor<'a> {
    /// One's own, proved by the current one.
    Own { current: &'a str },
    /// Another's, by a UserAdmin; whether they must replace it at their next sign-on.
    Reset { must_change: bool },
}

/// Sets `v`'s password; answers its new version. Ends its sessions and tokens.
pub async fn set_password(
    state: &AppState,
    by: &Authorized<'_>,
    v: &Versioned,
    if_match: Option<&str>,
    password: &str,
    how: PasswordFor<'_>,
) -> Result<i64, OpError> {
    let own = matches!(how, PasswordFor::Own { .. });
    by.covers(if own { Resource::OwnPassword } else { Resource::AdminAccounts }, Action::Write)?;
    if own != (by.caller().account_id.as_deref() == Some(v.account.id.as_str())) {
        return Err(OpError::internal("a password change was not for the caller's own account, or a reset was"));
    }
    check_password(password)?;
    if let PasswordFor::Own { current } = how {
        current_password(state, by, &v.account, current).await?;
        if current == password {
            return Err(OpError::Invalid("password: the new password must differ from the current one".into()));
        }
    }
    let expected = expected(if_match, KIND, v.account.id.as_str(), v.version)?;
    let must_change = matches!(how, PasswordFor::Reset { must_change: true });
    let action = if own { Event::AdminAccountPasswordChange } else { Event::AdminAccountPasswordReset };
    let digest = json!({"username": v.account.username, "must_change": must_change});
    let recorded = (action, digest, "admin account");
    write_password(state, by, (&v.account, expected), password, must_change, recorded).await
}

/// Hashes and stores `account`'s new password, if it is still at version
/// `expected`, with the event `recorded` names; answers the new version.
/// Its sessions and tokens end on every instance.
pub(super) async fn write_password(
    state: &AppState,
    by: &Authorized<'_>,
    (account, expected): (&Account, Option<i64>),
    password: &str,
    must_change: bool,
    (action, digest, what): (Event, serde_json::Value, &'static str),
) -> Result<i64, OpError> {
    let hash = state.hasher.hash(password).await.ok_or_else(|| OpError::internal("hashing failed"))?;
    let now = state.now();
    let ev = by.event(action, Some(account.environment_id.as_str()), account.id.as_str(), Some(&digest), now)?;
    match state.store.set_password(&account.id, expected, &hash, must_change, now, &ev).await? {
        Written::Done(version) => {
            state.revocations.stale();
            Ok(version)
        }
        Written::Stale => Err(OpError::Stale),
        Written::Missing | Written::LastUserAdmin => Err(OpError::NotFound(what)),
    }
}

/// The current password, checked like a sign-on's: against the account's
/// budget, and never while it is locked, or a stolen token would be a
/// password oracle with no limit (issue 15).
async fn current_password(
    state: &AppState,
    by: &Authorized<'_>,
    account: &Account,
    current: &str,
) -> Result<(), OpError> {
    if current.is_empty() {
        return Err(OpError::Invalid("current_password: needed to change your own password".into()));
    }
    let now = state.now();
    let wrong = || OpError::Denied("current_password is not this account's password".into());
    let mut ev =
        by.caller().event(Event::AccountPasswordChange, account.id.as_str(), now)?.with_outcome(Outcome::Failure);
    let policy = state.store.lockout_policy().await?;
    let locked = crate::lockout::current(state, account, now).await?.locked(now);
    if locked || !state.store.reserve_budget(&account.id, Budget::Password, now, policy).await? {
        ev = ev.with_outcome(Outcome::Denied);
        ev.reason = Some("locked".into());
        state.store.count_refused(&account.id, &ev).await?;
        return Err(wrong());
    }
    if !state.hasher.verify(current, account.password_hash.as_deref()).await {
        // A wrong password like any other: it spends the account's budget, and is in the trail.
        ev.reason = Some("wrong_current_password".into());
        state.store.count_failure(&account.id, Budget::Password, now, policy, &ev).await?;
        return Err(wrong());
    }
    state.store.first_factor_passed(&account.id, None).await?;
    Ok(())
}

/// Ends `account`'s lock now, and every budget of its browsers; recorded
/// with the number of attempts the lock refused. Answers whether it was
/// locked. `by` may be for admin accounts or for an environment's users.
pub async fn unlock(
    state: &AppState,
    by: &Authorized<'_>,
    account: &Account,
    environment: Option<&str>,
) -> Result<bool, OpError> {
    let resource = if account.admin { Resource::AdminAccounts } else { Resource::EndUsers };
    by.covers(resource, Action::Write)?;
    let now = state.now();
    // What strangers spent in its name at this instance's address limits goes too.
    state.failures.forgive(&account.username.to_ascii_lowercase());
    state.failures.forgive(&format!("account:{}", account.id));
    let environment = environment.unwrap_or(account.environment_id.as_str());
    let ev = by.event(Event::AccountUnlock, Some(environment), account.id.as_str(), None, now)?;
    state.store.unlock_account(&account.id, now, &ev).await?.ok_or(OpError::NotFound("account"))
}
