//! `/audit` and `/audit/verify`: the trail, read by Auditors and any role.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Query};
use crate::state::AppState;

/// Events looked at per request at most, so a filter that matches little
/// still answers quickly; the cursor then moves on past what was looked at.
const SCAN: i64 = 5_000;

#[derive(Debug, Deserialize)]
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
        if batch.is_empty() {
            exhausted = true;
            break;
        }
        for e in batch {
            scanned += 1;
            after = e.seq;
            if matches(&e) {
                items.push(json!({"seq": e.seq, "hash": e.hash, "event": e.event}));
                if items.len() as i64 == limit {
                    break;
                }
            }
        }
    }
    let next = if exhausted { None } else { Some(after) };
    Ok(axum::Json(json!({"items": items, "next_cursor": next})).into_response())
}

pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    let check = state.store.verify_audit_chain().await?;
    let head = state.store.audit_events(check.events - 1, 1).await?.pop().map(|e| e.hash);
    Ok(axum::Json(json!({"events": check.events, "broken_at": check.broken_at, "head": head, "intact": check.broken_at.is_none()}))
        .into_response())
}
