//! `/settings/authentication`: which schemes protect the admin API. Reading
//! and changing it both need all four roles.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use signet_core::audit::Action as Event;
use signet_core::audit::digest_of;
use signet_core::policy::{Action, Resource};

use super::caller::Caller;
use super::{AdminError, Body, ErrorBody, with_etag};
use crate::config::admin_auth::{AuthSettings, SETTINGS_KEY};
use crate::state::AppState;

fn tag(s: &AuthSettings) -> String {
    let body = serde_json::to_value(s).unwrap_or_default();
    format!("\"{}\"", &digest_of(&body)[..24])
}

/// Which schemes protect the admin API (all four roles).
#[utoipa::path(get, path = "/settings/authentication", tag = "settings",
    responses((status = 200, body = AuthSettings, headers(("ETag" = String))), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read(State(state): State<AppState>, caller: Caller) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AuthenticationSettings, Action::Read).await?;
    let current = crate::authn::settings(&state).await?;
    Ok(with_etag(tag(&current), current.as_ref()))
}

/// Sets the schemes (all four roles). A change that would lock its maker out is refused.
#[utoipa::path(put, path = "/settings/authentication", tag = "settings", params(("If-Match" = Option<String>, Header)), request_body = AuthSettings,
    responses((status = 200, body = AuthSettings, headers(("ETag" = String))), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(wanted): Body<AuthSettings>,
) -> Result<Response, AdminError> {
    caller.allow(&state, Resource::AuthenticationSettings, Action::Write).await?;
    if state.authn.from_file.is_some() {
        return Err(AdminError::conflict(
            "the authentication settings are set in signetd's config file ([admin_api.authentication]); change them there",
        ));
    }
    let mut wanted = wanted;
    wanted.check(&state.kek, state.public_url.starts_with("https://")).map_err(AdminError::invalid)?;
    // Whoever makes the change must still get in afterwards with what they
    // used to make it, so a change can never lock every administrator out.
    let using = caller.actor.scheme.clone();
    if !wanted.schemes.iter().any(|s| s.as_str() == using) {
        return Err(AdminError::unprocessable(format!(
            "schemes: this would lock you out: you are signed on with {using}, which the new settings leave out; keep it, or make the change signed on with a scheme that stays"
        )));
    }
    let expected = super::if_match_raw(&headers)?;
    let value = serde_json::to_value(&wanted).map_err(AdminError::internal)?;
    let mut ev = caller.event(Event::AdminSettingsAuthentication, SETTINGS_KEY, state.now())?;
    ev.digest = digest_of(&value);
    // The If-Match is checked against the value the write replaces, in its transaction.
    let still = |current: Option<&serde_json::Value>| {
        let current = current.and_then(|v| serde_json::from_value::<AuthSettings>(v.clone()).ok()).unwrap_or_default();
        super::tag_matches(expected.as_deref(), &tag(&current))
    };
    let written = state.store.put_setting_if(SETTINGS_KEY, still, &value, &ev).await?;
    state.authn.forget_settings();
    if !written {
        return Err(AdminError::stale());
    }
    Ok(with_etag(tag(&wanted), value))
}
