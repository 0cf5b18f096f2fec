//! `/environments/{env}/identity-providers[/{id}]`: the external OpenID
//! providers people of an environment may sign on through (issue 7), and
//! their links to accounts. What a change needs is `ops::identity_providers`'s
//! to decide; the client secret is write-only.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_core::federation::Provider;
use signet_core::id::EnvironmentId;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, Page, Query, created, etag, no_content, page_of, with_etag};
use crate::ops;
use crate::ops::identity_providers::{KIND, wire_mfa};
use crate::state::AppState;
pub use signet_proto::admin::identity_providers::{
    LinkBody, LinkPage, LinkView, ProviderBody, ProviderPage, ProviderView,
};

fn view(state: &AppState, p: &Provider) -> ProviderView {
    ProviderView {
        redirect_uri: crate::routes::federation_callback_url(
            &state.issuer(&EnvironmentId::from(p.environment_id.as_str())),
        ),
        id: p.id.clone(),
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        scopes: p.scopes.clone(),
        jit: p.jit,
        mfa: wire_mfa(&p.mfa),
        created_at: p.created_at,
    }
}

#[utoipa::path(get, path = "/environments/{env}/identity-providers", tag = "identity-providers", params(("env" = String, Path), Page),
    responses((status = 200, body = ProviderPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    let limit = page.limit()?;
    let rows = ops::identity_providers::page(&state, &env, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |p| p.id.clone());
    Ok(axum::Json(ProviderPage { items: rows.iter().map(|p| view(&state, p)).collect(), next_cursor: next })
        .into_response())
}

#[utoipa::path(get, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    let (p, _) = ops::identity_providers::find(&state, &env, &id).await?;
    Ok(with_etag(etag(KIND, &p.id, p.version), view(&state, &p)))
}

/// Adds a provider (Admin; UserAdmin too to trust its MFA for administrators).
#[utoipa::path(post, path = "/environments/{env}/identity-providers", tag = "identity-providers", params(("env" = String, Path)), request_body = ProviderBody,
    responses((status = 201, body = ProviderView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Body(body): Body<ProviderBody>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::IdentityProviders, Action::Write).await?;
    let p = ops::identity_providers::create(&state, &by, &env, body).await?;
    let location = format!("/environments/{env}/identity-providers/{}", p.id);
    Ok(created(etag(KIND, &p.id, p.version), view(&state, &p), &location))
}

/// Replaces a provider (Admin; UserAdmin too when its MFA is or was trusted for administrators).
#[utoipa::path(put, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = ProviderBody,
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    IfMatch(if_match): IfMatch,
    Body(body): Body<ProviderBody>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::IdentityProviders, Action::Write).await?;
    let p = ops::identity_providers::update(&state, &by, (&env, &id), if_match.as_deref(), body).await?;
    Ok(with_etag(etag(KIND, &p.id, p.version), view(&state, &p)))
}

/// Removes a provider (Admin; UserAdmin too when its MFA is trusted for administrators).
#[utoipa::path(delete, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::IdentityProviders, Action::Write).await?;
    let version = ops::identity_providers::delete(&state, &by, (&env, &id), if_match.as_deref()).await?;
    Ok(no_content(etag(KIND, &id, version)))
}

fn link_view(l: &signet_store::FederatedLink) -> LinkView {
    LinkView {
        issuer: l.issuer.clone(),
        subject: l.subject.clone(),
        account_id: l.account_id.clone(),
        created_at: l.created_at,
    }
}

/// A path segment: everything but unreserved characters percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[utoipa::path(get, path = "/environments/{env}/identity-providers/{id}/links", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path), Page),
    responses((status = 200, body = LinkPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn links(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    let limit = page.limit()?;
    let rows = ops::identity_providers::links(&state, (&env, &id), page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |l| l.subject.clone());
    Ok(axum::Json(LinkPage { items: rows.iter().map(link_view).collect(), next_cursor: next }).into_response())
}

/// Links an account to a person at the provider's issuer (Admin for end
/// users, UserAdmin for administrators). Never by email; one account per
/// upstream person.
#[utoipa::path(post, path = "/environments/{env}/identity-providers/{id}/links", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path)), request_body = LinkBody,
    responses((status = 201, body = LinkView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    Body(body): Body<LinkBody>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::IdentityProviders, Action::Write).await?;
    let l = ops::identity_providers::link(&state, &by, (&env, &id), body).await?;
    let location = format!("/environments/{env}/identity-providers/{id}/links/{}", segment(&l.subject));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(link_view(&l))).into_response())
}

/// Removes a link (Admin for end users, UserAdmin for administrators).
#[utoipa::path(delete, path = "/environments/{env}/identity-providers/{id}/links/{subject}", tag = "identity-providers",
    params(("env" = String, Path), ("id" = String, Path), ("subject" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id, subject)): Path<(EnvironmentId, String, String)>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::IdentityProviders, Action::Write).await?;
    ops::identity_providers::unlink(&state, &by, (&env, &id), &subject).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
