//! Goal 7: what DPoP binding (RFC 9449) costs. Each bound path is measured
//! against its unbound twin on the same signetd in the same run:
//!
//! - client_credentials for the bootstrap worker (goal 1's request): plain,
//!   and with a proof of `POST {issuer}/token` on each request, which makes
//!   the answer `token_type: DPoP` with `cnf.jkt`;
//! - refresh grants of the CLI, a public client (goal 2's request): families
//!   seeded unbound, and families seeded bound to the key (`Grant::jkt`), as
//!   signetd binds a public client's, which refresh only with its proof;
//! - goal 5's `GET /admin-api/v1/accounts/{username}` by a worker holding the
//!   Admin role, with the oauth scheme on: its Bearer token, and a DPoP-bound
//!   token of the same worker as `Authorization: DPoP` with a proof carrying
//!   `ath`.
//!
//! A proof is single-use (signetd spends each `jti` in its store) and fresh
//! for 60 s, so every bound load gets its own pool of proofs, signed on every
//! core just before that load starts and sized from the unbound rate. Signing
//! is then no part of the timed run: what is measured is the server's check.
//! Both sides of each ratio run pool.lua, so wrk does the same Lua per
//! request; the unbound lines carry no proof. The unbound load runs before
//! and after the bound one, and the ratio is against their mean. Goal: bound
//! at least 0.6 times unbound (binding costs at most 40% of throughput).
//!
//! Every load must have no error answers and no socket errors, and a pool
//! that runs out shows as POOL EXHAUSTED. Requests by hand before and after
//! the loads show that the bound path is bound: a bound token comes as
//! `token_type: DPoP` with the key's `cnf.jkt`; a replayed proof is refused
//! (after the load, one the load itself spent); a bound refresh token is
//! refused without a proof or with another key's; a bound access token is
//! refused as Bearer at the admin API.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use serde_json::Value;
use signet_client::ProofKey;
use signet_core::clock::{Clock, SystemClock};
use signet_core::dpop::IAT_WINDOW;
use signet_core::model::CLI_CLIENT_ID;
use signet_store::Store;

use crate::admin::{expect_account, set_up};
use crate::context::{Bench, Signetd};
use crate::refresh::seed;
use crate::report::{Table, Target, per_sec, thousands};
use crate::wrk::{self, Load, Outcome};

const GOAL: f64 = 0.6;
const API: &str = "/admin-api/v1";
const CC_BODY: &str = "grant_type=client_credentials";
/// Bound pools hold this many times what the unbound rate would spend.
const MARGIN: f64 = 1.5;
/// Unbound pools of bare lines cost next to nothing: more room.
const BARE_MARGIN: f64 = 3.0;
const SLACK: usize = 1_000;
/// Seconds a proof needs to stay fresh beyond the load: wrk's start and stop.
const FRESH_SLACK: u64 = 5;
/// Refresh families set aside for the checks by hand.
const BOUND_CHECKS: usize = 3;

/// The proofs signed ahead of the loads, for the table.
#[derive(Default)]
struct Signing {
    proofs: usize,
    secs: f64,
    threads: usize,
}

/// Where one comparison's loads go, and what its proofs name.
struct Series {
    name: &'static str,
    path: String,
    method: &'static str,
    /// The form body before each line's value (POST).
    prefix: String,
    unbound_auth: Option<String>,
    bound_auth: Option<String>,
    /// The proofs' `htu`: the public URL signetd checks them against.
    htu: String,
    /// The access token the proofs' `ath` names, at a resource.
    ath: Option<String>,
}

/// The values the pool lines carry before the TAB: nothing (client
/// credentials, the admin GET) or seeded refresh tokens.
enum Values {
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
struct Compared {
    before: Outcome,
    bound: Outcome,
    after: Outcome,
    spent: (String, String),
}

impl Compared {
    fn unbound(&self) -> f64 {
        (self.before.rate() + self.after.rate()) / 2.0
    }

