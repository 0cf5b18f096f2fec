//! The device verification page (RFC 8628 §3.3): enter the code shown on the
//! device, sign on, then approve or deny. The code form uses a double-submit
//! CSRF cookie, so another site cannot make a browser submit its code.
//!
//! Anyone can start a device flow and send someone its link, which is the
//! flow's phishing risk (RFC 8628 §5.4). So the page says to approve only a
//! code you started yourself (`parts/only_your_own.html`), the consent shows
//! where and when the code was asked for, and in the Administrators
//! environment the link's code is never filled in: an administrator types
//! what their own device shows.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use signet_core::crypto::{constant_time_eq, random_token};
use signet_core::login::{Purpose, Step};
use signet_core::model::{ADMINISTRATORS, DeviceStatus};
use signet_core::user_code;

use super::authorize::{current_session, start_flow};
use super::{CSRF_COOKIE, PageEnv, PageParams, cookie, internal, page};
use crate::metrics::Failure;
use crate::net::ClientIp;
use crate::ratelimit::Kind;
use crate::routes;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "device/code.html")]
struct CodeForm<'a> {
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

fn code_form(csrf: &str, prefill: &str, error: Option<&str>, status: StatusCode, secure: bool, path: &str) -> Response {
    let mut res = page(status, &CodeForm { csrf, user_code: prefill, error });
    res.headers_mut().append(header::SET_COOKIE, cookie(CSRF_COOKIE, csrf, path, 1800, secure));
    res
}

pub async fn show(State(state): State<AppState>, PageEnv(env): PageEnv, PageParams(p): PageParams) -> Response {
    let Ok(csrf) = random_token() else { return internal("random generator failed") };
    let path = routes::AS_PREFIX.replace("{env}", &env.environment.id);
    // A link's code is a convenience a phisher can use: administrators type their own.
    let prefill = match env.environment.name == ADMINISTRATORS {
        true => "",
        false => p.get("user_code").unwrap_or_default(),
    };
    code_form(csrf.expose(), prefill, None, StatusCode::OK, state.secure_cookies, &path)
}

pub async fn submit(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let path = routes::AS_PREFIX.replace("{env}", &env.environment.id);
    let sent = p.get("csrf").unwrap_or_default();
    let held = super::read_cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if sent.is_empty() || !constant_time_eq(sent.as_bytes(), held.as_bytes()) {
        return super::error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was not sent from this page. Open the link again.",
        );
    }
    let now = state.now();
    let typed = p.get("user_code").unwrap_or_default();
    let retry = |msg: &str, status| code_form(sent, typed, Some(msg), status, state.secure_cookies, &path);
    if let Some(wait) = state.failures.blocked(ip, Kind::DeviceCode, None, now) {
        state.metrics.failure(Failure::RateLimited);
        return retry(
            &format!("Too many wrong codes from your address. Try again in {} minutes.", wait.div_ceil(60)),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let found = match user_code::normalize(typed) {
        Some(code) => match state.store.device_by_user_code(&env.environment.id, &code).await {
            Ok(d) => d.filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now),
            Err(e) => return internal(e),
        },
        None => None,
    };
    let Some(device) = found else {
        state.failures.fail(ip, Kind::DeviceCode, None, now);
        state.metrics.failure(Failure::WrongUserCode);
        return retry("That code is not valid or has expired. Check it and try again.", StatusCode::BAD_REQUEST);
    };
    // Already signed on in this browser: straight to consent, which still needs a click.
    let step = match current_session(&state, &env, &headers).await {
        Ok(Some(s)) => match crate::enforcement::step_up(&state, &s).await {
            Ok(Some(mfa)) => mfa,
            Ok(None) => Step::Authenticated { account_id: s.account_id, auth_time: s.auth_time, amr: s.amr },
            Err(e) => return internal(e),
        },
        Ok(None) => Step::Password,
        Err(e) => return internal(e),
    };
    start_flow(&state, &env, Purpose::Device { user_code: device.user_code }, step).await
}
