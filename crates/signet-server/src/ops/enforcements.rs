//! Login enforcements (seed 002): which sign-ons need which MFA methods.
//! An enforcement that reaches administrators protects how they sign on:
//! creating, changing or deleting one (before or after) needs UserAdmin, as
//! the lockout policy does. The store decides it inside the write's
//! transaction, on the row the write replaces ([`Reach`]), never on one
//! read before.
//!
//! Nothing in this instance's caches holds enforcements: every write bumps
//! the store's MFA generation, which the Vault API's lists are built for.

use serde_json::{Map, Value, json};
use signet_core::audit::{Action as Event, digest_of};
use signet_core::id::{AccountId, EnvironmentId};
use signet_core::mfa::enforcement::NO_TARGET;
use signet_core::mfa::{Enforcement, EnforcementInput};
use signet_core::policy::{self, Action, Resource};
use signet_store::MfaWritten;

use super::{Authorized, OpError, authorize};
use crate::state::AppState;

/// Creates or replaces the enforcement `name` from a Vault body, merged
/// with the stored one: every method, environment (accessor) and account
/// (entity) it names must exist.
pub async fn put(
    state: &AppState,
    by: &Authorized<'_>,
    name: &str,
    fields: &Map<String, Value>,
) -> Result<(), OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let input = EnforcementInput::parse(fields).map_err(OpError::invalid)?;
    for env in input.auth_method_accessors.iter().flatten() {
        if state.store.environment(&EnvironmentId::from(env.as_str())).await?.is_none() {
            return Err(OpError::Invalid("one of the auth method accessors provided is invalid".into()));
        }
    }
    for account in input.identity_entity_ids.iter().flatten() {
        if state.store.account(&AccountId::from(account.as_str())).await?.is_none() {
            return Err(OpError::Invalid("one of the provided entity ids doesn't exist".into()));
        }
    }
    let id = signet_core::crypto::random_id().map_err(OpError::internal)?;
    let now = state.now();
    // Drawn now, completed once the merge says what is written.
    let recorded = by.event(Event::MfaEnforcementUpdate, None, "", None, now)?;
    let event = |e: &Enforcement, created: bool| {
        let mut ev = recorded.clone();
        if created {
            ev.action = Event::MfaEnforcementCreate.as_str().to_owned();
        }
        ev.target = e.id.clone();
        ev.digest = digest_of(&json!(e.to_vault()));
        Ok(ev)
    };
    let reach = Reach::of(state, by).await?;
    let merge = |old: Option<Enforcement>| {
        let new = input.apply(name, id, old.as_ref());
        (old.is_none_or(|o| reach.may_change(&o)) && reach.may_change(&new)).then_some(new)
    };
    match state.store.put_mfa_enforcement(name, merge, now, event).await? {
        MfaWritten::Done => Ok(()),
        MfaWritten::Denied => Err(refused(state, by).await),
        MfaWritten::UnknownMethod => Err(OpError::Invalid("one of the provided method ids doesn't exist".into())),
        MfaWritten::NoTarget => Err(OpError::Invalid(NO_TARGET.into())),
        other => Err(OpError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Deletes the enforcement `name`.
pub async fn delete(state: &AppState, by: &Authorized<'_>, name: &str) -> Result<(), OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let missing = || OpError::NotFound("login enforcement");
    let e = state.store.mfa_enforcement(name).await?.ok_or_else(missing)?;
    let ev = by.event(Event::MfaEnforcementDelete, None, &e.id, Some(&e.to_vault()), state.now())?;
    let reach = Reach::of(state, by).await?;
    match state.store.delete_mfa_enforcement(name, |stored| reach.may_change(stored), &ev).await? {
        MfaWritten::Done => Ok(()),
        MfaWritten::Denied => Err(refused(state, by).await),
        _ => Err(missing()),
    }
}

/// What the caller may do to enforcements that reach administrators: the
/// store asks it about the rows it reads in the write's transaction.
pub(super) struct Reach {
    administrators: EnvironmentId,
    admin_accounts: std::collections::HashSet<String>,
    user_admin: bool,
}

impl Reach {
    pub(super) async fn of(state: &AppState, by: &Authorized<'_>) -> Result<Reach, OpError> {
        let user_admin = policy::decide(&by.caller().principal, Resource::AdminSignOn, Action::Write).is_ok();
        Ok(Reach {
            administrators: crate::authn::administrators(state).await?,
            admin_accounts: if user_admin { Default::default() } else { state.store.admin_account_ids().await? },
            user_admin,
        })
    }

    pub(super) fn may_change(&self, e: &Enforcement) -> bool {
        self.user_admin
            || !e.reaches_administrators(self.administrators.as_str(), &|id| self.admin_accounts.contains(id))
    }
}

/// The refusal of a change that reaches administrators, recorded as the
/// role policy's.
pub(super) async fn refused(state: &AppState, by: &Authorized<'_>) -> OpError {
    match authorize(state, by.caller(), Resource::AdminSignOn, Action::Write).await {
        Err(e) => e,
        Ok(_) => OpError::internal("a refusal the policy no longer makes"),
    }
}
