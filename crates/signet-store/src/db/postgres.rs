//! Connecting to PostgreSQL: a pool that fails fast while the database is
//! down, and a URL that may name several hosts, as libpq's does.
//!
//! `postgres://user:pw@h1:5432,h2:5433/db?target_session_attrs=read-write`
//! names the hosts in the order they are tried. `target_session_attrs` is
//! `any` (the default, as in libpq: the first host that answers) or
//! `read-write` (the first whose sessions can write: not a standby). The pool
//! connects to one host at a time; when statements start failing because
//! that host does not answer, a watcher probes the list again every
//! [`PROBE_EVERY`] and points the pool at the first suitable host, so a
//! promoted standby takes the writes without restarting signetd.
//!
//! While no host answers, waiting for a connection ends after
//! [`ACQUIRE_TIMEOUT`] with an error that [`StoreError::is_unavailable`]
//! recognises, so requests fail in about a second instead of hanging.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::Stats;
use crate::{Result, StoreError};

const CONNECTIONS: u32 = 16;
/// The longest a statement waits for a connection, connecting included.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1_500);
/// The longest one host may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the watcher looks again while the current host fails.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long opening the store waits for a suitable host, as a server
/// started beside its database must.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// Which sessions will do (libpq's `target_session_attrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionAttrs {
    Any,
    ReadWrite,
}

/// The hosts of a database URL, each with the URL's other settings.
pub(crate) struct Targets {
    hosts: Vec<(String, PgConnectOptions)>,
    attrs: SessionAttrs,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<&str> = self.hosts.iter().map(|(h, _)| h.as_str()).collect();
        f.debug_struct("Targets").field("hosts", &hosts).field("attrs", &self.attrs).finish()
    }
}

