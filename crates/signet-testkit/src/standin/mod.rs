//! Local stand-ins for the SaaS MFA services signetd asks (PingID, Okta
//! Verify, Duo), which tests cannot reach. They are not those services: each
//! is a small axum server on 127.0.0.1 that speaks the part of the protocol
//! signetd uses, checks the caller's credentials and signatures as the real
//! service does, and answers what the test chose for each user. Every answer
//! carries `Server: signet-testkit <name> stand-in`.
//!
//! Each records the requests it received, for tests to look at.

pub mod duo;
pub mod okta;
pub mod pingid;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;

pub use duo::{DuoOutcome, DuoStandin};
pub use okta::{OktaOutcome, OktaStandin};
pub use pingid::{PingIdOutcome, PingIdStandin};

/// A request a stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path and query, as sent.
    pub uri: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The form body's or the query's parameters, decoded.
    pub fn params(&self) -> HashMap<String, String> {
        let query = self.uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let source = if self.method == "POST" { self.body.as_str() } else { query };
        url::form_urlencoded::parse(source.as_bytes()).into_owned().collect()
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Received>>>);

impl Log {
    fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// What the test chose per user, with a default for users it did not name.
struct Outcomes<T: Clone> {
    by_user: Mutex<HashMap<String, T>>,
    default: T,
}

impl<T: Clone> Outcomes<T> {
    fn new(default: T) -> Self {
        Outcomes { by_user: Mutex::new(HashMap::new()), default }
    }
    fn set(&self, user: &str, outcome: T) {
        self.by_user.lock().unwrap().insert(user.to_owned(), outcome);
    }
    fn get(&self, user: &str) -> T {
        self.by_user.lock().unwrap().get(user).cloned().unwrap_or_else(|| self.default.clone())
    }
}

/// Serves `app` on 127.0.0.1:0, recording every request into `log` and
/// naming itself in a `Server` header; returns `http://127.0.0.1:PORT`.
async fn serve(app: Router, name: &'static str, log: Log) -> String {
    let server = HeaderValue::from_str(&format!("signet-testkit {name} stand-in")).unwrap();
    let app = app.layer(middleware::from_fn_with_state(log, record)).layer(middleware::map_response(
        move |mut res: Response| {
            let server = server.clone();
            async move {
                res.headers_mut().insert(axum::http::header::SERVER, server);
                res
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn record(State(log): State<Log>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    log.0.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
