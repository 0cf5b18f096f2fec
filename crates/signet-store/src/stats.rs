//! What the store counts about itself, for `/metrics`: statement latency,
//! errors by kind, and the time spent waiting for a connection (PostgreSQL's
//! pool) or for the writer (SQLite's one write connection). Plain atomics,
//! updated on every statement and read as a [`StatsSnapshot`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::StoreError;

/// Latency histogram bucket bounds, in seconds.
pub const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A store error's kind, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The database could not be reached in time (see [`StoreError::is_unavailable`]).
    Unavailable = 0,
    /// A unique constraint refused a write.
    Conflict = 1,
    Other = 2,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 3] = [ErrorKind::Unavailable, ErrorKind::Conflict, ErrorKind::Other];

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Other => "other",
        }
    }

    fn of(e: &StoreError) -> ErrorKind {
        match e {
            e if e.is_unavailable() => ErrorKind::Unavailable,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Db(d) if d.is_unique_violation() => ErrorKind::Conflict,
            _ => ErrorKind::Other,
        }
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn record(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_micros(self.sum_micros.load(Ordering::Relaxed)),
        }
    }
}

/// The store's counters, shared by every clone of a store.
#[derive(Default)]
pub(crate) struct Stats {
    statements: Histogram,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    waits: Histogram,
    wait_timeouts: AtomicU64,
}

impl Stats {
    /// A statement (or a transaction's begin or commit) that took `elapsed`.
    pub(crate) fn statement<T>(&self, elapsed: Duration, out: &crate::Result<T>) {
        self.statements.record(elapsed);
        if let Err(e) = out {
            self.error(e);
        }
    }

    pub(crate) fn error(&self, e: &StoreError) {
        self.errors[ErrorKind::of(e) as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Unavailable errors so far: the PostgreSQL watcher looks for a
    /// better host when this moves.
    pub(crate) fn unavailable_count(&self) -> u64 {
        self.errors[ErrorKind::Unavailable as usize].load(Ordering::Relaxed)
    }

    /// Time spent waiting for a connection or the writer; `timed_out` when
    /// the wait ended without one.
    pub(crate) fn wait(&self, elapsed: Duration, timed_out: bool) {
        self.waits.record(elapsed);
        if timed_out {
            self.wait_timeouts.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, pool: PoolSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            statements: self.statements.snapshot(),
            errors: ErrorKind::ALL.map(|k| (k, self.errors[k as usize].load(Ordering::Relaxed))),
            waits: self.waits.snapshot(),
            wait_timeouts: self.wait_timeouts.load(Ordering::Relaxed),
            pool,
        }
    }
}

/// A histogram's counts: per bucket of [`BUCKETS`] (not cumulative), all, and their sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistogramSnapshot {
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: Duration,
}

/// The connections a store holds: open, idle, in use, and the most it opens.
/// On SQLite: the writer and the pooled readers.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolSnapshot {
    pub size: u64,
    pub idle: u64,
    pub max: u64,
}

impl PoolSnapshot {
    pub fn in_use(&self) -> u64 {
        self.size.saturating_sub(self.idle)
    }
}

/// The store's counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct StatsSnapshot {
    /// Every statement, begin and commit, waits included.
    pub statements: HistogramSnapshot,
    pub errors: [(ErrorKind, u64); ErrorKind::ALL.len()],
    /// Waits for a connection (PostgreSQL) or the writer (SQLite).
    pub waits: HistogramSnapshot,
    /// Waits that ended without a connection.
    pub wait_timeouts: u64,
    pub pool: PoolSnapshot,
}
