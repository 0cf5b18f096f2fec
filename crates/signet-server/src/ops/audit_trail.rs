//! The audit trail as the admin API reads it: filtered pages, exports a
//! batch at a time, the chain's check, and signed checkpoints of its head.

use signet_core::audit::{ActorKind, AuditEvent};
use signet_proto::admin::audit::{
    ActorView, AuditEventView, AuditFilter, AuditItem, AuditPage, ChainStatus, CheckpointBody, CheckpointKeyBody,
    UpstreamView,
};
use signet_store::StoreError;
use signet_store::audit::StoredEvent;

use super::OpError;
use crate::state::AppState;

/// Events looked at per request at most, so a filter that matches little
/// still answers quickly; the cursor then moves on past what was looked at.
const SCAN: i64 = 5_000;

/// An event as the API shows it: as it was chained.
fn event_view(e: AuditEvent) -> AuditEventView {
    let kind = match e.actor.kind {
        ActorKind::Person => "person",
        ActorKind::Application => "application",
        ActorKind::System => "system",
    };
    let a = e.actor;
    AuditEventView {
        id: e.id,
        at: e.at,
        actor: ActorView { kind: kind.into(), id: a.id, name: a.name, scheme: a.scheme.into(), client_id: a.client_id },
        action: e.action,
        environment_id: e.environment_id,
        target: e.target,
        digest: e.digest,
        request_id: e.request_id,
        source_ip: e.source_ip,
        jti: e.jti,
        outcome: e.outcome,
        upstream: e.upstream.map(|u| UpstreamView {
            provider_id: u.provider_id,
            issuer: u.issuer,
            subject: u.subject,
            amr: u.amr,
            acr: u.acr,
        }),
        reason: e.reason,
    }
}

fn item(e: StoredEvent) -> AuditItem {
    AuditItem { seq: e.seq, hash: e.hash, event: event_view(e.event) }
}

/// Whether the filter lets `e` through.
fn matches(f: &AuditFilter, e: &StoredEvent) -> bool {
    let ev = &e.event;
    f.account.as_deref().is_none_or(|a| ev.actor.id == a || ev.actor.name == a)
        && f.resource.as_deref().is_none_or(|r| ev.target == r)
        && f.action.as_deref().is_none_or(|a| if a.ends_with('.') { ev.action.starts_with(a) } else { ev.action == a })
        && f.since.is_none_or(|t| ev.at >= t)
        && f.until.is_none_or(|t| ev.at <= t)
}

/// Up to `limit` events the filter lets through, after its cursor, looking
/// at no more than [`SCAN`] events; the next cursor is past what was looked at.
pub async fn page(state: &AppState, f: &AuditFilter, limit: i64) -> Result<AuditPage, OpError> {
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
            if matches(f, &e) {
                items.push(item(e));
                if items.len() as i64 == limit {
                    break;
                }
            }
        }
    }
    let next = if exhausted { None } else { Some(after) };
    Ok(AuditPage { items, next_cursor: next })
}

/// The next `batch` events after `after` that the filter lets through, one
/// JSON object per line, and the last sequence number looked at; `None`
/// past the end of the trail.
pub async fn lines(
    state: &AppState,
    f: &AuditFilter,
    after: i64,
    batch: i64,
) -> Result<Option<(Vec<u8>, i64)>, StoreError> {
    let batch = state.store.audit_events(after, batch).await?;
    let Some(last) = batch.last().map(|e| e.seq) else { return Ok(None) };
    let mut out = Vec::new();
    for e in batch.into_iter().filter(|e| matches(f, e)) {
        if serde_json::to_writer(&mut out, &item(e)).is_ok() {
            out.push(b'\n');
        }
    }
    Ok(Some((out, last)))
}

/// The chain walked from the first event.
pub async fn verify(state: &AppState) -> Result<ChainStatus, OpError> {
    let check = state.store.verify_audit_chain().await?;
    Ok(ChainStatus {
        intact: check.broken_at.is_none(),
        events: check.events,
        broken_at: check.broken_at,
        head: check.head,
        head_seq: check.head_seq,
        pruned_through: check.pruned_through,
        keyed_from: check.keyed_from,
    })
}

/// A checkpoint of the head, signed now.
pub async fn checkpoint(state: &AppState) -> Result<CheckpointBody, OpError> {
    let cp = state.store.sign_audit_checkpoint(state.now()).await?;
    let signet_proto::audit::Checkpoint { format, seq, head, at, key_id, public_key, signature } = cp;
    Ok(CheckpointBody { format, seq, head, at, key_id, public_key, signature })
}

/// The public half of the key checkpoints are signed with.
pub fn checkpoint_key(state: &AppState) -> Result<CheckpointKeyBody, OpError> {
    let key = state.store.audit_checkpoint_key().ok_or(StoreError::AuditKeyMissing)?;
    let signet_proto::audit::CheckpointKey { key_id, alg, public_key } = key;
    Ok(CheckpointKeyBody { key_id, alg, public_key })
}