/// Splits `url` into one set of options per host. Errors name the host or
/// the parameter, never the URL: it may hold a password.
pub(crate) fn parse(url: &str) -> Result<Targets> {
    let bad = |why: String| StoreError::Url(format!("invalid PostgreSQL URL: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme".into()))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // An `@` after the host list means a user or password with a reserved
    // character cut the authority short: what would be read as hosts is
    // part of the password, so none of it may be echoed.
    if tail.contains('@') {
        return Err(bad("the user or password holds a reserved character (/ ? # @): percent-encode it".into()));
    }
    let (userinfo, hostlist) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut attrs = SessionAttrs::Any;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", value)) => {
                attrs = match value {
                    "any" => SessionAttrs::Any,
                    "read-write" => SessionAttrs::ReadWrite,
                    other => {
                        return Err(bad(format!(
                            "target_session_attrs={other:?} is not supported: use any or read-write"
                        )));
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    let names: Vec<&str> = hostlist.split(',').collect();
    let mut hosts = Vec::with_capacity(names.len());
    for name in &names {
        if name.is_empty() && names.len() > 1 {
            return Err(bad(format!("an empty host in the host list {hostlist:?}")));
        }
        let one = format!("{scheme}://{userinfo}{name}{path}{query}");
        let options = PgConnectOptions::from_str(&one).map_err(|e| {
            bad(format!("host {name:?}: {}", e.to_string().trim_start_matches("error with configuration: ")))
        })?;
        hosts.push((name.to_string(), options));
    }
    Ok(Targets { hosts, attrs })
}

/// When the pool last moved to another host: connections opened before it
/// are closed instead of reused.
#[derive(Default)]
struct Switched(Mutex<Option<Instant>>);

impl Switched {
    fn now(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Whether a connection this old was opened after the last switch.
    fn is_current(&self, age: Duration) -> bool {
        match self.0.lock().ok().and_then(|at| *at) {
            Some(at) => age < at.elapsed(),
            None => true,
        }
    }
}

/// Opens a pool on the first suitable host of `url`, and watches it.
pub(crate) async fn open(url: &str, stats: Arc<Stats>) -> Result<PgPool> {
    let targets = Arc::new(parse(url)?);
    let chosen = choose_patiently(&targets).await?;
    let switched = Arc::new(Switched::default());
    let attrs = targets.attrs;
    let current = switched.clone();
    let mut options = PgPoolOptions::new()
        .max_connections(CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .before_acquire(move |_, meta| {
            let keep = current.is_current(meta.age);
            Box::pin(async move { Ok(keep) })
        });
    if attrs == SessionAttrs::ReadWrite {
        // A host that became a standby since it was chosen is refused: the
        // pool retries until the watcher has chosen another.
        options = options.after_connect(|conn, _| {
            Box::pin(async move {
                match writable(conn).await? {
                    true => Ok(()),
                    false => {
                        Err(sqlx::Error::Protocol("the server is read-only (target_session_attrs=read-write)".into()))
                    }
                }
            })
        });
    }
    let pool = options.connect_lazy_with(targets.hosts[chosen].1.clone());
    if targets.hosts.len() > 1 {
        tokio::spawn(watch(pool.clone(), targets, chosen, switched, stats));
    }
    Ok(pool)
}

/// Whether this session can write.
async fn writable(conn: &mut sqlx::PgConnection) -> std::result::Result<bool, sqlx::Error> {
    let (read_only,): (String,) = sqlx::query_as("SHOW transaction_read_only").fetch_one(conn).await?;
    Ok(read_only == "off")
}

/// What probing a host found.
enum Probe {
    Suits,
    /// It answered, but cannot write.
    ReadOnly,
    /// It did not answer (in time), or refused the connection; the reason.
    Failed {
        transient: bool,
        reason: String,
    },
}

/// Whether the host at `options` answers and suits `attrs`.
async fn probe(options: &PgConnectOptions, attrs: SessionAttrs) -> Probe {
    let probe = async {
        let mut conn = options.connect().await?;
        let ok = match attrs {
            SessionAttrs::Any => true,
            SessionAttrs::ReadWrite => writable(&mut conn).await?,
        };
        let _ = conn.close().await;
        Ok::<bool, sqlx::Error>(ok)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(true)) => Probe::Suits,
        Ok(Ok(false)) => Probe::ReadOnly,
        Ok(Err(e)) => Probe::Failed { transient: unavailable(&e), reason: e.to_string() },
        Err(_) => Probe::Failed { transient: true, reason: format!("no answer within {PROBE_TIMEOUT:?}") },
    }
}

/// The first host in the list that suits now, or what each said.
async fn choose(targets: &Targets) -> std::result::Result<usize, Vec<Probe>> {
    let mut said = Vec::new();
    for (i, (_, options)) in targets.hosts.iter().enumerate() {
        match probe(options, targets.attrs).await {
            Probe::Suits => return Ok(i),
            other => said.push(other),
        }
    }
    Err(said)
}

/// A sqlx error that says the server is out of reach, or not ready yet,
/// rather than that something is wrong with what was asked.
pub(crate) fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // Class 08: connection exception; 57P01-03: the server is shutting
        // down or starting; 53300: too many connections; 25006: a standby
        // refused a write (a failover under way).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300" | "25006")),
        _ => false,
    }
}

/// The first suitable host, waiting for one while the hosts are starting
/// or out of reach; at once an error when every host refused for a reason
/// waiting will not change (a database that does not exist, a password).
async fn choose_patiently(targets: &Targets) -> Result<usize> {
    let started = Instant::now();
    loop {
        let said = match choose(targets).await {
            Ok(i) => return Ok(i),
            Err(said) => said,
        };
        let lasting = said.iter().all(|p| matches!(p, Probe::Failed { transient: false, .. }));
        if lasting || started.elapsed() > STARTUP_PATIENCE {
            return Err(StoreError::Url(no_host(targets, &said)));
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// One line: each host and what it said.
fn no_host(targets: &Targets, said: &[Probe]) -> String {
    let each: Vec<String> = targets
        .hosts
        .iter()
        .zip(said)
        .map(|((host, _), p)| match p {
            Probe::Suits => format!("{host}: suitable"),
            Probe::ReadOnly => format!("{host}: read-only"),
            Probe::Failed { reason, .. } => format!("{host}: {}", reason.replace('\n', " ")),
        })
        .collect();
    let what = match targets.attrs {
        SessionAttrs::Any => "answers",
        SessionAttrs::ReadWrite => "accepts writes (target_session_attrs=read-write)",
    };
    format!("no PostgreSQL host {what}: {}", each.join("; "))
}

/// Points the pool at another host when the current one fails: whenever the
/// store has met an unavailable database since the last look, the list is
/// probed again, in order, until a suitable host is found.
async fn watch(pool: PgPool, targets: Arc<Targets>, mut current: usize, switched: Arc<Switched>, stats: Arc<Stats>) {
    let mut seen = stats.unavailable_count();
    let mut failing = false;
    while !pool.is_closed() {
        tokio::time::sleep(PROBE_EVERY).await;
        let now = stats.unavailable_count();
        failing |= now != seen;
        seen = now;
        if !failing {
            continue;
        }
        let Ok(chosen) = choose(&targets).await else { continue };
        failing = false;
        if chosen != current {
            tracing::warn!(
                from = %targets.hosts[current].0,
                to = %targets.hosts[chosen].0,
                "PostgreSQL host failed; the store now uses another"
            );
            current = chosen;
            switched.now();
            pool.set_connect_options(targets.hosts[chosen].1.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_gives_one_target_per_host() {
        let t = parse("postgres://u:secret@127.0.0.1:5433,h2:6000/db?target_session_attrs=read-write&sslmode=disable")
            .unwrap();
        assert_eq!(t.attrs, SessionAttrs::ReadWrite);
        let hosts: Vec<(&str, u16)> = t.hosts.iter().map(|(_, o)| (o.get_host(), o.get_port())).collect();
        assert_eq!(hosts, [("127.0.0.1", 5433), ("h2", 6000)]);
        assert!(t.hosts.iter().all(|(_, o)| o.get_database() == Some("db") && o.get_username() == "u"));
        assert!(!format!("{t:?}").contains("secret"));
    }

    #[test]
    fn one_host_defaults_to_any() {
        let t = parse("postgresql://postgres@127.0.0.1/x").unwrap();
        assert_eq!((t.attrs, t.hosts.len(), t.hosts[0].1.get_port()), (SessionAttrs::Any, 1, 5432));
    }

    #[test]
    fn bad_host_lists_are_refused_without_the_password() {
        for (url, says) in [
            ("postgres://u:secret@h1,,h2/db", "empty host"),
            ("postgres://u:secret@h1:99999,h2/db", "invalid port"),
            ("postgres://u:secret@h1:x/db", "invalid port"),
            ("postgres://u:secret@h1,h2/db?target_session_attrs=standby", "target_session_attrs"),
            ("postgres://signet:secret/q9@h1,h2/db", "percent-encode"),
            ("postgres://s:1234/secret@h1/db", "percent-encode"),
            ("postgres://u:sec?ret@h1,h2/db", "percent-encode"),
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("secret") && !e.contains('\n'), "{url}: {e}");
        }
    }
}
