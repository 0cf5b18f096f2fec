//! Client authentication at the token, device, revocation and introspection
//! endpoints (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, or a
//! bare `client_id` for public clients. Using two methods at once is refused.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use signet_core::crypto::{constant_time_eq, sha256};
use signet_core::model::Application;
use signet_core::secret::Secret;

use super::Env;
use super::form::Params;
use crate::error::OAuthError;
use crate::metrics::Failure;
use crate::ratelimit::Kind;
use crate::state::AppState;

enum Presented {
    Secret { id: String, secret: Secret<String>, basic: bool },
    Public { id: String },
}

fn presented(headers: &HeaderMap, p: &Params) -> Result<Presented, OAuthError> {
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
    });
    if let Some(b64) = basic {
        if p.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not two"));
        }
        let bad = || {
            let mut e = OAuthError::invalid_client();
            e.basic_challenge = true;
            e
        };
        let raw = STANDARD.decode(b64).map_err(|_| bad())?;
        let raw = Secret::new(String::from_utf8(raw).map_err(|_| bad())?);
        let (id, secret) = raw.expose().split_once(':').ok_or_else(bad)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
        let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned());
        let id = decode(id).map_err(|_| bad())?;
        let secret = Secret::new(decode(secret).map_err(|_| bad())?);
        if id.contains('\0') || secret.expose().contains('\0') {
            return Err(OAuthError::invalid_request(crate::nul::MESSAGE));
        }
        if p.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the authenticated client"));
        }
        return Ok(Presented::Secret { id, secret, basic: true });
    }
    let id = p.require("client_id")?.to_owned();
    Ok(match p.get("client_secret") {
        Some(s) => Presented::Secret { id, secret: Secret::new(s.to_owned()), basic: false },
        None => Presented::Public { id },
    })
}

/// Whether `presented` authenticates `app`.
fn matches(app: Option<&Application>, presented: &Presented) -> bool {
    match (app, presented) {
        (Some(app), Presented::Secret { secret, .. }) => {
            app.secret_hash.as_deref().is_some_and(|h| constant_time_eq(h, &sha256(secret.expose().as_bytes())))
        }
        (Some(app), Presented::Public { .. }) => app.kind.is_public(),
        (None, _) => false,
    }
}

/// The authenticated application, or `invalid_client`. Failures count against
/// the caller's address.
pub async fn authenticate(
    state: &AppState,
    env: &Env,
    ip: IpAddr,
    headers: &HeaderMap,
    p: &Params,
) -> Result<std::sync::Arc<Application>, OAuthError> {
    let now = state.now();
    let presented = presented(headers, p)?;
    let (id, basic) = match &presented {
        Presented::Secret { id, basic, .. } => (id.as_str(), *basic),
        Presented::Public { id } => (id.as_str(), false),
    };
    let env_id = env.id().as_str();
    let mark = state.revocations.subject_mark(&state.store, id, now).await?;
    let mut app = state.clients.get_marked(&state.store, env_id, id, now, mark).await?;
    let mut ok = matches(app.as_deref(), &presented);
    // A secret that does not match the cached application may be one just
    // rotated in on another instance: the store is asked once more, unless
    // this caller's failures have already blocked it, so a flood of wrong
    // secrets costs no more reads than one of unknown client ids.
    if !ok
        && app.is_some()
        && matches!(presented, Presented::Secret { .. })
        && !state.failures.would_block(ip, Kind::ClientAuthentication, Some(id), now)
    {
        app = state.clients.reread(&state.store, env_id, id, now, mark).await?;
        ok = matches(app.as_deref(), &presented);
    }
    // A right credential always passes: client secrets are 256-bit, so no
    // stranger's failures in a client's name may stop the client itself.
    // A wrong one is judged by its own failures from this address (finding 4).
    match app {
        Some(app) if ok => {
            state.failures.succeeded(ip, Kind::ClientAuthentication, id, now);
            Ok(app)
        }
        _ => {
            if let Some(wait) = state.failures.blocked(ip, Kind::ClientAuthentication, Some(id), now) {
                state.metrics.failure(Failure::RateLimited);
                return Err(OAuthError::too_many_failures(wait));
            }
            state.failures.fail(ip, Kind::ClientAuthentication, Some(id), now);
            state.metrics.failure(Failure::InvalidClient);
            let mut e = OAuthError::invalid_client();
            e.basic_challenge = basic;
            Err(e)
        }
    }
}
