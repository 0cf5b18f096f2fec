//! The Vault-compatible Login MFA API under `/v1/identity/mfa/` (seed 002).
//!
//! Tools written for Vault work unchanged: the same paths, the `LIST` verb
//! (and `GET ?list=true`), `X-Vault-Token`, Vault's response envelope and
//! its `{"errors": [...]}` bodies. The API is token-based, as Vault is: it
//! takes an access token with the admin API audience, as `X-Vault-Token` or
//! `Authorization: Bearer`, whatever scheme protects the admin API, and
//! reads the caller's roles from the store. Writes need Admin; any role or
//! an Auditor reads. Every write is in the audit trail.

mod enforcements;
mod methods;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use signet_core::policy::{Action, Resource};

use crate::authn::{AuthnError, Caller, Credentials};
use crate::net::ClientIp;
use crate::ops::{self, Authorized, OpError};
use crate::state::AppState;

pub const PREFIX: &str = crate::routes::VAULT_API;
/// No method or enforcement comes near this.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/identity/mfa/method", any(methods::root))
        .route("/identity/mfa/method/", any(methods::root))
        .route("/identity/mfa/method/{first}", any(methods::one))
        // `vault list` asks for `…/method/totp/`, with a slash.
        .route("/identity/mfa/method/{first}/", any(methods::one))
        .route("/identity/mfa/method/{kind}/{id}", any(methods::typed))
        .route("/identity/mfa/login-enforcement", any(enforcements::root))
        .route("/identity/mfa/login-enforcement/", any(enforcements::root))
        .route("/identity/mfa/login-enforcement/{name}", any(enforcements::one))
        .fallback(|| async { VaultError::new(StatusCode::NOT_FOUND, "unsupported path") })
        // Answers name methods, enforcements and who holds them: no cache keeps them.
        .layer(axum::middleware::map_response(|mut res: Response| async move {
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }))
}

/// An error as Vault answers it: `{"errors": [...]}`.
#[derive(Debug)]
pub struct VaultError {
    status: StatusCode,
    errors: Vec<String>,
}

impl VaultError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> VaultError {
        VaultError { status, errors: vec![message.into()] }
    }

    pub fn invalid(message: impl Into<String>) -> VaultError {
        VaultError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A missing object: 404 with no message, as Vault answers.
    pub fn not_found() -> VaultError {
        VaultError { status: StatusCode::NOT_FOUND, errors: vec![] }
    }

    pub fn denied() -> VaultError {
        VaultError::new(StatusCode::FORBIDDEN, "permission denied")
    }

    pub fn unsupported() -> VaultError {
        VaultError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
    }

    pub fn internal(e: impl std::fmt::Display + 'static) -> VaultError {
        if crate::error::store_unavailable(&e) {
            crate::error::log_unavailable(&e);
            return VaultError::new(StatusCode::SERVICE_UNAVAILABLE, crate::error::UNAVAILABLE);
        }
        tracing::error!(error = %e, request_id = %crate::request_id(), "Vault-compatible API request failed");
        VaultError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<signet_store::StoreError> for VaultError {
    fn from(e: signet_store::StoreError) -> VaultError {
        match e {
            signet_store::StoreError::Unstorable => VaultError::invalid(crate::nul::MESSAGE),
            e => VaultError::internal(e),
        }
    }
}

/// Authentication's refusals, in Vault's words: whatever the reason, a
/// caller who is not authenticated is denied.
impl From<AuthnError> for VaultError {
    fn from(e: AuthnError) -> VaultError {
        match e {
            AuthnError::TooManyFailures(_) => {
                VaultError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed attempts from this address")
            }
            AuthnError::Unauthenticated { .. } | AuthnError::MfaRequired(_) | AuthnError::Forbidden(_) => {
                VaultError::denied()
            }
            AuthnError::Invalid(why) => VaultError::invalid(why),
            AuthnError::Store(e) => VaultError::from(e),
            AuthnError::Unavailable(_) => VaultError::new(StatusCode::SERVICE_UNAVAILABLE, "internal error"),
            AuthnError::Internal(why) => VaultError::internal(why),
        }
    }
}

/// Operations' refusals, in Vault's words: a refusal of the role policy is
/// "permission denied", a missing object 404 with no message, and what is
/// wrong with the input 400 saying what.
impl From<OpError> for VaultError {
    fn from(e: OpError) -> VaultError {
        match e {
            OpError::Denied(_) => VaultError::denied(),
            OpError::NotFound(_) => VaultError::not_found(),
            OpError::Invalid(why) | OpError::Unprocessable(why) | OpError::Conflict(why) => VaultError::invalid(why),
            OpError::Stale => VaultError::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            OpError::Store(e) => VaultError::from(e),
            OpError::Authn(e) => VaultError::from(e),
            OpError::Internal(why) => VaultError::internal(why),
        }
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "errors": self.errors }))).into_response()
    }
}

/// A successful answer in Vault's envelope.
pub fn data(body: Value, warnings: Vec<String>) -> Response {
    match serde_json::to_vec(&body) {
        Ok(body) => envelope(&body, &warnings),
        Err(e) => VaultError::internal(e).into_response(),
    }
}

/// A list answer; an empty list is 404, as Vault answers.
pub fn list(keys: Vec<String>, info: Map<String, Value>) -> Response {
    match list_body(keys, info) {
        Ok(body) => serialised_list(&body),
        Err(e) => e.into_response(),
    }
}

