//! `/settings/authentication`: which schemes protect the admin API. Reading
//! and changing it both need all four roles.

use axum::extract::State;
use axum::response::Response;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, IfMatch, with_etag};
use crate::config::admin_auth::AuthSettings;
use crate::ops;
use crate::ops::settings::content_tag as tag;
use crate::state::AppState;

/// Which schemes protect the admin API (all four roles).
#[utoipa::path(get, path = "/settings/authentication", tag = "settings",
    responses((status = 200, body = AuthSettings, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AuthenticationSettings, Action::Read).await?;
    let current = crate::authn::settings(&state).await?;
    Ok(with_etag(tag(current.as_ref()), current.as_ref()))
}

/// Sets the schemes (all four roles). A change that would lock its maker out is refused.
#[utoipa::path(put, path = "/settings/authentication", tag = "settings", params(("If-Match" = Option<String>, Header)), request_body = AuthSettings,
    responses((status = 200, body = AuthSettings, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    IfMatch(if_match): IfMatch,
    Body(wanted): Body<AuthSettings>,
) -> Result<Response, AdminError> {
    let by = ops::authorize(&state, &caller, Resource::AuthenticationSettings, Action::Write).await?;
    let written = ops::settings::set_authentication(&state, &by, wanted, if_match.as_deref()).await?;
    Ok(with_etag(tag(&written), written))
}
