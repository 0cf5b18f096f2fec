//! `/environments/{env}/claim-mappings[/{id}]`: expressions evaluated when
//! tokens are issued, each computing one custom claim (ExpressionAdmin
//! writes; any role reads). Expressions run in a sandbox with bounded
//! length, depth and operations; they can never set a standard or
//! role-granting claim.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::claims::{ClaimInput, validate_claim_name};
use signet_core::crypto::random_id;
use signet_core::policy::{Action, Resource};
use signet_store::{StoredMapping, Written};

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, Page, Query, created, environment_exists, etag, if_match, no_content, page_of,
    with_etag,
};
use crate::state::AppState;

const KIND: &str = "claim-mapping";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MappingView {
    id: String,
    claim: String,
    expression: String,
    /// Unix seconds.
    created_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MappingPage {
    items: Vec<MappingView>,
    next_cursor: Option<String>,
}

fn view(m: &StoredMapping) -> MappingView {
    MappingView { id: m.id.clone(), claim: m.claim.clone(), expression: m.expression.clone(), created_at: m.created_at }
}

/// A claim and the expression that computes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    /// The claim's name; not a standard claim (`sub`, `scope`, …) nor one that grants roles.
    claim: String,
    /// A rhai expression over `user` (`id`, `username`, `email`, `attributes`), `client` (`id`) and `scope`.
    expression: String,
}

impl MappingBody {
    fn check(&self, state: &AppState) -> Result<(), AdminError> {
        validate_claim_name(&self.claim).map_err(|e| AdminError::invalid(format!("claim: {e}")))?;
        state
            .claim_mappings
            .engine
            .compile(&self.expression)
            .map_err(|e| AdminError::invalid(format!("expression: {e}")))?;
        Ok(())
    }
}

async fn find(state: &AppState, env: &str, id: &str) -> Result<StoredMapping, AdminError> {
    environment_exists(state, env).await?;
    state.store.claim_mapping(env, id).await?.ok_or_else(|| AdminError::not_found("claim mapping"))
}

#[utoipa::path(get, path = "/environments/{env}/claim-mappings", tag = "claim-mappings", params(("env" = String, Path), Page),
    responses((status = 200, body = MappingPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Read).await?;
    environment_exists(&state, &env).await?;
    let limit = page.limit()?;
    let rows = state.store.claim_mappings_page(&env, page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |m| m.id.clone());
    Ok(axum::Json(MappingPage { items: rows.iter().map(view).collect(), next_cursor: next }).into_response())
}

#[utoipa::path(get, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MappingView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Read).await?;
    let m = find(&state, &env, &id).await?;
    Ok(with_etag(etag(KIND, &m.id, m.version), view(&m)))
}

/// Adds a mapping (ExpressionAdmin). Tokens issued afterwards carry the claim.
#[utoipa::path(post, path = "/environments/{env}/claim-mappings", tag = "claim-mappings", params(("env" = String, Path)), request_body = MappingBody,
    responses((status = 201, body = MappingView, headers(("ETag" = String), ("Location" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Body(body): Body<MappingBody>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Write).await?;
    environment_exists(&state, &env).await?;
    body.check(&state)?;
    let now = state.now();
    let m = StoredMapping {
        id: random_id().map_err(AdminError::internal)?,
        environment_id: env.clone(),
        claim: body.claim,
        expression: body.expression,
        version: 1,
        created_at: now,
    };
    let mut ev = caller.event(Event::AdminClaimMappingCreate, &m.id, now)?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"claim": m.claim, "expression": m.expression}));
    state.store.insert_claim_mapping(&m, &ev).await?;
    state.claim_mappings.forget(&env);
    Ok(created(etag(KIND, &m.id, m.version), view(&m), &format!("/environments/{env}/claim-mappings/{}", m.id)))
}

/// Replaces a mapping's claim and expression (ExpressionAdmin).
#[utoipa::path(put, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = MappingBody,
    responses((status = 200, body = MappingView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body<MappingBody>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Write).await?;
    let current = find(&state, &env, &id).await?;
    let expected = if_match(&headers, KIND, &current.id, current.version)?;
    body.check(&state)?;
    let m = StoredMapping { claim: body.claim, expression: body.expression, ..current };
    let mut ev = caller.event(Event::AdminClaimMappingUpdate, &m.id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"claim": m.claim, "expression": m.expression}));
    let written = state.store.update_claim_mapping(&m, expected, &ev).await?;
    state.claim_mappings.forget(&env);
    match written {
        Written::Done(version) => Ok(with_etag(etag(KIND, &m.id, version), view(&m))),
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("claim mapping")),
    }
}

/// Removes a mapping (ExpressionAdmin).
#[utoipa::path(delete, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Write).await?;
    let current = find(&state, &env, &id).await?;
    let expected = if_match(&headers, KIND, &current.id, current.version)?;
    let mut ev = caller.event(Event::AdminClaimMappingDelete, &current.id, state.now())?;
    ev.environment_id = Some(env.clone());
    ev.digest = digest_of(&json!({"claim": current.claim}));
    let written = state.store.delete_claim_mapping(&env, &id, expected, &ev).await?;
    state.claim_mappings.forget(&env);
    match written {
        Written::Done(version) => Ok(no_content(etag(KIND, &id, version))),
        Written::Stale => Err(AdminError::stale()),
        Written::Missing | Written::LastUserAdmin => Err(AdminError::not_found("claim mapping")),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preview {
    expression: String,
    /// Attributes of a made-up account to evaluate against.
    #[serde(default)]
    #[schema(value_type = Object)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// Evaluates an expression against a made-up account without saving it (ExpressionAdmin).
#[utoipa::path(post, path = "/environments/{env}/claim-mappings/preview", tag = "claim-mappings", params(("env" = String, Path)), request_body = Preview,
    responses((status = 200, description = "{\"value\": …}; absent when the expression gives ()"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<String>,
    Body(p): Body<Preview>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Write).await?;
    environment_exists(&state, &env).await?;
    let mut input = ClaimInput::example();
    input.user.attributes = p.attributes;
    let value = state
        .claim_mappings
        .engine
        .try_expression(&p.expression, &input)
        .map_err(|e| AdminError::invalid(format!("expression: {e}")))?;
    Ok(axum::Json(json!({"value": value})).into_response())
}
