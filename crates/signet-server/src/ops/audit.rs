//! The trail's own upkeep: pruning events past their retention.

use crate::error::InternalError;
use signet_core::audit::{Action, Actor, AuditEvent, Outcome, digest_of};

use crate::state::AppState;

/// Prunes audit events older than `days`, recording that it did (as signetd
/// itself) in the same transaction. The chain stays verifiable from the last
/// pruned event's hash.
pub async fn prune_audit(state: &AppState, days: u32) -> Result<i64, InternalError> {
    let now = state.now();
    let before = now - i64::from(days) * 86_400;
    let mut ev = AuditEvent::new(Actor::console("audit retention"), Action::AuditPrune, None, "audit", now)?
        .with_outcome(Outcome::Success);
    ev.digest = digest_of(&serde_json::json!({"before": before, "retention_days": days}));
    let pruned = state.store.prune_audit(before, &ev).await?;
    if pruned > 0 {
        tracing::info!(pruned, days, "audit events past their retention pruned");
    }
    Ok(pruned)
}
