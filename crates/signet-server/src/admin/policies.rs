//! `/policies/lockout`: how many failed sign-ons lock an account and for how
//! long (UserAdmin writes: it governs how administrators sign on, and a
//! lock of one failure for a day would let anyone shut them out);
//! `/policies/tokens`: how long tokens live (Admin writes). Any role reads.
//! They apply to every environment, and lockout to native Basic on the
//! admin API too.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::model::{LockoutPolicy, TokenLifetimes};
use signet_core::policy::{Action, Resource};
use signet_store::LOCKOUT_POLICY_KEY;

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, if_match_raw, tag_matches, with_etag};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lockout {
    /// Failed attempts in a row that lock an account, 1 to 100.
    max_failures: i64,
    /// How long it stays locked, 60 s to 1 day.
    lock_seconds: i64,
}

fn tag(p: &LockoutPolicy) -> String {
    let v = serde_json::to_value(p).unwrap_or_default();
    format!("\"{}\"", &digest_of(&v)[..24])
}

fn view(p: LockoutPolicy) -> Lockout {
    Lockout { max_failures: p.max_failures, lock_seconds: p.lock_seconds }
}

#[utoipa::path(get, path = "/policies/lockout", tag = "policies",
    responses((status = 200, body = Lockout, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Read).await?;
    let p = state.store.lockout_policy().await?;
    Ok(with_etag(tag(&p), view(p)))
}

/// Sets the lockout policy (UserAdmin).
#[utoipa::path(put, path = "/policies/lockout", tag = "policies", params(("If-Match" = Option<String>, Header)), request_body = Lockout,
    responses((status = 200, body = Lockout, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(wanted): Body<Lockout>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AdminSignOn, Action::Write).await?;
    if !(1..=100).contains(&wanted.max_failures) {
        return Err(AdminError::invalid("max_failures: between 1 and 100"));
    }
    if !(60..=86_400).contains(&wanted.lock_seconds) {
        return Err(AdminError::invalid("lock_seconds: between 60 and 86400"));
    }
    let expected = if_match_raw(&headers)?;
    let policy = LockoutPolicy { max_failures: wanted.max_failures, lock_seconds: wanted.lock_seconds };
    let value = serde_json::to_value(policy).map_err(AdminError::internal)?;
    let mut ev = caller.event(Event::AdminPolicyLockout, LOCKOUT_POLICY_KEY, state.now())?;
    ev.digest = digest_of(&value);
    let still = |current: Option<&serde_json::Value>| {
        let current = current.and_then(|v| serde_json::from_value::<LockoutPolicy>(v.clone()).ok()).unwrap_or_default();
        tag_matches(expected.as_deref(), &tag(&current))
    };
    if !state.store.put_setting_if(LOCKOUT_POLICY_KEY, still, &value, &ev).await? {
        return Err(AdminError::stale());
    }
    Ok(with_etag(tag(&policy), view(policy)))
}

/// How long access and refresh tokens live, in seconds.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    /// 300 to 3600 (the default and the longest).
    access_token_seconds: i64,
    /// 3600 to 30 days (the default and the longest); not shorter than an access token.
    refresh_token_seconds: i64,
}

fn lifetimes_tag(l: &TokenLifetimes) -> String {
    let v = serde_json::to_value(l).unwrap_or_default();
    format!("\"{}\"", &digest_of(&v)[..24])
}

async fn current_lifetimes(state: &AppState) -> Result<TokenLifetimes, AdminError> {
    Ok(state.store.setting(TokenLifetimes::KEY).await?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

#[utoipa::path(get, path = "/policies/tokens", tag = "policies",
    responses((status = 200, body = Lifetimes, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read_lifetimes(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Read).await?;
    let l = current_lifetimes(&state).await?;
    let view =
        Lifetimes { access_token_seconds: l.access_token_seconds, refresh_token_seconds: l.refresh_token_seconds };
    Ok(with_etag(lifetimes_tag(&l), view))
}

/// Sets token lifetimes (Admin). Tokens issued afterwards, on every
/// instance within 5 s, live this long; tokens already issued keep theirs.
#[utoipa::path(put, path = "/policies/tokens", tag = "policies", params(("If-Match" = Option<String>, Header)), request_body = Lifetimes,
    responses((status = 200, body = Lifetimes, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update_lifetimes(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(wanted): Body<Lifetimes>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Write).await?;
    let l = TokenLifetimes {
        access_token_seconds: wanted.access_token_seconds,
        refresh_token_seconds: wanted.refresh_token_seconds,
    };
    l.check().map_err(AdminError::invalid)?;
    let expected = if_match_raw(&headers)?;
    let value = serde_json::to_value(l).map_err(AdminError::internal)?;
    let mut ev = caller.event(Event::AdminPolicyTokens, TokenLifetimes::KEY, state.now())?;
    ev.digest = digest_of(&value);
    let still = |current: Option<&serde_json::Value>| {
        let current =
            current.and_then(|v| serde_json::from_value::<TokenLifetimes>(v.clone()).ok()).unwrap_or_default();
        tag_matches(expected.as_deref(), &lifetimes_tag(&current))
    };
    let written = state.store.put_setting_if(TokenLifetimes::KEY, still, &value, &ev).await?;
    state.forget_lifetimes();
    if !written {
        return Err(AdminError::stale());
    }
    Ok(with_etag(lifetimes_tag(&l), wanted))
}
