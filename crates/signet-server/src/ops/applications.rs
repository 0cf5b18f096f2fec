//! Applications: an environment's OAuth clients.
//!
//! - Admin roles on a worker, and the secret of a worker that holds any,
//!   belong to UserAdmin: otherwise an Admin could mint itself a worker with
//!   CryptoAdmin.
//! - An application whose tokens carry the admin API's audience (the CLI, a
//!   worker with roles) needs every role for any change: whoever chose where
//!   its codes go could take administrators' tokens (issue 15, finding 1).
//!   The CLI's redirect URIs and grants are not changed through the API at all.
//! - Which roles a change needs is decided inside the write's transaction,
//!   on the application as stored, never on a copy read before it.
//! - A secret is shown once, when it is made; the store keeps its SHA-256.

use signet_core::id::{ClientId, EnvironmentId};
use std::collections::BTreeSet;

use serde_json::json;
use signet_core::audit::{Action as Event, digest_of};
use signet_core::crypto::{random_id, random_token, sha256};
use signet_core::model::{AppKind, Application, GrantType};
use signet_core::policy::{self, Action, Resource, check_role_set};
use signet_core::secret::Secret;
use signet_proto::admin::applications as wire;
use signet_proto::roles::Role;
use signet_store::Decided;

use super::{Authorized, OpError, tag_matches};
use crate::state::AppState;

pub use wire::{ApplicationPage, ApplicationView, NewApplication};

/// An application as the API shows it, with its secret when just made.
pub fn view(a: &Application, secret: Option<String>) -> ApplicationView {
    ApplicationView {
        id: a.id.to_string(),
        name: a.name.clone(),
        kind: a.kind,
        redirect_uris: a.redirect_uris.clone(),
        grant_types: a.grant_types.clone(),
        scopes: a.scopes.clone(),
        roles: a.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        has_secret: a.secret_hash.is_some(),
        pkce_required: a.needs_pkce(),
        created_at: a.created_at,
        client_secret: secret,
    }
}

/// A read's ETag: the application's whole stored state, secret hash included,
/// so a rotation changes it too.
pub fn tag(a: &Application) -> String {
    let state = json!({"view": view(a, None), "secret": a.secret_hash.as_deref().map(signet_core::audit::hex)});
    format!("\"{}\"", &digest_of(&state)[..24])
}

/// 404 unless the environment exists.
pub(super) async fn environment_exists(state: &AppState, env: &EnvironmentId) -> Result<(), OpError> {
    state.store.environment(env).await?.map(|_| ()).ok_or(OpError::NotFound("environment"))
}

/// Up to `limit` applications of `env` after `cursor`, by id.
pub async fn page(
    state: &AppState,
    env: &EnvironmentId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Application>, OpError> {
    environment_exists(state, env).await?;
    Ok(state.store.applications_page(env, cursor, limit).await?)
}

/// The application `id` of `env`.
pub async fn find(state: &AppState, env: &EnvironmentId, id: &ClientId) -> Result<Application, OpError> {
    state.store.application(env, id).await?.ok_or(OpError::NotFound("application"))
}

/// What an administrator asked for, checked, in the domain's terms.
struct Settings {
    name: String,
    kind: AppKind,
    redirect_uris: Vec<String>,
    grant_types: BTreeSet<GrantType>,
    scopes: BTreeSet<String>,
    roles: BTreeSet<Role>,
    pkce_required: bool,
}

fn check(new: &NewApplication) -> Result<Settings, OpError> {
    let s = Settings {
        name: new.name.trim().to_owned(),
        kind: new.kind,
        redirect_uris: new.redirect_uris.clone(),
        grant_types: new.grant_types.clone(),
        scopes: new.scopes.clone(),
        roles: new.roles.clone(),
        pkce_required: new.pkce_required,
    };
    signet_core::text::check_name(&s.name, 100).map_err(|why| OpError::Invalid(format!("name: {why}")))?;
    let allowed: &[GrantType] = match s.kind {
        AppKind::Worker => &[GrantType::ClientCredentials],
        AppKind::Native => &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode],
        AppKind::Web => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
    };
    if s.grant_types.is_empty() {
        return Err(OpError::Invalid("grant_types: at least one".into()));
    }
    if let Some(g) = s.grant_types.iter().find(|g| !allowed.contains(g)) {
        let (kind, grant) = (s.kind.as_str(), g.as_str());
        return Err(OpError::Invalid(format!("grant_types: a {kind} application cannot use {grant}")));
    }
    if s.grant_types.contains(&GrantType::AuthorizationCode) && s.redirect_uris.is_empty() {
        return Err(OpError::Invalid("redirect_uris: the authorization code grant needs at least one".into()));
    }
    for uri in &s.redirect_uris {
        signet_core::redirect::check(uri, s.kind)
            .map_err(|why| OpError::Invalid(format!("redirect_uris: {uri:?}: {why}")))?;
    }
    if !s.roles.is_empty() && s.kind != AppKind::Worker {
        return Err(OpError::Invalid("roles: only a worker application holds admin roles".into()));
    }
    if s.kind.is_public() && !s.pkce_required {
        return Err(OpError::Invalid("pkce_required: a native application always uses PKCE".into()));
    }
    check_role_set(&s.roles, false).map_err(OpError::unprocessable)?;
    Ok(s)
}

