//! One comparison: unbound, bound and unbound loads of pool.lua over lines
//! made ahead, each bound line with a fresh proof, and how it is reported.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use signet_client::ProofKey;
use signet_core::clock::{Clock, SystemClock};
use signet_core::dpop::IAT_WINDOW;

use crate::context::{Bench, Signetd};
use crate::report::{Table, Target, per_sec, thousands};
use crate::wrk::{self, Load, Outcome};

const GOAL: f64 = 0.6;
/// Bound pools hold this many times what the unbound rate would spend.
pub(super) const MARGIN: f64 = 1.5;
/// Unbound pools of bare lines cost next to nothing: more room.
pub(super) const BARE_MARGIN: f64 = 3.0;
const SLACK: usize = 1_000;
/// Seconds a proof needs to stay fresh beyond the load: wrk's start and stop.
pub(super) const FRESH_SLACK: u64 = 5;

/// What every load and request of goal 7 goes through: the run, its
/// signetd, and the key the proofs are signed with.
#[derive(Clone, Copy)]
pub(super) struct Rig<'a> {
    pub bench: &'a Bench,
    pub signetd: &'a Signetd,
    pub http: &'a reqwest::Client,
    pub key: &'a Arc<ProofKey>,
}

/// The proofs signed ahead of the loads, for the table.
#[derive(Default)]
pub(super) struct Signing {
    pub proofs: usize,
    pub secs: f64,
    pub threads: usize,
}

/// Where one comparison's loads go, and what its proofs name.
pub(super) struct Series {
    pub name: &'static str,
    pub path: String,
    pub method: &'static str,
    /// The form body before each line's value (POST).
    pub prefix: String,
    pub unbound_auth: Option<String>,
    pub bound_auth: Option<String>,
    /// The proofs' `htu`: the public URL signetd checks them against.
    pub htu: String,
    /// The access token the proofs' `ath` names, at a resource.
    pub ath: Option<String>,
}

/// The values the pool lines carry before the TAB: nothing (client
/// credentials, the admin GET) or seeded refresh tokens.
pub(super) enum Values {
    Empty,
    Tokens(Vec<String>),
}

impl Values {
    fn take(&mut self, n: usize) -> Vec<String> {
        match self {
            Values::Empty => vec![String::new(); n],
            Values::Tokens(v) => v.drain(..n.min(v.len())).collect(),
        }
    }
}

/// One comparison's loads, and a line the bound load spent: replaying its
/// proof afterwards must be refused.
pub(super) struct Compared {
    before: Outcome,
    bound: Outcome,
    after: Outcome,
    /// A line the bound load spent: its value and proof.
    pub spent: (String, String),
}

impl Compared {
    fn unbound(&self) -> f64 {
        (self.before.rate() + self.after.rate()) / 2.0
    }

    pub fn report(&self, table: &mut Table, what: &str, unbound: &str, bound: &str) {
        table.check_steady(&format!("{what}, unbound"), self.before.rate(), self.after.rate());
        for o in [&self.before, &self.bound, &self.after] {
            if o.exhausted > 0 {
                table.warn(format!(
                    "{what}: a pool ran out ({}); the rate counts only the pool's requests",
                    o.describe()
                ));
            }
        }
        table.info(
            &format!("{what}, {unbound}"),
            per_sec(self.unbound()),
            &format!(
                "before {}, after {}; {}",
                per_sec(self.before.rate()),
                per_sec(self.after.rate()),
                self.before.describe()
            ),
        );
        table.info(&format!("{what}, {bound}"), per_sec(self.bound.rate()), &self.bound.describe());
        table.ratio(&format!("{what}: bound / unbound"), self.bound.rate() / self.unbound(), Target::AtLeast(GOAL), "");
    }
}

/// The values of one comparison's loads. The two unbound loads take
/// `unbound` (`sizes[0]` and `sizes[1]`), the bound warm-up and load take
/// `bound`: `bound_sizes` when the pool was seeded ahead, else sized from
/// the first unbound rate.
pub(super) struct Pools {
    pub unbound: Values,
    pub bound: Values,
    pub sizes: [usize; 2],
    pub bound_sizes: Option<[usize; 2]>,
}

