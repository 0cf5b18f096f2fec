//! Prometheus counters: requests and latencies by route template, method
//! and status class, grants by type, failures by reason. Plain atomics,
//! rendered as text on `/metrics` with the series other parts keep
//! (`components`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signet_core::model::GrantType;
use signet_proto::oauth::ErrorCode;

mod components;
mod store;

pub use components::exposition;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    WrongPassword,
    WrongTotp,
    WrongUserCode,
    AccountLocked,
    RateLimited,
    CodeReplay,
    RefreshReuse,
    /// An admin API call without valid credentials (401).
    AdminAuthentication,
    /// A sign-on through an external provider refused (issue 7).
    Federation,
    Other,
}

impl Failure {
    const ALL: [Failure; 17] = [
        Failure::InvalidRequest,
        Failure::InvalidClient,
        Failure::InvalidGrant,
        Failure::UnauthorizedClient,
        Failure::UnsupportedGrantType,
        Failure::InvalidScope,
        Failure::AccessDenied,
        Failure::WrongPassword,
        Failure::WrongTotp,
        Failure::WrongUserCode,
        Failure::AccountLocked,
        Failure::RateLimited,
        Failure::CodeReplay,
        Failure::RefreshReuse,
        Failure::AdminAuthentication,
        Failure::Federation,
        Failure::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Failure::AdminAuthentication => "admin_unauthenticated",
            Failure::InvalidRequest => "invalid_request",
            Failure::InvalidClient => "invalid_client",
            Failure::InvalidGrant => "invalid_grant",
            Failure::UnauthorizedClient => "unauthorized_client",
            Failure::UnsupportedGrantType => "unsupported_grant_type",
            Failure::InvalidScope => "invalid_scope",
            Failure::AccessDenied => "access_denied",
            Failure::WrongPassword => "wrong_password",
            Failure::WrongTotp => "wrong_totp",
            Failure::WrongUserCode => "wrong_user_code",
            Failure::AccountLocked => "account_locked",
            Failure::RateLimited => "rate_limited",
            Failure::CodeReplay => "code_replay",
            Failure::RefreshReuse => "refresh_reuse",
            Failure::Federation => "federation",
            Failure::Other => "other",
        }
    }

    pub fn from_code(code: ErrorCode) -> Failure {
        match code {
            ErrorCode::InvalidRequest => Failure::InvalidRequest,
            ErrorCode::InvalidClient => Failure::InvalidClient,
            ErrorCode::InvalidGrant => Failure::InvalidGrant,
            ErrorCode::UnauthorizedClient => Failure::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType => Failure::UnsupportedGrantType,
            ErrorCode::InvalidScope => Failure::InvalidScope,
            ErrorCode::AccessDenied => Failure::AccessDenied,
            ErrorCode::TemporarilyUnavailable => Failure::RateLimited,
            _ => Failure::Other,
        }
    }
}

/// One series of the request histogram: a route template (never the raw
/// path, so ids in paths cannot multiply the series), a method from a fixed
/// set and a status class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RouteKey {
    route: String,
    method: &'static str,
    class: u8,
}

#[derive(Default)]
struct RouteStats {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    routes: RwLock<HashMap<RouteKey, RouteStats>>,
    grants: [AtomicU64; GrantType::ALL.len()],
    failures: [AtomicU64; Failure::ALL.len()],
}

/// The method's name in the metrics; any other than these is `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "LIST"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

impl Metrics {
    /// A request to `route` (its template) answered `status` after `elapsed`.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let record = |s: &RouteStats| {
            let secs = elapsed.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                s.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            s.count.fetch_add(1, Ordering::Relaxed);
            s.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        };
        let key =
            RouteKey { route: route.to_owned(), method: method_label(method), class: (status / 100).clamp(1, 5) as u8 };
        if let Ok(routes) = self.routes.read()
            && let Some(s) = routes.get(&key)
        {
            record(s);
            return;
        }
        if let Ok(mut routes) = self.routes.write() {
            record(routes.entry(key).or_default());
        }
    }

    pub fn grant(&self, g: GrantType) {
        let i = GrantType::ALL.iter().position(|x| *x == g).unwrap_or(0);
        self.grants[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn failure(&self, f: Failure) {
        let i = Failure::ALL.iter().position(|x| *x == f).unwrap_or(0);
        self.failures[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        self.render_requests(&mut out);
        let _ = writeln!(out, "# HELP signetd_grants_total Tokens issued, by grant type.");
        let _ = writeln!(out, "# TYPE signetd_grants_total counter");
        for (i, g) in GrantType::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "signetd_grants_total{{grant_type=\"{}\"}} {}",
                g.label(),
                self.grants[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP signetd_failures_total Refused requests and sign-on attempts, by reason.");
        let _ = writeln!(out, "# TYPE signetd_failures_total counter");
        for (i, f) in Failure::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "signetd_failures_total{{reason=\"{}\"}} {}",
                f.label(),
                self.failures[i].load(Ordering::Relaxed)
            );
        }
        out
    }

    /// Requests by route template, method and status class, and their latency.
    fn render_requests(&self, out: &mut String) {
        use std::fmt::Write;
        let mut routes = self
            .routes
            .read()
            .map(|r| r.iter().map(|(k, s)| (k.clone(), snapshot(s))).collect::<Vec<_>>())
            .unwrap_or_default();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        let labels = |k: &RouteKey| format!("route=\"{}\",method=\"{}\",status=\"{}xx\"", k.route, k.method, k.class);
        let _ = writeln!(out, "# HELP signetd_http_requests_total HTTP requests by route, method and status class.");
        let _ = writeln!(out, "# TYPE signetd_http_requests_total counter");
        for (key, s) in &routes {
            let _ = writeln!(out, "signetd_http_requests_total{{{}}} {}", labels(key), s.count);
        }
        let name = "signetd_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Request latency by route, method and status class.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (key, s) in &routes {
            let labels = labels(key);
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", s.sum_micros as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", s.count);
        }
    }
}

struct Snapshot {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

fn snapshot(s: &RouteStats) -> Snapshot {
    Snapshot {
        buckets: std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed)),
        count: s.count.load(Ordering::Relaxed),
        sum_micros: s.sum_micros.load(Ordering::Relaxed),
    }
}
