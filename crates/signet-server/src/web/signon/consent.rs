//! The person's own decision once signed on: the device consent (RFC 8628
//! §3.3), and an administrator's confirmation of where a code goes before
//! it leaves their device.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use signet_core::audit::Action as Event;
use signet_core::login::{AuthorizeRequest, Purpose};
use signet_core::model::{ADMINISTRATORS, DeviceStatus};
use signet_store::LoginFlow;

use super::audit::person_event;
use super::pages::render;
use crate::error::InternalError;
use crate::keyring::EnvKeys;
use crate::state::AppState;
use crate::web::authorize::{new_code, redirect_with_code};
use crate::web::{error_page, internal, page};

#[derive(Template)]
#[template(path = "signon/consent.html")]
struct ConsentPage<'a> {
    app_name: &'a str,
    app_id: &'a str,
    user_code: String,
    requested_from: &'a str,
    requested_at: String,
    scopes: Vec<&'a str>,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/confirm.html")]
struct ConfirmPage<'a> {
    app_name: &'a str,
    app_id: &'a str,
    destination: String,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/cancelled.html")]
struct Cancelled;

#[derive(Template)]
#[template(path = "device/approved.html")]
struct Approved;

#[derive(Template)]
#[template(path = "device/denied.html")]
struct Denied;

/// Who an authenticated flow signed on, when, and how (`Step::Authenticated`).
#[derive(Clone, Copy)]
pub(super) struct SignedOn<'a> {
    pub account_id: &'a str,
    pub auth_time: i64,
    pub amr: &'a [String],
}

/// The answer to an authenticated flow's page: the device consent's, or
/// the administrator's confirmation of where the code goes (`confirmed`).
pub(super) async fn decide(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    who: SignedOn<'_>,
    decision: Option<&str>,
    ip: std::net::IpAddr,
) -> Response {
    let SignedOn { account_id, auth_time, amr } = who;
    let user_code = match &flow.purpose {
        Purpose::Device { user_code } => user_code,
        Purpose::Authorize(req) if needs_confirmation(env, req) => {
            return confirmed(state, env, flow, req, who, decision, ip).await;
        }
        Purpose::Authorize(_) => {
            return error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.");
        }
    };
    let status = match decision {
        Some("approve") => {
            DeviceStatus::Approved { account_id: account_id.to_owned().into(), auth_time, amr: amr.to_vec() }
        }
        Some("deny") => DeviceStatus::Denied,
        _ => return render(state, env, flow, Some("Choose Approve or Deny."), StatusCode::BAD_REQUEST).await,
    };
    // Which device got whose tokens is what a phished approval would hide:
    // the decision is recorded with where and when the code was asked for.
    let now = state.now();
    let action = if matches!(status, DeviceStatus::Denied) { Event::DeviceDeny } else { Event::DeviceApprove };
    let ev = match person_event(state, account_id, action, format!("device:{user_code}"), ip, now).await {
        Ok(mut ev) => {
            if let Ok(Some(d)) = state.store.device_by_user_code(&env.environment.id, user_code).await {
                ev.digest = signet_core::audit::digest_of(&serde_json::json!({
                    "client_id": d.client_id, "scope": d.scope,
                    "requested_from": d.requested_from, "requested_at": d.requested_at,
                }));
            }
            ev
        }
        Err(e) => return internal(e),
    };
    let decided = match state.store.decide_device(user_code, &status, now, &ev).await {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    if let Err(e) = state.store.delete_flow(&flow.id).await {
        return internal(e);
    }
    match (decided, status) {
        (false, _) => error_page(
            StatusCode::BAD_REQUEST,
            "Code expired",
            "This code has expired or was already used. Start again on your device.",
        ),
        (true, DeviceStatus::Denied) => page(StatusCode::OK, &Denied),
        (true, _) => page(StatusCode::OK, &Approved),
    }
}

/// The device consent: what asks to act as the person, from where and when.
pub(super) async fn consent(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    user_code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let device = match state.store.device_by_user_code(&env.environment.id, user_code).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Code expired",
                "This code has expired. Start again on your device.",
            );
        }
        Err(e) => return internal(e),
    };
    let app = match state.store.application(&env.environment.id, &device.client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return error_page(StatusCode::BAD_REQUEST, "Unknown application", "The application no longer exists.");
        }
        Err(e) => return internal(e),
    };
    let requested_at = crate::second_factor::rfc2822(device.requested_at).replace("+0000", "UTC");
    let consent = ConsentPage {
        app_name: &app.name,
        app_id: app.id.as_str(),
        user_code: signet_core::user_code::display(user_code),
        requested_from: device.requested_from.as_deref().unwrap_or("an unknown address"),
        requested_at,
        scopes: device.scope.split(' ').filter(|s| !s.is_empty()).collect(),
        error,
        csrf: &flow.csrf,
    };
    page(status, &consent)
}

