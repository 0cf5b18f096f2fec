//! signetd as a library: `app(state)` is the whole HTTP surface, so tests run
//! it in-process with their own store and clock; `main.rs` only parses flags.

pub mod admin;
pub mod audit_chain;
pub mod authn;
pub mod backup;
pub mod bootstrap;
pub mod cache;
pub mod claims;
pub mod cli;
pub mod config;
pub mod conn;
pub mod data_dir;
pub mod enforcement;
pub mod error;
pub mod fetch;
pub mod hasher;
pub mod health;
pub mod keyring;
pub mod ldap;
pub mod lifecycle;
pub mod live;
pub mod lockout;
pub mod logging;
pub mod metrics;
pub mod mtls;
pub mod net;
pub mod nul;
pub mod oauth;
pub mod ops;
pub mod radius;
pub mod ratelimit;
pub mod recover;
pub mod reload;
pub mod routes;
pub mod sealed;
pub mod second_factor;
pub mod serve;
pub mod state;
pub mod trace_context;
pub mod upstream;
pub mod vault;
pub mod web;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::routes::authority;
use crate::state::AppState;

pub use state::StateConfig;

/// The whole HTTP surface of signetd.
pub fn app(state: AppState) -> Router {
    use oauth::*;
    Router::new()
        .route(&authority(routes::DISCOVERY), get(discovery::discovery))
        .route(&authority(routes::JWKS), get(jwks::jwks))
        .route(&authority(routes::AUTHORIZE), get(web::authorize::authorize).post(web::authorize::authorize))
        .route(&authority(routes::DEVICE_AUTHORIZATION), post(device_authorization::device_authorization))
        .route(&authority(routes::TOKEN), post(token::token))
        .route(&authority(routes::REVOKE), post(revoke::revoke))
        .route(&authority(routes::INTROSPECT), post(introspect::introspect))
        .route(&authority(routes::USERINFO), get(userinfo::userinfo).post(userinfo::userinfo))
        .route(&authority(routes::SIGNOFF), get(web::signoff::signoff).post(web::signoff::signoff))
        .route(&authority(routes::SIGNON), get(web::signon::show).post(web::signon::submit))
        .route(&authority(routes::SIGNON_FEDERATE), post(web::federated::start))
        .route(&authority(routes::FEDERATION_CALLBACK), get(web::federated::callback))
        .route(&authority(routes::DEVICE), get(web::device::show).post(web::device::submit))
        .route(routes::HEALTHZ, get(health::healthz))
        .route(routes::READYZ, get(health::readyz))
        .route(routes::METRICS, get(health::metrics))
        .layer(DefaultBodyLimit::max(oauth::form::MAX_BODY))
        .nest(admin::PREFIX, admin::router().layer(DefaultBodyLimit::max(admin::MAX_BODY)))
        .nest(vault::PREFIX, vault::router().layer(DefaultBodyLimit::max(vault::MAX_BODY)))
        .layer(middleware::from_fn(refuse_nul_in_target))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Refuses a request whose path or query holds `%00` before any handler
/// sees it, with the error body of the protocol it was sent to.
async fn refuse_nul_in_target(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or_default();
    if !nul::target_has_nul(target) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    if path.starts_with(admin::PREFIX) {
        admin::AdminError::invalid(nul::MESSAGE).into_response()
    } else if path.starts_with(vault::PREFIX) {
        vault::VaultError::invalid(nul::MESSAGE).into_response()
    } else if is_page(path) {
        web::error_page(StatusCode::BAD_REQUEST, "Bad request", nul::MESSAGE)
    } else {
        error::OAuthError::invalid_request(nul::MESSAGE).into_response()
    }
}

/// The environment routes that answer a browser with HTML.
fn is_page(path: &str) -> bool {
    [routes::AUTHORIZE, routes::DEVICE, routes::SIGNOFF, routes::FEDERATION_CALLBACK].iter().any(|p| path.ends_with(p))
        || path.contains("/signon/")
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, for log lines about it.
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Gives every request an id (logged with anything that goes wrong, and
/// returned as `X-Request-Id`) and a W3C trace context (returned as
/// `traceparent`), both fields of the span its log lines are written in;
/// counts it by route template, method and status, and times it.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let id =
        signet_core::crypto::random_bytes::<8>().map(|b| format!("{:016x}", u64::from_be_bytes(b))).unwrap_or_default();
    let trace = trace_context::TraceContext::for_request(req.headers());
    let trace_id = trace.map(|t| t.trace_id_hex()).unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id, trace_id = %trace_id);
    let started = Instant::now();
    let served = REQUEST_ID.scope(id.clone(), next.run(req));
    let mut res = match trace {
        Some(t) => t.scope(served).instrument(span.clone()).await,
        None => served.instrument(span.clone()).await,
    };
    let route = route.as_ref().map(MatchedPath::as_str).unwrap_or("unmatched");
    let status = res.status().as_u16();
    state.metrics.request(route, method.as_str(), status, started.elapsed());
    span.in_scope(|| {
        tracing::debug!(target: "signetd::access", %method, route, status, micros = started.elapsed().as_micros() as u64, "served")
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    if let Some(v) = trace.and_then(|t| axum::http::HeaderValue::from_str(&t.header_value()).ok()) {
        res.headers_mut().insert(trace_context::HEADER, v);
    }
    // Served as https, whether here or by a proxy that ends TLS in front:
    // browsers must never come back over plain http (RFC 6797).
    if state.public_url.starts_with("https://") {
        res.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::is_page;

    #[test]
    fn pages_are_told_from_json_endpoints() {
        assert!(is_page("/e/as/authorize"));
        assert!(is_page("/e/as/signon/f1"));
        assert!(is_page("/e/as/signon/f1/federate"));
        assert!(is_page("/e/as/device"));
        assert!(!is_page("/e/as/token"));
        assert!(!is_page("/e/as/device_authorization"));
        assert!(!is_page("/e/as/userinfo"));
    }
}
