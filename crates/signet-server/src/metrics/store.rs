//! The store's series on `/metrics`: statement latency and errors by kind,
//! the connections held (open, idle, in use), and the waits for one (on
//! PostgreSQL the pool, on SQLite the one writer), with the waits that
//! ended without a connection. Read from the store's own counters
//! ([`signet_store::stats`]) when `/metrics` is scraped.

use std::fmt::Write;

use signet_store::stats::{BUCKETS, HistogramSnapshot, StatsSnapshot};

/// Appends the store's series to `out`.
pub fn render(out: &mut String, s: &StatsSnapshot) {
    histogram(
        out,
        "signetd_store_statement_duration_seconds",
        "Store statements (begin and commit included), waits for a connection included.",
        &s.statements,
    );
    let _ = writeln!(
        out,
        "# HELP signetd_store_errors_total Store errors by kind (unavailable: the database did not answer in time)."
    );
    let _ = writeln!(out, "# TYPE signetd_store_errors_total counter");
    for (kind, n) in s.errors {
        let _ = writeln!(out, "signetd_store_errors_total{{kind=\"{}\"}} {n}", kind.label());
    }
    gauge(out, "signetd_store_connections", "Store connections open.", s.pool.size);
    gauge(out, "signetd_store_connections_idle", "Store connections open and idle.", s.pool.idle);
    gauge(out, "signetd_store_connections_in_use", "Store connections in use.", s.pool.in_use());
    gauge(out, "signetd_store_connections_max", "The most store connections open at once.", s.pool.max);
    histogram(
        out,
        "signetd_store_wait_duration_seconds",
        "Time waiting for a store connection (PostgreSQL: the pool) or the writer (SQLite).",
        &s.waits,
    );
    let _ = writeln!(out, "# HELP signetd_store_wait_timeouts_total Waits for a store connection that timed out.");
    let _ = writeln!(out, "# TYPE signetd_store_wait_timeouts_total counter");
    let _ = writeln!(out, "signetd_store_wait_timeouts_total {}", s.wait_timeouts);
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for (bound, n) in BUCKETS.iter().zip(h.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum.as_secs_f64());
    let _ = writeln!(out, "{name}_count {}", h.count);
}
