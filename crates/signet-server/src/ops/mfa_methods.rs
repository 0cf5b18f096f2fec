//! Login MFA methods of the four types (seed 002), and a person's TOTP
//! enrolment ended by an administrator. A method that an enforcement
//! reaching administrators uses is part of how they sign on: UserAdmin's to
//! change, decided in the write's transaction on the enforcements it reads
//! (issue 15).
//!
//! Nothing in this instance's caches holds methods: every write of one bumps
//! the store's MFA generation, which the Vault API's lists are built for.

use serde_json::{Map, Value, json};
use signet_core::audit::{Action as Event, AuditEvent};
use signet_core::id::{AccountId, EnvironmentId, MethodId};
use signet_core::mfa::{self, Enforcement, Method, MethodType, MethodWrite, Settings};
use signet_core::model::Account;
use signet_core::policy::{self, Action, Resource};
use signet_store::MfaWritten;

use super::enforcements::{Reach, refused};
use super::{Authorized, OpError, authorize};
use crate::state::AppState;

const KIND: &str = "MFA method";

/// A method made: its id, and the body's fields its type does not take.
pub struct Created {
    pub id: String,
    pub ignored: Vec<String>,
}

/// Makes a method of `kind` from a Vault body.
pub async fn create(
    state: &AppState,
    by: &Authorized<'_>,
    kind: MethodType,
    fields: &Map<String, Value>,
) -> Result<Created, OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let w = checked(state, kind, fields).await?;
    let id = signet_core::crypto::random_id().map_err(OpError::internal)?;
    let m = Method {
        sealed_secrets: seal(state, &id, &w)?,
        id: id.into(),
        name: w.name.clone().unwrap_or_default(),
        username_format: w.username_format.as_ref().map(|f| f.as_str().to_owned()).unwrap_or_default(),
        settings: w.settings.clone(),
        version: 1,
        created_at: state.now(),
    };
    let ev = event(state, by, Event::MfaMethodCreate, &m)?;
    match state.store.insert_mfa_method(&m, &ev).await? {
        MfaWritten::Done => Ok(Created { id: m.id.into_string(), ignored: w.ignored }),
        MfaWritten::NameTaken => Err(name_taken(&m.name)),
        other => Err(OpError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Replaces the whole method `id` of `kind`; `method_name` and
/// `username_format` stay when the body leaves them out.
pub async fn update(
    state: &AppState,
    by: &Authorized<'_>,
    (kind, id): (MethodType, &str),
    fields: &Map<String, Value>,
) -> Result<(), OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let old = of_type(state, kind, id).await?;
    let w = checked(state, kind, fields).await?;
    let m = Method {
        sealed_secrets: seal(state, id, &w)?,
        name: w.name.clone().unwrap_or(old.name),
        username_format: w.username_format.as_ref().map_or(old.username_format, |f| f.as_str().to_owned()),
        settings: w.settings.clone(),
        ..old
    };
    let ev = event(state, by, Event::MfaMethodUpdate, &m)?;
    let reach = Reach::of(state, by).await?;
    let allow = |users: &[Enforcement]| users.iter().all(|e| reach.may_change(e));
    match state.store.update_mfa_method(&m, allow, &ev).await? {
        MfaWritten::Done => Ok(()),
        MfaWritten::Denied => Err(refused(state, by).await),
        MfaWritten::NameTaken => Err(name_taken(&m.name)),
        MfaWritten::Missing => Err(OpError::NotFound(KIND)),
        other => Err(OpError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Deletes the method `id` of `kind`, with its enrolments, unless an
/// enforcement still uses it.
pub async fn delete(state: &AppState, by: &Authorized<'_>, kind: MethodType, id: &str) -> Result<(), OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let m = of_type(state, kind, id).await?;
    let ev = event(state, by, Event::MfaMethodDelete, &m)?;
    match state.store.delete_mfa_method(id, kind, &ev).await? {
        MfaWritten::Done => Ok(()),
        MfaWritten::Missing => Err(OpError::NotFound(KIND)),
        MfaWritten::InUse(names) => {
            let mut named = Vec::new();
            for name in &names {
                let id = state.store.mfa_enforcement(name).await?.map(|e| e.id).unwrap_or_default();
                named.push(format!("{id} (name {name:?})"));
            }
            Err(OpError::Invalid(format!(
                "methodID is still used by an enforcement configuration with ID: {}",
                named.join(", ")
            )))
        }
        other => Err(OpError::internal(format!("unexpected outcome {other:?}"))),
    }
}

/// Ends one person's enrolment in a TOTP method (Vault's `admin-destroy`),
/// so they set it up again at their next sign-on (a lost phone). Ending an
/// administrator's needs UserAdmin as well: asked first, so refusals come in
/// the same order as every other check, and decided in the write's
/// transaction on the account row it reads there.
/// The body names them: `method_id` and `entity_id` (the account).
pub async fn destroy_enrolment(
    state: &AppState,
    by: &Authorized<'_>,
    fields: &Map<String, Value>,
) -> Result<(), OpError> {
    by.covers(Resource::Mfa, Action::Write)?;
    let f = mfa::Fields(fields);
    let method_id = f.string("method_id").map_err(OpError::invalid)?.unwrap_or_default();
    if method_id.is_empty() {
        return Err(OpError::Invalid("missing method ID".into()));
    }
    let entity_id = f.string("entity_id").map_err(OpError::invalid)?.unwrap_or_default();
    if entity_id.is_empty() {
        return Err(OpError::Invalid("missing entity ID".into()));
    }
    let Some(account) = state.store.account(&AccountId::from(entity_id.as_str())).await? else {
        return Err(OpError::Invalid("invalid entity ID".into()));
    };
    if account.admin {
        authorize(state, by.caller(), Resource::AdminAccounts, Action::Write).await?;
    }
    let user_admin = policy::decide(&by.caller().principal, Resource::AdminAccounts, Action::Write).is_ok();
    match state.store.mfa_method(&method_id).await? {
        Some(m) if m.method_type() == MethodType::Totp => {}
        Some(_) => return Err(OpError::Invalid("method ID does not match TOTP type".into())),
        None => return Err(OpError::Invalid(format!("configuration for method ID {method_id:?} does not exist"))),
    }
    let digest = json!({"method": method_id, "account": account.id});
    let ev = by.event(
        Event::MfaEnrolmentDestroy,
        Some(account.environment_id.as_str()),
        account.id.as_str(),
        Some(&digest),
        state.now(),
    )?;
    let allow = |stored: &Account| user_admin || !stored.admin;
    match state.store.delete_totp_enrolment(&MethodId::from(method_id.as_str()), &account.id, allow, &ev).await? {
        MfaWritten::Denied => match authorize(state, by.caller(), Resource::AdminAccounts, Action::Write).await {
            Err(e) => Err(e),
            Ok(_) => Err(OpError::internal("a refusal the policy no longer makes")),
        },
        _ => Ok(()),
    }
}

/// The method `id`, if it is of `kind`.
async fn of_type(state: &AppState, kind: MethodType, id: &str) -> Result<Method, OpError> {
    let Some(m) = state.store.mfa_method(id).await? else { return Err(OpError::NotFound(KIND)) };
    if m.method_type() != kind {
        return Err(wrong_type(kind));
    }
    Ok(m)
}

/// The answer to a method named under another type than its own.
pub fn wrong_type(kind: MethodType) -> OpError {
    OpError::Invalid(format!("failed to find the method ID under MFA type {}.", kind.as_str()))
}

/// Reads and checks a write's body: Vault's field rules, then what only the
/// server can check (environments named by the format, fetchable URLs).
async fn checked(state: &AppState, kind: MethodType, fields: &Map<String, Value>) -> Result<MethodWrite, OpError> {
    let w = mfa::parse_method(kind, fields).map_err(OpError::invalid)?;
    if let Some(f) = &w.username_format {
        for env in f.environments() {
            if state.store.environment(&EnvironmentId::from(env)).await?.is_none() {
                return Err(OpError::Invalid(format!("username_format: there is no environment {env:?}")));
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
        state.fetcher.check(&url).map_err(|e| OpError::Invalid(format!("{field}: {e}")))?;
    }
    Ok(w)
}

fn seal(state: &AppState, id: &str, w: &MethodWrite) -> Result<Vec<u8>, OpError> {
    let plain = serde_json::to_vec(&w.secrets).map_err(OpError::internal)?;
    state.kek.seal(&mfa::secrets_purpose(id), &plain).map_err(OpError::internal)
}

fn name_taken(name: &str) -> OpError {
    OpError::Invalid(format!("a login MFA method configuration with the method name {name} already exists"))
}

/// The event recording a change of `m`, with the digest of what it is now.
fn event(state: &AppState, by: &Authorized<'_>, action: Event, m: &Method) -> Result<AuditEvent, OpError> {
    let digest = json!({"method": m.to_vault(), "username_format": m.username_format});
    by.event(action, None, m.id.as_str(), Some(&digest), state.now())
}
