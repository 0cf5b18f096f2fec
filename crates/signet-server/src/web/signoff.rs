//! `/signoff`: ends the browser session in this environment.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use signet_core::crypto::sha256;

use crate::routes;
use crate::state::AppState;
use crate::web::{self, PageEnv, cookie, internal, page};

#[derive(Template)]
#[template(path = "signed_off.html")]
struct SignedOff;

pub async fn signoff(State(state): State<AppState>, PageEnv(env): PageEnv, headers: HeaderMap) -> Response {
    if let Some(raw) = web::read_cookie(&headers, web::SESSION_COOKIE)
        && let Err(e) = state.store.delete_session(&sha256(raw.as_bytes())).await
    {
        return internal(e);
    }
    let mut res = page(StatusCode::OK, &SignedOff);
    let path = routes::AS_PREFIX.replace("{env}", env.environment.id.as_str());
    res.headers_mut().append(header::SET_COOKIE, cookie(web::SESSION_COOKIE, "", &path, 0, state.secure_cookies));
    res
}
