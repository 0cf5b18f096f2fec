//! `/jwks`: the environment's public keys, the active one and those retired
//! recently enough that tokens they signed may still be live.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;

use super::Env;

pub async fn jwks(env: Env) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(env.jwks.clone()))
}
