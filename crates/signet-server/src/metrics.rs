//! Prometheus counters: requests and latencies by route, grants by type,
//! failures by reason. Plain atomics, rendered as text on `/metrics`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signet_core::model::GrantType;
use signet_proto::oauth::ErrorCode;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

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

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    routes: RwLock<HashMap<String, RouteStats>>,
    grants: [AtomicU64; GrantType::ALL.len()],
    failures: [AtomicU64; Failure::ALL.len()],
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        let record = |s: &RouteStats| {
            let class = (status / 100).clamp(1, 5) as usize - 1;
            s.by_class[class].fetch_add(1, Ordering::Relaxed);
            let secs = elapsed.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                s.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            s.count.fetch_add(1, Ordering::Relaxed);
            s.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        };
        if let Ok(routes) = self.routes.read()
            && let Some(s) = routes.get(route)
        {
            record(s);
            return;
        }
        if let Ok(mut routes) = self.routes.write() {
            record(routes.entry(route.to_owned()).or_default());
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
        let _ = writeln!(out, "# HELP signetd_http_requests_total HTTP requests by route and status class.");
        let _ = writeln!(out, "# TYPE signetd_http_requests_total counter");
        let routes = self.routes.read().map(|r| {
            let mut v: Vec<_> = r.iter().map(|(k, s)| (k.clone(), snapshot(s))).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        });
        let routes = routes.unwrap_or_default();
        for (route, s) in &routes {
            for (i, n) in s.0.iter().enumerate() {
                if *n > 0 {
                    let _ =
                        writeln!(out, "signetd_http_requests_total{{route=\"{route}\",status=\"{}xx\"}} {n}", i + 1);
                }
            }
        }
        let _ = writeln!(out, "# HELP signetd_http_request_duration_seconds Request latency by route.");
        let _ = writeln!(out, "# TYPE signetd_http_request_duration_seconds histogram");
        for (route, s) in &routes {
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += s.1[i];
                let _ = writeln!(
                    out,
                    "signetd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let _ =
                writeln!(out, "signetd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", s.2);
            let _ =
                writeln!(out, "signetd_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", s.3 as f64 / 1e6);
            let _ = writeln!(out, "signetd_http_request_duration_seconds_count{{route=\"{route}\"}} {}", s.2);
        }
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
}

type Snapshot = ([u64; 5], [u64; BUCKETS.len()], u64, u64);

fn snapshot(s: &RouteStats) -> Snapshot {
    (
        std::array::from_fn(|i| s.by_class[i].load(Ordering::Relaxed)),
        std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed)),
        s.count.load(Ordering::Relaxed),
        s.sum_micros.load(Ordering::Relaxed),
    )
}
