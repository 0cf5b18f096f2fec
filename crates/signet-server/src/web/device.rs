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
use signet_store::StoreError;

use super::authorize::{current_session, start_flow};
use super::{CSRF_COOKIE, PageEnv, PageParams, cookie, error_page, internal, page};
use crate::error::InternalError;
use crate::keyring::EnvKeys;
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

fn code_form(form: &CodeForm<'_>, status: StatusCode, secure: bool, path: &str) -> Response {
    let mut res = page(status, form);
    res.headers_mut().append(header::SET_COOKIE, cookie(CSRF_COOKIE, form.csrf, path, 1800, secure));
    res
}

pub async fn show(State(state): State<AppState>, PageEnv(env): PageEnv, PageParams(p): PageParams) -> Response {
    let Ok(csrf) = random_token() else { return internal("random generator failed") };
    let path = routes::AS_PREFIX.replace("{env}", env.environment.id.as_str());
    // A link's code is a convenience a phisher can use: administrators type their own.
    let user_code = match env.environment.name == ADMINISTRATORS {
        true => "",
        false => p.get("user_code").unwrap_or_default(),
    };
    code_form(&CodeForm { csrf: csrf.expose(), user_code, error: None }, StatusCode::OK, state.secure_cookies, &path)
}

pub async fn submit(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let csrf = p.get("csrf").unwrap_or_default();
    let held = super::read_cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if csrf.is_empty() || !constant_time_eq(csrf.as_bytes(), held.as_bytes()) {
        let why = "The form was not sent from this page. Open the link again.";
        return error_page(StatusCode::FORBIDDEN, "Request refused", why);
    }
    let typed = p.get("user_code").unwrap_or_default();
    let user_code = match pending(&state, &env, ip, typed).await {
        Ok(Ok(user_code)) => user_code,
        Ok(Err((error, status))) => {
            let path = routes::AS_PREFIX.replace("{env}", env.environment.id.as_str());
            let form = CodeForm { csrf, user_code: typed, error: Some(&error) };
            return code_form(&form, status, state.secure_cookies, &path);
        }
        Err(e) => return internal(e),
    };
    match signed_on_step(&state, &env, &headers).await {
        Ok(step) => start_flow(&state, &env, Purpose::Device { user_code }, step).await,
        Err(e) => internal(e),
    }
}

/// The user code of the pending device flow `typed` names, or what to say
/// instead. Wrong codes count against the address.
async fn pending(
    state: &AppState,
    env: &EnvKeys,
    ip: std::net::IpAddr,
    typed: &str,
) -> Result<Result<String, (String, StatusCode)>, StoreError> {
    let now = state.now();
    if let Some(wait) = state.failures.blocked(ip, Kind::DeviceCode, None, now) {
        state.metrics.failure(Failure::RateLimited);
        let error = format!("Too many wrong codes from your address. Try again in {} minutes.", wait.div_ceil(60));
        return Ok(Err((error, StatusCode::TOO_MANY_REQUESTS)));
    }
    let found = match user_code::normalize(typed) {
        Some(code) => state.store.device_by_user_code(&env.environment.id, &code).await?,
        None => None,
    };
    match found.filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now) {
        Some(device) => Ok(Ok(device.user_code)),
        None => {
            state.failures.fail(ip, Kind::DeviceCode, None, now);
            state.metrics.failure(Failure::WrongUserCode);
            let error = "That code is not valid or has expired. Check it and try again.";
            Ok(Err((error.to_owned(), StatusCode::BAD_REQUEST)))
        }
    }
}

/// Where the sign-on starts: already signed on in this browser, straight to
/// consent (which still needs a click) or the second factor an enforcement
/// asks for; otherwise the password.
async fn signed_on_step(state: &AppState, env: &EnvKeys, headers: &HeaderMap) -> Result<Step, InternalError> {
    let Some(s) = current_session(state, env, headers).await? else { return Ok(Step::Password) };
    Ok(match crate::enforcement::step_up(state, &s).await? {
        Some(mfa) => mfa,
        None => Step::Authenticated { account_id: s.account_id, auth_time: s.auth_time, amr: s.amr },
    })
}
