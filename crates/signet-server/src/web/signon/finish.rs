//! The end of a sign-on: the browser session and its record, the code for
//! the client, and the device cookie that lets this browser's failures
//! spend a budget of their own.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::crypto::{random_token, sha256};
use signet_core::login::Purpose;
use signet_core::model::{Account, BROWSER_SESSION_TTL};
use signet_store::{BrowserSession, LoginFlow};

use super::audit::event;
use super::consent::needs_confirmation;
use crate::error::InternalError;
use crate::keyring::EnvKeys;
use crate::routes::{self, signon_url};
use crate::state::AppState;
use crate::web::authorize::{new_code, redirect_with_code};
use crate::web::{SESSION_COOKIE, cookie, internal, read_cookie, see_other};

/// The person is authenticated: start a browser session, record the sign-on,
/// then give the client its code or show the device consent.
pub(super) async fn finish(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    account: &Account,
    auth_time: i64,
    amr: &[String],
    ip: std::net::IpAddr,
) -> Response {
    let now = state.now();
    let account_id = account.id.as_str();
    // Only an account with failures on record needs its count reset.
    let reset = account.failed_attempts != 0;
    let result = async {
        let target = match &flow.purpose {
            Purpose::Authorize(r) => format!("client:{}", r.client_id),
            Purpose::Device { user_code } => format!("device:{user_code}"),
        };
        let mut ev = event(account, Event::Signon, target, Some(ip), now)?;
        ev.actor.scheme = ActorScheme::Methods(amr.to_vec());
        ev.set_outcome(Outcome::Success);
        ev.request_id = Some(crate::request_id());
        let session = random_token()?;
        let s = BrowserSession {
            environment_id: env.environment.id.clone(),
            account_id: account_id.to_owned().into(),
            auth_time,
            amr: amr.to_vec(),
            expires_at: now + BROWSER_SESSION_TTL,
        };
        let session_hash = sha256(session.expose().as_bytes());
        let mut res = match &flow.purpose {
            // The flow waits at `Authenticated` for the person to confirm where the code goes.
            Purpose::Authorize(req) if needs_confirmation(env, req) => {
                state.store.complete_signon(&ev, reset, &session_hash, &s, None, None).await?;
                see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id))
            }
            Purpose::Authorize(req) => {
                let (code, record) = new_code(state, env, req, account_id, auth_time, amr)?;
                if !state
                    .store
                    .complete_signon(&ev, reset, &session_hash, &s, Some(&record), Some((&flow.id, flow.version)))
                    .await?
                {
                    return Ok(see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)));
                }
                redirect_with_code(state, env, req, code.expose())
            }
            Purpose::Device { .. } => {
                state.store.complete_signon(&ev, reset, &session_hash, &s, None, None).await?;
                see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id))
            }
        };
        let path = routes::AS_PREFIX.replace("{env}", env.environment.id.as_str());
        res.headers_mut().append(
            header::SET_COOKIE,
            cookie(SESSION_COOKIE, session.expose(), &path, BROWSER_SESSION_TTL, state.secure_cookies),
        );
        // This browser completed a sign-on for the account: from now on its
        // failures spend a budget of its own (finding 2).
        if let Some(device) = device_cookie(state, account, None, &path) {
            res.headers_mut().append(header::SET_COOKIE, device);
        }
        Ok::<_, InternalError>(res)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// The device id a browser's cookie proves for this account, if any.
pub fn device_of(state: &AppState, account: &Account, cookies: &HeaderMap) -> Option<String> {
    let value = read_cookie(cookies, &signet_core::device::cookie_name(&state.kek, account.id.as_str()))?;
    signet_core::device::check(&state.kek, account, value)
}

/// A `Set-Cookie` for the device cookie of a browser that just completed a
/// sign-on for `account` (keeping the device id it had).
fn device_cookie(state: &AppState, account: &Account, had: Option<&str>, path: &str) -> Option<HeaderValue> {
    let value = signet_core::device::cookie_value(&state.kek, account, had).ok()?;
    let name = signet_core::device::cookie_name(&state.kek, account.id.as_str());
    Some(cookie(&name, &value, path, signet_core::device::COOKIE_TTL, state.secure_cookies))
}