    fn report(&self, table: &mut Table, what: &str, unbound: &str, bound: &str) {
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

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("7");
    anyhow::ensure!(
        bench.secs.max(bench.warmup) + FRESH_SLACK < IAT_WINDOW.unsigned_abs(),
        "goal 7's proofs are fresh for {IAT_WINDOW} s: run it with --seconds below {}",
        IAT_WINDOW.unsigned_abs() - FRESH_SLACK
    );
    let key = Arc::new(ProofKey::generate().context("generating a DPoP key")?);
    bench.note(&format!("dpop: proofs by the key {}", key.thumbprint()));
    let mut signing = Signing::default();
    let http = reqwest::Client::new();

    let (cc, cc_rate) = client_credentials(bench, signetd, &http, &key, &mut signing).await?;
    let refresh = refresh(bench, signetd, &http, &key, &mut signing, cc_rate).await?;
    let admin = admin_get(bench, signetd, &http, &key, &mut signing).await?;
    let spent = jtis_spent(signetd)?;

    cc.report(table, "client_credentials", "unbound", "DPoP-bound");
    refresh.report(table, "refresh grants (SQLite)", "unbound", "DPoP-bound family");
    admin.report(table, "admin GET", "Bearer", "DPoP-bound token");
    table.info(
        "DPoP proofs signed ahead of the loads",
        thousands(signing.proofs as f64),
        &format!(
            "ES256 on {} threads in {:.1} s ({}), not timed; dpop_jtis holds {} spent jtis",
            signing.threads,
            signing.secs,
            per_sec(signing.proofs as f64 / signing.secs.max(1e-9)),
            thousands(spent as f64)
        ),
    );
    Ok(())
}

/// Goal 1's grant for the bootstrap worker. Returns the comparison and the
/// rate of the unbound warm-up, which sizes the first refresh pool.
async fn client_credentials(
    bench: &Bench,
    signetd: &Signetd,
    http: &reqwest::Client,
    key: &Arc<ProofKey>,
    signing: &mut Signing,
) -> anyhow::Result<(Compared, f64)> {
    let token_path = signetd.path("/token")?;
    let token_url = format!("{}{token_path}", signetd.base);
    let htu = token_htu(signetd);
    let auth = signetd.worker_basic();
    let grant = |proof: Option<String>| token_request(http, &token_url, Some(&auth), CC_BODY.to_owned(), proof);

    let (status, body) = grant(None).await?;
    expect_issued("client_credentials without a proof", status, &body, "Bearer", None)?;
    let bound_by_hand = |when: &'static str| {
        let grant = &grant;
        let htu = &htu;
        async move {
            let proof = key.proof("POST", htu, None, None);
            let (status, body) = grant(Some(proof.clone())).await?;
            expect_issued(
                &format!("client_credentials with a proof, {when}"),
                status,
                &body,
                "DPoP",
                Some(key.thumbprint()),
            )?;
            let (status, body) = grant(Some(proof)).await?;
            expect_replay(&format!("client_credentials with a replayed proof, {when}"), status, &body)
        }
    };
    bound_by_hand("before the loads").await?;

    // A first rate from goal 1's static script, to size the pools.
    let warm = wrk::run(
        bench,
        Load {
            name: "dpop-cc-warmup".into(),
            script: bench.script("cc.lua"),
            url: token_url.clone(),
            secs: bench.warmup.max(1),
            env: vec![("BENCH_AUTH", auth.clone()), ("BENCH_BODY", CC_BODY.to_owned())],
        },
    )
    .await?;
    anyhow::ensure!(warm.errors() == 0, "dpop-cc-warmup: {}", warm.describe());
    let rate = warm.rate();

    let series = Series {
        name: "dpop-cc",
        path: token_path,
        method: "POST",
        prefix: CC_BODY.to_owned(),
        unbound_auth: Some(auth.clone()),
        bound_auth: Some(auth.clone()),
        htu: htu.clone(),
        ath: None,
    };
    let n = size(rate, bench.secs, BARE_MARGIN);
    let compared = compare(bench, signetd, key, signing, &series, [n, n], Values::Empty, Values::Empty, None).await?;

