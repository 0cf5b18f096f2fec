//! The HTML pages: sign-on steps, TOTP enrolment, device verification and
//! consent. Plain forms that work without JavaScript, CSRF-protected, never
//! framed, never cached. Each page is a template in `templates/` (askama),
//! so every value reaches the HTML through the engine's escaping.

pub mod authorize;
mod credentials;
pub mod device;
pub mod federated;
pub mod mfa;
mod qr;
pub mod signoff;
pub mod signon;

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::keyring::{EnvKeys, KeyringError};
use crate::oauth::form::{OAuthParams, Params};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "signet_session";
pub const CSRF_COOKIE: &str = "signet_csrf";

pub fn flow_cookie(flow_id: &str) -> String {
    format!("signet_flow_{flow_id}")
}

/// Headers every page carries: no framing (clickjacking), no caching, no
/// referrer leaking codes, and a policy that runs no script at all.
fn harden(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
}

/// `template` as a page with the hardened headers. A template that fails
/// to render (only a `Display` of its own can make it) is a bare 500.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    let mut res = match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(request_id = %crate::request_id(), error = %e, "rendering a page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    };
    harden(res.headers_mut());
    res
}

/// A page that says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, &ErrorPage { title, message })
}

/// An error that is not the person's to fix: logged with the request id,
/// and a page that says no more.
pub fn internal(e: impl std::fmt::Display + 'static) -> Response {
    if crate::error::store_unavailable(&e) {
        crate::error::log_unavailable(&e);
        return unavailable_page();
    }
    tracing::error!(request_id = %crate::request_id(), error = %e, "internal error");
    error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later.")
}

/// The store is out of reach: a plain 503 page, to try again.
pub fn unavailable_page() -> Response {
    let mut res =
        error_page(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable", "Please try again in a moment.");
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// A 303 to `location`, with hardened headers.
pub fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    harden(res.headers_mut());
    res
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (a cross-site POST carries no
/// cookie, which is the first line of CSRF defence), Secure over https.
pub fn cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The environment of a page; an unknown one is an HTML 404.
pub struct PageEnv(pub Arc<EnvKeys>);

impl FromRequestParts<AppState> for PageEnv {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match crate::oauth::env_from_parts(parts, state).await {
            Ok(k) => Ok(PageEnv(k)),
            Err(KeyringError::UnknownEnvironment) => {
                Err(error_page(StatusCode::NOT_FOUND, "Not found", "There is no such environment."))
            }
            Err(e) => Err(internal(e)),
        }
    }
}

/// Form fields or query parameters of a page, strictly parsed; bad input is an HTML 400.
pub struct PageParams(pub Params);

impl FromRequest<AppState> for PageParams {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        OAuthParams::from_request(req, state)
            .await
            .map(|p| PageParams(p.0))
            .map_err(|e| error_page(e.status, "Bad request", &e.description))
    }
}
