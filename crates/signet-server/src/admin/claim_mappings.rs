//! `/environments/{env}/claim-mappings[/{id}]`: expressions evaluated when
//! tokens are issued, each computing one custom claim (ExpressionAdmin
//! writes; any role reads). Expressions run in a sandbox with bounded
//! length, depth and operations; they can never set a standard or
//! role-granting claim.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signet_core::claims::ClaimInput;
use signet_core::id::EnvironmentId;
use signet_core::policy::{Action, Resource};
use signet_store::StoredMapping;

use super::caller::Caller;
use super::{
    AdminError, Body, ErrorBody, IfMatch, Page, Query, created, environment_exists, etag, no_content, page_of,
    with_etag,
};
use crate::ops;
use crate::state::AppState;

use crate::ops::claim_mappings::KIND;

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

async fn find(state: &AppState, env: &EnvironmentId, id: &str) -> Result<StoredMapping, AdminError> {
    Ok(ops::claim_mappings::find(state, env, id).await?)
}

#[utoipa::path(get, path = "/environments/{env}/claim-mappings", tag = "claim-mappings", params(("env" = String, Path), Page),
    responses((status = 200, body = MappingPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(env): Path<EnvironmentId>,
    Query(page): Query<Page>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::ClaimMappings, Action::Read).await?;
    environment_exists(&state, &env).await?;
    let limit = page.limit()?;
    let rows =
        state.store.claim_mappings_page(&EnvironmentId::from(env.as_str()), page.cursor.as_deref(), limit + 1).await?;
    let (rows, next) = page_of(rows, limit, |m| m.id.clone());
    Ok(axum::Json(MappingPage { items: rows.iter().map(view).collect(), next_cursor: next }).into_response())
}

#[utoipa::path(get, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = MappingView, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
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
    Path(env): Path<EnvironmentId>,
    Body(body): Body<MappingBody>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ClaimMappings, Action::Write).await?;
    let m = ops::claim_mappings::create(&state, &by, &env, (body.claim, body.expression)).await?;
    Ok(created(etag(KIND, &m.id, m.version), view(&m), &format!("/environments/{env}/claim-mappings/{}", m.id)))
}

/// Replaces a mapping's claim and expression (ExpressionAdmin).
#[utoipa::path(put, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = MappingBody,
    responses((status = 200, body = MappingView, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    IfMatch(if_match): IfMatch,
    Body(body): Body<MappingBody>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ClaimMappings, Action::Write).await?;
    let wanted = (body.claim, body.expression);
    let m = ops::claim_mappings::update(&state, &by, (&env, &id), if_match.as_deref(), wanted).await?;
    Ok(with_etag(etag(KIND, &m.id, m.version), view(&m)))
}

/// Removes a mapping (ExpressionAdmin).
#[utoipa::path(delete, path = "/environments/{env}/claim-mappings/{id}", tag = "claim-mappings", params(("env" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((env, id)): Path<(EnvironmentId, String)>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::ClaimMappings, Action::Write).await?;
    let version = ops::claim_mappings::delete(&state, &by, (&env, &id), if_match.as_deref()).await?;
    Ok(no_content(etag(KIND, &id, version)))
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
    Path(env): Path<EnvironmentId>,
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
