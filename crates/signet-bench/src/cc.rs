//! Goal 1: client_credentials tokens per second from signetd, from panva's
//! oidc-provider issuing JWT access tokens, and from the bare handler; and the
//! resident memory of each at the end of its load.

use anyhow::Context;

use crate::context::{Bench, Signetd, basic};
use crate::procs::{self, Memory, Proc};
use crate::report::{Table, Target, per_sec};
use crate::wrk::{self, Load, Outcome};

const SIGNETD_BODY: &str = "grant_type=client_credentials";
/// With `resource`, oidc-provider issues ES256 JWT access tokens (peers/README).
const PEER_BODY: &str = "grant_type=client_credentials&resource=urn%3Apeer%3Aapi&scope=api%3Aread";

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("1");
    let token_url = format!("{}{}", signetd.base, signetd.path("/token")?);
    let auth = signetd.worker_basic();
    expect_jwt(&token_url, &auth, SIGNETD_BODY).await.context("signetd's client_credentials grant")?;
    let (ours, our_mem) = measure(bench, "cc-signetd", &token_url, &auth, SIGNETD_BODY, signetd.proc.pid()).await?;

    let (peer, peer_url) = start_peer(bench).await?;
    let peer_token = format!("{peer_url}/token");
    let peer_auth = basic("svc", "svc-secret");
    expect_jwt(&peer_token, &peer_auth, PEER_BODY).await.context("oidc-provider's client_credentials grant")?;
    let (theirs, peer_mem) = measure(bench, "cc-peer", &peer_token, &peer_auth, PEER_BODY, peer.pid()).await?;
    drop(peer);

    let (bare, bare_url) = start_bare(bench, signetd).await?;
    let bare_token = format!("{bare_url}/token");
    expect_jwt(&bare_token, &auth, SIGNETD_BODY).await.context("the bare handler")?;
    let (ceiling, bare_mem) = measure(bench, "cc-bare", &bare_token, &auth, SIGNETD_BODY, bare.pid()).await?;
    drop(bare);

    table.info("client_credentials, signetd", per_sec(ours.rate()), &ours.describe());
    table.info("client_credentials, oidc-provider (JWT)", per_sec(theirs.rate()), &theirs.describe());
    table.info("client_credentials, bare axum + Signer", per_sec(ceiling.rate()), &ceiling.describe());
    table.ratio("signetd / oidc-provider", ours.rate() / theirs.rate(), Target::AtLeast(6.0), "");
    table.ratio("signetd / bare handler", ours.rate() / ceiling.rate(), Target::AtLeast(0.7), "");
    table.limit(
        "signetd VmRSS at end of load",
        our_mem.rss_mb(),
        "MB",
        Target::AtMost(48.0),
        &format!("VmHWM {:.1} MB (includes the first start's argon2id hash)", our_mem.hwm_mb()),
    );
    table.info(
        "oidc-provider VmRSS / VmHWM",
        format!("{:.1} MB", peer_mem.rss_mb()),
        &format!("VmHWM {:.1} MB", peer_mem.hwm_mb()),
    );
    table.info(
        "bare handler VmRSS / VmHWM",
        format!("{:.1} MB", bare_mem.rss_mb()),
        &format!("VmHWM {:.1} MB", bare_mem.hwm_mb()),
    );
    Ok(())
}

/// Warms up, loads for the run's seconds, and reads the server's memory at once.
async fn measure(
    bench: &Bench,
    name: &str,
    url: &str,
    auth: &str,
    body: &str,
    pid: u32,
) -> anyhow::Result<(Outcome, Memory)> {
    let load = |name: String, secs| Load {
        name,
        script: bench.script("cc.lua"),
        url: url.to_owned(),
        secs,
        env: vec![("BENCH_AUTH", auth.to_owned()), ("BENCH_BODY", body.to_owned())],
    };
    if bench.warmup > 0 {
        wrk::run(bench, load(format!("{name}-warmup"), bench.warmup)).await?;
    }
    bench.note(&format!("{name}: {} s of load", bench.secs));
    let outcome = wrk::run(bench, load(name.to_owned(), bench.secs)).await?;
    let mem = procs::memory(pid)?;
    bench.note(&format!("{name}: {} ({})", per_sec(outcome.rate()), outcome.describe()));
    Ok((outcome, mem))
}

/// One request by hand before the load: the answer must be 200 with a JWT.
pub async fn expect_jwt(url: &str, auth: &str, body: &str) -> anyhow::Result<String> {
    let res = reqwest::Client::new()
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await?;
    let status = res.status();
    let text = res.text().await?;
    anyhow::ensure!(status == 200, "{url} answered {status}: {text}");
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let token = json["access_token"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(token.split('.').count() == 3, "{url} did not issue a JWT access token: {text}");
    Ok(token)
}

async fn start_peer(bench: &Bench) -> anyhow::Result<(Proc, String)> {
    anyhow::ensure!(
        bench.peer_dir.join("node_modules").exists(),
        "{} has no node_modules: run `npm ci` there (bench/run.sh does)",
        bench.peer_dir.display()
    );
    let port = free_port()?.to_string();
    let script = bench.peer_dir.join("provider.mjs").display().to_string();
    let (proc, line) = Proc::start(
        "oidc-provider",
        std::path::Path::new("node"),
        &[script],
        &[("PORT", &port)],
        &bench.tmp,
        "oidc-provider listening on ",
    )
    .await?;
    let url = line.split_whitespace().next().unwrap_or_default().to_owned();
    bench.note(&format!("oidc-provider pid {} on {url}", proc.pid()));
    Ok((proc, url))
}

async fn start_bare(bench: &Bench, signetd: &Signetd) -> anyhow::Result<(Proc, String)> {
    let me = std::env::current_exe().context("finding signet-bench's own binary")?;
    let args = vec![
        "bare-cc".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--issuer".into(),
        signetd.boot.issuer.clone(),
        "--client-id".into(),
        signetd.boot.worker.client_id.clone(),
    ];
    let (proc, url) = Proc::start("bare-cc", &me, &args, &[], &bench.tmp, "bare listening on ").await?;
    bench.note(&format!("bare handler pid {} on {url}", proc.pid()));
    Ok((proc, url))
}

/// A port free a moment ago, for a server that cannot be told to pick its own.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
