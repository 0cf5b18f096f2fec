//! `identity/mfa/method[/:type[/:method_id]]`: create, update, read,
//! delete and list MFA methods of the four types.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method as Verb, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::mfa::{self, Method, MethodType, MethodWrite, Settings};
use signet_core::policy::Action;
use signet_store::MfaWritten;

use super::{Op, RawBody, Segments, VaultCaller, VaultError, body, data, op};
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

fn wrong_type(kind: MethodType) -> VaultError {
    VaultError::invalid(format!("failed to find the method ID under MFA type {}.", kind.as_str()))
}

async fn read(state: &AppState, caller: &VaultCaller, kind: Option<MethodType>, id: &str) -> Answer {
    caller.allow(state, Action::Read).await?;
    let Some(m) = state.store.mfa_method(id).await? else { return Err(VaultError::not_found()) };
    if let Some(kind) = kind.filter(|k| *k != m.method_type()) {
        return Err(wrong_type(kind));
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
            let id = m.id.clone();
            info.insert(m.id.clone(), m.to_vault());
            id
        })
        .collect();
    let body = super::list_body(keys, info)?;
    state.vault_lists.put(kind, generation, body.clone());
    Ok(super::serialised_list(&body))
}

/// Reads and checks a write's body: Vault's field rules, then what only the
/// server can check (environments named by the format, fetchable URLs).
async fn checked(state: &AppState, kind: MethodType, bytes: &Bytes) -> Result<MethodWrite, VaultError> {
    let w = mfa::parse_method(kind, &body(bytes)?).map_err(VaultError::invalid)?;
    if let Some(f) = &w.username_format {
        for env in f.environments() {
            if state.store.environment(env).await?.is_none() {
                return Err(VaultError::invalid(format!("username_format: there is no environment {env:?}")));
            }
        }
    }
    let urls: Vec<(&str, String)> = match &w.settings {
        Settings::Pingid(p) => vec![("idp_url", p.idp_url.clone())],
        Settings::Okta(o) => vec![("base_url", o.org_url())],
        Settings::Duo(d) => vec![("api_hostname", d.api_url())],
        Settings::Totp(_) => vec![],
    };
    for (field, url) in urls.into_iter().filter(|(_, u)| !u.is_empty()) {
        state.fetcher.check(&url).map_err(|e| VaultError::invalid(format!("{field}: {e}")))?;
    }
    Ok(w)
}

fn seal(state: &AppState, id: &str, w: &MethodWrite) -> Result<Vec<u8>, VaultError> {
    let plain = serde_json::to_vec(&w.secrets).map_err(VaultError::internal)?;
    state.kek.seal(&mfa::secrets_purpose(id), &plain).map_err(VaultError::internal)
}

fn name_taken(name: &str) -> VaultError {
    VaultError::invalid(format!("a login MFA method configuration with the method name {name} already exists"))
}

fn event(
    state: &AppState,
    caller: &VaultCaller,
    action: Event,
    m: &Method,
) -> Result<signet_core::audit::AuditEvent, VaultError> {
    let mut ev = caller.0.event(action, &m.id, state.now())?;
    ev.digest = digest_of(&json!({"method": m.to_vault(), "username_format": m.username_format}));
    Ok(ev)
}

async fn create(state: &AppState, caller: &VaultCaller, kind: MethodType, bytes: &Bytes) -> Answer {
    caller.allow(state, Action::Write).await?;
    let w = checked(state, kind, bytes).await?;
    let id = signet_core::crypto::random_id().map_err(VaultError::internal)?;
    let m = Method {
        sealed_secrets: seal(state, &id, &w)?,
        id,
        name: w.name.clone().unwrap_or_default(),
        username_format: w.username_format.as_ref().map(|f| f.as_str().to_owned()).unwrap_or_default(),
        settings: w.settings.clone(),
        version: 1,
        created_at: state.now(),
    };
    let ev = event(state, caller, Event::MfaMethodCreate, &m)?;
    match state.store.insert_mfa_method(&m, &ev).await? {
        MfaWritten::Done => Ok(data(json!({ "method_id": m.id }), ignored(&w))),
        MfaWritten::NameTaken => Err(name_taken(&m.name)),
        other => Err(VaultError::internal(format!("unexpected outcome {other:?}"))),
    }
}

fn ignored(w: &MethodWrite) -> Vec<String> {
    if w.ignored.is_empty() {
        return vec![];
    }
    vec![format!("Endpoint ignored these unrecognized parameters: [{}]", w.ignored.join(" "))]
}

