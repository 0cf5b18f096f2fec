//! `identity/mfa/login-enforcement[/:name]`: which sign-ons need which methods.
//! An enforcement that reaches administrators protects how they sign on:
//! creating, changing or deleting one (before or after) needs UserAdmin, as
//! the lockout policy does, decided on what is stored when it is written.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method as Verb, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::mfa::enforcement::{NO_TARGET, valid_name};
use signet_core::mfa::{Enforcement, EnforcementInput};
use signet_core::policy::{self, Action, Resource};
use signet_store::{MfaWritten, StoreError};

use super::{Op, RawBody, Segments, VaultCaller, VaultError, body, data, list, op};
use crate::state::AppState;

type Answer = Result<Response, VaultError>;

pub async fn root(State(state): State<AppState>, caller: VaultCaller, verb: Verb, uri: Uri) -> Answer {
    if op(&verb, uri.query())? != Op::List {
        return Err(VaultError::unsupported());
    }
    caller.allow(&state, Action::Read).await?;
    let all = state.store.mfa_enforcements().await?;
    let mut info = Map::new();
    let keys = all
        .iter()
        .map(|e| {
            info.insert(e.name.clone(), e.to_vault());
            e.name.clone()
        })
        .collect();
    Ok(list(keys, info))
}

pub async fn one(
    State(state): State<AppState>,
    caller: VaultCaller,
    Segments(name): Segments<String>,
    verb: Verb,
    uri: Uri,
    RawBody(bytes): RawBody,
) -> Answer {
    if !valid_name(&name) {
        return Err(VaultError::not_found());
    }
    match op(&verb, uri.query())? {
        Op::Read => {
            caller.allow(&state, Action::Read).await?;
            match state.store.mfa_enforcement(&name).await? {
                Some(e) => Ok(data(e.to_vault(), vec![])),
                None => Err(VaultError::not_found()),
            }
        }
        Op::Write => write(&state, &caller, &name, &bytes).await,
        Op::Delete => {
            caller.allow(&state, Action::Write).await?;
            let Some(e) = state.store.mfa_enforcement(&name).await? else { return Err(VaultError::not_found()) };
            let mut ev = caller.0.event(Event::MfaEnforcementDelete, &e.id, state.now())?;
            ev.digest = digest_of(&e.to_vault());
            let reach = Reach::of(&state, &caller).await?;
            match state.store.delete_mfa_enforcement(&name, |stored| reach.may_change(stored), &ev).await? {
                MfaWritten::Done => Ok(StatusCode::NO_CONTENT.into_response()),
                MfaWritten::Denied => Err(reach.refused(&state, &caller).await),
                _ => Err(VaultError::not_found()),
            }
        }
        _ => Err(VaultError::unsupported()),
    }
}

/// Creates or replaces an enforcement, with Vault's checks and messages:
/// every method, environment (accessor) and account (entity) it names must exist.
async fn write(state: &AppState, caller: &VaultCaller, name: &str, bytes: &Bytes) -> Answer {
    caller.allow(state, Action::Write).await?;
    let input = EnforcementInput::parse(&body(bytes)?).map_err(VaultError::invalid)?;
    for env in input.auth_method_accessors.iter().flatten() {
        if state.store.environment(env).await?.is_none() {
            return Err(VaultError::invalid("one of the auth method accessors provided is invalid"));
        }
    }
    for account in input.identity_entity_ids.iter().flatten() {
        if state.store.account(account).await?.is_none() {
            return Err(VaultError::invalid("one of the provided entity ids doesn't exist"));
        }
    }
    let id = signet_core::crypto::random_id().map_err(VaultError::internal)?;
    let now = state.now();
    let event = |e: &Enforcement, created: bool| {
        let action = if created { Event::MfaEnforcementCreate } else { Event::MfaEnforcementUpdate };
        let mut ev = caller.0.event(action, &e.id, now).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        ev.digest = digest_of(&json!(e.to_vault()));
        Ok(ev)
    };
    let reach = Reach::of(state, caller).await?;
    let merge = |old: Option<Enforcement>| {
        let new = input.apply(name, id, old.as_ref());
        (old.is_none_or(|o| reach.may_change(&o)) && reach.may_change(&new)).then_some(new)
    };
    let outcome = state.store.put_mfa_enforcement(name, merge, now, event).await?;
    match outcome {
        MfaWritten::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        MfaWritten::Denied => Err(reach.refused(state, caller).await),
        MfaWritten::UnknownMethod => Err(VaultError::invalid("one of the provided method ids doesn't exist")),
        MfaWritten::NoTarget => Err(VaultError::invalid(NO_TARGET)),
        other => Err(VaultError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// What the caller may do to enforcements that reach administrators.
pub(super) struct Reach {
    administrators: String,
    admin_accounts: std::collections::HashSet<String>,
    user_admin: bool,
}

impl Reach {
    pub(super) async fn of(state: &AppState, caller: &VaultCaller) -> Result<Reach, VaultError> {
        let user_admin = policy::decide(&caller.0.principal, Resource::AdminSignOn, Action::Write).is_ok();
        Ok(Reach {
            administrators: crate::authn::administrators(state).await?,
            admin_accounts: if user_admin { Default::default() } else { state.store.admin_account_ids().await? },
            user_admin,
        })
    }

    pub(super) fn may_change(&self, e: &Enforcement) -> bool {
        self.user_admin || !e.reaches_administrators(&self.administrators, &|id| self.admin_accounts.contains(id))
    }

    /// Records the refusal as the policy's and answers Vault's "permission denied".
    pub(super) async fn refused(&self, state: &AppState, caller: &VaultCaller) -> VaultError {
        match caller.0.allow(state, Resource::AdminSignOn, Action::Write).await {
            Err(e) => e.into(),
            Ok(()) => VaultError::internal("a refusal the policy no longer makes"),
        }
    }
}