/// Whether a code for this request waits for the person to confirm where it
/// goes: in the Administrators environment, when it would leave this device
/// (any redirect but a loopback IP literal). An administrator's code is the
/// key to their tokens; one link opened in a signed-on browser must not send
/// it anywhere without a page that names the destination.
pub(crate) fn needs_confirmation(env: &EnvKeys, req: &AuthorizeRequest) -> bool {
    env.environment.name == ADMINISTRATORS && !signet_core::redirect::stays_on_device(&req.redirect_uri)
}

/// The page that names where an administrator's code is about to go.
pub(super) async fn confirmation(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    req: &AuthorizeRequest,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let app =
        match state.clients.get(&state.store, env.environment.id.as_str(), req.client_id.as_str(), state.now()).await {
            Ok(Some(app)) => app,
            Ok(None) => {
                return error_page(StatusCode::BAD_REQUEST, "Unknown application", "The application no longer exists.");
            }
            Err(e) => return internal(e),
        };
    let confirm = ConfirmPage {
        app_name: &app.name,
        app_id: app.id.as_str(),
        destination: signet_core::redirect::destination(&req.redirect_uri),
        error,
        csrf: &flow.csrf,
    };
    page(status, &confirm)
}

/// The answer to the confirmation: the code goes to the client, or nowhere.
/// Both are recorded, with the destination.
async fn confirmed(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    req: &AuthorizeRequest,
    who: SignedOn<'_>,
    decision: Option<&str>,
    ip: std::net::IpAddr,
) -> Response {
    let SignedOn { account_id, auth_time, amr } = who;
    let now = state.now();
    let recorded = |action: Event| {
        let (client, destination) = (req.client_id.clone(), signet_core::redirect::destination(&req.redirect_uri));
        async move {
            let mut ev = person_event(state, account_id, action, format!("client:{client}"), ip, now).await?;
            ev.digest = signet_core::audit::digest_of(&serde_json::json!({"destination": destination}));
            Ok::<_, InternalError>(ev)
        }
    };
    match decision {
        Some("continue") => {
            let (code, record) = match new_code(state, env, req, account_id, auth_time, amr) {
                Ok(drawn) => drawn,
                Err(e) => return internal(e),
            };
            let ev = match recorded(Event::AuthorizeConfirm).await {
                Ok(ev) => ev,
                Err(e) => return internal(e),
            };
            match state.store.end_flow_with_code(&flow.id, flow.version, &record, &ev).await {
                Ok(true) => redirect_with_code(state, env, req, code.expose()),
                Ok(false) => {
                    error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.")
                }
                Err(e) => internal(e),
            }
        }
        Some("cancel") => match async {
            state.store.record(&recorded(Event::AuthorizeCancel).await?).await?;
            Ok::<_, InternalError>(state.store.delete_flow(&flow.id).await?)
        }
        .await
        {
            Ok(()) => page(StatusCode::OK, &Cancelled),
            Err(e) => internal(e),
        },
        _ => render(state, env, flow, Some("Choose Continue or Cancel."), StatusCode::BAD_REQUEST).await,
    }
}
