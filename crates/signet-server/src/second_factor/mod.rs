//! Verification clients for the SaaS login MFA methods Vault offers (PingID,
//! Okta Verify push, Duo), making the requests Vault's `vault/login_mfa.go`
//! makes. Each asks its service whether the user approved this sign-on.
//!
//! A client answers `Verdict::Denied` when the service said no, or when the
//! user never answered within the bound; `ProviderError` when the service
//! could not be asked or its answer cannot be trusted (bad signature,
//! malformed reply, refused credentials). Both mean the sign-on fails; only the
//! caller decides how to report each. Every call goes through the `Fetcher`,
//! so an administrator's URL is held to its rules.
//!
//! Neither a verdict's reason nor an error's message ever holds a secret: the
//! configuration structs keep theirs in `Secret`, their `Debug` leaves them
//! out, and text a service sends back is cleaned by `audit_text` before it is
//! kept.

mod duo;
mod okta;
mod pingid;

use std::time::Duration;

use signet_core::clock::UnixTime;

use crate::fetch::FetchError;

pub use duo::Duo;
pub use okta::Okta;
pub use pingid::PingId;

/// What the service decided about this sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    /// Why, in words fit for an audit record: never a secret.
    Denied(String),
}

/// The service could not be asked, or its answer cannot be trusted. Messages
/// never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The method's configuration cannot be used as it stands.
    #[error("{service} is misconfigured: {reason}")]
    Misconfigured { service: &'static str, reason: String },
    /// No answer: refused by the fetch rules, unreachable, too slow or too large.
    #[error("{service} could not be reached: {source}")]
    Unreachable {
        service: &'static str,
        #[source]
        source: FetchError,
    },
    /// The service refused the call itself, such as signet's credentials.
    #[error("{service} refused the call (HTTP {status}): {detail}")]
    Refused { service: &'static str, status: u16, detail: String },
    /// The answer breaks the protocol: a bad signature, a wrong algorithm, a
    /// reply that is not the shape the service documents.
    #[error("{service} answered outside its protocol: {detail}")]
    Protocol { service: &'static str, detail: String },
}

/// How often to ask a push-based service for the user's answer, and for how
/// long in all. Vault asks every second until the request is cancelled;
/// signet stops after `limit` and denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    pub interval: Duration,
    /// The whole verification, first request to last, ends within this.
    pub limit: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling { interval: Duration::from_secs(1), limit: Duration::from_secs(60) }
    }
}

impl Polling {
    fn expired(&self, service: &str) -> Verdict {
        Verdict::Denied(format!("{service}: no answer from the user within {:?}", self.limit))
    }
}

/// The longest piece of a service's own text kept in a verdict or an error.
const MAX_TEXT: usize = 200;

/// Text a service sent back, made fit for an audit record and a log line:
/// control characters become spaces, it is cut to `MAX_TEXT` characters, and
/// any of `secrets` a careless or hostile service echoed is blanked out.
pub(crate) fn audit_text(text: &str, secrets: &[&str]) -> String {
    let mut text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The service's base URL: `https://{host}`, as Vault builds it, or, as a
/// signet extension, `configured` itself when it already names a scheme
/// (`http://127.0.0.1:port` for a local stand-in; the `Fetcher` still refuses
/// plain http off loopback).
pub(crate) fn base_url(host: &str) -> String {
    if host.starts_with("https://") || host.starts_with("http://") {
        host.trim_end_matches('/').to_owned()
    } else {
        format!("https://{host}")
    }
}

/// A UTC calendar time, for the date formats the services expect.
struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    /// 0 is Sunday.
    weekday: usize,
}

impl Civil {
    /// Howard Hinnant's `civil_from_days`, for the proleptic Gregorian calendar.
    fn at(now: UnixTime) -> Civil {
        let days = now.div_euclid(86_400);
        let secs = now.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month: month as usize,
            day,
            hour: secs / 3_600,
            minute: secs % 3_600 / 60,
            second: secs % 60,
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }
}

/// RFC 2822 (RFC 5322 §3.3), as Go's `time.RFC1123Z` writes UTC:
/// `Tue, 21 Aug 2012 17:29:18 +0000`.
pub(crate) fn rfc2822(now: UnixTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = Civil::at(now);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[c.weekday % 7],
        c.day,
        MONTHS[(c.month + 11) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_the_services_expect() {
        assert_eq!(rfc2822(1_345_570_158), "Tue, 21 Aug 2012 17:29:18 +0000");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc2822(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 +0000");
    }

    #[test]
    fn audit_text_is_short_printable_and_holds_no_secret() {
        assert_eq!(audit_text("a\nb\tc", &[]), "a b c");
        assert_eq!(audit_text("token s3cret is bad", &["s3cret", ""]), "token [redacted] is bad");
        let long = "x".repeat(500);
        assert_eq!(audit_text(&long, &[]).chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn a_scheme_prefix_is_used_as_is() {
        assert_eq!(base_url("api-1234.duosecurity.com"), "https://api-1234.duosecurity.com");
        assert_eq!(base_url("http://127.0.0.1:9/"), "http://127.0.0.1:9");
    }
}
