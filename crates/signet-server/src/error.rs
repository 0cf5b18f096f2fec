//! The OAuth edge's error: an RFC 6749 §5.2 body with the right status. Internal
//! failures are logged once, with the request id, and answered `server_error`
//! without detail.
//!
//! And [`InternalError`], the server's own failures below the edges: what
//! the sign-on pages, the lockout and the login enforcements do besides the
//! store's work.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signet_core::crypto::CryptoError;
use signet_proto::oauth::{ErrorBody, ErrorCode};
use signet_store::StoreError;

use crate::metrics::Failure;

/// signetd failed below the HTTP edge: the store, or what the server does
/// itself (drawing randomness, sealing and opening secrets, hashing
/// passwords, reading back what it stored). The source is kept; whoever
/// answers logs it once and sends none of it.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("password hashing failed")]
    Hashing,
    /// Something signetd stored that it cannot use (a method's secrets, its username format).
    #[error("{what}: {source}")]
    Stored {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A state signetd keeps did not hold: a flow at another step than its
    /// handler's, an account signed on that is gone.
    #[error("{0}")]
    Broken(&'static str),
}

/// Whether `cause` is the store being out of reach (a [`StoreError`] that
/// [`StoreError::is_unavailable`], bare or wrapped in the server's own
/// errors): the edges answer it 503 `temporarily_unavailable` in their
/// protocol's shape, and log it as a warning, not as a bug.
pub fn store_unavailable(cause: &dyn std::any::Any) -> bool {
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return e.is_unavailable();
    }
    if let Some(InternalError::Store(e)) = cause.downcast_ref::<InternalError>() {
        return e.is_unavailable();
    }
    if let Some(crate::keyring::KeyringError::Store(e)) = cause.downcast_ref::<crate::keyring::KeyringError>() {
        return e.is_unavailable();
    }
    false
}

/// Logs that the store is out of reach, once, with the request id.
pub fn log_unavailable(cause: &dyn std::fmt::Display) {
    tracing::warn!(request_id = %crate::request_id(), error = %cause, "the store is unavailable");
}

/// What a person or a client is told while the store is out of reach.
pub const UNAVAILABLE: &str = "the service is temporarily unavailable; try again shortly";

impl InternalError {
    /// What signetd stored as `what` cannot be used, for `source`.
    pub fn stored(what: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> InternalError {
        InternalError::Stored { what, source: source.into() }
    }
}

#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub description: String,
    /// Set for invalid_client when the client tried HTTP Basic (RFC 6749 §5.2).
    pub basic_challenge: bool,
    /// Set when the token endpoint refuses a bearer token (RFC 6750 §3).
    pub bearer_challenge: bool,
    pub retry_after: Option<u64>,
    /// A nonce for the client's next DPoP proof (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
            bearer_challenge: false,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Too many failures from one address.
    pub fn too_many_failures(retry_after: u64) -> Self {
        let mut e =
            Self::new(ErrorCode::TemporarilyUnavailable, "too many failed attempts from this address; try again later")
                .with_status(StatusCode::TOO_MANY_REQUESTS);
        e.retry_after = Some(retry_after);
        e
    }

    /// Logs the cause once and hides it from the client. The store out of
    /// reach is 503 `temporarily_unavailable` (RFC 6749 §5.2), with a
    /// `Retry-After`.
    pub fn internal(cause: impl std::fmt::Display + 'static) -> Self {
        if store_unavailable(&cause) {
            log_unavailable(&cause);
            let mut e = Self::new(ErrorCode::TemporarilyUnavailable, UNAVAILABLE);
            e.retry_after = Some(1);
            return e;
        }
        tracing::error!(request_id = %crate::request_id(), error = %cause, "internal error");
        Self::new(ErrorCode::ServerError, "internal error; see the server log")
    }

    pub fn failure_reason(&self) -> Failure {
        match self.status {
            // The store out of reach: not a refusal of the client.
            StatusCode::SERVICE_UNAVAILABLE => Failure::Other,
            _ => Failure::from_code(self.code),
        }
    }
}

impl From<InternalError> for OAuthError {
    fn from(e: InternalError) -> Self {
        match e {
            InternalError::Store(e) => e.into(),
            e => OAuthError::internal(e),
        }
    }
}

impl From<signet_store::StoreError> for OAuthError {
    fn from(e: signet_store::StoreError) -> Self {
        match e {
            signet_store::StoreError::Unstorable => OAuthError::invalid_request(crate::nul::MESSAGE),
            e => OAuthError::internal(e),
        }
    }
}

/// RFC 6749 §5.2: an `error_description` holds only %x20-21 / %x23-5B /
/// %x5D-7E. Some descriptions echo what the client sent (a grant type, a
/// parameter's name): a double quote becomes `'`, a backslash `/`, and
/// anything else outside the set `?`.
fn rfc6749_text(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            error_description: (!self.description.is_empty()).then(|| rfc6749_text(&self.description)),
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"signetd\""));
        }
        if self.bearer_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"signetd\", error=\"invalid_token\""),
            );
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            h.insert("dpop-nonce", v);
        }
        res.extensions_mut().insert(self.code);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::rfc6749_text;

    #[test]
    fn descriptions_keep_to_the_rfc6749_set() {
        assert_eq!(rfc6749_text("grant type \"p\\w\u{e4}\n\" is not supported"), "grant type 'p/w??' is not supported");
        let all: String = (' '..='~').collect();
        assert!(rfc6749_text(&all).bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)));
    }
}