    bound_by_hand("after the loads").await?;
    let (value, proof) = &compared.spent;
    let (status, body) =
        token_request(http, &token_url, Some(&auth), format!("{CC_BODY}{value}"), Some(proof.clone())).await?;
    expect_replay("client_credentials with a proof the bound load spent", status, &body)?;
    Ok((compared, rate))
}

/// Goal 2's grant for the CLI's families, unbound and bound to the key.
async fn refresh(
    bench: &Bench,
    signetd: &Signetd,
    http: &reqwest::Client,
    key: &Arc<ProofKey>,
    signing: &mut Signing,
    cc_rate: f64,
) -> anyhow::Result<Compared> {
    let token_path = signetd.path("/token")?;
    let token_url = format!("{}{token_path}", signetd.base);
    let htu = token_htu(signetd);
    let prefix = format!("grant_type=refresh_token&client_id={CLI_CLIENT_ID}&refresh_token=");
    let store = Store::open(&signetd.database_url()).await.context("opening signetd's store to seed it")?;
    let env_id = &signetd.boot.environment_id;
    let username = &signetd.boot.admin.username;
    let admin = store.account_by_username(env_id, username).await?.context("the bootstrap administrator is missing")?;
    let series = Series {
        name: "dpop-refresh",
        path: token_path,
        method: "POST",
        prefix: prefix.clone(),
        unbound_auth: None,
        bound_auth: None,
        htu: htu.clone(),
        ath: None,
    };

    // A first rate, from an unbound warm-up sized from client_credentials,
    // which does the same signing without the store's rotation.
    let warmup = bench.warmup.max(1);
    let warm_tokens = seed(&store, env_id, &admin.id, size(cc_rate, warmup, 1.2), None).await?;
    let warm = load(bench, signetd, "dpop-refresh-warmup", &series, None, &unbound_lines(warm_tokens), warmup).await?;
    let rate = warm.rate();

    let (n, nw) = (size(rate, bench.secs, MARGIN), size(rate, bench.warmup, MARGIN));
    let started = Instant::now();
    let mut unbound = seed(&store, env_id, &admin.id, 2 * n + 1, None).await?;
    let mut bound = seed(&store, env_id, &admin.id, nw + n + BOUND_CHECKS, Some(key.thumbprint())).await?;
    store.close().await;
    bench.note(&format!(
        "dpop-refresh: seeded {} unbound and {} bound families in {:.1} s",
        unbound.len(),
        bound.len(),
        started.elapsed().as_secs_f64()
    ));
    let checks = bound.split_off(bound.len().saturating_sub(BOUND_CHECKS));
    anyhow::ensure!(checks.len() == BOUND_CHECKS, "too few bound families were seeded");
    let plain = unbound.pop().context("empty pool")?;

    let grant =
        |token: &str, proof: Option<String>| token_request(http, &token_url, None, format!("{prefix}{token}"), proof);
    let (status, body) = grant(&plain, None).await?;
    expect_issued("refresh of an unbound family", status, &body, "Bearer", None)?;
    let (status, body) = grant(&checks[0], None).await?;
    expect_refused("refresh of a bound family without a proof", status, &body, 400, "invalid_dpop_proof")?;
    let other = ProofKey::generate().context("generating a second DPoP key")?;
    let (status, body) = grant(&checks[0], Some(other.proof("POST", &htu, None, None))).await?;
    expect_refused("refresh of a bound family with another key's proof", status, &body, 400, "invalid_grant")?;
    let (status, body) = grant(&checks[0], Some(key.proof("POST", &htu, None, None))).await?;
    expect_issued("refresh of a bound family with a proof", status, &body, "DPoP", Some(key.thumbprint()))?;
    let next = body["refresh_token"].as_str().context("the bound family's refresh issued no refresh token")?;
    let (status, body) = grant(next, None).await?;
    expect_refused("the rotated refresh token without a proof", status, &body, 400, "invalid_dpop_proof")?;

    let compared = compare(
        bench,
        signetd,
        key,
        signing,
        &series,
        [n, n],
        Values::Tokens(unbound),
        Values::Tokens(bound),
        Some([nw, n]),
    )
    .await?;

    let (token, proof) = &compared.spent;
    let (status, body) = grant(token, Some(proof.clone())).await?;
    expect_replay("refresh with a token and proof the bound load spent", status, &body)?;
    let (status, body) = grant(&checks[1], None).await?;
    expect_refused("refresh of a bound family without a proof, after", status, &body, 400, "invalid_dpop_proof")?;
    let (status, body) = grant(&checks[1], Some(key.proof("POST", &htu, None, None))).await?;
    expect_issued("refresh of a bound family with a proof, after", status, &body, "DPoP", Some(key.thumbprint()))?;
    Ok(compared)
}

/// Goal 5's admin GET with the same worker's Bearer token and DPoP-bound token.
async fn admin_get(
    bench: &Bench,
    signetd: &Signetd,
    http: &reqwest::Client,
    key: &Arc<ProofKey>,
    signing: &mut Signing,
) -> anyhow::Result<Compared> {
    let username = &signetd.boot.admin.username;
    let path = format!("{API}/accounts/{username}");
    let account_url = format!("{}{path}", signetd.base);
    let htu = format!("{}{path}", public_url(signetd)?);
    let callers = set_up(http, signetd, &account_url).await?;

    let token_url = format!("{}{}", signetd.base, signetd.path("/token")?);
    let proof = key.proof("POST", &token_htu(signetd), None, None);
    let (status, body) =
        token_request(http, &token_url, Some(&callers.worker), CC_BODY.to_owned(), Some(proof)).await?;
    expect_issued("the admin worker's token with a proof", status, &body, "DPoP", Some(key.thumbprint()))?;
    let token = body["access_token"].as_str().context("no access_token")?.to_owned();
    let dpop_auth = format!("DPoP {token}");

    let bearer = &callers.bearer;
    let bound_by_hand = |when: &'static str| {
        let (htu, token, dpop_auth, account_url) = (&htu, &token, &dpop_auth, &account_url);
        async move {
            let status = get_status(http, account_url, &format!("Bearer {token}"), None).await?;
            anyhow::ensure!(status == 401, "the DPoP-bound token as Bearer answered {status} {when}, not 401");
            let proof = key.proof("GET", htu, Some(token), None);
            expect_account_dpop(http, account_url, dpop_auth, &proof, username)
                .await
                .with_context(|| format!("the DPoP-bound token with a proof, {when}"))?;
            let status = get_status(http, account_url, dpop_auth, Some(&proof)).await?;
            anyhow::ensure!(status == 401, "a replayed proof at the admin API answered {status} {when}, not 401");
            expect_account(http, account_url, bearer, username)
                .await
                .with_context(|| format!("the Bearer token, {when}"))
        }
    };
    bound_by_hand("before the loads").await?;

