//! Series that other parts of the state keep, rendered beside `Metrics`'
//! own: the failure limiter's refusals and how far behind this instance's
//! revocation feed is.

use std::fmt::Write;

use signet_core::clock::UnixTime;

use crate::cache::FeedStatus;
use crate::ratelimit::FailureLimiter;
use crate::state::AppState;

/// Everything `/metrics` shows, in the Prometheus text format.
pub fn exposition(state: &AppState) -> String {
    let mut out = state.metrics.render();
    limiter_blocks(&mut out, &state.failures);
    revocation_feed(&mut out, state.revocations.feed_status(), state.now());
    super::store::render(&mut out, &state.store.stats());
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn limiter_blocks(out: &mut String, limiter: &FailureLimiter) {
    let name = "signetd_limiter_blocks_total";
    header(
        out,
        name,
        "counter",
        "Attempts refused unchecked: by the per-address failure limiter, by kind of credential, or by an account's lock (account_lock).",
    );
    for (kind, n) in limiter.blocks() {
        let _ = writeln!(out, "{name}{{kind=\"{}\"}} {n}", kind.label());
    }
    let _ = writeln!(out, "{name}{{kind=\"account_lock\"}} {}", limiter.lock_refusals());
}

/// The feed is polled when a token is checked and the last poll is over a
/// second old, so an idle instance's last poll grows old without harm.
fn revocation_feed(out: &mut String, feed: FeedStatus, now: UnixTime) {
    let name = "signetd_revocation_feed_last_poll_age_seconds";
    header(out, name, "gauge", "Seconds since this instance last read the revocation feed (polled on demand).");
    if let Some(at) = feed.succeeded_at {
        let _ = writeln!(out, "{name} {}", (now - at).max(0));
    }
    let name = "signetd_revocation_feed_lag_seconds";
    header(out, name, "gauge", "Seconds from the newest revocation read from the feed to the poll that applied it.");
    let _ = writeln!(out, "{name} {}", feed.newest_lag.unwrap_or(0));
    let name = "signetd_revocation_feed_polls_total";
    header(out, name, "counter", "Reads of the revocation feed, by result.");
    let _ = writeln!(out, "{name}{{result=\"ok\"}} {}", feed.polls);
    let _ = writeln!(out, "{name}{{result=\"error\"}} {}", feed.errors);
}
