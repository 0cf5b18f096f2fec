//! Liveness, readiness (the store answers) and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::time::Duration;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// How long readiness waits for the store: a load balancer's check must
/// get an answer, whatever the database does.
const READY_WITHIN: Duration = Duration::from_millis(900);

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down
",
        );
    }
    match tokio::time::timeout(READY_WITHIN, state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            "ready
",
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n")
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the store did not answer within {READY_WITHIN:?}");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer\n")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::exposition(&state))
}
