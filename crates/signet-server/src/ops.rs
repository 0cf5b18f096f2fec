//! Operations endpoints: liveness, readiness (the store answers) and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// Prunes audit events older than `days`, recording that it did (as signetd
/// itself) in the same transaction. The chain stays verifiable from the last
/// pruned event's hash.
pub async fn prune_audit(state: &AppState, days: u32) -> Result<i64, signet_store::StoreError> {
    let now = state.now();
    let before = now - i64::from(days) * 86_400;
    let mut ev = signet_core::audit::AuditEvent::new(
        signet_core::audit::Actor::console("audit retention"),
        "audit.prune",
        None,
        "audit",
        now,
    )
    .map_err(|e| signet_store::StoreError::Corrupt(e.to_string()))?;
    ev.digest = signet_core::audit::digest_of(&serde_json::json!({"before": before, "retention_days": days}));
    ev.outcome = Some("success".into());
    let pruned = state.store.prune_audit(before, &ev).await?;
    if pruned > 0 {
        tracing::info!(pruned, days, "audit events past their retention pruned");
    }
    Ok(pruned)
}
