//! Goal 2: refresh grants per second on SQLite. signetd gets a pool of
//! single-use refresh tokens seeded into its own store through the `Store` API,
//! and wrk spends each exactly once. The baseline is a bare loop with no HTTP,
//! no async runtime and no framework: the same rotation (look up; then spend
//! and insert in one transaction) straight on rusqlite, on a file with the same
//! schema and pragmas, plus the same ES256 signature, one after another on one
//! thread.

use signet_core::id::EnvironmentId;
use std::time::{Duration, Instant};

use anyhow::Context;
use signet_core::clock::{Clock, SystemClock};
use signet_core::crypto::{generate_es256_key, random_id, random_token, sha256};
use signet_core::model::{ACCESS_TOKEN_TTL, CLI_CLIENT_ID, Grant, REFRESH_TOKEN_TTL, RefreshToken};
use signet_core::token::{AccessClaims, Signer};
use signet_store::Store;

use crate::context::{Bench, Signetd};
use crate::report::{Table, Target, per_sec};
use crate::wrk::{self, Load};

/// No `openid`, so signetd signs one token (the access token), as the baseline does.
const SCOPE: &str = "profile offline_access";
const AMR: [&str; 2] = ["pwd", "otp"];
const SEED_WRITERS: usize = 4;

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("2");
    let (base_rate, base_note) = baseline(bench, signetd).await?;
    // signetd is not expected to beat the bare loop by half; if it does, the
    // run says POOL EXHAUSTED rather than reusing a token.
    let pool = (base_rate * bench.secs as f64 * 1.5) as usize + 5_000;
    let ours = measure_signetd(bench, signetd, pool).await?;
    table.info("refresh grants, signetd (SQLite)", per_sec(ours.rate()), &ours.describe());
    table.info("refresh rotation, bare rusqlite loop", per_sec(base_rate), &base_note);
    table.ratio("signetd / bare rotation", ours.rate() / base_rate, Target::AtLeast(0.65), "");
    Ok(())
}

