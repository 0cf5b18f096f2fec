//! A typed client of signetd's admin API (`/admin-api/v1`): its resources
//! read and written as `signet_proto::admin` types, its pages, its ETags and
//! its `{"error", "message"}` refusals, so a field renamed on the server
//! breaks a program at compile time rather than at run time.
//!
//! ```no_run
//! # async fn run() -> Result<(), signet_client::admin::AdminError> {
//! use signet_client::admin::{AdminClient, AdminError, Credentials};
//! use signet_proto::admin::accounts::{AccountUpdate, AccountView};
//!
//! let base = url::Url::parse("https://signet.example/admin-api/v1").unwrap();
//! let admin = AdminClient::new(reqwest::Client::new(), base, Credentials::basic("root", "its password"));
//! let ada = admin.get::<AccountView>(&["accounts", "ada"]).await?;
//! let change = AccountUpdate { username: None, active: false, roles: Default::default(), auditor: false };
//! match admin.update::<_, AccountView>(&["accounts", "ada"], &change, ada.etag.as_deref().unwrap_or("*")).await {
//!     Err(AdminError::Changed(_)) => println!("someone else changed ada first"),
//!     other => println!("{:?}", other.map(|a| a.value.active)),
//! }
//! # Ok(()) }
//! ```
//!
//! Credentials go only to trusted origins: the admin API's own, and any
//! that [`AdminClient::trust`] adds. A request elsewhere is refused unsent.

use base64::Engine;
use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Signer;
use crate::read::{self, ReadError, TooLarge};

/// What each request carries to say who is calling.
pub enum Credentials {
    /// Nothing in a header: no credentials, or a client certificate that
    /// the `reqwest::Client` presents.
    None,
    /// An `Authorization` header value (`Basic …`, `Bearer …`).
    Authorization(Zeroizing<String>),
    /// A session's key-bound token, with a fresh DPoP proof on each request.
    Signer(Signer),
}

impl Credentials {
    /// `Authorization: Basic` for an admin account (RFC 7617).
    pub fn basic(username: &str, password: &str) -> Credentials {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Credentials::Authorization(Zeroizing::new(format!("Basic {pair}")))
    }

    /// `Authorization: Bearer` with an access token (RFC 6750).
    pub fn bearer(token: &str) -> Credentials {
        Credentials::Authorization(Zeroizing::new(format!("Bearer {token}")))
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Authorization(_) => "Authorization([redacted])",
            Credentials::Signer(_) => "Signer",
        })
    }
}

/// The admin API at one base URL, with the credentials it is called with.
#[derive(Debug)]
pub struct AdminClient {
    http: reqwest::Client,
    base: url::Url,
    credentials: Credentials,
    /// Origins credentials may go to.
    trusted: Vec<String>,
}

/// A resource and the version it was read at (`ETag`), to send back as
/// `If-Match` (RFC 9110 §13.1.1).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub etag: Option<String>,
}

/// One page of a list, the API's page shape; `next_cursor` is `None` on the last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An answer as it came: its status, its ETag and its text.
pub struct Reply {
    pub status: u16,
    /// The version the answer shows, to send back as `If-Match`.
    pub etag: Option<String>,
    pub text: String,
}

/// The text is left out: an answer may carry a secret (a new client's).
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("etag", &self.etag)
            .field("text", &format_args!("[{} bytes]", self.text.len()))
            .finish()
    }
}

