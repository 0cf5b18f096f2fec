//! `/audit`, `/audit/verify` and `/audit/checkpoint`: the trail, read by
//! Auditors and any role, and signed checkpoints of its head with the key
//! that checks them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, ErrorBody, Query};
use crate::ops;
use crate::state::AppState;
pub use signet_proto::admin::audit::{
    AuditFilter as Filter, AuditPage, ChainStatus, CheckpointBody, CheckpointKeyBody,
};

/// The audit trail, filtered (Auditor or any role).
#[utoipa::path(get, path = "/audit", tag = "audit", params(Filter),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<Filter>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    match f.format.as_deref() {
        None | Some("json") => {}
        Some("jsonl") => return Ok(export(state, f)),
        Some(other) => return Err(AdminError::invalid(format!("format: {other:?} is not json or jsonl"))),
    }
    let limit = super::Page { cursor: None, limit: f.limit }.limit()?;
    Ok(axum::Json(ops::audit_trail::page(&state, &f, limit).await?).into_response())
}

/// Streams every matching event as JSON lines, a batch at a time, so an
/// export of the whole trail never sits in memory. A store error mid-way
/// ends the stream early, which the client sees as a truncated body.
fn export(state: AppState, f: Filter) -> Response {
    const BATCH: i64 = 500;
    let start = f.cursor.unwrap_or(0);
    let lines = futures_util::stream::unfold(Some(start), move |after| {
        let state = state.clone();
        let f = f.clone();
        async move {
            match ops::audit_trail::lines(&state, &f, after?, BATCH).await {
                Ok(found) => found.map(|(out, last)| (Ok(axum::body::Bytes::from(out)), Some(last))),
                Err(e) => {
                    tracing::error!(error = %e, "audit export stopped");
                    Some((Err(std::io::Error::other("the store failed")), None))
                }
            }
        }
    });
    let mut res = Response::new(axum::body::Body::from_stream(lines));
    res.headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/x-ndjson"));
    res
}

/// Walks the chain from the first event.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = ChainStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    Ok(axum::Json(ops::audit_trail::verify(&state).await?).into_response())
}

/// A checkpoint of the head, signed now. A monitor that fetches and keeps
/// these holds what truncation is checked against, outside the database.
#[utoipa::path(get, path = "/audit/checkpoint", tag = "audit",
    responses((status = 200, body = CheckpointBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checkpoint(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    Ok(axum::Json(ops::audit_trail::checkpoint(&state).await?).into_response())
}

/// The checkpoint signing key's public half.
#[utoipa::path(get, path = "/audit/checkpoint/key", tag = "audit",
    responses((status = 200, body = CheckpointKeyBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checkpoint_key(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    Ok(axum::Json(ops::audit_trail::checkpoint_key(&state)?).into_response())
}
