//! The HTML pages: sign-on steps, TOTP enrolment, device verification and
//! consent. Plain forms that work without JavaScript, CSRF-protected, never
//! framed, never cached.

pub mod authorize;
pub mod device;
pub mod federated;
pub mod mfa;
pub mod signoff;
pub mod signon;

use std::sync::Arc;

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

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;\
padding:.5rem;font-size:1rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}\
.error{color:#a00;background:#fee;padding:.5rem;border-radius:4px}\
.warning{color:#6a4a00;background:#fff6da;padding:.5rem;border-radius:4px}.secret{font-family:monospace;word-break:break-all}\
.code{font-family:monospace;font-size:1.3rem;letter-spacing:.1rem}svg{width:12rem;height:12rem}";

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

pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · signet</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    harden(res.headers_mut());
    res
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message)))
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
            Err(e) => {
                tracing::error!(request_id = %crate::request_id(), error = %e, "loading environment keys");
                Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later."))
            }
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