/// Unbound, bound (after a warm-up of its own), unbound again, over `pools`.
pub(super) async fn compare(
    rig: &Rig<'_>,
    signing: &mut Signing,
    s: &Series,
    pools: Pools,
) -> anyhow::Result<Compared> {
    let Pools { mut unbound, mut bound, sizes, bound_sizes } = pools;
    let bench = rig.bench;
    let name = s.name;
    let lines = unbound_lines(unbound.take(sizes[0]));
    let before = load(rig, &format!("{name}-unbound"), s, s.unbound_auth.as_deref(), &lines, bench.secs).await?;
    drop(lines);

    let [warm_n, load_n] =
        bound_sizes.unwrap_or([size(before.rate(), bench.warmup, MARGIN), size(before.rate(), bench.secs, MARGIN)]);
    if bench.warmup > 0 {
        let values = bound.take(warm_n);
        let lines = bound_lines(rig, signing, s, values, bench.warmup).await?;
        load(rig, &format!("{name}-bound-warmup"), s, s.bound_auth.as_deref(), &lines, bench.warmup).await?;
    }
    let values = bound.take(load_n);
    let lines = bound_lines(rig, signing, s, values, bench.secs).await?;
    let bound_out = load(rig, &format!("{name}-bound"), s, s.bound_auth.as_deref(), &lines, bench.secs).await?;
    // A line from the middle of what the load spent. Not the first: wrk calls
    // request() once to check it before the load, and never sends that one.
    let spent = usize::try_from(bound_out.used / 2).unwrap_or(usize::MAX).max(1);
    let spent = lines.get(spent).context("the bound load spent no proof")?;
    let spent = match spent.split_once('\t') {
        Some((v, p)) => (v.to_owned(), p.to_owned()),
        None => anyhow::bail!("a bound line without a proof"),
    };
    drop(lines);

    let after_lines = unbound_lines(unbound.take(sizes[1]));
    let after =
        load(rig, &format!("{name}-unbound-after"), s, s.unbound_auth.as_deref(), &after_lines, bench.secs).await?;
    Ok(Compared { before, bound: bound_out, after, spent })
}

/// `value<TAB>` for each value: the same Lua per request as a bound line.
pub(super) fn unbound_lines(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| format!("{v}\t")).collect()
}

/// `value<TAB>proof` for each value, every proof with its own `jti` and dated
/// now, signed on every core right before the load of `secs` that spends them.
async fn bound_lines(
    rig: &Rig<'_>,
    signing: &mut Signing,
    s: &Series,
    values: Vec<String>,
    secs: u64,
) -> anyhow::Result<Vec<String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (key, htu, ath, method) = (rig.key.clone(), s.htu.clone(), s.ath.clone(), s.method);
    let started = Instant::now();
    let lines = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let iat = SystemClock.now();
        let per = values.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = values
                .chunks(per)
                .map(|chunk| {
                    let (key, htu, ath) = (&key, &htu, &ath);
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|v| format!("{v}\t{}", key.proof_at(method, htu, ath.as_deref(), None, iat)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut lines = Vec::with_capacity(values.len());
            for w in workers {
                lines.extend(w.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))?);
            }
            Ok(lines)
        })
    })
    .await??;
    let took = started.elapsed();
    signing.proofs += lines.len();
    signing.secs += took.as_secs_f64();
    signing.threads = threads;
    // The last request of the load must still be within signetd's window.
    anyhow::ensure!(
        took + Duration::from_secs(secs + FRESH_SLACK) < Duration::from_secs(IAT_WINDOW.unsigned_abs()),
        "signing {} proofs took {:.1} s: the last would be stale before the load ends",
        lines.len(),
        took.as_secs_f64()
    );
    rig.bench.note(&format!(
        "{}: signed {} proofs in {:.1} s on {threads} threads",
        s.name,
        thousands(lines.len() as f64),
        took.as_secs_f64()
    ));
    Ok(lines)
}

/// One pool.lua load of `secs` over `lines`; any error answer fails the run.
pub(super) async fn load(
    rig: &Rig<'_>,
    name: &str,
    s: &Series,
    auth: Option<&str>,
    lines: &[String],
    secs: u64,
) -> anyhow::Result<Outcome> {
    let (bench, signetd) = (rig.bench, rig.signetd);
    let pool = bench.tmp.join(format!("{name}-pool.txt"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&pool)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    bench.note(&format!("{name}: {secs} s of load over {} lines", thousands(lines.len() as f64)));
    let outcome = wrk::run(
        bench,
        Load {
            name: name.to_owned(),
            script: bench.script("pool.lua"),
            url: signetd.base.clone(),
            secs,
            env: vec![
                ("BENCH_POOL", pool.display().to_string()),
                ("BENCH_PATH", s.path.clone()),
                ("BENCH_METHOD", s.method.to_owned()),
                ("BENCH_PREFIX", s.prefix.clone()),
                ("BENCH_AUTH", auth.unwrap_or_default().to_owned()),
                ("BENCH_SENTINEL", "/healthz".into()),
            ],
        },
    )
    .await?;
    let _ = std::fs::remove_file(&pool);
    bench.note(&format!("{name}: {} ({}, {} lines spent)", per_sec(outcome.rate()), outcome.describe(), outcome.used));
    anyhow::ensure!(outcome.errors() == 0, "{name}: {}; see wrk-{name}.log", outcome.describe());
    Ok(outcome)
}

/// Lines for `rate` requests a second for `secs`, with room.
pub(super) fn size(rate: f64, secs: u64, margin: f64) -> usize {
    (rate * secs as f64 * margin) as usize + SLACK
}
