//! `/environments/{env}/identity-providers[/{id}]`: the external OpenID
//! providers people of an environment may sign on through (issue 7). Admins
//! manage them for end users; trusting a provider's MFA for administrators
//! is also a UserAdmin decision, since admin accounts are theirs. The issuer
//! is read through discovery when written; the client secret is write-only,
//! sealed under the key-encryption key.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::crypto::random_id;
use signet_core::federation::{self, Provider, ProviderMfa};
use signet_core::policy::{Action, Resource};
use signet_store::Written;

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, Page, Query, created, environment_exists, etag, if_match, no_content, page_of,
    with_etag,
};
use crate::state::AppState;

const KIND: &str = "identity-provider";
/// No client secret comes near this.
const MAX_SECRET: usize = 1024;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    /// Just-in-time creation of end-user accounts.
    jit: bool,
    #[schema(value_type = Object)]
    mfa: ProviderMfa,
    /// Where the provider sends people back: register it with the provider
    /// as this client's redirect URI.
    redirect_uri: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderPage {
    items: Vec<ProviderView>,
    next_cursor: Option<String>,
}

fn view(state: &AppState, p: &Provider) -> ProviderView {
    ProviderView {
        redirect_uri: crate::routes::federation_callback_url(&state.issuer(&p.environment_id)),
        id: p.id.clone(),
        name: p.name.clone(),
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        scopes: p.scopes.clone(),
        jit: p.jit,
        mfa: p.mfa.clone(),
        created_at: p.created_at,
    }
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

/// A provider as an administrator writes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderBody {
    /// Shown on the sign-on pages: "Continue with ⟨name⟩".
    name: String,
    /// Its discovery document must be at `{issuer}/.well-known/openid-configuration` and name this issuer.
    issuer: String,
    client_id: String,
    /// Write-only. Required when creating; when updating, left out keeps the stored one.
    client_secret: Option<String>,
    /// Default `openid profile email`; must include `openid`.
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    /// Create end-user accounts on first sign-on (off by default). Never admin accounts, never by email.
    #[serde(default)]
    jit: bool,
    /// `{"trusted", "trusted_for_admins", "values": ["mfa", "otp", "hwk"]}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    mfa: ProviderMfa,
}

impl std::fmt::Debug for ProviderBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderBody").field("name", &self.name).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// Reads the issuer's discovery document: it must name the same issuer
/// (OpenID Discovery §4.3) and the endpoints a code flow needs.
async fn discover(state: &AppState, issuer: &str) -> Result<(), AdminError> {
    state.fetcher.check(issuer).map_err(|e| AdminError::invalid(format!("issuer: {e}")))?;
    let d = state
        .upstreams
        .discover(&state.fetcher, issuer)
        .await
        .map_err(|e| AdminError::unprocessable(format!("issuer: {e}")))?;
    for (field, url) in [("authorization_endpoint", &d.authorization_endpoint), ("token_endpoint", &d.token_endpoint)] {
        if url.is_none() {
            return Err(AdminError::unprocessable(format!("issuer: its discovery document has no {field}")));
        }
    }
    Ok(())
}

/// Administrators' accounts are never made just in time: a provider of the
/// Administrators environment cannot have `jit`.
async fn no_administrators_made(state: &AppState, env: &str, jit: bool) -> Result<(), AdminError> {
    let administrators =
        state.store.environment(env).await?.is_some_and(|e| e.name == signet_core::model::ADMINISTRATORS);
    if jit && administrators {
        return Err(AdminError::invalid("jit: administrators' accounts are never made just in time"));
    }
    Ok(())
}

/// Trusting a provider's MFA for administrators, or undoing that, is also
/// UserAdmin's, since admin accounts are theirs. Asked after the Admin check.
async fn allow_admin_trust(
    state: &AppState,
    caller: &Caller,
    before: Option<&Provider>,
    after: &ProviderMfa,
) -> Result<(), AdminError> {
    if after.trusted_for_admins || before.is_some_and(|p| p.mfa.trusted_for_admins) {
        caller.allow(state, Resource::AdminAccounts, Action::Write).await?;
    }
    Ok(())
}

