//! Goal 3: introspection (RFC 7662) of distinct, valid access tokens. The pool
//! is minted through signetd's own token endpoint (its signing key is sealed
//! inside the store), then wrk introspects each token once. The baseline is raw
//! ES256 verification, the same `verify_access` on the same key type, on as
//! many threads as there are cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use signet_core::clock::{Clock, SystemClock};
use signet_core::crypto::{generate_es256_key, random_id};
use signet_core::model::ACCESS_TOKEN_TTL;
use signet_core::token::{AccessClaims, Signer, Verifier, verify_access};

use crate::context::{Bench, Signetd};
use crate::report::{Table, Target, per_sec, thousands};
use crate::wrk::{self, Load};

/// Ory Hydra's published introspection rate on 2 CPUs.
const HYDRA_PER_SEC: f64 = 22_000.0;
/// Seconds of raw verification before and after the load; their mean is the
/// baseline, so a neighbour's burst on this shared machine weighs on both sides.
const RAW_SECS: u64 = 3;
const RAW_THREADS: usize = 2;
const SAMPLE: usize = 20;

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("3");
    let raw_before = raw_verify(bench, signetd, RAW_THREADS).await?;
    let tokens = mint(bench, signetd).await?;
    let introspect_path = signetd.path("/introspect")?;
    let introspect_url = format!("{}{introspect_path}", signetd.base);
    let auth = signetd.worker_basic();
    // A sample by hand: the pool must be tokens that introspect as active.
    let http = reqwest::Client::new();
    let step = (tokens.len() / SAMPLE).max(1);
    for token in tokens.iter().step_by(step).take(SAMPLE) {
        let answer: serde_json::Value = http
            .post(&introspect_url)
            .header("authorization", &auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(answer["active"] == true, "a minted token does not introspect as active: {answer}");
    }
    let pool_file = bench.tmp.join("access-pool.txt");
    std::fs::write(&pool_file, tokens.join("\n"))?;
    bench.note(&format!("introspect-signetd: {} s of load over {} tokens", bench.secs, thousands(tokens.len() as f64)));
    let ours = wrk::run(
        bench,
        Load {
            name: "introspect-signetd".into(),
            script: bench.script("pool.lua"),
            url: signetd.base.clone(),
            secs: bench.secs,
            env: vec![
                ("BENCH_POOL", pool_file.display().to_string()),
                ("BENCH_PATH", introspect_path),
                ("BENCH_PREFIX", "token=".into()),
                ("BENCH_AUTH", auth),
                ("BENCH_SENTINEL", "/healthz".into()),
            ],
        },
    )
    .await?;
    bench.note(&format!("introspect-signetd: {} ({})", per_sec(ours.rate()), ours.describe()));
    let raw_after = raw_verify(bench, signetd, RAW_THREADS).await?;
    let raw = (raw_before + raw_after) / 2.0;
    table.check_steady("raw ES256 verification", raw_before, raw_after);
    table.info("introspection, signetd (distinct tokens)", per_sec(ours.rate()), &ours.describe());
    table.info(
        &format!("ES256 verify_access, raw, {RAW_THREADS} threads"),
        per_sec(raw),
        &format!("jsonwebtoken + aws-lc-rs, no HTTP; before {}, after {}", per_sec(raw_before), per_sec(raw_after)),
    );
    table.ratio("signetd / raw verification", ours.rate() / raw, Target::AtLeast(0.5), "");
    table.info(
        "signetd / Hydra's published 22,000/s",
        format!("{:.2}x", ours.rate() / HYDRA_PER_SEC),
        "Hydra: 2 CPUs, its own hardware",
    );
    Ok(())
}

/// Mints access tokens through signetd's token endpoint for as long as one
/// measured load, which yields more tokens than an introspection load spends.
async fn mint(bench: &Bench, signetd: &Signetd) -> anyhow::Result<Vec<String>> {
    let out = bench.tmp.join("minted.txt");
    bench.note(&format!("introspect: minting access tokens for {} s", bench.secs));
    let outcome = wrk::run(
        bench,
        Load {
            name: "introspect-mint".into(),
            script: bench.script("mint.lua"),
            url: format!("{}{}", signetd.base, signetd.path("/token")?),
            secs: bench.secs,
            env: vec![
                ("BENCH_AUTH", signetd.worker_basic()),
                ("BENCH_BODY", "grant_type=client_credentials".into()),
                ("BENCH_OUT", out.display().to_string()),
            ],
        },
    )
    .await?;
    let text = std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    // A line cut short when wrk stopped is not a token.
    let tokens: Vec<String> = text.lines().filter(|l| l.split('.').count() == 3).map(str::to_owned).collect();
    bench.note(&format!("minted {} tokens ({})", thousands(tokens.len() as f64), outcome.describe()));
    anyhow::ensure!(tokens.len() > 1000, "only {} access tokens were minted", tokens.len());
    Ok(tokens)
}

/// Verifications per second of signetd-shaped access tokens, on `threads` threads.
pub async fn raw_verify(bench: &Bench, signetd: &Signetd, threads: usize) -> anyhow::Result<f64> {
    let key = generate_es256_key()?;
    let signer = Signer::from_pkcs8(key.kid.clone(), &key.pkcs8);
    let verifier = Verifier::from_jwk(&key.public_jwk).context("the generated JWK")?;
    let now = SystemClock.now();
    let issuer = &signetd.boot.issuer;
    let mut tokens = Vec::new();
    for _ in 0..1000 {
        let claims = AccessClaims {
            iss: issuer.clone(),
            sub: signetd.boot.worker.client_id.clone(),
            aud: vec![issuer.clone()],
            exp: now + ACCESS_TOKEN_TTL,
            iat: now,
            jti: random_id()?,
            client_id: signetd.boot.worker.client_id.clone(),
            scope: String::new(),
            gid: None,
            auth_time: None,
            amr: vec![],
            username: None,
            cnf: None,
        };
        tokens.push(signer.sign("at+jwt", &claims)?);
    }
    bench.note(&format!("raw ES256 verification: {threads} threads for {RAW_SECS} s"));
    let tokens = Arc::new(tokens);
    let count = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let rate = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(RAW_SECS);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (tokens, count, failed, verifier) = (&tokens, &count, &failed, &verifier);
                s.spawn(move || {
                    let mut i = t;
                    while Instant::now() < deadline {
                        if verify_access(&tokens[i % tokens.len()], verifier, now).is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                });
            }
        });
        anyhow::ensure!(!failed.load(Ordering::Relaxed), "a raw verification failed");
        Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    })
    .await??;
    bench.note(&format!("raw ES256 verification: {}", per_sec(rate)));
    Ok(rate)
}
