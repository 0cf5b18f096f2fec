//! Goal 4: password sign-ons per second. End-user accounts without MFA are
//! written straight into signetd's store, so a correct password completes the
//! sign-on; each attempt is the browser's path: GET /authorize (signet-cli, PKCE
//! S256) -> 303 to the sign-on page with a flow cookie -> GET the page for its
//! CSRF field -> POST username, password and csrf -> 303 back with a code. The
//! baseline is raw argon2id verification with signetd's parameters on as many
//! threads as there are cores. Passwords are always right: a wrong one would
//! count towards the account lockout and the per-address failure limit.

use signet_core::id::EnvironmentId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use signet_core::audit::{Actor, AuditEvent};
use signet_core::clock::{Clock, SystemClock};
use signet_core::crypto::{random_id, random_token};
use signet_core::model::{Account, CLI_CLIENT_ID};
use signet_core::{password, pkce};

use crate::context::{Bench, Signetd};
use crate::report::{Table, Target, per_sec};

const CONCURRENCY: usize = 8;
const RAW_THREADS: usize = 2;
/// Seconds of raw hashing between loads; the mean on either side is a load's baseline.
const RAW_SECS: u64 = 3;
const ROUNDS: usize = 3;

struct Round {
    rate: f64,
    raw: f64,
    n: u64,
    secs: f64,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.rate / self.raw
    }
}
const REDIRECT: &str = "http://127.0.0.1:4711/callback";

struct User {
    username: String,
    password: String,
}

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("4");
    let secret = random_token()?.expose().clone();
    let phc = {
        let secret = secret.clone();
        tokio::task::spawn_blocking(move || password::hash(&secret)).await??
    };
    let users = create_users(signetd, &secret, &phc).await?;
    // Rounds of raw hashing and sign-on load, alternating, so each load is
    // judged against the raw rate on either side of it; the median round is
    // the figure, since a neighbour's burst on this shared machine can tip
    // any single round either way.
    let mut raws = vec![raw_verify(bench, secret.clone(), phc.clone()).await?];
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let (rate, n, secs) = drive(bench, signetd, &users).await?;
        raws.push(raw_verify(bench, secret.clone(), phc.clone()).await?);
        let raw = (raws[raws.len() - 2] + raws[raws.len() - 1]) / 2.0;
        rounds.push(Round { rate, raw, n, secs });
    }
    let first_raw = raws.first().copied().unwrap_or_default();
    let last_raw = raws.last().copied().unwrap_or_default();
    table.check_steady("raw argon2id", first_raw, last_raw);
    let mut by_ratio: Vec<&Round> = rounds.iter().collect();
    by_ratio.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let median = by_ratio[by_ratio.len() / 2];
    let all = rounds.iter().map(|r| format!("{:.2}x", r.ratio())).collect::<Vec<_>>().join(", ");
    let (rate, raw) = (median.rate, median.raw);
    let note =
        format!("median of {ROUNDS} rounds ({all}); {} sign-ons in {:.1} s, 3 requests each", median.n, median.secs);
    table.info(&format!("password sign-ons, signetd, {CONCURRENCY} clients"), per_sec(rate), &note);
    table.info(
        &format!("argon2id verify, raw, {RAW_THREADS} threads"),
        per_sec(raw),
        &format!(
            "m={} KiB, t={}, p={}; around the median round; all: {}",
            password::MEMORY_KIB,
            password::ITERATIONS,
            password::PARALLELISM,
            raws.iter().map(|r| per_sec(*r)).collect::<Vec<_>>().join(", ")
        ),
    );
    table.ratio("signetd / raw argon2id", rate / raw, Target::AtLeast(0.9), "");
    Ok(())
}

