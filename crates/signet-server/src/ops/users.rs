//! An environment's end users: made, activated or deactivated, their
//! passwords reset and their attributes (which claim mappings read) set.
//! Admin accounts are never changed here, not even in the Administrators
//! environment.

use serde_json::{Map, Value, json};
use signet_core::audit::Action as Event;
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::model::Account;
use signet_core::policy::{Action, Resource};
use signet_store::{Versioned, Written};

use super::accounts::{check_password, insert, with_set_password, write_password};
use super::{Authorized, OpError, expected};
use crate::state::AppState;

pub const KIND: &str = "user";
/// The most an end user's attributes may hold, as JSON.
const MAX_ATTRIBUTES: usize = 16 * 1024;

/// The end user `id` of `env`, with its version.
pub async fn find(state: &AppState, env: &EnvironmentId, id: &AccountId) -> Result<Versioned, OpError> {
    state.store.environment(env).await?.ok_or(OpError::NotFound("environment"))?;
    state.store.versioned_user(env, id).await?.ok_or(OpError::NotFound("user"))
}

/// Makes an end user of `env`. The password must be replaced at the first sign-on.
pub async fn create(
    state: &AppState,
    by: &Authorized<'_>,
    env: &EnvironmentId,
    (username, password): (&str, &str),
    active: bool,
) -> Result<Versioned, OpError> {
    by.covers(Resource::EndUsers, Action::Write)?;
    state.store.environment(env).await?.ok_or(OpError::NotFound("environment"))?;
    let now = state.now();
    let account = Account { active, ..with_set_password(state, env, username, password, now).await? };
    let digest = json!({"username": username, "active": active});
    let ev = by.event(Event::AdminUserCreate, Some(env.as_str()), account.id.as_str(), Some(&digest), now)?;
    insert(state, &account, &ev).await?;
    Ok(Versioned { account, version: 1 })
}

/// Activates or deactivates an end user. Deactivating ends its sessions and tokens.
pub async fn set_active(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &AccountId),
    if_match: Option<&str>,
    active: bool,
) -> Result<Versioned, OpError> {
    by.covers(Resource::EndUsers, Action::Write)?;
    let v = find(state, env, id).await?;
    let expected = expected(if_match, KIND, v.account.id.as_str(), v.version)?;
    let now = state.now();
    let ev = by.event(
        Event::AdminUserUpdate,
        Some(env.as_str()),
        v.account.id.as_str(),
        Some(&json!({"id": id, "active": active})),
        now,
    )?;
    match state.store.set_user_active(&v.account.id, expected, active, now, &ev).await? {
        Written::Done(_) => {
            state.revocations.stale();
            find(state, env, id).await
        }
        Written::Stale => Err(OpError::Stale),
        Written::Missing | Written::LastUserAdmin => Err(OpError::NotFound("user")),
    }
}

/// Resets an end user's password; answers its new version. Ends its sessions and tokens.
pub async fn reset_password(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &AccountId),
    if_match: Option<&str>,
    (password, must_change): (&str, bool),
) -> Result<i64, OpError> {
    by.covers(Resource::EndUsers, Action::Write)?;
    let v = find(state, env, id).await?;
    check_password(password)?;
    let expected = expected(if_match, KIND, v.account.id.as_str(), v.version)?;
    let recorded = (Event::AdminUserPasswordReset, json!({"id": id, "must_change": must_change}), "user");
    write_password(state, by, (&v.account, expected), password, must_change, recorded).await
}

/// Replaces an end user's attributes: a JSON object of at most 16 KiB.
pub async fn set_attributes(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &AccountId),
    attributes: &Map<String, Value>,
) -> Result<(), OpError> {
    by.covers(Resource::EndUsers, Action::Write)?;
    let v = find(state, env, id).await?;
    let size = serde_json::to_vec(attributes).map_err(OpError::internal)?.len();
    if size > MAX_ATTRIBUTES {
        return Err(OpError::Invalid(format!("attributes: {size} bytes; at most {MAX_ATTRIBUTES}")));
    }
    let digest = Value::Object(attributes.clone());
    let ev =
        by.event(Event::AdminUserAttributes, Some(env.as_str()), v.account.id.as_str(), Some(&digest), state.now())?;
    if !state.store.set_account_attributes(&v.account.id, attributes, &ev).await? {
        return Err(OpError::NotFound("user"));
    }
    Ok(())
}
