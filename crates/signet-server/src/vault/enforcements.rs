//! `identity/mfa/login-enforcement[/:name]`: which sign-ons need which
//! methods. The writes are `ops::enforcements`'s, which decide who may
//! change an enforcement that reaches administrators.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method as Verb, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Map;
use signet_core::mfa::enforcement::valid_name;
use signet_core::policy::Action;

use super::{Op, RawBody, Segments, VaultCaller, VaultError, body, data, list, op};
use crate::ops::enforcements;
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
        Op::Read => read(&state, &caller, &name).await,
        Op::Write => write(&state, &caller, &name, &bytes).await,
        Op::Delete => delete(&state, &caller, &name).await,
        _ => Err(VaultError::unsupported()),
    }
}

async fn read(state: &AppState, caller: &VaultCaller, name: &str) -> Answer {
    caller.allow(state, Action::Read).await?;
    match state.store.mfa_enforcement(name).await? {
        Some(e) => Ok(data(e.to_vault(), vec![])),
        None => Err(VaultError::not_found()),
    }
}

/// Creates or replaces an enforcement, with Vault's checks and messages.
async fn write(state: &AppState, caller: &VaultCaller, name: &str, bytes: &Bytes) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    enforcements::put(state, &by, name, &body(bytes)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(state: &AppState, caller: &VaultCaller, name: &str) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    enforcements::delete(state, &by, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
