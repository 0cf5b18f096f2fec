//! The admin API under `/admin-api/v1` (seed 003): JSON in and out, errors as
//! `{"error", "message"}`, every read with an `ETag`, every write accepting
//! `If-Match`, every list paginated with a cursor and a limit.
//!
//! Each request is authenticated by the configured schemes (`caller`), then
//! handlers name the resource and action they touch and ask
//! `signet_core::policy`, through `Caller::allow`; they never look at roles.
//! Writes and refusals of authenticated callers are recorded in the audit
//! trail, writes in the same transaction as the change.

mod accounts;
mod applications;
mod audit;
mod bulk;
pub mod caller;
mod certificates;
mod claim_mappings;
mod config_archive;
mod config_store;
mod environments;
mod identity_providers;
mod keys;
mod policies;
mod settings;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use signet_core::id::EnvironmentId;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::state::AppState;
pub use signet_proto::admin::ErrorBody;

pub const PREFIX: &str = crate::routes::ADMIN_API;
/// No admin document comes near this.
pub const MAX_BODY: usize = 256 * 1024;
/// What `/bulk` and `/configArchive` imports take: the whole configuration.
/// Only their routes raise the limit.
pub const DOCUMENT_MAX_BODY: usize = 16 * 1024 * 1024;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The OpenAPI document's frame; the paths and schemas come from the
/// handlers' own annotations as they are routed, so the document cannot
/// drift from what is served.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "signet admin API", version = "1", description = "Administration of signetd (seed 003). Every change is attributed to a named person or application and recorded in a hash-chained audit trail."),
    servers((url = "/admin-api/v1")),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

pub fn router() -> Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(accounts::list, accounts::create))
        .routes(routes!(accounts::read, accounts::update))
        .routes(routes!(accounts::password))
        .routes(routes!(accounts::unlock))
        .routes(routes!(environments::list, environments::create))
        .routes(routes!(environments::read))
        .routes(routes!(keys::list, keys::rotate))
        .routes(routes!(keys::retire))
        .routes(routes!(keys::read_schedule, keys::update_schedule))
        .routes(routes!(applications::list, applications::create))
        .routes(routes!(applications::read, applications::update, applications::delete))
        .routes(routes!(applications::rotate_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::read, users::update))
        .routes(routes!(users::password))
        .routes(routes!(users::unlock))
        .routes(routes!(settings::read, settings::update))
        .routes(routes!(certificates::list, certificates::import))
        .routes(routes!(certificates::read, certificates::delete))
        .routes(routes!(claim_mappings::list, claim_mappings::create))
        .routes(routes!(claim_mappings::preview))
        .routes(routes!(claim_mappings::read, claim_mappings::update, claim_mappings::delete))
        .routes(routes!(users::attributes, users::set_attributes))
        .routes(routes!(identity_providers::list, identity_providers::create))
        .routes(routes!(identity_providers::read, identity_providers::update, identity_providers::delete))
        .routes(routes!(identity_providers::links, identity_providers::link))
        .routes(routes!(identity_providers::unlink))
        .routes(routes!(config_store::list))
        .routes(routes!(config_store::read, config_store::put, config_store::delete))
        .routes(routes!(policies::read, policies::update))
        .routes(routes!(policies::read_lifetimes, policies::update_lifetimes))
        .routes(routes!(policies::read_refresh_reuse, policies::update_refresh_reuse))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::checkpoint))
        .routes(routes!(audit::checkpoint_key))
        .routes(routes!(bulk::export, bulk::import).layer(DefaultBodyLimit::max(DOCUMENT_MAX_BODY)))
        .routes(routes!(config_archive::export))
        .routes(routes!(config_archive::import).layer(DefaultBodyLimit::max(DOCUMENT_MAX_BODY)))
        .split_for_parts();
    let document = std::sync::Arc::new(api);
    router
        .route("/openapi.json", get(move || async move { axum::Json(document.as_ref().clone()) }))
        .fallback(|| async { AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such admin API resource") })
        .method_not_allowed_fallback(|| async {
            AdminError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not take that method; see /admin-api/v1/openapi.json",
            )
        })
        // Answers name accounts, roles and settings: no cache keeps them.
        .layer(axum::middleware::map_response(|mut res: Response| async move {
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }))
}

/// An error as the admin API answers it.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    error: &'static str,
    message: String,
    www_authenticate: Option<String>,
}

