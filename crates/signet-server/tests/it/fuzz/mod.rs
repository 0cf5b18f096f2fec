//! Fuzzing signetd end to end on stable Rust (issue 15, "the class, not only
//! the instance"): proptest generates hostile input, and one real in-process
//! signetd per run, on SQLite and on PostgreSQL, answers it. Each target
//! asserts what must hold for any input: never a 5xx, the protocol's error
//! shape, and no state change the input had no right to make.
//!
//! `PROPTEST_CASES` sets the number of cases (a small default keeps CI to
//! seconds); `fuzz/run.sh` at the repository root runs each target for
//! minutes. A failure prints the smallest input proptest shrank it to: fix
//! the cause and pin that input as a regression test named after it.

mod bulk;
mod dpop;
mod forms;
mod found;
mod pages;
mod pingid;

use std::future::Future;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::HeaderMap;

/// The number of cases: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

/// A runtime for one fuzz run: the server's tasks run on its workers while
/// proptest, on the test's thread, blocks on one case at a time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Runs `body` on `cases(default)` values of `strategy`, one after another,
/// shrinking a failure to its smallest input; says how many cases it ran
/// (`fuzz-cases NAME N`, which `fuzz/run.sh` adds up).
pub fn run<T, F, Fut>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    default: u32,
    strategy: impl Strategy<Value = T>,
    body: F,
) where
    T: std::fmt::Debug,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let cases = cases(default);
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 2048, ..Config::default() };
    let outcome = TestRunner::new(config).run(&strategy, |value| rt.block_on(body(value)));
    eprintln!("fuzz-cases {name} {cases}");
    if let Err(failure) = outcome {
        panic!("{name}: {failure}");
    }
}

/// One answer, as raw as it came.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn of(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        Reply { status, headers, body: res.bytes().await.unwrap().to_vec() }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The start of the body, for a failure's message.
    pub fn shown(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.body).chars().take(400).collect::<String>())
    }
}

/// The error codes an OAuth endpoint may answer with: RFC 6749 §5.2, RFC
/// 7009, RFC 8628 §3.5, RFC 9449 and `temporarily_unavailable` for the limiter.
pub const OAUTH_ERRORS: [&str; 15] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "invalid_token",
    "access_denied",
    "authorization_pending",
    "slow_down",
    "expired_token",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "temporarily_unavailable",
];

/// An RFC 6749 §5.2 error answer: JSON with a known `error`, an optional
/// string `error_description`, and `no-store`.
pub fn check_oauth_error(r: &Reply) -> Result<(), TestCaseError> {
    let shown = r.shown();
    proptest::prop_assert!(r.header("content-type").starts_with("application/json"), "not JSON: {shown}");
    let body = r.json();
    let error = body["error"].as_str().unwrap_or_default();
    proptest::prop_assert!(OAUTH_ERRORS.contains(&error), "not an RFC 6749 §5.2 body: {shown}");
    proptest::prop_assert!(
        body.get("error_description").is_none_or(serde_json::Value::is_string),
        "error_description not a string: {shown}"
    );
    proptest::prop_assert_eq!(r.header("cache-control"), "no-store", "{}", shown);
    Ok(())
}

/// An HTML page, with the headers every page carries.
pub fn check_page(r: &Reply) -> Result<(), TestCaseError> {
    let shown = r.shown();
    proptest::prop_assert!(r.header("content-type").starts_with("text/html"), "not a page: {shown}");
    proptest::prop_assert_eq!(r.header("cache-control"), "no-store", "{}", shown);
    proptest::prop_assert_eq!(r.header("x-frame-options"), "DENY", "{}", shown);
    Ok(())
}

/// Never a 5xx, whatever came in.
pub fn check_no_5xx(r: &Reply, what: &str) -> Result<(), TestCaseError> {
    proptest::prop_assert!(r.status < 500, "{what}: {}", r.shown());
    Ok(())
}

/// Text that has broken parsers and stores before: NUL, controls, bidi
/// overrides, a BOM, non-BMP characters, markup, SQL, paths, percent signs,
/// and lengths around the limits.
pub fn hostile() -> impl Strategy<Value = String> + Clone {
    use proptest::prelude::*;
    prop_oneof![
        4 => prop::sample::select(
            &[
                "\0", "a\0b", "\u{1}", "\u{7f}", "\u{202e}", "\u{2066}x", "\u{feff}", "é", "Ä", "😀", "\r\n", "\t",
                " ", "%", "%00", "%%", "%zz", "+", "&", "=", "#", "?", "<script>", "\"'><", "' OR 1=1 --",
                "../../etc/passwd", "\\u0000", "null", "[]", "{}", "-1", "0", "9223372036854775807",
                "99999999999999999999", "1e308", "NaN",
            ][..]
        )
        .prop_map(str::to_owned),
        2 => any::<String>(),
        2 => "[ -~]{0,40}",
        1 => (prop::sample::select(&[255usize, 256, 257, 1024, 4096, 8193, 16385, 70_000][..]), any::<char>())
            .prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

/// A client for hostile requests: no redirects followed, and no connection
/// kept, since signetd closes one whose oversized body it did not read.
pub fn one_shot_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build().unwrap()
}

/// `base` with `query` as its query string, as much of it as fits in a URL
/// a client will send (64 KiB, once percent-encoded).
pub fn url_with_query(base: &str, query: &[u8]) -> url::Url {
    let text = String::from_utf8_lossy(query);
    let mut take = text.chars().count();
    loop {
        let mut url = url::Url::parse(base).unwrap();
        url.set_query(Some(&text.chars().take(take).collect::<String>()));
        if url.as_str().len() < 60_000 {
            return url;
        }
        take /= 2;
    }
}