/// The resources a change from `before` (None: a new application) to
/// `after` writes, beyond `Applications` itself.
fn touched(before: Option<&Application>, after: Option<&Application>) -> Vec<Resource> {
    let mut needed = Vec::new();
    let roles = |a: Option<&Application>| a.map(|a| a.roles.clone()).unwrap_or_default();
    let secret_changed = matches!((before, after), (Some(b), Some(a)) if b.secret_hash != a.secret_hash);
    // Roles granted, changed or taken away (deletion too), or a new secret for a worker that holds some.
    if roles(before) != roles(after) || (secret_changed && !roles(before).is_empty()) {
        needed.push(Resource::PrivilegedWorkers);
    }
    if before.into_iter().chain(after).any(Application::gets_admin_audience) {
        needed.push(Resource::AdminApiClients);
    }
    if let (Some(b), Some(a)) = (before, after)
        && b.admin_api
        && (a.redirect_uris != b.redirect_uris || a.grant_types != b.grant_types)
    {
        needed.push(Resource::CliApplication);
    }
    needed
}

/// Why a write decided on the stored application did not happen.
enum Refusal {
    /// The policy refuses the caller this resource: recorded and answered as a refusal.
    Denied(Resource),
    Other(OpError),
}

impl From<OpError> for Refusal {
    fn from(e: OpError) -> Refusal {
        Refusal::Other(e)
    }
}

/// The first of `resources` the caller may not write.
fn permitted(by: &Authorized<'_>, resources: Vec<Resource>) -> Result<(), Refusal> {
    match resources.into_iter().find(|r| policy::decide(&by.caller().principal, *r, Action::Write).is_err()) {
        Some(r) => Err(Refusal::Denied(r)),
        None => Ok(()),
    }
}

/// The outcome of a write the store decided on: a refusal is recorded as
/// the policy's, through `authorize`, which refuses it again.
async fn settled<T>(state: &AppState, by: &Authorized<'_>, decided: Decided<T, Refusal>) -> Result<T, OpError> {
    match decided {
        Decided::Done(t) => Ok(t),
        Decided::Missing => Err(OpError::NotFound("application")),
        Decided::Refused(Refusal::Other(e)) => Err(e),
        Decided::Refused(Refusal::Denied(r)) => match super::authorize(state, by.caller(), r, Action::Write).await {
            Err(e) => Err(e),
            Ok(_) => Err(OpError::internal("a refusal the policy no longer makes")),
        },
    }
}

/// Creates an application in `env` (UserAdmin too when it holds roles, every
/// role when its tokens would carry the admin API's audience). A
/// confidential one's secret is answered here only.
pub async fn create(
    state: &AppState,
    by: &Authorized<'_>,
    env: &EnvironmentId,
    new: &NewApplication,
) -> Result<(Application, Option<Secret<String>>), OpError> {
    by.covers(Resource::Applications, Action::Write)?;
    environment_exists(state, env).await?;
    let s = check(new)?;
    let secret = (!s.kind.is_public()).then(random_token).transpose().map_err(OpError::internal)?;
    let now = state.now();
    let app = Application {
        id: random_id().map_err(OpError::internal)?.into(),
        environment_id: env.clone(),
        name: s.name,
        kind: s.kind,
        secret_hash: secret.as_ref().map(|s| sha256(s.expose().as_bytes()).to_vec()),
        redirect_uris: s.redirect_uris,
        grant_types: s.grant_types,
        scopes: s.scopes,
        roles: s.roles,
        admin_api: false,
        pkce_required: s.pkce_required,
        created_at: now,
    };
    for r in touched(None, Some(&app)) {
        super::authorize(state, by.caller(), r, Action::Write).await?;
    }
    let digest = serde_json::to_value(view(&app, None)).map_err(OpError::internal)?;
    let ev = by.event(Event::AdminApplicationCreate, Some(env.as_str()), app.id.as_str(), Some(&digest), now)?;
    state.store.insert_application(&app, &ev).await?;
    Ok((app, secret))
}