    // A first rate from goal 5's static script, to size the pools.
    let warm = wrk::run(
        bench,
        Load {
            name: "dpop-admin-warmup".into(),
            script: bench.script("get.lua"),
            url: account_url.clone(),
            secs: bench.warmup.max(1),
            env: vec![("BENCH_AUTH", callers.bearer.clone())],
        },
    )
    .await?;
    anyhow::ensure!(warm.errors() == 0, "dpop-admin-warmup: {}", warm.describe());
    let rate = warm.rate();

    let series = Series {
        name: "dpop-admin",
        path,
        method: "GET",
        prefix: String::new(),
        unbound_auth: Some(callers.bearer.clone()),
        bound_auth: Some(dpop_auth.clone()),
        htu: htu.clone(),
        ath: Some(token.clone()),
    };
    let n = size(rate, bench.secs, BARE_MARGIN);
    let compared = compare(bench, signetd, key, signing, &series, [n, n], Values::Empty, Values::Empty, None).await?;

    bound_by_hand("after the loads").await?;
    let status = get_status(http, &account_url, &dpop_auth, Some(&compared.spent.1)).await?;
    anyhow::ensure!(status == 401, "the admin API answered a proof the bound load spent with {status}, not 401");
    Ok(compared)
}

/// Unbound, bound (after a warm-up of its own), unbound again. `unbound`
/// gives the values of the two unbound loads (`sizes[0]` and `sizes[1]`),
/// `bound` those of the bound warm-up and load: `bound_sizes` when the pool
/// was seeded ahead, else sized from the first unbound rate.
#[allow(clippy::too_many_arguments)]
async fn compare(
    bench: &Bench,
    signetd: &Signetd,
    key: &Arc<ProofKey>,
    signing: &mut Signing,
    s: &Series,
    sizes: [usize; 2],
    mut unbound: Values,
    mut bound: Values,
    bound_sizes: Option<[usize; 2]>,
) -> anyhow::Result<Compared> {
    let name = s.name;
    let lines = unbound_lines(unbound.take(sizes[0]));
    let before =
        load(bench, signetd, &format!("{name}-unbound"), s, s.unbound_auth.as_deref(), &lines, bench.secs).await?;
    drop(lines);

    let [warm_n, load_n] =
        bound_sizes.unwrap_or([size(before.rate(), bench.warmup, MARGIN), size(before.rate(), bench.secs, MARGIN)]);
    if bench.warmup > 0 {
        let values = bound.take(warm_n);
        let lines = bound_lines(bench, key, signing, s, values, bench.warmup).await?;
        load(bench, signetd, &format!("{name}-bound-warmup"), s, s.bound_auth.as_deref(), &lines, bench.warmup).await?;
    }
    let values = bound.take(load_n);
    let lines = bound_lines(bench, key, signing, s, values, bench.secs).await?;
    let bound_out =
        load(bench, signetd, &format!("{name}-bound"), s, s.bound_auth.as_deref(), &lines, bench.secs).await?;
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
        load(bench, signetd, &format!("{name}-unbound-after"), s, s.unbound_auth.as_deref(), &after_lines, bench.secs)
            .await?;
    Ok(Compared { before, bound: bound_out, after, spent })
}

