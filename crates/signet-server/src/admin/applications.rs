//! `/environments/{env}/applications[/{id}]`: OAuth clients (Admin).
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

use signet_core::audit::Action as Event;
use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_core::audit::digest_of;
use signet_core::crypto::{random_id, random_token, sha256};
use signet_core::model::{AppKind, Application, GrantType};
use signet_core::policy::{self, Action, Principal, Resource, check_role_set};
use signet_proto::roles::Role;
use signet_store::Decided;

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, Page, Query, created, environment_exists, if_match_raw, page_of, tag_matches,
    with_etag,
};
use crate::state::AppState;

/// An application as the API shows it: never its secret or the secret's hash.
// No Debug: it holds a secret.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApplicationView {
    id: String,
    name: String,
    /// native (public, PKCE), worker (client credentials) or web (confidential, code).
    kind: String,
    redirect_uris: Vec<String>,
    #[schema(value_type = Vec<String>)]
    grant_types: BTreeSet<GrantType>,
    scopes: BTreeSet<String>,
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    has_secret: bool,
    /// Whether authorization requests must carry a PKCE challenge.
    pkce_required: bool,
    created_at: i64,
    /// Only in the answer that made it: store it now, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApplicationPage {
    items: Vec<ApplicationView>,
    next_cursor: Option<String>,
}

fn view(a: &Application, secret: Option<String>) -> ApplicationView {
    ApplicationView {
        id: a.id.clone(),
        name: a.name.clone(),
        kind: a.kind.as_str().into(),
        redirect_uris: a.redirect_uris.clone(),
        grant_types: a.grant_types.clone(),
        scopes: a.scopes.clone(),
        roles: a.roles.clone(),
        has_secret: a.secret_hash.is_some(),
        pkce_required: a.needs_pkce(),
        created_at: a.created_at,
        client_secret: secret,
    }
}

/// A read's ETag: the application's whole stored state, secret hash included,
/// so a rotation changes it too.
fn tag(a: &Application) -> String {
    let state = json!({"view": view(a, None), "secret": a.secret_hash.as_deref().map(signet_core::audit::hex)});
    format!("\"{}\"", &digest_of(&state)[..24])
}

#[utoipa::path(get, path = "/environments/{env}/applications", tag = "applications", params(("env" = String, Path), Page),
    responses((status = 200, body = ApplicationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Read).await?;
    environment_exists(&state, &env).await?;
    let limit = page.limit()?;
    let rows = state.store.applications_page(&env, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |a| a.id.clone());
    let items = rows.iter().map(|a| view(a, None)).collect();
    Ok(axum::Json(ApplicationPage { items, next_cursor: next }).into_response())
}

#[utoipa::path(get, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Read).await?;
    let a = state.store.application(&env, &id).await?.ok_or_else(|| AdminError::not_found("application"))?;
    Ok(with_etag(tag(&a), view(&a, None)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    name: String,
    #[schema(value_type = String)]
    kind: AppKind,
    /// Exact URIs. A native application's are loopback IP literals
    /// (`http://127.0.0.1/…`, `http://[::1]/…`, any port) or a private-use
    /// scheme such as `com.example.app:/callback`; a web application's are
    /// https (http only on a loopback IP literal); a worker has none.
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[schema(value_type = Vec<String>)]
    grant_types: BTreeSet<GrantType>,
    #[serde(default)]
    scopes: BTreeSet<String>,
    /// Admin roles of a worker (UserAdmin only).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    roles: BTreeSet<Role>,
    /// PKCE on every authorization request (RFC 9700 §2.1.1); true unless
    /// a confidential application opts out explicitly. A native one cannot.
    #[serde(default = "required")]
    pkce_required: bool,
}

fn required() -> bool {
    true
}

fn check(new: &NewApplication) -> Result<(), AdminError> {
    signet_core::text::check_name(new.name.trim(), 100).map_err(|why| AdminError::invalid(format!("name: {why}")))?;
    let allowed: &[GrantType] = match new.kind {
        AppKind::Worker => &[GrantType::ClientCredentials],
        AppKind::Native => &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode],
        AppKind::Web => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
    };
    if new.grant_types.is_empty() {
        return Err(AdminError::invalid("grant_types: at least one"));
    }
    if let Some(g) = new.grant_types.iter().find(|g| !allowed.contains(g)) {
        return Err(AdminError::invalid(format!(
            "grant_types: a {} application cannot use {}",
            new.kind.as_str(),
            g.as_str()
        )));
    }
    let needs_redirect = new.grant_types.contains(&GrantType::AuthorizationCode);
    if needs_redirect && new.redirect_uris.is_empty() {
        return Err(AdminError::invalid("redirect_uris: the authorization code grant needs at least one"));
    }
    for uri in &new.redirect_uris {
        signet_core::redirect::check(uri, new.kind)
            .map_err(|why| AdminError::invalid(format!("redirect_uris: {uri:?}: {why}")))?;
    }
    if !new.roles.is_empty() && new.kind != AppKind::Worker {
        return Err(AdminError::invalid("roles: only a worker application holds admin roles"));
    }
    if new.kind.is_public() && !new.pkce_required {
        return Err(AdminError::invalid("pkce_required: a native application always uses PKCE"));
    }
    check_role_set(&new.roles, false).map_err(AdminError::unprocessable)
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
    /// The policy refuses the caller this resource: recorded and answered 403.
    Denied(Resource),
    Other(AdminError),
}