fn seal(state: &AppState, id: &str, secret: &str) -> Result<Vec<u8>, AdminError> {
    if secret.is_empty() || secret.len() > MAX_SECRET {
        return Err(AdminError::invalid(format!("client_secret: 1 to {MAX_SECRET} bytes")));
    }
    state.kek.seal(&federation::secret_purpose(id), secret.as_bytes()).map_err(AdminError::internal)
}

fn digest(p: &Provider) -> String {
    digest_of(&json!({"name": p.name, "issuer": p.issuer, "client_id": p.client_id, "scopes": p.scopes,
                      "jit": p.jit, "mfa": p.mfa}))
}

async fn find(state: &AppState, env: &str, id: &str) -> Result<(Provider, Vec<u8>), AdminError> {
    environment_exists(state, env).await?;
    state.store.identity_provider(env, id).await?.ok_or_else(|| AdminError::not_found("identity provider"))
}

#[utoipa::path(get, path = "/environments/{env}/identity-providers", tag = "identity-providers", params(("env" = String, Path), Page),
    responses((status = 200, body = ProviderPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    environment_exists(&state, &env).await?;
    let limit = page.limit()?;
    let rows = state.store.identity_providers_page(&env, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |p| p.id.clone());
    Ok(axum::Json(ProviderPage { items: rows.iter().map(|p| view(&state, p)).collect(), next_cursor: next })
        .into_response())
}

#[utoipa::path(get, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    let (p, _) = find(&state, &env, &id).await?;
    Ok(with_etag(etag(KIND, &p.id, p.version), view(&state, &p)))
}

