//! `load` and `verify`: the load of deploy/ha (the HA harness's CI test,
//! measure.sh and soak.sh). `load` sends acknowledged writes (a worker
//! application created through the admin API, its id kept only once signetd
//! answered 201) or token grants through one URL, usually HAProxy's, and
//! reports what it saw: successes, failures by kind, latency, the longest
//! gap between two successes (how long writes stopped during a failover),
//! and a line per interval for a soak. `verify` reads every kept id back.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;
use signet_proto::bootstrap::BootstrapFile;

use crate::context::basic;

const API: &str = "/admin-api/v1";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Create a worker application (a committed write) with an Admin worker's Bearer token.
    Write,
    /// A client_credentials grant of the bootstrap worker (an ES256 signature, no write).
    Token,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Base URL: HAProxy's, or one node's.
    #[arg(long)]
    pub url: String,
    /// signetd's bootstrap.json: the administrator and the worker.
    #[arg(long)]
    pub bootstrap: PathBuf,
    #[arg(long, value_enum, default_value = "write")]
    pub op: Op,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Where each acknowledged write's id is appended, one a line.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// Print a JSON line with that interval's figures every this many seconds (a soak).
    #[arg(long)]
    pub interval: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub bootstrap: PathBuf,
    /// The ids `load --ids` wrote.
    #[arg(long)]
    pub ids: PathBuf,
}

/// What the workers saw, since the start or the last interval line.
#[derive(Default)]
struct Seen {
    ok: u64,
    failed: BTreeMap<String, u64>,
    latencies_us: Vec<u64>,
    last_ok: Option<Instant>,
    longest_gap: Duration,
    gap_ends_at: Option<Duration>,
}

struct Shared {
    http: reqwest::Client,
    url: String,
    auth: String,
    op: Op,
    started: Instant,
    until: Instant,
    seen: Mutex<Seen>,
    ids: Mutex<Option<std::fs::File>>,
}

fn read_bootstrap(path: &std::path::Path) -> anyhow::Result<BootstrapFile> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&raw).with_context(|| format!("parsing {}", path.display()))
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?)
}