impl From<AdminError> for Refusal {
    fn from(e: AdminError) -> Refusal {
        Refusal::Other(e)
    }
}

impl From<crate::authn::AuthnError> for Refusal {
    fn from(e: crate::authn::AuthnError) -> Refusal {
        Refusal::Other(e.into())
    }
}

/// The first of `resources` the principal may not write.
fn permitted(principal: &Principal, resources: Vec<Resource>) -> Result<(), Refusal> {
    match resources.into_iter().find(|r| policy::decide(principal, *r, Action::Write).is_err()) {
        Some(r) => Err(Refusal::Denied(r)),
        None => Ok(()),
    }
}

/// The answer to a write the store decided on: a refusal is recorded as
/// the policy's, through `Caller::allow`, which refuses it again.
async fn settled<T>(state: &AppState, caller: &Caller, decided: Decided<T, Refusal>) -> Result<T, AdminError> {
    match decided {
        Decided::Done(t) => Ok(t),
        Decided::Missing => Err(AdminError::not_found("application")),
        Decided::Refused(Refusal::Other(e)) => Err(e),
        Decided::Refused(Refusal::Denied(r)) => match caller.allow(state, r, Action::Write).await {
            Err(e) => Err(e),
            Ok(()) => Err(AdminError::internal("a refusal the policy no longer makes")),
        },
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

/// Creates an application (Admin; UserAdmin too when it holds roles, every
/// role when its tokens would carry the admin API's audience). A
/// confidential one's secret is in this answer only.
#[utoipa::path(post, path = "/environments/{env}/applications", tag = "applications", params(("env" = String, Path)), request_body = NewApplication,
    responses((status = 201, body = ApplicationView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Body(new): Body<NewApplication>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    environment_exists(&state, &env).await?;
    check(&new)?;
    let secret = (!new.kind.is_public()).then(random_token).transpose().map_err(AdminError::internal)?;
    let now = state.now();
    let app = Application {
        id: random_id().map_err(AdminError::internal)?,
        environment_id: env.clone(),
        name: new.name.trim().to_owned(),
        kind: new.kind,
        secret_hash: secret.as_ref().map(|s| sha256(s.expose().as_bytes()).to_vec()),
        redirect_uris: new.redirect_uris.clone(),
        grant_types: new.grant_types.clone(),
        scopes: new.scopes.clone(),
        roles: new.roles.clone(),
        admin_api: false,
        pkce_required: new.pkce_required,
        created_at: now,
    };
    for r in touched(None, Some(&app)) {
        caller.allow(&state, r, Action::Write).await?;
    }
    let mut ev = caller.event(Event::AdminApplicationCreate, &app.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&serde_json::to_value(view(&app, None)).map_err(AdminError::internal)?);
    state.store.insert_application(&app, &ev).await?;
    let body = view(&app, secret.map(|s| s.expose().clone()));
    Ok(no_store(created(tag(&app), body, &format!("/environments/{env}/applications/{}", app.id))))
}

/// Issues a new secret; the old one stops working at once on this instance
/// and within the client cache's lifetime (10 s) on the others.
#[utoipa::path(post, path = "/environments/{env}/applications/{id}/secret", tag = "applications", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    let secret = random_token().map_err(AdminError::internal)?;
    let next = sha256(secret.expose().as_bytes()).to_vec();
    let now = state.now();
    let decide = |stored: &Application| -> Result<_, Refusal> {
        if stored.secret_hash.is_none() {
            return Err(AdminError::unprocessable("a public application has no secret").into());
        }
        let rotated = Application { secret_hash: Some(next.clone()), ..stored.clone() };
        permitted(&caller.principal, touched(Some(stored), Some(&rotated)))?;
        let mut ev = caller.event(Event::AdminApplicationSecretRotate, &stored.id, now)?;
        ev.environment_id = Some(env.clone());
        ev.digest = digest_of(&json!({"id": stored.id}));
        Ok(ev)
    };
    let decided = state.store.rotate_application_secret(&env, &id, &next, decide).await?;
    let app = settled(&state, &caller, decided).await?;
    state.clients.forget(&env, &id);
    state.revocations.revoked_subject(&id, now);
    let rotated = Application { secret_hash: Some(next), ..app };
    Ok(no_store(with_etag(tag(&rotated), view(&rotated, Some(secret.expose().clone())))))
}

/// Replaces an application's settings (Admin; UserAdmin too when its admin
/// roles change; every role when its tokens carry the admin API's
/// audience). The kind cannot change, nor the CLI's redirect URIs and
/// grants. A change of roles revokes the tokens the worker holds.
#[utoipa::path(put, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = NewApplication,
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    Body(new): Body<NewApplication>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    check(&new)?;
    let expected = if_match_raw(&headers)?;
    let now = state.now();
    let change = |stored: &Application| -> Result<_, Refusal> {
        if !tag_matches(expected.as_deref(), &tag(stored)) {
            return Err(AdminError::stale().into());
        }
        if new.kind != stored.kind {
            return Err(AdminError::unprocessable("kind: an application's kind cannot change; make a new one").into());
        }
        let next = Application {
            name: new.name.trim().to_owned(),
            redirect_uris: new.redirect_uris.clone(),
            grant_types: new.grant_types.clone(),
            scopes: new.scopes.clone(),
            roles: new.roles.clone(),
            pkce_required: new.pkce_required,
            ..stored.clone()
        };
        permitted(&caller.principal, touched(Some(stored), Some(&next)))?;
        let mut ev = caller.event(Event::AdminApplicationUpdate, &id, now)?;
        ev.environment_id = Some(env.clone());
        ev.digest = digest_of(&serde_json::to_value(view(&next, None)).map_err(AdminError::internal)?);
        Ok((next, ev))
    };
    let decided = state.store.update_application(&env, &id, change).await?;
    let (before, after) = settled(&state, &caller, decided).await?;
    state.clients.forget(&env, &id);
    if before.roles != after.roles {
        state.revocations.revoked_subject(&id, now);
    }
    Ok(with_etag(tag(&after), view(&after, None)))
}

/// Deletes an application (Admin; UserAdmin too when it holds admin roles;
/// every role when its tokens carry the admin API's audience), revoking
/// every token issued to it. signet's own CLI client stays.
#[utoipa::path(delete, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    let expected = if_match_raw(&headers)?;
    let now = state.now();
    let decide = |stored: &Application| -> Result<_, Refusal> {
        permitted(&caller.principal, touched(Some(stored), None))?;
        if stored.admin_api {
            return Err(
                AdminError::conflict("signet-cli is how the signet CLI signs people on; it cannot be deleted").into()
            );
        }
        if !tag_matches(expected.as_deref(), &tag(stored)) {
            return Err(AdminError::stale().into());
        }
        let mut ev = caller.event(Event::AdminApplicationDelete, &id, now)?;
        ev.environment_id = Some(env.clone());
        ev.digest = digest_of(&json!({"id": id, "name": stored.name}));
        Ok(ev)
    };
    let decided = state.store.delete_application(&env, &id, decide).await?;
    settled(&state, &caller, decided).await?;
    state.clients.forget(&env, &id);
    state.revocations.revoked_subject(&id, now);
    state.revocations.stale();
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