/// A refusal by the admin API.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub method: Method,
    /// The URL's path.
    pub path: String,
    pub status: u16,
    /// The API's stable code (`forbidden`, `precondition_failed`, …), when
    /// the answer was its `{"error", "message"}` body.
    pub code: Option<String>,
    /// Its message; otherwise the answer's first line.
    pub message: String,
    /// The auth-schemes its `WWW-Authenticate` headers offer.
    pub challenges: Vec<String>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} answered {}: ", self.method, self.path, self.status)?;
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The API refused the request.
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// 412: the resource changed after the version sent as `If-Match` was
    /// read; someone else changed it first, and nothing was written.
    #[error("{0} (someone else changed it first; read it again)")]
    Changed(Box<Refusal>),
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(transparent)]
    TooLarge(TooLarge),
    /// A success whose body is not what was asked for.
    #[error("{method} {path}: the answer is not what signet reads: {source}")]
    Unreadable {
        method: Method,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The request was not sent: its origin is not trusted with credentials.
    #[error("{0} is not a trusted origin; credentials are not sent there")]
    Untrusted(String),
    /// `.` or `..` as a segment would address another resource.
    #[error("{0:?} cannot be named in a URL path, so the admin API cannot be asked about it")]
    Dots(String),
    #[error("the admin API's URL cannot hold a path")]
    NoPath,
    /// The session's token or proof could not be attached.
    #[error(transparent)]
    Session(crate::Error),
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// `base` with `segments` appended, each percent-encoded, so a username or
/// id can never step outside its resource.
pub fn under(base: &url::Url, segments: &[&str], query: Option<&str>) -> Result<url::Url, AdminError> {
    // URL parsers resolve `.` and `..` (and `%2E%2E`) away: such a name
    // would address another resource, so it is refused.
    if let Some(dots) = segments.iter().find(|s| matches!(**s, "." | "..")) {
        return Err(AdminError::Dots((*dots).to_owned()));
    }
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().map_err(|()| AdminError::NoPath)?;
        path.pop_if_empty();
        path.extend(segments);
    }
    url.set_query(query);
    Ok(url)
}

impl AdminClient {
    /// The admin API at `base` (`…/admin-api/v1`), called through `http`.
    pub fn new(http: reqwest::Client, base: url::Url, credentials: Credentials) -> AdminClient {
        let trusted = vec![origin(&base)];
        AdminClient { http, base, credentials, trusted }
    }

    /// Trusts `url`'s origin with the credentials too (a token's issuer, a
    /// host the person named).
    pub fn trust(&mut self, url: &url::Url) {
        let o = origin(url);
        if !self.trusted.contains(&o) {
            self.trusted.push(o);
        }
    }

    /// Whether credentials may go to `url`.
    pub fn trusts(&self, url: &url::Url) -> bool {
        self.trusted.contains(&origin(url))
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// The HTTP client, with no credentials of its own (but any client certificate).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A URL under the admin API from path segments (see [`under`]).
    pub fn at(&self, segments: &[&str], query: Option<&str>) -> Result<url::Url, AdminError> {
        under(&self.base, segments, query)
    }

    /// Sends `req` as built, signed with the session's key when the
    /// credentials are a session's (answering a nonce challenge once). An
    /// `Authorization` header is [`AdminClient::execute`]'s to add.
    pub async fn dispatch(&self, req: reqwest::Request) -> Result<reqwest::Response, AdminError> {
        let url = req.url().clone();
        if !self.trusts(&url) {
            return Err(AdminError::Untrusted(origin(&url)));
        }
        let transport = |source| AdminError::Transport { url: url.to_string(), source };
        match &self.credentials {
            Credentials::Signer(signer) => signer.send(&self.http, req).await.map_err(|e| match e {
                crate::Error::Http(e) => transport(e),
                other => AdminError::Session(other),
            }),
            _ => self.http.execute(req).await.map_err(transport),
        }
    }

    /// Sends one request with a JSON body and `If-Match` when given. A
    /// refusal is an [`AdminError`]; a 412 is [`AdminError::Changed`].
    pub async fn execute<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&B>,
        if_match: Option<&str>,
    ) -> Result<Reply, AdminError> {
        let mut req = self.http.request(method.clone(), url.clone()).header("accept", "application/json");
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        if let Credentials::Authorization(value) = &self.credentials {
            let mut value = HeaderValue::from_str(value).map_err(|_| AdminError::Session(crate::Error::Token))?;
            value.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let req = req.build().map_err(|source| AdminError::Transport { url: url.to_string(), source })?;
        let res = self.dispatch(req).await?;
        let status = res.status();
        let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let challenges: Vec<String> = res
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenge_schemes)
            .collect();
        let text = read::text(res).await.map_err(|e| match e {
            ReadError::TooLarge(t) => AdminError::TooLarge(t),
            ReadError::Http(source) => AdminError::Transport { url: url.to_string(), source },
        })?;
        if status.is_success() {
            return Ok(Reply { status: status.as_u16(), etag, text });
        }
        let (code, message) = match serde_json::from_str::<signet_proto::admin::ErrorBody>(&text) {
            Ok(body) => (Some(body.error), body.message),
            Err(_) => (None, text.lines().next().unwrap_or_default().to_owned()),
        };
        let refusal = Box::new(Refusal {
            method,
            path: url.path().to_owned(),
            status: status.as_u16(),
            code,
            message,
            challenges,
        });
        Err(match status {
            StatusCode::PRECONDITION_FAILED => AdminError::Changed(refusal),
            _ => AdminError::Refused(refusal),
        })
    }