/// Issues a new secret. The new one works on every instance as soon as this
/// answers; the old one stops at once on this instance, and on the others
/// within the revocation window (`REVOCATION_POLL`, 1 s), as the tokens
/// minted with it do.
pub async fn rotate_secret(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &ClientId),
) -> Result<(Application, Secret<String>), OpError> {
    by.covers(Resource::Applications, Action::Write)?;
    let secret = random_token().map_err(OpError::internal)?;
    let next = sha256(secret.expose().as_bytes()).to_vec();
    let now = state.now();
    let decide = |stored: &Application| -> Result<_, Refusal> {
        if stored.secret_hash.is_none() {
            return Err(OpError::Unprocessable("a public application has no secret".into()).into());
        }
        let rotated = Application { secret_hash: Some(next.clone()), ..stored.clone() };
        permitted(by, touched(Some(stored), Some(&rotated)))?;
        Ok(by.event(
            Event::AdminApplicationSecretRotate,
            Some(env.as_str()),
            stored.id.as_str(),
            Some(&json!({"id": stored.id})),
            now,
        )?)
    };
    let decided = state.store.rotate_application_secret(env, id, &next, decide).await?;
    let app = settled(state, by, decided).await?;
    state.clients.forget(env.as_str(), id.as_str());
    state.revocations.revoked_subject(id.as_str(), now);
    Ok((Application { secret_hash: Some(next), ..app }, secret))
}

/// Replaces an application's settings (UserAdmin too when its admin roles
/// change; every role when its tokens carry the admin API's audience). The
/// kind cannot change, nor the CLI's redirect URIs and grants. A change of
/// roles revokes the tokens the worker holds.
pub async fn update(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &ClientId),
    if_match: Option<&str>,
    new: &NewApplication,
) -> Result<Application, OpError> {
    by.covers(Resource::Applications, Action::Write)?;
    let s = check(new)?;
    let now = state.now();
    let change = |stored: &Application| -> Result<_, Refusal> {
        if !tag_matches(if_match, &tag(stored)) {
            return Err(OpError::Stale.into());
        }
        if s.kind != stored.kind {
            let why = "kind: an application's kind cannot change; make a new one";
            return Err(OpError::Unprocessable(why.into()).into());
        }
        let next = Application {
            name: s.name,
            redirect_uris: s.redirect_uris,
            grant_types: s.grant_types,
            scopes: s.scopes,
            roles: s.roles,
            pkce_required: s.pkce_required,
            ..stored.clone()
        };
        permitted(by, touched(Some(stored), Some(&next)))?;
        let digest = serde_json::to_value(view(&next, None)).map_err(OpError::internal)?;
        let ev = by.event(Event::AdminApplicationUpdate, Some(env.as_str()), id.as_str(), Some(&digest), now)?;
        Ok((next, ev))
    };
    let decided = state.store.update_application(env, id, change).await?;
    let (before, after) = settled(state, by, decided).await?;
    state.clients.forget(env.as_str(), id.as_str());
    if before.roles != after.roles {
        state.revocations.revoked_subject(id.as_str(), now);
    }
    Ok(after)
}

/// Deletes an application (UserAdmin too when it holds admin roles; every
/// role when its tokens carry the admin API's audience), revoking every
/// token issued to it. signet's own CLI client stays.
pub async fn delete(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &ClientId),
    if_match: Option<&str>,
) -> Result<(), OpError> {
    by.covers(Resource::Applications, Action::Write)?;
    let now = state.now();
    let decide = |stored: &Application| -> Result<_, Refusal> {
        permitted(by, touched(Some(stored), None))?;
        if stored.admin_api {
            let why = "signet-cli is how the signet CLI signs people on; it cannot be deleted";
            return Err(OpError::Conflict(why.into()).into());
        }
        if !tag_matches(if_match, &tag(stored)) {
            return Err(OpError::Stale.into());
        }
        let digest = json!({"id": id, "name": stored.name});
        Ok(by.event(Event::AdminApplicationDelete, Some(env.as_str()), id.as_str(), Some(&digest), now)?)
    };
    let decided = state.store.delete_application(env, id, decide).await?;
    settled(state, by, decided).await?;
    state.clients.forget(env.as_str(), id.as_str());
    state.revocations.revoked_subject(id.as_str(), now);
    state.revocations.stale();
    Ok(())
}
