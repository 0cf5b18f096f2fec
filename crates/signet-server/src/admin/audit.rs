//! `/audit`, `/audit/verify` and `/audit/checkpoint`: the trail, read by
//! Auditors and any role, and signed checkpoints of its head with the key
//! that checks them.

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

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
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
    /// `jsonl`: every matching event from `cursor` on, one JSON object per
    /// line (`{"seq","hash","event"}`), streamed; `limit` does not apply.
    format: Option<String>,
}

impl Filter {
    fn matches(&self, e: &signet_store::audit::StoredEvent) -> bool {
        let ev = &e.event;
        self.account.as_deref().is_none_or(|a| ev.actor.id == a || ev.actor.name == a)
            && self.resource.as_deref().is_none_or(|r| ev.target == r)
            && self
                .action
                .as_deref()
                .is_none_or(|a| if a.ends_with('.') { ev.action.starts_with(a) } else { ev.action == a })
            && self.since.is_none_or(|t| ev.at >= t)
            && self.until.is_none_or(|t| ev.at <= t)
    }
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
    /// The last event's sequence number: how many events were ever recorded.
    head_seq: i64,
    /// Events up to this sequence number were pruned by retention; the walk
    /// started from the hash recorded for the last of them.
    pruned_through: Option<i64>,
    /// The event that sealed the trail before it and from which every hash
    /// is an HMAC under a key the database does not hold.
    keyed_from: Option<i64>,
    intact: bool,
}

/// A signed statement of the trail's head (see `signet audit verify --checkpoint`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointBody {
    /// `signet.audit.checkpoint.v1`.
    format: String,
    /// Events recorded so far: the head's sequence number.
    seq: i64,
    /// The head's hash (hex).
    head: String,
    /// Unix seconds when it was signed.
    at: i64,
    /// RFC 7638 thumbprint of the signing key.
    key_id: String,
    /// Ed25519 public key, base64url.
    public_key: String,
    /// Ed25519 signature, base64url, over the format, seq, head, at and key_id, one per line.
    signature: String,
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
    match f.format.as_deref() {
        None | Some("json") => {}
        Some("jsonl") => return Ok(export(state, f)),
        Some(other) => return Err(AdminError::invalid(format!("format: {other:?} is not json or jsonl"))),
    }
    let limit = super::Page { cursor: None, limit: f.limit }.limit()?;
    let matches = |e: &signet_store::audit::StoredEvent| f.matches(e);
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
            let after = after?;
            let batch = match state.store.audit_events(after, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "audit export stopped");
                    return Some((Err(std::io::Error::other("the store failed")), None));
                }
            };
            let last = batch.last().map(|e| e.seq)?;
            let mut out = Vec::new();
            for e in batch.into_iter().filter(|e| f.matches(e)) {
                let item = AuditItem { seq: e.seq, hash: e.hash, event: e.event };
                if serde_json::to_writer(&mut out, &item).is_ok() {
                    out.push(b'\n');
                }
            }
            Some((Ok(axum::body::Bytes::from(out)), Some(last)))
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
    let check = state.store.verify_audit_chain().await?;
    let intact = check.broken_at.is_none();
    Ok(axum::Json(ChainStatus {
        events: check.events,
        broken_at: check.broken_at,
        head: check.head,
        head_seq: check.head_seq,
        pruned_through: check.pruned_through,
        keyed_from: check.keyed_from,
        intact,
    })
    .into_response())
}

/// A checkpoint of the head, signed now. A monitor that fetches and keeps
/// these holds what truncation is checked against, outside the database.
#[utoipa::path(get, path = "/audit/checkpoint", tag = "audit",
    responses((status = 200, body = CheckpointBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checkpoint(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    let cp = state.store.sign_audit_checkpoint(state.now()).await?;
    let signet_proto::audit::Checkpoint { format, seq, head, at, key_id, public_key, signature } = cp;
    Ok(axum::Json(CheckpointBody { format, seq, head, at, key_id, public_key, signature }).into_response())
}

/// The key checkpoints are signed with, to keep beside them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointKeyBody {
    key_id: String,
    /// `Ed25519`.
    alg: String,
    /// base64url, 32 bytes.
    public_key: String,
}

/// The checkpoint signing key's public half.
#[utoipa::path(get, path = "/audit/checkpoint/key", tag = "audit",
    responses((status = 200, body = CheckpointKeyBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checkpoint_key(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Audit, Action::Read).await?;
    let key = state.store.audit_checkpoint_key().ok_or(signet_store::StoreError::AuditKeyMissing)?;
    let signet_proto::audit::CheckpointKey { key_id, alg, public_key } = key;
    Ok(axum::Json(CheckpointKeyBody { key_id, alg, public_key }).into_response())
}
