//! `/policies/lockout`: how many failed sign-ons lock an account and for how
//! long (UserAdmin writes: it governs how administrators sign on, and a
//! lock of one failure for a day would let anyone shut them out);
//! `/policies/tokens`: how long tokens live, and `/policies/refresh-reuse`:
//! the refresh reuse interval (Admin writes). Any role reads.
//! They apply to every environment, and lockout to native Basic on the
//! admin API too.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use signet_core::model::{LockoutPolicy, RefreshReuse, TokenLifetimes};
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, with_etag};
use crate::ops;
use crate::ops::settings::content_tag as tag;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lockout {
    /// Failed attempts in a row that lock an account, 1 to 100.
    max_failures: i64,
    /// How long it stays locked, 60 s to 1 day.
    lock_seconds: i64,
}

fn view(p: LockoutPolicy) -> Lockout {
    Lockout { max_failures: p.max_failures, lock_seconds: p.lock_seconds }
}

#[utoipa::path(get, path = "/policies/lockout", tag = "policies",
    responses((status = 200, body = Lockout, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Read).await?;
    let p = ops::policies::lockout(&state).await?;
    Ok(with_etag(tag(&p), view(p)))
}

/// Sets the lockout policy (UserAdmin).
#[utoipa::path(put, path = "/policies/lockout", tag = "policies", params(("If-Match" = Option<String>, Header)), request_body = Lockout,
    responses((status = 200, body = Lockout, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    IfMatch(if_match): IfMatch,
    Body(wanted): Body<Lockout>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::AdminSignOn, Action::Write).await?;
    let policy = LockoutPolicy { max_failures: wanted.max_failures, lock_seconds: wanted.lock_seconds };
    ops::settings::set_lockout_policy(&state, &by, policy, if_match.as_deref()).await?;
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

#[utoipa::path(get, path = "/policies/tokens", tag = "policies",
    responses((status = 200, body = Lifetimes, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read_lifetimes(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Read).await?;
    let l = ops::policies::token_lifetimes(&state).await?;
    let view =
        Lifetimes { access_token_seconds: l.access_token_seconds, refresh_token_seconds: l.refresh_token_seconds };
    Ok(with_etag(tag(&l), view))
}

/// Sets token lifetimes (Admin). Tokens issued afterwards, on every
/// instance within 5 s, live this long; tokens already issued keep theirs.
#[utoipa::path(put, path = "/policies/tokens", tag = "policies", params(("If-Match" = Option<String>, Header)), request_body = Lifetimes,
    responses((status = 200, body = Lifetimes, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update_lifetimes(
    State(state): State<AppState>,
    caller: Caller,
    IfMatch(if_match): IfMatch,
    Body(wanted): Body<Lifetimes>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Policies, Action::Write).await?;
    let l = TokenLifetimes {
        access_token_seconds: wanted.access_token_seconds,
        refresh_token_seconds: wanted.refresh_token_seconds,
    };
    ops::settings::set_token_lifetimes(&state, &by, l, if_match.as_deref()).await?;
    Ok(with_etag(tag(&l), wanted))
}

/// The refresh reuse interval: a client that proves who it is (a
/// confidential client, or a DPoP-bound family) may present the refresh
/// token it has just spent once more within it and get a new one, instead
/// of its sign-on being revoked as for a stolen token.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reuse {
    /// 0 (off, the default) to 60.
    interval_seconds: i64,
}

#[utoipa::path(get, path = "/policies/refresh-reuse", tag = "policies",
    responses((status = 200, body = Reuse, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read_refresh_reuse(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::Policies, Action::Read).await?;
    let r = ops::policies::refresh_reuse(&state).await?;
    Ok(with_etag(tag(&r), Reuse { interval_seconds: r.interval_seconds }))
}

/// Sets the refresh reuse interval (Admin). It applies on every instance
/// within 5 s.
#[utoipa::path(put, path = "/policies/refresh-reuse", tag = "policies", params(("If-Match" = Option<String>, Header)), request_body = Reuse,
    responses((status = 200, body = Reuse, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
pub async fn update_refresh_reuse(
    State(state): State<AppState>,
    caller: Caller,
    IfMatch(if_match): IfMatch,
    Body(wanted): Body<Reuse>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::Policies, Action::Write).await?;
    let r = RefreshReuse { interval_seconds: wanted.interval_seconds };
    ops::settings::set_refresh_reuse(&state, &by, r, if_match.as_deref()).await?;
    Ok(with_etag(tag(&r), wanted))
}