    /// Sends one request and reads its answer as a `T`.
    async fn typed<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&B>,
        if_match: Option<&str>,
    ) -> Result<Versioned<T>, AdminError> {
        let path = url.path().to_owned();
        let reply = self.execute(method.clone(), url, body, if_match).await?;
        // An empty answer (204) reads as JSON null, which `()` and `Option` take.
        let text = if reply.text.is_empty() { "null" } else { &reply.text };
        let value = serde_json::from_str(text).map_err(|source| AdminError::Unreadable { method, path, source })?;
        Ok(Versioned { value, etag: reply.etag })
    }

    /// `GET` one resource, with its version.
    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<Versioned<T>, AdminError> {
        self.typed::<(), T>(Method::GET, self.at(segments, None)?, None, None).await
    }

    /// `GET` with query parameters, each percent-encoded: a list filtered
    /// by more than a page's limit and cursor (`/audit?action=admin.&limit=100`).
    pub async fn find<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Versioned<T>, AdminError> {
        let query = (!query.is_empty()).then(|| encode_query(query));
        self.typed::<(), T>(Method::GET, self.at(segments, query.as_deref())?, None, None).await
    }

    /// One page of a list: the first, or the one after `cursor`.
    pub async fn page<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>, AdminError> {
        let limit = limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(c) = cursor {
            query.push(("cursor", c));
        }
        Ok(self.find::<Page<T>>(segments, &query).await?.value)
    }

    /// The first page, or with `all` every page, followed to the last: then
    /// all the items and no `next_cursor`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        limit: u32,
        all: bool,
    ) -> Result<Page<T>, AdminError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.page::<T>(segments, limit, cursor.as_deref()).await?;
            items.extend(page.items);
            let next = page.next_cursor;
            // A cursor that does not move would loop for ever.
            if !all || next.is_none() || next == cursor {
                return Ok(Page { items, next_cursor: if all { None } else { next } });
            }
            cursor = next;
        }
    }

    /// `POST` a new resource to a collection; the resource made, with its version.
    pub async fn create<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<Versioned<T>, AdminError> {
        self.typed(Method::POST, self.at(segments, None)?, Some(body), None).await
    }

    /// `PUT` a resource's new state, only if it is still at version `etag`:
    /// otherwise [`AdminError::Changed`], and nothing is written.
    pub async fn update<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
        etag: &str,
    ) -> Result<Versioned<T>, AdminError> {
        self.typed(Method::PUT, self.at(segments, None)?, Some(body), Some(etag)).await
    }

    /// `POST` to an action (`…/password`, `…/keys`, `…/unlock`): its answer
    /// as a `T` (`()` for none).
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, AdminError> {
        Ok(self.typed(Method::POST, self.at(segments, None)?, body, None).await?.value)
    }

    /// `DELETE` a resource, only if it is still at version `etag` when one is given.
    pub async fn delete(&self, segments: &[&str], etag: Option<&str>) -> Result<(), AdminError> {
        self.execute::<()>(Method::DELETE, self.at(segments, None)?, None, etag).await.map(|_| ())
    }
}