impl AdminError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> AdminError {
        AdminError { status, error, message: message.into(), www_authenticate: None }
    }

    /// 400, naming the field or what is wrong with the body.
    pub fn invalid(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(what: &str) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn conflict(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    pub fn stale() -> AdminError {
        AdminError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "the resource changed since it was read (If-Match); read it again and reapply the change",
        )
    }

    pub fn unauthorized(challenge: String) -> AdminError {
        AdminError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized",
            message: "authentication is required".into(),
            www_authenticate: Some(challenge),
        }
    }

    /// 401 with a message saying more than that authentication is required.
    pub fn unauthorized_because(challenge: String, message: &str) -> AdminError {
        AdminError { message: message.into(), ..AdminError::unauthorized(challenge) }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn internal(e: impl std::fmt::Display + 'static) -> AdminError {
        if crate::error::store_unavailable(&e) {
            crate::error::log_unavailable(&e);
            return AdminError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                crate::error::UNAVAILABLE,
            );
        }
        tracing::error!(error = %e, request_id = %crate::request_id(), "admin API failure");
        AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the server failed; see its log")
    }
}

impl From<signet_store::StoreError> for AdminError {
    fn from(e: signet_store::StoreError) -> AdminError {
        match e {
            signet_store::StoreError::Conflict(what) => AdminError::conflict(format!("{what} already exists")),
            signet_store::StoreError::Invalid(why) => AdminError::unprocessable(why.to_string()),
            signet_store::StoreError::Unstorable => AdminError::invalid(crate::nul::MESSAGE),
            e => AdminError::internal(e),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.error.into(), message: self.message };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = self.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        res
    }
}

/// A JSON body: `application/json`, at most `MAX_BODY`, no unknown fields
/// (the types say `deny_unknown_fields`), errors naming the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state, "application/json", MAX_BODY).await?;
        if crate::nul::json_has_nul(&bytes) {
            return Err(AdminError::invalid(crate::nul::MESSAGE));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| AdminError::invalid(format!("the body is not valid: {e}")))
    }
}

/// A body's bytes: 415 unless it is `media`, 413 beyond `limit` (which the
/// route's `DefaultBodyLimit` must allow).
pub async fn body_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
    media: &'static str,
    limit: usize,
) -> Result<Bytes, AdminError> {
    let is_media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(media)));
    if !is_media {
        return Err(AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the body as {media}"),
        ));
    }
    let too_large =
        || AdminError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("the body exceeds {limit} bytes"));
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|_| too_large())?;
    if bytes.len() > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `?cursor=…&limit=…` on every list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 by default.
    pub limit: Option<i64>,
}

impl Page {
    pub fn limit(&self) -> Result<i64, AdminError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(AdminError::invalid(format!("limit must be between 1 and {MAX_LIMIT}"))),
        }
    }
}

/// A query string, with the admin API's error body.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| AdminError::invalid(format!("query: {}", e.body_text())))
    }
}

pub use crate::ops::{etag, tag_matches};

/// The `If-Match` a write must satisfy: `Ok(None)` when absent (last writer
/// wins, as without ETags), `Ok(Some(version))` when it names the current
/// version, and 412 when it names another.
pub fn if_match(headers: &HeaderMap, kind: &str, id: &str, current: i64) -> Result<Option<i64>, AdminError> {
    Ok(crate::ops::expected(if_match_raw(headers)?.as_deref(), kind, id, current)?)
}

/// The `If-Match` of a resource tagged by its content rather than a
/// version: `None` when absent. Compare it with `tag_matches` inside the
/// transaction that writes, against what the write replaces.
pub fn if_match_raw(headers: &HeaderMap) -> Result<Option<String>, AdminError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().map(|s| s.trim().to_owned()).map_err(|_| AdminError::invalid("If-Match is not text")))
        .transpose()
}

/// A request's `If-Match`, as text: `None` when absent.
pub struct IfMatch(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IfMatch {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        if_match_raw(&parts.headers).map(IfMatch)
    }
}

/// 404 unless the environment exists.
pub async fn environment_exists(state: &AppState, env: &EnvironmentId) -> Result<(), AdminError> {
    state.store.environment(env).await?.map(|_| ()).ok_or_else(|| AdminError::not_found("environment"))
}

/// Trims a page fetched with one row more than `limit`; the cursor of the
/// next page is the key of its last row, when there is more.
pub fn page_of<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

/// 201 for a made resource: its view, ETag and `Location` (a path under the API).
pub fn created(tag: String, body: impl serde::Serialize, location: &str) -> Response {
    let mut res = with_etag(tag, body);
    *res.status_mut() = StatusCode::CREATED;
    if let Ok(loc) = format!("{PREFIX}{location}").parse() {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// 204 after a write whose new state has nothing to show but its ETag.
pub fn no_content(tag: String) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

pub fn with_etag(tag: String, body: impl serde::Serialize) -> Response {
    let mut res = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}