/// Replaces the whole method; `method_name` and `username_format` stay
/// when the body leaves them out.
async fn update(state: &AppState, caller: &VaultCaller, kind: MethodType, id: &str, bytes: &Bytes) -> Answer {
    caller.allow(state, Action::Write).await?;
    let Some(old) = state.store.mfa_method(id).await? else { return Err(VaultError::not_found()) };
    if old.method_type() != kind {
        return Err(wrong_type(kind));
    }
    let w = checked(state, kind, bytes).await?;
    let m = Method {
        sealed_secrets: seal(state, id, &w)?,
        name: w.name.clone().unwrap_or(old.name),
        username_format: w.username_format.as_ref().map_or(old.username_format, |f| f.as_str().to_owned()),
        settings: w.settings.clone(),
        ..old
    };
    let ev = event(state, caller, Event::MfaMethodUpdate, &m)?;
    // A method an enforcement that reaches administrators uses is part of
    // how they sign on: UserAdmin's to change (issue 15).
    let reach = super::enforcements::Reach::of(state, caller).await?;
    let allow = |users: &[signet_core::mfa::Enforcement]| users.iter().all(|e| reach.may_change(e));
    match state.store.update_mfa_method(&m, allow, &ev).await? {
        MfaWritten::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        MfaWritten::Denied => Err(reach.refused(state, caller).await),
        MfaWritten::NameTaken => Err(name_taken(&m.name)),
        MfaWritten::Missing => Err(VaultError::not_found()),
        other => Err(VaultError::internal(format!("unexpected outcome {other:?}"))),
    }
}

async fn delete(state: &AppState, caller: &VaultCaller, kind: MethodType, id: &str) -> Answer {
    caller.allow(state, Action::Write).await?;
    let Some(m) = state.store.mfa_method(id).await? else { return Err(VaultError::not_found()) };
    if m.method_type() != kind {
        return Err(wrong_type(kind));
    }
    let ev = event(state, caller, Event::MfaMethodDelete, &m)?;
    match state.store.delete_mfa_method(id, kind, &ev).await? {
        MfaWritten::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        MfaWritten::Missing => Err(VaultError::not_found()),
        MfaWritten::InUse(names) => {
            let mut named = Vec::new();
            for name in &names {
                let id = state.store.mfa_enforcement(name).await?.map(|e| e.id).unwrap_or_default();
                named.push(format!("{id} (name {name:?})"));
            }
            Err(VaultError::invalid(format!(
                "methodID is still used by an enforcement configuration with ID: {}",
                named.join(", ")
            )))
        }
        other => Err(VaultError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// `totp/admin-destroy`: ends one person's enrolment in a TOTP method, so
/// they set it up again at their next sign-on (a lost phone). Admin, and
/// UserAdmin as well when the person is an administrator.
async fn admin_destroy(state: &AppState, caller: &VaultCaller, bytes: &Bytes) -> Answer {
    caller.allow(state, Action::Write).await?;
    let fields = body(bytes)?;
    let f = mfa::Fields(&fields);
    let method_id = f.string("method_id").map_err(VaultError::invalid)?.unwrap_or_default();
    if method_id.is_empty() {
        return Err(VaultError::invalid("missing method ID"));
    }
    let entity_id = f.string("entity_id").map_err(VaultError::invalid)?.unwrap_or_default();
    if entity_id.is_empty() {
        return Err(VaultError::invalid("missing entity ID"));
    }
    let Some(account) = state.store.account(&entity_id).await? else {
        return Err(VaultError::invalid("invalid entity ID"));
    };
    if account.admin {
        caller.0.allow(state, signet_core::policy::Resource::AdminAccounts, Action::Write).await?;
    }
    match state.store.mfa_method(&method_id).await? {
        Some(m) if m.method_type() == MethodType::Totp => {}
        Some(_) => return Err(VaultError::invalid("method ID does not match TOTP type")),
        None => return Err(VaultError::invalid(format!("configuration for method ID {method_id:?} does not exist"))),
    }
    let mut ev = caller.0.event(Event::MfaEnrolmentDestroy, &account.id, state.now())?;
    ev.environment_id = Some(account.environment_id.clone());
    ev.digest = digest_of(&json!({"method": method_id, "account": account.id}));
    state.store.delete_totp_enrolment(&method_id, &account.id, &ev).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