async fn measure_signetd(bench: &Bench, signetd: &Signetd, pool: usize) -> anyhow::Result<wrk::Outcome> {
    let store = signetd.store().await?;
    let env_id = &signetd.boot.environment_id;
    let admin = store
        .account_by_username(&EnvironmentId::from(env_id.as_str()), "administrator")
        .await?
        .context("the bootstrap administrator is missing")?;
    let started = Instant::now();
    let mut tokens = seed(&store, env_id, admin.id.as_str(), pool + 1, None).await?;
    store.close().await;
    bench.note(&format!("seeded {} refresh tokens in {:.1} s", tokens.len(), started.elapsed().as_secs_f64()));

    let token_path = signetd.path("/token")?;
    let prefix = format!("grant_type=refresh_token&client_id={CLI_CLIENT_ID}&refresh_token=");
    // One token by hand first: the grant must work before it is loaded.
    let probe = tokens.pop().context("empty pool")?;
    let res = reqwest::Client::new()
        .post(format!("{}{token_path}", signetd.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{prefix}{probe}"))
        .send()
        .await?;
    let status = res.status();
    let body: serde_json::Value = res.json().await?;
    anyhow::ensure!(status == 200 && body["refresh_token"].is_string(), "a seeded refresh token was refused: {body}");

    let pool_file = bench.tmp.join("refresh-pool.txt");
    std::fs::write(&pool_file, tokens.join("\n"))?;
    bench.note(&format!("refresh-signetd: {} s of load", bench.secs));
    let outcome = wrk::run(
        bench,
        Load {
            name: "refresh-signetd".into(),
            script: bench.script("pool.lua"),
            url: signetd.base.clone(),
            secs: bench.secs,
            env: vec![
                ("BENCH_POOL", pool_file.display().to_string()),
                ("BENCH_PATH", token_path),
                ("BENCH_PREFIX", prefix),
                ("BENCH_SENTINEL", "/healthz".into()),
            ],
        },
    )
    .await?;
    bench.note(&format!(
        "refresh-signetd: {} ({}, {} tokens spent)",
        per_sec(outcome.rate()),
        outcome.describe(),
        outcome.used
    ));
    Ok(outcome)
}

/// One grant family per token, each with its first refresh token, written the
/// way signetd writes them (`Store::create_grant`). With `jkt`, each family is
/// bound to that DPoP key (goal 7), as signetd binds a public client's.
pub async fn seed(
    store: &Store,
    env_id: &str,
    account_id: &str,
    n: usize,
    jkt: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..SEED_WRITERS {
        let (store, env_id, account_id) = (store.clone(), env_id.to_owned(), account_id.to_owned());
        let jkt = jkt.map(str::to_owned);
        let count = n / SEED_WRITERS + usize::from(w < n % SEED_WRITERS);
        writers.spawn(async move {
            let now = SystemClock.now();
            let mut tokens = Vec::with_capacity(count);
            for _ in 0..count {
                let grant = Grant {
                    id: random_id()?,
                    environment_id: env_id.clone().into(),
                    client_id: CLI_CLIENT_ID.into(),
                    account_id: account_id.clone().into(),
                    scope: SCOPE.into(),
                    auth_time: now,
                    amr: AMR.iter().map(|s| s.to_string()).collect(),
                    created_at: now,
                    revoked_at: None,
                    jkt: jkt.clone(),
                    session: None,
                    parent_id: None,
                };
                let token = random_token()?;
                let refresh = RefreshToken {
                    hash: sha256(token.expose().as_bytes()).to_vec(),
                    grant_id: grant.id.clone(),
                    expires_at: now + REFRESH_TOKEN_TTL,
                    used_at: None,
                };
                store.create_grant(&grant, Some(&refresh)).await?;
                tokens.push(token.expose().clone());
            }
            anyhow::Ok(tokens)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = writers.join_next().await {
        all.extend(done??);
    }
    Ok(all)
}

/// The bare rotation loop. Returns its rate and a note.
async fn baseline(bench: &Bench, signetd: &Signetd) -> anyhow::Result<(f64, String)> {
    let path = bench.tmp.join("baseline.db");
    // The same schema, by the same migrations.
    Store::open(&format!("sqlite://{}", path.display())).await?.close().await;
    let n = bench.baseline_pool;
    let secs = bench.secs;
    let issuer = signetd.boot.issuer.clone();
    let aud = vec![issuer.clone(), format!("{}/admin-api", signetd.base)];
    bench.note(&format!("refresh-baseline: seeding {n} tokens, then one thread for {secs} s"));
    let (total, elapsed, seeded) = tokio::task::spawn_blocking(move || -> anyhow::Result<(usize, f64, usize)> {
        let mut conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        let tokens = seed_raw(&mut conn, n)?;
        let key = generate_es256_key()?;
        let signer = Signer::from_pkcs8(key.kid.clone(), &key.pkcs8);
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let mut done = 0;
        for presented in &tokens {
            if Instant::now() >= deadline {
                break;
            }
            rotate_and_sign(&mut conn, &signer, presented, &issuer, &aud)?;
            done += 1;
        }
        Ok((done, started.elapsed().as_secs_f64(), tokens.len()))
    })
    .await??;
    let rate = total as f64 / elapsed;
    let exhausted = if total >= seeded { ", pool ran out before the time" } else { "" };
    bench.note(&format!("refresh-baseline: {} ({total} in {elapsed:.1} s{exhausted})", per_sec(rate)));
    Ok((rate, format!("1 thread, rusqlite, no HTTP, no runtime{exhausted}")))
}

/// signet-store's rotation, statement for statement (look up; then spend and
/// insert in one transaction), then the access token.
fn rotate_and_sign(
    conn: &mut rusqlite::Connection,
    signer: &Signer,
    presented: &str,
    issuer: &str,
    aud: &[String],
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let next = random_token()?;
    let hash = sha256(presented.as_bytes()).to_vec();
    let (grant, used, expires_at) = conn
        .prepare_cached(
            "SELECT r.used_at, r.expires_at, g.id, g.environment_id, g.client_id, \
             g.account_id, g.scope, g.auth_time, g.amr, g.created_at, g.revoked_at \
             FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1",
        )?
        .query_row([&hash], |row| {
            let amr: String = row.get(8)?;
            Ok((
                Grant {
                    id: row.get(2)?,
                    environment_id: row.get::<_, String>(3)?.into(),
                    client_id: row.get::<_, String>(4)?.into(),
                    account_id: row.get::<_, String>(5)?.into(),
                    scope: row.get(6)?,
                    auth_time: row.get(7)?,
                    amr: serde_json::from_str(&amr).unwrap_or_default(),
                    created_at: row.get(9)?,
                    revoked_at: row.get(10)?,
                    jkt: None,
                    session: None,
                    parent_id: None,
                },
                row.get::<_, Option<i64>>(0)?,
                row.get::<_, i64>(1)?,
            ))
        })?;
    anyhow::ensure!(grant.client_id == CLI_CLIENT_ID && grant.revoked_at.is_none(), "unexpected grant");
    anyhow::ensure!(used.is_none() && expires_at > now, "a baseline refresh token was not spendable");
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let spent = tx
        .prepare_cached("UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")?
        .execute(rusqlite::named_params! {"$1": hash, "$2": now})?;
    anyhow::ensure!(spent == 1, "a baseline refresh token did not rotate");
    tx.prepare_cached("INSERT INTO refresh_tokens (hash, grant_id, expires_at, used_at) VALUES ($1, $2, $3, $4)")?
        .execute(rusqlite::params![
            sha256(next.expose().as_bytes()).to_vec(),
            grant.id,
            now + REFRESH_TOKEN_TTL,
            None::<i64>
        ])?;
    tx.commit()?;
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: grant.account_id.to_string(),
        aud: aud.to_vec(),
        exp: now + ACCESS_TOKEN_TTL,
        iat: now,
        jti: random_id()?,
        client_id: grant.client_id.to_string(),
        scope: grant.scope.clone(),
        gid: Some(grant.id.clone()),
        auth_time: Some(grant.auth_time),
        amr: grant.amr.clone(),
        username: Some("administrator".into()),
        cnf: None,
    };
    signer.sign("at+jwt", &claims)?;
    Ok(())
}

/// The baseline's pool, written in one transaction: its seeding is not measured.
fn seed_raw(conn: &mut rusqlite::Connection, n: usize) -> anyhow::Result<Vec<String>> {
    let now = SystemClock.now();
    let env_id = random_id()?;
    let account_id = random_id()?;
    let amr = serde_json::to_string(&AMR)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)",
        rusqlite::params![env_id, "Baseline", now],
    )?;
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let grant_id = random_id()?;
        tx.prepare_cached(
            "INSERT INTO grants (id, environment_id, client_id, account_id, scope, auth_time, amr, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )?
        .execute(rusqlite::params![grant_id, env_id, CLI_CLIENT_ID, account_id, SCOPE, now, amr, now])?;
        let token = random_token()?;
        tx.prepare_cached(
            "INSERT INTO refresh_tokens (hash, grant_id, expires_at, used_at) VALUES ($1, $2, $3, NULL)",
        )?
        .execute(rusqlite::params![
            sha256(token.expose().as_bytes()).to_vec(),
            grant_id,
            now + REFRESH_TOKEN_TTL
        ])?;
        tokens.push(token.expose().clone());
    }
    tx.commit()?;
    Ok(tokens)
}