/// Adds a provider (Admin; UserAdmin too to trust its MFA for administrators).
#[utoipa::path(post, path = "/environments/{env}/identity-providers", tag = "identity-providers", params(("env" = String, Path)), request_body = ProviderBody,
    responses((status = 201, body = ProviderView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Body(body): Body<ProviderBody>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Write).await?;
    allow_admin_trust(&state, &caller, None, &body.mfa).await?;
    environment_exists(&state, &env).await?;
    no_administrators_made(&state, &env, body.jit).await?;
    let now = state.now();
    let p = Provider {
        id: random_id().map_err(AdminError::internal)?,
        environment_id: env.clone(),
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        scopes: body.scopes,
        jit: body.jit,
        mfa: body.mfa,
        version: 1,
        created_at: now,
    };
    federation::check(&p).map_err(AdminError::invalid)?;
    let Some(secret) = body.client_secret.as_deref() else {
        return Err(AdminError::invalid("client_secret: required"));
    };
    let sealed = seal(&state, &p.id, secret)?;
    discover(&state, &p.issuer).await?;
    let mut ev = caller.event(Event::AdminIdentityProviderCreate, &p.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest(&p);
    state.store.insert_identity_provider(&p, &sealed, &ev).await?;
    Ok(created(
        etag(KIND, &p.id, p.version),
        view(&state, &p),
        &format!("/environments/{env}/identity-providers/{}", p.id),
    ))
}

/// Replaces a provider (Admin; UserAdmin too when its MFA is or was trusted for administrators).
#[utoipa::path(put, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = ProviderBody,
    responses((status = 200, body = ProviderView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body<ProviderBody>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Write).await?;
    let (current, sealed) = find(&state, &env, &id).await?;
    allow_admin_trust(&state, &caller, Some(&current), &body.mfa).await?;
    let expected = if_match(&headers, KIND, &current.id, current.version)?;
    no_administrators_made(&state, &env, body.jit).await?;
    let p = Provider {
        name: body.name,
        issuer: body.issuer,
        client_id: body.client_id,
        scopes: body.scopes,
        jit: body.jit,
        mfa: body.mfa,
        ..current.clone()
    };
    federation::check(&p).map_err(AdminError::invalid)?;
    let sealed = match body.client_secret.as_deref() {
        Some(secret) => seal(&state, &p.id, secret)?,
        None => sealed,
    };
    if p.issuer != current.issuer {
        discover(&state, &p.issuer).await?;
    }
    let mut ev = caller.event(Event::AdminIdentityProviderUpdate, &p.id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest(&p);
    match state.store.update_identity_provider(&p, &sealed, expected, &ev).await? {
        Written::Done(version) => Ok(with_etag(etag(KIND, &p.id, version), view(&state, &Provider { version, ..p }))),
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("identity provider")),
    }
}

/// Removes a provider (Admin; UserAdmin too when its MFA is trusted for administrators).
#[utoipa::path(delete, path = "/environments/{env}/identity-providers/{id}", tag = "identity-providers", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Write).await?;
    let (current, _) = find(&state, &env, &id).await?;
    allow_admin_trust(&state, &caller, Some(&current), &ProviderMfa::default()).await?;
    let expected = if_match(&headers, KIND, &current.id, current.version)?;
    let mut ev = caller.event(Event::AdminIdentityProviderDelete, &current.id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest(&current);
    match state.store.delete_identity_provider(&env, &id, expected, &ev).await? {
        Written::Done(version) => Ok(no_content(etag(KIND, &id, version))),
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("identity provider")),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    /// The provider's issuer when the link was made: links are keyed by issuer and subject.
    issuer: String,
    subject: String,
    account_id: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkPage {
    items: Vec<LinkView>,
    next_cursor: Option<String>,
}

fn link_view(l: &signet_store::FederatedLink) -> LinkView {
    LinkView {
        issuer: l.issuer.clone(),
        subject: l.subject.clone(),
        account_id: l.account_id.clone(),
        created_at: l.created_at,
    }
}

/// Links an account of the provider's environment to a person at its issuer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    account_id: String,
    /// The upstream `sub`.
    subject: String,
}

/// Linking or unlinking an administrator is also UserAdmin's, since admin
/// accounts are theirs. Asked after the Admin check.
async fn allow_admin_link(
    state: &AppState,
    caller: &Caller,
    account: &signet_core::model::Account,
) -> Result<(), AdminError> {
    if account.admin {
        caller.allow(state, Resource::AdminAccounts, Action::Write).await?;
    }
    Ok(())
}

/// A subject as OpenID Connect Core §2 allows it: 1 to 255 ASCII characters, none a control.
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
    Path((env, id)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Read).await?;
    let (p, _) = find(&state, &env, &id).await?;
    let limit = page.limit()?;
    let rows = state.store.federated_links_page(&p.issuer, page.cursor.as_deref(), limit + 1).await?;
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
    Path((env, id)): Path<(String, String)>,
    Body(body): Body<LinkBody>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Write).await?;
    let (p, _) = find(&state, &env, &id).await?;
    if !signet_core::federation::valid_subject(&body.subject) {
        return Err(AdminError::invalid("subject: 1 to 255 ASCII characters (OpenID Connect Core §2)"));
    }
    let account = state
        .store
        .account(&body.account_id)
        .await?
        .filter(|a| a.environment_id == env)
        .ok_or_else(|| AdminError::invalid("account_id: no such account in this environment"))?;
    allow_admin_link(&state, &caller, &account).await?;
    let now = state.now();
    let l = signet_store::FederatedLink {
        issuer: p.issuer.clone(),
        subject: body.subject,
        account_id: account.id.clone(),
        provider_id: p.id.clone(),
        created_at: now,
    };
    let mut ev = caller.event(Event::AdminFederatedLinkCreate, &account.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest =
        digest_of(&json!({"issuer": l.issuer, "subject": l.subject, "account": l.account_id, "provider": p.id}));
    state.store.insert_federated_link(&l, std::slice::from_ref(&ev)).await?;
    let location = format!("/environments/{env}/identity-providers/{id}/links/{}", segment(&l.subject));
    Ok((axum::http::StatusCode::CREATED, [(axum::http::header::LOCATION, location)], axum::Json(link_view(&l)))
        .into_response())
}

/// Removes a link (Admin for end users, UserAdmin for administrators).
#[utoipa::path(delete, path = "/environments/{env}/identity-providers/{id}/links/{subject}", tag = "identity-providers",
    params(("env" = String, Path), ("id" = String, Path), ("subject" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id, subject)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::IdentityProviders, Action::Write).await?;
    let (p, _) = find(&state, &env, &id).await?;
    let l = state.store.federated_link(&p.issuer, &subject).await?.ok_or_else(|| AdminError::not_found("link"))?;
    if let Some(account) = state.store.account(&l.account_id).await? {
        allow_admin_link(&state, &caller, &account).await?;
    }
    let mut ev = caller.event(Event::AdminFederatedLinkDelete, &l.account_id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"issuer": l.issuer, "subject": l.subject, "account": l.account_id}));
    if !state.store.delete_federated_link(&l.issuer, &l.subject, &ev).await? {
        return Err(AdminError::not_found("link"));
    }
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
