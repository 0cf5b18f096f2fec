//! NUL characters at the edge. PostgreSQL's text cannot hold one and SQLite's
//! can, so a NUL that reached the store would make the backends differ (and
//! the store refuses it, `StoreError::Unstorable`). Nothing signet keeps has
//! a use for one, so every way in refuses it first, in its protocol's words:
//! the request line here, form fields in `oauth::form`, JSON bodies through
//! `json_has_nul`, Basic credentials where they are decoded.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::routes;

pub const MESSAGE: &str = "text may not contain a NUL character (U+0000)";

/// Whether a JSON document has a string holding NUL: JSON cannot carry one
/// raw, only as the escape `\u0000`, which this finds without mistaking an
/// escaped backslash followed by `u0000` for it.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' => {
                if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether a request target holds an encoded NUL (`%00`) in its path or query.
fn target_has_nul(target: &str) -> bool {
    target.contains("%00")
}

/// Refuses a request whose path or query holds `%00` before any handler
/// sees it, with the error body of the protocol it was sent to.
pub async fn refuse_in_target(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or_default();
    if !target_has_nul(target) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    if path.starts_with(crate::admin::PREFIX) {
        crate::admin::AdminError::invalid(MESSAGE).into_response()
    } else if path.starts_with(crate::vault::PREFIX) {
        crate::vault::VaultError::invalid(MESSAGE).into_response()
    } else if is_page(path) {
        crate::web::error_page(StatusCode::BAD_REQUEST, "Bad request", MESSAGE)
    } else {
        crate::error::OAuthError::invalid_request(MESSAGE).into_response()
    }
}

/// The environment routes that answer a browser with HTML.
fn is_page(path: &str) -> bool {
    [routes::AUTHORIZE, routes::DEVICE, routes::SIGNOFF, routes::FEDERATION_CALLBACK].iter().any(|p| path.ends_with(p))
        || path.contains("/signon/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_escapes_and_nothing_else() {
        assert!(json_has_nul(br#"{"name":"a\u0000b"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(b"{\"a\":\"\x00\"}"));
        assert!(!json_has_nul(br#"{"name":"a\\u0000b"}"#), "an escaped backslash, then text");
        assert!(!json_has_nul(br#"{"name":"\u0001"}"#));
        assert!(!json_has_nul(br#"{"name":"\\\\"}"#));
        assert!(json_has_nul(br#"{"name":"\\\u0000"}"#), "a backslash, then a NUL");
    }

    #[test]
    fn pages_are_told_from_json_endpoints() {
        assert!(is_page("/e/as/authorize"));
        assert!(is_page("/e/as/signon/f1"));
        assert!(is_page("/e/as/signon/f1/federate"));
        assert!(is_page("/e/as/device"));
        assert!(!is_page("/e/as/token"));
        assert!(!is_page("/e/as/device_authorization"));
        assert!(!is_page("/e/as/userinfo"));
    }
}