/// `name=value` pairs as a URL's query, each percent-encoded
/// (`application/x-www-form-urlencoded`), so a value holding `&` or `=`
/// stays one value.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The auth-schemes of a `WWW-Authenticate` value (RFC 9110 §11.6.1): a
/// list of challenges, each a scheme then `name=value` parameters (or a
/// token68), all comma-separated. Commas inside quoted strings are not
/// separators.
pub fn challenge_schemes(header: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut part, mut quoted, mut escaped) = (String::new(), false, false);
    for c in header.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    // A part that starts with a token and then a space, or is a lone token
    // with no `=`, starts a challenge; any other part is a parameter.
    let token =
        |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    parts
        .iter()
        .map(|p| p.trim())
        .filter_map(|p| match p.split_once(' ') {
            Some((first, _)) if token(first) => Some(first.to_owned()),
            None if token(p) => Some(p.to_owned()),
            _ => None,
        })
        .fold(Vec::new(), |mut all, s| {
            if !all.iter().any(|a: &String| a.eq_ignore_ascii_case(&s)) {
                all.push(s);
            }
            all
        })
}

#[cfg(test)]
mod tests {
    use super::{Reply, challenge_schemes, encode_query, under};

    #[test]
    fn a_replys_debug_leaves_its_text_out() {
        let r = Reply { status: 201, etag: None, text: r#"{"client_secret":"s3cr3t"}"#.into() };
        let shown = format!("{r:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("201"), "{shown}");
    }

    #[test]
    fn challenges_are_split_outside_quotes() {
        let signetd = r#"Basic realm="signetd", Bearer realm="signetd", error="invalid_token", DPoP realm="signetd", algs="ES256 EdDSA", error="invalid_token""#;
        assert_eq!(challenge_schemes(signetd), ["Basic", "Bearer", "DPoP"]);
        let tricky = r#"Basic realm="a, Bearer b=\"c, d\"", TLS-Client-Certificate realm="x""#;
        assert_eq!(challenge_schemes(tricky), ["Basic", "TLS-Client-Certificate"]);
        assert_eq!(challenge_schemes("Negotiate, Basic realm=x"), ["Negotiate", "Basic"]);
        assert_eq!(challenge_schemes("Newauth abc=="), ["Newauth"]);
        assert!(challenge_schemes("").is_empty());
    }

    #[test]
    fn query_values_stay_values() {
        let base = url::Url::parse("http://127.0.0.1:1/admin-api/v1").unwrap();
        let query = encode_query(&[("action", "admin.a&limit=9"), ("account", "ada lovelace"), ("limit", "5")]);
        assert_eq!(query, "action=admin.a%26limit%3D9&account=ada+lovelace&limit=5");
        let url = under(&base, &["audit"], Some(&query)).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(
            pairs,
            [("action", "admin.a&limit=9"), ("account", "ada lovelace"), ("limit", "5")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(encode_query(&[]), "");
    }

    #[test]
    fn path_segments_stay_segments() {
        let base = url::Url::parse("http://127.0.0.1:1/admin-api/v1").unwrap();
        let at = |segments: &[&str]| under(&base, segments, None).unwrap().to_string();
        assert_eq!(at(&["accounts", "ada@example.org"]), "http://127.0.0.1:1/admin-api/v1/accounts/ada@example.org");
        assert_eq!(at(&["accounts", "../settings"]), "http://127.0.0.1:1/admin-api/v1/accounts/..%2Fsettings");
        assert_eq!(at(&["accounts", "a..b"]), "http://127.0.0.1:1/admin-api/v1/accounts/a..b");
        for dots in [".", ".."] {
            assert!(under(&base, &["accounts", dots, "password"], None).is_err(), "{dots}");
        }
        let slash = url::Url::parse("http://127.0.0.1:1/admin-api/v1/").unwrap();
        assert_eq!(
            under(&slash, &["keys"], Some("limit=1")).unwrap().as_str(),
            "http://127.0.0.1:1/admin-api/v1/keys?limit=1"
        );
    }
}
