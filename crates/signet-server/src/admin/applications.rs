//! `/environments/{env}/applications[/{id}]`: OAuth clients (Admin). Admin
//! roles on a worker, and the secret of a worker that holds any, belong to
//! UserAdmin: otherwise an Admin could mint itself a worker with CryptoAdmin.
//! A secret is shown once, when it is made; the store keeps its SHA-256.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_core::audit::digest_of;
use signet_core::crypto::{random_id, random_token, sha256};
use signet_core::model::{AppKind, Application, GrantType};
use signet_core::policy::{Action, Resource, check_role_set};
use signet_proto::roles::Role;

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
}

fn check(new: &NewApplication) -> Result<(), AdminError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AdminError::invalid("name: 1 to 100 characters"));
    }
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
        let u = url::Url::parse(uri)
            .map_err(|_| AdminError::invalid(format!("redirect_uris: {uri:?} is not an absolute URL")))?;
        if u.fragment().is_some() {
            return Err(AdminError::invalid(format!("redirect_uris: {uri:?} has a fragment (RFC 6749 §3.1.2)")));
        }
        let loopback = matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        if u.scheme() == "http" && !loopback {
            return Err(AdminError::invalid(format!("redirect_uris: {uri:?} must be https unless on loopback")));
        }
    }
    if !new.roles.is_empty() && new.kind != AppKind::Worker {
        return Err(AdminError::invalid("roles: only a worker application holds admin roles"));
    }
    check_role_set(&new.roles, false).map_err(AdminError::unprocessable)
}

/// Creates an application (Admin; UserAdmin too when it holds roles). A
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
    if !new.roles.is_empty() {
        caller.allow(&state, Resource::PrivilegedWorkers, Action::Write).await?;
    }
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
        created_at: now,
    };
    let mut ev = caller.event("admin.application.create", &app.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&serde_json::to_value(view(&app, None)).map_err(AdminError::internal)?);
    state.store.insert_application(&app, &ev).await?;
    let body = view(&app, secret.map(|s| s.expose().clone()));
    let mut res = created(tag(&app), body, &format!("/environments/{env}/applications/{}", app.id));
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Issues a new secret; the old one stops working at once on this instance
/// and within the client cache's lifetime (10 s) on the others.
#[utoipa::path(post, path = "/environments/{env}/applications/{id}/secret", tag = "applications", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    let app = state.store.application(&env, &id).await?.ok_or_else(|| AdminError::not_found("application"))?;
    if !app.roles.is_empty() {
        caller.allow(&state, Resource::PrivilegedWorkers, Action::Write).await?;
    }
    let Some(previous) = app.secret_hash.clone() else {
        return Err(AdminError::unprocessable("a public application has no secret"));
    };
    let secret = random_token().map_err(AdminError::internal)?;
    let next = sha256(secret.expose().as_bytes()).to_vec();
    let now = state.now();
    let mut ev = caller.event("admin.application.secret.rotate", &app.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"id": app.id}));
    if !state.store.rotate_application_secret(&env, &id, &previous, &next, &ev).await? {
        return Err(AdminError::conflict("the secret was rotated meanwhile; read the application again"));
    }
    state.clients.forget(&env, &id);
    state.revocations.revoked_subject(&id, ev.at);
    let rotated = Application { secret_hash: Some(next), ..app };
    let mut res = with_etag(tag(&rotated), view(&rotated, Some(secret.expose().clone())));
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Replaces an application's settings (Admin; UserAdmin too when its admin
/// roles change). The kind cannot change. A change of roles revokes the
/// tokens the worker holds.
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
    let current = state.store.application(&env, &id).await?.ok_or_else(|| AdminError::not_found("application"))?;
    if current.roles != new.roles {
        caller.allow(&state, Resource::PrivilegedWorkers, Action::Write).await?;
    }
    if new.kind != current.kind {
        return Err(AdminError::unprocessable("kind: an application's kind cannot change; make a new one"));
    }
    check(&new)?;
    let expected = if_match_raw(&headers)?;
    let next = Application {
        name: new.name.trim().to_owned(),
        redirect_uris: new.redirect_uris,
        grant_types: new.grant_types,
        scopes: new.scopes,
        roles: new.roles,
        ..current.clone()
    };
    let now = state.now();
    let mut ev = caller.event("admin.application.update", &id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&serde_json::to_value(view(&next, None)).map_err(AdminError::internal)?);
    let still = |stored: &Application| tag_matches(expected.as_deref(), &tag(stored));
    match state.store.update_application(&next, still, &ev).await? {
        None => return Err(AdminError::not_found("application")),
        Some(false) => return Err(AdminError::stale()),
        Some(true) => {}
    }
    state.clients.forget(&env, &id);
    if current.roles != next.roles {
        state.revocations.revoked_subject(&id, now);
    }
    Ok(with_etag(tag(&next), view(&next, None)))
}

/// Deletes an application (Admin; UserAdmin too when it holds admin roles),
/// revoking every token issued to it. signet's own CLI client stays.
#[utoipa::path(delete, path = "/environments/{env}/applications/{id}", tag = "applications", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Applications, Action::Write).await?;
    let current = state.store.application(&env, &id).await?.ok_or_else(|| AdminError::not_found("application"))?;
    if !current.roles.is_empty() {
        caller.allow(&state, Resource::PrivilegedWorkers, Action::Write).await?;
    }
    if id == signet_core::model::CLI_CLIENT_ID {
        return Err(AdminError::conflict("signet-cli is how the signet CLI signs people on; it cannot be deleted"));
    }
    let expected = if_match_raw(&headers)?;
    let now = state.now();
    let mut ev = caller.event("admin.application.delete", &id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"id": id, "name": current.name}));
    let still = |stored: &Application| tag_matches(expected.as_deref(), &tag(stored));
    match state.store.delete_application(&env, &id, still, &ev).await? {
        None => return Err(AdminError::not_found("application")),
        Some(false) => return Err(AdminError::stale()),
        Some(true) => {}
    }
    state.clients.forget(&env, &id);
    state.revocations.revoked_subject(&id, now);
    state.revocations.stale();
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