/// A list's `data`, serialised; empty when there is nothing to list.
pub fn list_body(keys: Vec<String>, info: Map<String, Value>) -> Result<Bytes, VaultError> {
    if keys.is_empty() {
        return Ok(Bytes::new());
    }
    let mut body = Map::new();
    body.insert("keys".into(), Value::Array(keys.into_iter().map(Value::String).collect()));
    body.insert("key_info".into(), Value::Object(info));
    serde_json::to_vec(&body).map(Bytes::from).map_err(VaultError::internal)
}

/// A list answer from its serialised `data`, as built once and kept.
pub fn serialised_list(body: &Bytes) -> Response {
    if body.is_empty() {
        return VaultError::not_found().into_response();
    }
    envelope(body, &[])
}

/// Vault's envelope around serialised `data`, which is not parsed again:
/// a list of every method is large, and kept serialised between answers.
fn envelope(data: &[u8], warnings: &[String]) -> Response {
    let warnings = if warnings.is_empty() { Value::Null } else { json!(warnings) };
    let head = format!(
        "{{\"request_id\":{},\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,\"data\":",
        Value::String(crate::request_id())
    );
    let tail = format!(",\"wrap_info\":null,\"warnings\":{warnings},\"auth\":null,\"mount_type\":\"identity\"}}");
    let mut out = Vec::with_capacity(head.len() + data.len() + tail.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(tail.as_bytes());
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// What a request asks, by its verb (`LIST` or `GET ?list=true` are lists;
/// `list` is read as Vault reads it, with Go's `strconv.ParseBool`, so hvac's
/// `?list=True` is a list too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    List,
    Write,
    Delete,
    Other,
}

/// A `list` parameter is read as Vault reads it: the first one, as a Go
/// boolean; any other value is refused (400), as Vault refuses it.
pub fn op(method: &Method, query: Option<&str>) -> Result<Op, VaultError> {
    let list = query.and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "list").map(|(_, v)| v));
    let listing = match list.as_deref() {
        None => false,
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
        Some(other) => {
            return Err(VaultError::invalid(format!("error parsing list parameter: {other:?} is not a boolean")));
        }
    };
    Ok(match method.as_str() {
        "LIST" => Op::List,
        "GET" if listing => Op::List,
        "GET" => Op::Read,
        "POST" | "PUT" => Op::Write,
        "DELETE" => Op::Delete,
        _ => Op::Other,
    })
}

/// The token's caller, with Vault's refusal for anything else.
pub struct VaultCaller(pub Caller);

impl FromRequestParts<AppState> for VaultCaller {
    type Rejection = VaultError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, VaultError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp([0, 0, 0, 0].into()));
        Ok(VaultCaller(crate::authn::bearer::vault(state, &Credentials::read(parts, ip)).await?))
    }
}

impl VaultCaller {
    /// Asks the role policy whether the caller may `action` MFA methods and
    /// enforcements; a refusal is recorded and answered "permission denied".
    pub async fn allow(&self, state: &AppState, action: Action) -> Result<Authorized<'_>, VaultError> {
        Ok(ops::authorize(state, &self.0, Resource::Mfa, action).await?)
    }
}

/// A path's parameters; one that cannot be read (bad percent-encoding) is
/// Vault's 404, never a plain-text rejection.
pub struct Segments<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> FromRequestParts<AppState> for Segments<T> {
    type Rejection = VaultError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, VaultError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Segments(t)),
            Err(_) => Err(VaultError::not_found()),
        }
    }
}

/// The raw body, within `MAX_BODY`, with Vault's error body otherwise.
pub struct RawBody(pub Bytes);

impl axum::extract::FromRequest<AppState> for RawBody {
    type Rejection = VaultError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, VaultError> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|e| VaultError::new(e.status(), e.body_text()))
    }
}

/// A request body: a JSON object, or nothing (an empty object).
pub fn body(bytes: &Bytes) -> Result<Map<String, Value>, VaultError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if crate::nul::json_has_nul(bytes) {
        return Err(VaultError::invalid(crate::nul::MESSAGE));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(VaultError::invalid("failed to parse JSON input: the body must be a JSON object")),
        Err(e) => Err(VaultError::invalid(format!("failed to parse JSON input: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hvac_list_query_with_capital_true_is_a_list() {
        let op = |m: &Method, q| op(m, q).ok();
        for q in ["list=True", "list=true", "list=TRUE", "list=1", "list=t", "list=T", "list=1&list=nonsense"] {
            assert_eq!(op(&Method::GET, Some(q)), Some(Op::List), "{q}");
        }
        for q in ["list=false", "list=False", "list=0", "other=true"] {
            assert_eq!(op(&Method::GET, Some(q)), Some(Op::Read), "{q}");
        }
        for q in ["list=yes", "list=", "list=2"] {
            assert_eq!(op(&Method::GET, Some(q)), None, "{q}: not a Go boolean, refused as Vault refuses it");
        }
        assert_eq!(op(&Method::GET, None), Some(Op::Read));
        assert_eq!(op(&Method::from_bytes(b"LIST").unwrap(), None), Some(Op::List));
    }

    #[tokio::test]
    async fn a_list_is_in_vaults_envelope() {
        let info = Map::from_iter([("a".to_owned(), json!({"type": "totp"}))]);
        let answer = list(vec!["a".into()], info);
        assert_eq!(answer.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(answer.into_body(), MAX_BODY).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({
                "request_id": "",
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": {"keys": ["a"], "key_info": {"a": {"type": "totp"}}},
                "wrap_info": null,
                "warnings": null,
                "auth": null,
                "mount_type": "identity",
            })
        );
        assert_eq!(list(vec![], Map::new()).status(), StatusCode::NOT_FOUND);
    }
}
