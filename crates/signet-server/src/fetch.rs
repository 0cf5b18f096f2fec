//! The one HTTP client signetd uses to fetch what an administrator configured:
//! an upstream provider's discovery document and JWKS, MFA services' APIs.
//!
//! An administrator's URL is a request signetd makes from inside the network,
//! so it is held to `net::check_fetch_url`: https unless on loopback, and no
//! private or link-local address unless `allow_private_fetch` is set. The
//! check runs on the URL as written, again on every address its host name
//! resolves to at connect time (so a name cannot be re-pointed at an internal
//! address after it was accepted), and on every redirect. Proxies from the
//! environment are not used: they would resolve the name where this check
//! cannot see. Answers are bounded in time and size.
//!
//! A URL that someone other than an administrator chose (an endpoint a
//! provider's discovery document names away from its issuer) is fetched
//! with `Reach::Public`: public addresses over https only, checked again at
//! connect time and on every redirect by a client of its own, whatever
//! `allow_private_fetch` says.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;

use crate::net::{check_fetch_url, check_public_url};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;
/// No discovery document or key set comes near this.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(String),
    #[error("fetching {url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: the answer is larger than {MAX_BODY} bytes")]
    TooLarge { url: String },
    #[error("{url}: the answer is not the JSON expected: {reason}")]
    Json { url: String, reason: String },
}

/// How far into the network a fetch may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// As far as the configuration allows: loopback, and private addresses
    /// with `allow_private_fetch`. For URLs an administrator wrote.
    Configured,
    /// Public addresses over https only, whatever the configuration: for
    /// URLs someone else chose.
    Public,
}

pub struct Fetcher {
    configured: reqwest::Client,
    public: reqwest::Client,
    allow_private: bool,
}

/// A client whose resolver and redirect policy hold every connection to `reach`.
fn client(reach: Reach, allow_private: bool) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .user_agent(concat!("signetd/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(Guard { allow_private }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            let Some(first) = attempt.previous().first().cloned() else { return attempt.follow() };
            let allowed = match reach {
                Reach::Configured => crate::net::redirect_allowed(&first, attempt.url(), allow_private),
                Reach::Public => check_public_url(attempt.url().as_str()).map(drop),
            };
            match allowed {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(reason),
            }
        }))
        .build()
        .map_err(|e| FetchError::Failed { url: String::new(), reason: e.to_string() })
}

impl Fetcher {
    pub fn new(allow_private: bool) -> Result<Fetcher, FetchError> {
        Ok(Fetcher {
            configured: client(Reach::Configured, allow_private)?,
            public: client(Reach::Public, false)?,
            allow_private,
        })
    }

    /// Whether `url` may be fetched at all: for checking an administrator's
    /// input when it is written, before anything is fetched.
    pub fn check(&self, url: &str) -> Result<url::Url, FetchError> {
        self.check_within(url, Reach::Configured)
    }

    /// Whether `url` may be fetched within `reach`.
    pub fn check_within(&self, url: &str, reach: Reach) -> Result<url::Url, FetchError> {
        match reach {
            Reach::Configured => check_fetch_url(url, &[], self.allow_private),
            Reach::Public => check_public_url(url),
        }
        .map_err(FetchError::Refused)
    }

    /// GETs `url`, which an administrator configured, and parses its JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        self.get_json_within(url, Reach::Configured).await
    }

    /// GETs `url` within `reach` and parses its JSON answer.
    pub async fn get_json_within<T: DeserializeOwned>(&self, url: &str, reach: Reach) -> Result<T, FetchError> {
        let answer = self.send_within(Call::get(url).header("accept", "application/json"), reach).await?;
        if !answer.is_success() {
            return Err(FetchError::Status { url: url.to_owned(), status: answer.status });
        }
        answer.json()
    }

    /// Sends a call to a service an administrator configured (an MFA
    /// provider's API), held to the same rules as `get_json`. Any status is
    /// an answer: these APIs put their reasons in error bodies.
    pub async fn send(&self, call: Call) -> Result<Answer, FetchError> {
        self.send_within(call, Reach::Configured).await
    }

    /// Sends a call within `reach`.
    pub async fn send_within(&self, call: Call, reach: Reach) -> Result<Answer, FetchError> {
        let url = call.url.as_str();
        let checked = self.check_within(url, reach)?;
        let failed = |e: reqwest::Error| FetchError::Failed { url: url.to_owned(), reason: reason(&e) };
        let client = match reach {
            Reach::Configured => &self.configured,
            Reach::Public => &self.public,
        };
        let mut req = client.request(call.method, checked).headers(call.headers);
        // The service sees the call as a child of the request it serves.
        if let Some(trace) = crate::trace_context::TraceContext::current() {
            req = req.header(crate::trace_context::HEADER, trace.header_value());
        }
        if let Some(body) = call.body {
            req = req.body(body);
        }
        if let Some(timeout) = call.timeout {
            req = req.timeout(timeout);
        }
        let mut res = req.send().await.map_err(failed)?;
        if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(FetchError::TooLarge { url: url.to_owned() });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge { url: url.to_owned() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { url: url.to_owned(), status: res.status().as_u16(), body })
    }
}