/// One account per client, all sharing one hash (hashing each would only cost time).
async fn create_users(signetd: &Signetd, secret: &str, phc: &str) -> anyhow::Result<Vec<User>> {
    let store = signetd.store().await?;
    let now = SystemClock.now();
    let env_id = &signetd.boot.environment_id;
    let mut users = Vec::new();
    for _ in 0..CONCURRENCY {
        let id = random_id()?;
        let username = format!("bench-{}", &id[..8]);
        let account = Account {
            password_hash: Some(phc.to_owned()),
            ..Account::new(id.clone().into(), &EnvironmentId::from(env_id.as_str()), &username, now)
        };
        let event = AuditEvent {
            id: random_id()?,
            at: now,
            actor: Actor::console("signet-bench"),
            action: signet_core::audit::Action::AccountCreate.as_str().into(),
            environment_id: Some(env_id.clone()),
            target: id,
            digest: String::new(),
            request_id: None,
            source_ip: None,
            jti: None,
            outcome: Some("success".into()),
            upstream: None,
            reason: None,
        };
        store.insert_account(&account, &event).await?;
        users.push(User { username, password: secret.to_owned() });
    }
    store.close().await;
    Ok(users)
}

async fn raw_verify(bench: &Bench, secret: String, phc: String) -> anyhow::Result<f64> {
    bench.note(&format!("raw argon2id: {RAW_THREADS} threads for {RAW_SECS} s"));
    let count = AtomicU64::new(0);
    let rate = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(RAW_SECS);
        std::thread::scope(|s| {
            for _ in 0..RAW_THREADS {
                s.spawn(|| {
                    // The fastest raw path: one reused buffer per thread, as signetd does.
                    let mut memory = password::HashMemory::new();
                    while Instant::now() < deadline {
                        if password::verify_with(&secret, &phc, &mut memory) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    })
    .await?;
    bench.note(&format!("raw argon2id: {}", per_sec(rate)));
    Ok(rate)
}

async fn drive(bench: &Bench, signetd: &Signetd, users: &[User]) -> anyhow::Result<(f64, u64, f64)> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let challenge = pkce::s256_challenge(random_token()?.expose());
    let authorize = format!(
        "{}/authorize?response_type=code&client_id={CLI_CLIENT_ID}&redirect_uri={}&scope=openid%20profile\
         &state=bench&code_challenge={challenge}&code_challenge_method=S256",
        signetd.boot.issuer,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(bench.secs);
    bench.note(&format!("signon-signetd: {CONCURRENCY} clients for {} s", bench.secs));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for user in users {
        let user = User { username: user.username.clone(), password: user.password.clone() };
        let (http, authorize, done) = (http.clone(), authorize.clone(), done.clone());
        clients.spawn(async move {
            while Instant::now() < deadline {
                sign_on(&http, &authorize, &user).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(client) = clients.join_next().await {
        client??;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let rate = n as f64 / secs;
    bench.note(&format!("signon-signetd: {} ({n} in {secs:.1} s)", per_sec(rate)));
    Ok((rate, n, secs))
}

/// One sign-on, as a browser without JavaScript does it.
async fn sign_on(http: &reqwest::Client, authorize: &str, user: &User) -> anyhow::Result<()> {
    let res = http.get(authorize).send().await?;
    anyhow::ensure!(res.status() == 303, "GET /authorize answered {}", res.status());
    let signon = header(&res, "location")?;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let page = http.get(&signon).header("cookie", &cookie).send().await?;
    anyhow::ensure!(page.status() == 200, "GET the sign-on page answered {}", page.status());
    let html = page.text().await?;
    let csrf = field(&html, "csrf").context("the sign-on page has no csrf field")?;
    let res = http
        .post(&signon)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("username", &user.username), ("password", &user.password)])
        .send()
        .await?;
    anyhow::ensure!(res.status() == 303, "POST the password answered {}", res.status());
    let back = header(&res, "location")?;
    anyhow::ensure!(back.starts_with(REDIRECT) && back.contains("code="), "the sign-on did not end with a code");
    Ok(())
}

fn header(res: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    Ok(res.headers().get(name).with_context(|| format!("no {name} header"))?.to_str()?.to_owned())
}

/// The value of a hidden input `name`.
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