/// `value<TAB>` for each value: the same Lua per request as a bound line.
fn unbound_lines(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| format!("{v}\t")).collect()
}

/// `value<TAB>proof` for each value, every proof with its own `jti` and dated
/// now, signed on every core right before the load of `secs` that spends them.
async fn bound_lines(
    bench: &Bench,
    key: &Arc<ProofKey>,
    signing: &mut Signing,
    s: &Series,
    values: Vec<String>,
    secs: u64,
) -> anyhow::Result<Vec<String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (key, htu, ath, method) = (key.clone(), s.htu.clone(), s.ath.clone(), s.method);
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
    bench.note(&format!(
        "{}: signed {} proofs in {:.1} s on {threads} threads",
        s.name,
        thousands(lines.len() as f64),
        took.as_secs_f64()
    ));
    Ok(lines)
}

/// One pool.lua load of `secs` over `lines`; any error answer fails the run.
async fn load(
    bench: &Bench,
    signetd: &Signetd,
    name: &str,
    s: &Series,
    auth: Option<&str>,
    lines: &[String],
    secs: u64,
) -> anyhow::Result<Outcome> {
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
fn size(rate: f64, secs: u64, margin: f64) -> usize {
    (rate * secs as f64 * margin) as usize + SLACK
}

/// `{issuer}/token`: what signetd checks a token request's proof against.
fn token_htu(signetd: &Signetd) -> String {
    format!("{}/token", signetd.boot.issuer.trim_end_matches('/'))
}

/// `{public_url}`, from the issuer `{public_url}/{env}/as`: the base of the
/// URL signetd checks a resource's proof against.
fn public_url(signetd: &Signetd) -> anyhow::Result<String> {
    let suffix = format!("/{}/as", signetd.boot.environment_id);
    let public = signetd.boot.issuer.strip_suffix(&suffix).context("the issuer is not {public_url}/{env}/as")?;
    Ok(public.to_owned())
}

/// A token request by hand; its status and JSON answer.
async fn token_request(
    http: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    body: String,
    proof: Option<String>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or_default()))
}

/// 200 with this `token_type` and an access token bound to `jkt` (`cnf.jkt`),
/// or to no key.
fn expect_issued(what: &str, status: u16, body: &Value, token_type: &str, jkt: Option<&str>) -> anyhow::Result<()> {
    anyhow::ensure!(status == 200, "{what} answered {status}: {body}");
    anyhow::ensure!(
        body["token_type"] == token_type,
        "{what}: token_type {} rather than {token_type}",
        body["token_type"]
    );
    let token = body["access_token"].as_str().with_context(|| format!("{what}: no access_token in {body}"))?;
    let payload = token.split('.').nth(1).with_context(|| format!("{what}: the access token is not a JWT"))?;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let cnf = claims["cnf"]["jkt"].as_str();
    anyhow::ensure!(cnf == jkt, "{what}: the access token's cnf.jkt is {cnf:?}, not {jkt:?}");
    Ok(())
}

fn expect_refused(what: &str, status: u16, body: &Value, want: u16, error: &str) -> anyhow::Result<()> {
    anyhow::ensure!(status == want && body["error"] == error, "{what} answered {status}: {body}, not {want} {error}");
    Ok(())
}

/// Refused as a replay: the proof was valid and fresh when the load spent it.
fn expect_replay(what: &str, status: u16, body: &Value) -> anyhow::Result<()> {
    expect_refused(what, status, body, 400, "invalid_dpop_proof")?;
    let description = body["error_description"].as_str().unwrap_or_default();
    anyhow::ensure!(description.contains("used before"), "{what} was refused, but not as a replay: {body}");
    Ok(())
}

async fn get_status(http: &reqwest::Client, url: &str, auth: &str, proof: Option<&str>) -> anyhow::Result<u16> {
    let mut req = http.get(url).header("authorization", auth);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    Ok(req.send().await?.status().as_u16())
}

/// One GET by hand with a DPoP-bound token and its proof: 200 with the account.
async fn expect_account_dpop(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    proof: &str,
    username: &str,
) -> anyhow::Result<()> {
    let res = http.get(url).header("authorization", auth).header("dpop", proof).send().await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(status == 200 && body["username"] == username, "GET {url} answered {status}: {body}");
    Ok(())
}

/// The `jti`s spent so far: a row in signetd's store per proof it accepted.
fn jtis_spent(signetd: &Signetd) -> anyhow::Result<i64> {
    let path = signetd.data_dir.join("signet.db");
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("SELECT COUNT(*) FROM dpop_jtis", [], |row| row.get(0))?)
}