pub fn load(args: LoadArgs) -> anyhow::Result<()> {
    let boot = read_bootstrap(&args.bootstrap)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let http = client()?;
    let issuer = url::Url::parse(&boot.issuer).context("the issuer is not a URL")?;
    let token_url = format!("{}{}/token", args.url, issuer.path());
    let (url, auth) = match args.op {
        Op::Write => {
            let apps = format!("{}{API}/environments/{}/applications", args.url, boot.environment_id);
            let bearer = runtime.block_on(admin_bearer(&http, &apps, &token_url, &boot))?;
            (apps, bearer)
        }
        Op::Token => (token_url, basic(&boot.worker.client_id, &boot.worker.client_secret)),
    };
    let ids = match &args.ids {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let shared = Arc::new(Shared {
        http,
        url,
        auth,
        op: args.op,
        started,
        until: started + Duration::from_secs(args.seconds),
        seen: Mutex::new(Seen::default()),
        ids: Mutex::new(ids),
    });
    let total = runtime.block_on(run_load(shared, args.concurrency, args.interval))?;
    println!("{}", total);
    Ok(())
}

/// A Bearer token of a new worker holding the Admin role: each write is then
/// checked by the token's signature, so the load measures the writes rather
/// than password hashing on nodes that have not verified the password yet.
async fn admin_bearer(
    http: &reqwest::Client,
    apps: &str,
    token_url: &str,
    boot: &BootstrapFile,
) -> anyhow::Result<String> {
    let admin = basic(&boot.admin.username, &boot.admin.password);
    let (id, secret) = crate::context::admin_worker(http, apps, &admin, "signet-bench load writer").await?;
    let res = http
        .post(token_url)
        .header("authorization", basic(&id, &secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    let token = body["access_token"].as_str().with_context(|| format!("the worker's token answered {status}"))?;
    Ok(format!("Bearer {token}"))
}

async fn run_load(shared: Arc<Shared>, concurrency: usize, interval: Option<u64>) -> anyhow::Result<serde_json::Value> {
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        workers.push(tokio::spawn(work(shared.clone(), worker)));
    }
    let mut all = Seen::default();
    if let Some(secs) = interval.filter(|s| *s > 0) {
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        tick.tick().await;
        while Instant::now() < shared.until {
            tick.tick().await;
            let part = take(&shared)?;
            println!("{}", summary(&part, secs as f64, shared.started));
            merge(&mut all, part);
        }
    }
    for w in workers {
        w.await?;
    }
    merge(&mut all, take(&shared)?);
    Ok(summary(&all, shared.started.elapsed().as_secs_f64(), shared.started))
}

fn take(shared: &Shared) -> anyhow::Result<Seen> {
    let mut seen = shared.seen.lock().map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    let part = std::mem::take(&mut *seen);
    // The gap in progress carries on into the next interval.
    seen.last_ok = part.last_ok;
    Ok(part)
}

fn merge(all: &mut Seen, part: Seen) {
    all.ok += part.ok;
    for (k, v) in part.failed {
        *all.failed.entry(k).or_default() += v;
    }
    all.latencies_us.extend(part.latencies_us);
    all.last_ok = part.last_ok.or(all.last_ok);
    if part.longest_gap > all.longest_gap {
        all.longest_gap = part.longest_gap;
        all.gap_ends_at = part.gap_ends_at;
    }
}

fn summary(seen: &Seen, secs: f64, started: Instant) -> serde_json::Value {
    let mut lat = seen.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
    let ms = |us: Option<u64>| us.map(|u| (u as f64 / 100.0).round() / 10.0);
    serde_json::json!({
        "at_s": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "ok": seen.ok,
        "failed": seen.failed.values().sum::<u64>(),
        "failed_by": seen.failed,
        "rate_per_s": ((seen.ok as f64 / secs.max(0.001)) * 10.0).round() / 10.0,
        "p50_ms": ms(pct(0.50)),
        "p99_ms": ms(pct(0.99)),
        "longest_gap_ms": seen.longest_gap.as_millis() as u64,
        "longest_gap_ended_at_s": seen.gap_ends_at.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
        // Since the last success (or the start): a long one means the writes never came back.
        "since_last_ok_ms": seen.last_ok.map_or(started.elapsed(), |t| t.elapsed()).as_millis() as u64,
    })
}

async fn work(shared: Arc<Shared>, worker: usize) {
    let mut n = 0u64;
    while Instant::now() < shared.until {
        n += 1;
        let sent = Instant::now();
        let outcome = once(&shared, worker, n).await;
        let took = sent.elapsed();
        match outcome {
            Ok(id) => {
                record_ok(&shared, took);
                if let Some(id) = id
                    && let Ok(mut f) = shared.ids.lock()
                    && let Some(f) = f.as_mut()
                {
                    let _ = writeln!(f, "{id}");
                }
            }
            Err(kind) => {
                if let Ok(mut seen) = shared.seen.lock() {
                    *seen.failed.entry(kind).or_default() += 1;
                }
                // A failing target is not hammered: the next try comes after a breath.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn record_ok(shared: &Shared, took: Duration) {
    let Ok(mut seen) = shared.seen.lock() else { return };
    let now = Instant::now();
    if let Some(prev) = seen.last_ok
        && now - prev > seen.longest_gap
    {
        seen.longest_gap = now - prev;
        seen.gap_ends_at = Some(now - shared.started);
    }
    seen.last_ok = Some(now);
    seen.ok += 1;
    seen.latencies_us.push(took.as_micros() as u64);
}

/// One request: `Ok(Some(id))` for an acknowledged write, `Ok(None)` for a
/// token, `Err(kind)` for a failure (its status, or the transport's error).
async fn once(shared: &Shared, worker: usize, n: u64) -> Result<Option<String>, String> {
    let req = shared.http.post(&shared.url).header("authorization", &shared.auth);
    let req = match shared.op {
        Op::Write => req.json(&serde_json::json!({
            "name": format!("ha-load {worker}-{n}"),
            "kind": "worker",
            "grant_types": ["client_credentials"],
        })),
        Op::Token => req.form(&[("grant_type", "client_credentials")]),
    };
    let res = req.send().await.map_err(|e| transport(&e))?;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.map_err(|e| transport(&e))?;
    match (shared.op, status) {
        (Op::Write, 201) => body["id"].as_str().map(|id| Some(id.to_owned())).ok_or_else(|| "201 without id".into()),
        (Op::Token, 200) if body["access_token"].is_string() => Ok(None),
        _ => Err(status.to_string()),
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let boot = read_bootstrap(&args.bootstrap)?;
    let text = std::fs::read_to_string(&args.ids).with_context(|| format!("reading {}", args.ids.display()))?;
    let ids: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let auth = basic(&boot.admin.username, &boot.admin.password);
    let base = format!("{}{API}/environments/{}/applications", args.url, boot.environment_id);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let missing = runtime.block_on(async {
        let http = client()?;
        let mut missing = Vec::new();
        for id in &ids {
            let status = http.get(format!("{base}/{id}")).header("authorization", &auth).send().await?.status();
            match status.as_u16() {
                200 => {}
                404 => missing.push((*id).to_owned()),
                other => anyhow::bail!("reading application {id} answered {other}"),
            }
        }
        anyhow::Ok(missing)
    })?;
    println!("{}", serde_json::json!({"checked": ids.len(), "missing": missing.len(), "missing_ids": missing}));
    anyhow::ensure!(missing.is_empty(), "{} of {} acknowledged writes are missing", missing.len(), ids.len());
    Ok(())
}
