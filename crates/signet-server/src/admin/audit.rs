//! `/audit` and `/audit/verify`: the trail, read by Auditors and any role.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, ErrorBody, Query};
use crate::state::AppState;

/// Events looked at per request at most, so a filter that matches little
/// still answers quickly; the cursor then moves on past what was looked at.
const SCAN: i64 = 5_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The sequence number after which to continue.
    cursor: Option<i64>,
    limit: Option<i64>,
    /// The acting account or application (id or name).
    account: Option<String>,
    /// The resource acted on (target).
    resource: Option<String>,
    /// An action, or a prefix of one ending in `.`, e.g. `admin.account.`.
    action: Option<String>,
    /// Unix seconds, inclusive.
    since: Option<i64>,
    until: Option<i64>,
}

/// One recorded event and its place in the chain.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditItem {
    seq: i64,
    /// Hex SHA-256 chaining this event to the one before.
    hash: String,
    /// Time, actor (kind, id, name, scheme), action, target, digest of the change, request id, source address.
    #[schema(value_type = Object)]
    event: signet_core::audit::AuditEvent,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    items: Vec<AuditItem>,
    next_cursor: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ChainStatus {
    events: i64,
    /// The first sequence number whose hash does not match, if any.
    broken_at: Option<i64>,
    /// The last event's hash: a monitor keeping it can detect a rewritten or truncated tail.
    head: Option<String>,
    intact: bool,
}

/// The audit trail, filtered (Auditor or any role).
#[utoipa::path(get, path = "/audit", tag = "audit", params(Filter),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<Filter>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    let limit = super::Page { cursor: None, limit: f.limit }.limit()?;
    let matches = |e: &signet_store::audit::StoredEvent| {
        let ev = &e.event;
        f.account.as_deref().is_none_or(|a| ev.actor.id == a || ev.actor.name == a)
            && f.resource.as_deref().is_none_or(|r| ev.target == r)
            && f.action
                .as_deref()
                .is_none_or(|a| if a.ends_with('.') { ev.action.starts_with(a) } else { ev.action == a })
            && f.since.is_none_or(|t| ev.at >= t)
            && f.until.is_none_or(|t| ev.at <= t)
    };
    let mut after = f.cursor.unwrap_or(0);
    let mut items = Vec::new();
    let mut scanned = 0;
    let mut exhausted = false;
    while (items.len() as i64) < limit && scanned < SCAN {
        let batch = state.store.audit_events(after, limit.max(100)).await?;
        // The store may answer without yielding (SQLite); let other requests in.
        tokio::task::yield_now().await;
        if batch.is_empty() {
            exhausted = true;
            break;
        }
        for e in batch {
            scanned += 1;
            after = e.seq;
            if matches(&e) {
                items.push(AuditItem { seq: e.seq, hash: e.hash, event: e.event });
                if items.len() as i64 == limit {
                    break;
                }
            }
        }
    }
    let next = if exhausted { None } else { Some(after) };
    Ok(axum::Json(AuditPage { items, next_cursor: next }).into_response())
}

/// Walks the chain from the first event.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = ChainStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    let check = state.store.verify_audit_chain().await?;
    let intact = check.broken_at.is_none();
    Ok(axum::Json(ChainStatus { events: check.events, broken_at: check.broken_at, head: check.head, intact })
        .into_response())
}