/// A request for `Fetcher::send`: a GET or a POST with headers, and a longer
/// time limit where a service long-polls.
pub struct Call {
    method: reqwest::Method,
    url: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Call {
    pub fn get(url: impl Into<String>) -> Call {
        Call { method: reqwest::Method::GET, url: url.into(), headers: HeaderMap::new(), body: None, timeout: None }
    }

    pub fn post(url: impl Into<String>, content_type: &'static str, body: Vec<u8>) -> Call {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        Call { method: reqwest::Method::POST, url: url.into(), headers, body: Some(body), timeout: None }
    }

    /// Adds a header. Every value is marked sensitive, so it never shows in
    /// `Debug` output: these carry API tokens and request signatures. A value
    /// that is not a valid header value is left out, and the service refuses
    /// the call.
    pub fn header(mut self, name: &str, value: &str) -> Call {
        if let (Ok(name), Ok(mut value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            value.set_sensitive(true);
            self.headers.append(name, value);
        }
        self
    }

    /// Replaces the default time limit for this call (a long poll).
    pub fn timeout(mut self, limit: Duration) -> Call {
        self.timeout = Some(limit);
        self
    }
}

/// What a service answered: its status and a body no larger than `MAX_BODY`.
#[derive(Debug)]
pub struct Answer {
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, FetchError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| FetchError::Json { url: self.url.clone(), reason: e.to_string() })
    }
}

/// The innermost cause: reqwest's own message is "error sending request".
fn reason(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Resolves host names and refuses the answer if it holds an address the
/// policy forbids.
struct Guard {
    allow_private: bool,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            crate::net::resolution_allowed(&host, &ips, allow_private)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::Router;
    use axum::response::Redirect;
    use axum::routing::get;

    use super::*;

    async fn serve() -> String {
        let app = Router::new()
            .route("/doc", get(|| async { axum::Json(serde_json::json!({"issuer": "x"})) }))
            .route("/big", get(|| async { "x".repeat(MAX_BODY + 1) }))
            .route("/missing", get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }))
            .route("/to-private", get(|| async { Redirect::temporary("https://10.0.0.5/doc") }))
            .route("/to-self", get(|| async { Redirect::temporary("/doc") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    #[tokio::test]
    async fn fetches_json_from_loopback_and_follows_safe_redirects() {
        let base = serve().await;
        let f = Fetcher::new(false).unwrap();
        let doc: serde_json::Value = f.get_json(&format!("{base}/doc")).await.unwrap();
        assert_eq!(doc["issuer"], "x");
        let doc: serde_json::Value = f.get_json(&format!("{base}/to-self")).await.unwrap();
        assert_eq!(doc["issuer"], "x");
        let port = base.rsplit(':').next().unwrap();
        let doc: serde_json::Value = f.get_json(&format!("http://localhost:{port}/doc")).await.unwrap();
        assert_eq!(doc["issuer"], "x", "localhost resolves to loopback");
    }

    #[tokio::test]
    async fn refuses_private_addresses_plain_http_and_bad_answers() {
        let base = serve().await;
        let f = Fetcher::new(false).unwrap();
        let err = f.get_json::<serde_json::Value>("https://10.0.0.5/doc").await.unwrap_err();
        assert!(matches!(err, FetchError::Refused(ref m) if m.contains("allow_private_fetch")), "{err}");
        let err = f.get_json::<serde_json::Value>("https://169.254.169.254/latest").await.unwrap_err();
        assert!(matches!(err, FetchError::Refused(_)), "{err}");
        let err = f.get_json::<serde_json::Value>("http://idp.example/doc").await.unwrap_err();
        assert!(matches!(err, FetchError::Refused(ref m) if m.contains("https")), "{err}");
        let err = f.get_json::<serde_json::Value>(&format!("{base}/to-private")).await.unwrap_err();
        assert!(matches!(err, FetchError::Failed { ref reason, .. } if reason.contains("10.0.0.5")), "{err}");
        let err = f.get_json::<serde_json::Value>(&format!("{base}/big")).await.unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
        let err = f.get_json::<serde_json::Value>(&format!("{base}/missing")).await.unwrap_err();
        assert!(matches!(err, FetchError::Status { status: 404, .. }), "{err}");
        let err = f.get_json::<Vec<u8>>(&format!("{base}/doc")).await.unwrap_err();
        assert!(matches!(err, FetchError::Json { .. }), "{err}");
    }

    #[tokio::test]
    async fn public_reach_reaches_neither_loopback_nor_private_addresses_even_when_allowed() {
        let base = serve().await;
        let f = Fetcher::new(true).unwrap();
        let doc: serde_json::Value = f.get_json(&format!("{base}/doc")).await.unwrap();
        assert_eq!(doc["issuer"], "x", "the configured reach gets there");
        for url in [format!("{base}/doc"), "https://10.0.0.5/doc".into(), "https://localhost/doc".into()] {
            let err = f.get_json_within::<serde_json::Value>(&url, Reach::Public).await.unwrap_err();
            assert!(matches!(err, FetchError::Refused(_)), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn the_setting_allows_private_addresses() {
        let f = Fetcher::new(true).unwrap();
        assert!(f.check("https://10.0.0.5/doc").is_ok());
        assert!(f.check("http://10.0.0.5/doc").is_err(), "plain http stays loopback-only");
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let guard = Guard { allow_private: false };
        let addrs: Vec<SocketAddr> = guard.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        // A name that resolves to a private address is refused at connect time.
        // The lookup itself must not leave the machine, so the check is shown
        // on the addresses such a lookup would return.
        let private: IpAddr = "192.168.7.7".parse().unwrap();
        assert!(check_fetch_url("https://intranet.example/", &[private], false).is_err());
        assert!(check_fetch_url("https://intranet.example/", &[private], true).is_ok());
    }
}
