//! Strict parameter parsing for OAuth endpoints. RFC 6749 §3.1 and §3.2: a
//! parameter must not appear twice, and one sent empty counts as omitted.
//! Invalid UTF-8, a wrong content type or an oversized body are
//! `invalid_request`, never a framework's plain-text rejection.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode, header};
use percent_encoding::percent_decode;

use crate::error::OAuthError;

/// Request bodies of OAuth endpoints are small; anything larger is hostile.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Default)]
pub struct Params(HashMap<String, String>);

/// Values may be passwords, secrets or codes: only the names are shown.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_tuple("Params").field(&names).finish()
    }
}

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Params, OAuthError> {
        let mut map = HashMap::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let key = decode(k)?;
            let value = decode(v)?;
            if map.insert(key.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter {key} appears more than once")));
            }
        }
        Ok(Params(map))
    }

    /// A parameter's value; an empty value is treated as absent (RFC 6749 §3.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {key}")))
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let text = percent_decode(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuthError::invalid_request("parameters must be UTF-8"))?;
    if text.contains('\0') {
        return Err(OAuthError::invalid_request(crate::nul::MESSAGE));
    }
    Ok(text)
}

/// Parameters from the query (GET) or an `application/x-www-form-urlencoded` body (POST).
pub struct OAuthParams(pub Params);

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET {
            return Ok(OAuthParams(Params::parse(req.uri().query().unwrap_or_default().as_bytes())?));
        }
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        let too_big = || {
            OAuthError::invalid_request(format!("the body is larger than {MAX_BODY} bytes"))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY) {
            return Err(too_big());
        }
        let limited = req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, MAX_BODY)));
        let body = Bytes::from_request(limited, state).await.map_err(|_| too_big())?;
        Ok(OAuthParams(Params::parse(&body)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_bad_utf8_are_refused_and_empty_is_absent() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        assert!(Params::parse(b"a=%FF").is_err());
        assert!(Params::parse(b"client_id=x%00").is_err(), "NUL in a value");
        assert!(Params::parse(b"a%00=x").is_err(), "NUL in a name");
        let p = Params::parse(b"a=&b=x+y%20z&c").unwrap();
        assert_eq!(p.get("a"), None);
        assert_eq!(p.get("b"), Some("x y z"));
        assert_eq!(p.get("c"), None);
        assert!(p.require("a").is_err());
    }

    #[test]
    fn debug_shows_names_not_values() {
        let p = Params::parse(b"client_secret=hunter2&password=swordfish").unwrap();
        let shown = format!("{p:?}");
        assert!(shown.contains("client_secret") && !shown.contains("hunter2") && !shown.contains("swordfish"));
    }
}
