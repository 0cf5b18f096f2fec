//! `identity/mfa/method[/:type[/:method_id]]`: create, update, read,
//! delete and list MFA methods of the four types.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method as Verb, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};
use signet_core::mfa::{self, MethodType};
use signet_core::policy::Action;

use super::{Op, RawBody, Segments, VaultCaller, VaultError, body, data, op};
use crate::ops::mfa_methods;
use crate::state::AppState;

type Answer = Result<Response, VaultError>;

/// `LIST method`: every method, of any type.
pub async fn root(State(state): State<AppState>, caller: VaultCaller, verb: Verb, uri: Uri) -> Answer {
    match op(&verb, uri.query())? {
        Op::List => list_methods(&state, &caller, None).await,
        _ => Err(VaultError::unsupported()),
    }
}

/// `method/:type` (create, list) or `method/:method_id` (read, any type).
pub async fn one(
    State(state): State<AppState>,
    caller: VaultCaller,
    Segments(first): Segments<String>,
    verb: Verb,
    uri: Uri,
    RawBody(bytes): RawBody,
) -> Answer {
    if let Some(kind) = MethodType::parse(&first) {
        return match op(&verb, uri.query())? {
            Op::Write => create(&state, &caller, kind, &bytes).await,
            Op::List => list_methods(&state, &caller, Some(kind)).await,
            _ => Err(VaultError::unsupported()),
        };
    }
    if !mfa::is_method_id(&first) {
        return Err(VaultError::not_found());
    }
    match op(&verb, uri.query())? {
        Op::Read => read(&state, &caller, None, &first).await,
        _ => Err(VaultError::unsupported()),
    }
}

/// `method/:type/:method_id`: read, update, delete.
pub async fn typed(
    State(state): State<AppState>,
    caller: VaultCaller,
    Segments((kind, id)): Segments<(String, String)>,
    verb: Verb,
    uri: Uri,
    RawBody(bytes): RawBody,
) -> Answer {
    let Some(kind) = MethodType::parse(&kind) else { return Err(VaultError::not_found()) };
    if kind == MethodType::Totp && id == "admin-destroy" {
        return match op(&verb, uri.query())? {
            Op::Write => admin_destroy(&state, &caller, &bytes).await,
            _ => Err(VaultError::unsupported()),
        };
    }
    if !mfa::is_method_id(&id) {
        return Err(VaultError::not_found());
    }
    match op(&verb, uri.query())? {
        Op::Read => read(&state, &caller, Some(kind), &id).await,
        Op::Write => update(&state, &caller, kind, &id, &bytes).await,
        Op::Delete => delete(&state, &caller, kind, &id).await,
        _ => Err(VaultError::unsupported()),
    }
}

async fn read(state: &AppState, caller: &VaultCaller, kind: Option<MethodType>, id: &str) -> Answer {
    caller.allow(state, Action::Read).await?;
    let Some(m) = state.store.mfa_method(id).await? else { return Err(VaultError::not_found()) };
    if let Some(kind) = kind.filter(|k| *k != m.method_type()) {
        return Err(mfa_methods::wrong_type(kind).into());
    }
    Ok(data(m.to_vault(), vec![]))
}

/// A list is built once per change of the methods on any instance
/// (`mfa_generation`), and then answered from its serialised `data`.
async fn list_methods(state: &AppState, caller: &VaultCaller, kind: Option<MethodType>) -> Answer {
    caller.allow(state, Action::Read).await?;
    // Read before the methods: a write in between makes the next list rebuild.
    let generation = state.store.mfa_generation().await?;
    if let Some(body) = state.vault_lists.get(kind, generation) {
        return Ok(super::serialised_list(&body));
    }
    let methods = state.store.mfa_methods(kind).await?;
    let mut info = Map::new();
    let keys: Vec<String> = methods
        .into_iter()
        .map(|m| {
            let id = m.id.to_string();
            info.insert(id.clone(), m.to_vault());
            id
        })
        .collect();
    let body = super::list_body(keys, info)?;
    state.vault_lists.put(kind, generation, body.clone());
    Ok(super::serialised_list(&body))
}

async fn create(state: &AppState, caller: &VaultCaller, kind: MethodType, bytes: &Bytes) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    let created = mfa_methods::create(state, &by, kind, &body(bytes)?).await?;
    Ok(data(json!({ "method_id": created.id }), ignored(&created.ignored)))
}

fn ignored(ignored: &[String]) -> Vec<String> {
    if ignored.is_empty() {
        return vec![];
    }
    vec![format!("Endpoint ignored these unrecognized parameters: [{}]", ignored.join(" "))]
}

/// Replaces the whole method; `method_name` and `username_format` stay
/// when the body leaves them out.
async fn update(state: &AppState, caller: &VaultCaller, kind: MethodType, id: &str, bytes: &Bytes) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    mfa_methods::update(state, &by, (kind, id), &body(bytes)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(state: &AppState, caller: &VaultCaller, kind: MethodType, id: &str) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    mfa_methods::delete(state, &by, kind, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `totp/admin-destroy`: ends one person's enrolment in a TOTP method, so
/// they set it up again at their next sign-on (a lost phone). Admin, and
/// UserAdmin as well when the person is an administrator.
async fn admin_destroy(state: &AppState, caller: &VaultCaller, bytes: &Bytes) -> Answer {
    let by = caller.allow(state, Action::Write).await?;
    mfa_methods::destroy_enrolment(state, &by, &body(bytes)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
