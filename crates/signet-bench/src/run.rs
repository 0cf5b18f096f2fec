//! The run: one temporary directory, one signetd serving every goal in turn,
//! the goals in order, then the table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use signet_core::crypto::random_id;

use crate::context::{Bench, start_signetd};
use crate::procs;
use crate::report::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Goal {
    /// 1: client_credentials rate and memory, against oidc-provider and a bare handler.
    Cc,
    /// 2: refresh grants on SQLite, against a bare rotation loop.
    Refresh,
    /// 3: introspection, against raw ES256 verification.
    Introspect,
    /// 4: password sign-on, against raw argon2id.
    Signon,
    /// 5: an authenticated admin API GET, against /healthz and raw single-core ES256 verification.
    Admin,
    /// 6: the Vault-compatible MFA API's read and LIST among 1,000 methods, against goal 5's Bearer GET.
    Vault,
    /// 7: DPoP binding cost: bound client_credentials, refresh and admin GET against unbound ones.
    Dpop,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The release signetd binary.
    #[arg(long)]
    pub signetd: PathBuf,
    /// The oidc-provider peer (with node_modules installed).
    #[arg(long, default_value = "interop/oidc-provider")]
    pub peer_dir: PathBuf,
    /// Where cc.lua, pool.lua, mint.lua and get.lua are.
    #[arg(long, default_value = "bench")]
    pub scripts: PathBuf,
    /// Seconds of each measured load.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of warm-up before each wrk load.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Refresh tokens seeded for the bare rotation loop (goal 2). signetd's own
    /// pool is sized from the loop's rate: 1.5 times what it spends in a run.
    #[arg(long, default_value_t = 200_000)]
    pub baseline_pool: usize,
    /// Run only these goals.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Goal>,
    /// Keep the temporary directory (logs, databases, token pools).
    #[arg(long)]
    pub keep: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("signet-bench-{}", random_id()?));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let bench = Bench {
        secs: args.seconds,
        warmup: args.warmup,
        scripts: args.scripts.clone(),
        tmp: tmp.clone(),
        peer_dir: args.peer_dir.clone(),
        baseline_pool: args.baseline_pool,
        started: Instant::now(),
    };
    for script in ["cc.lua", "pool.lua", "mint.lua", "get.lua"] {
        anyhow::ensure!(bench.script(script).exists(), "{} is missing (--scripts)", bench.script(script).display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(goals(&bench, &args));
    if args.keep || result.is_err() {
        eprintln!("kept {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let table = result?;
    table.print();
    Ok(())
}

async fn goals(bench: &Bench, args: &RunArgs) -> anyhow::Result<Table> {
    let wanted = |g: Goal| args.only.is_empty() || args.only.contains(&g);
    let mut table = Table::default();
    let signetd = start_signetd(bench, &args.signetd).await?;
    bench.note(&format!("signetd pid {} on {}", signetd.proc.pid(), signetd.base));
    if wanted(Goal::Cc) {
        crate::cc::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Refresh) {
        crate::refresh::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Introspect) {
        crate::introspect::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Signon) {
        crate::signon::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Admin) {
        crate::admin::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Vault) {
        crate::vault::run(bench, &signetd, &mut table).await?;
    }
    if wanted(Goal::Dpop) {
        crate::dpop::run(bench, &signetd, &mut table).await?;
    }
    let mem = procs::memory(signetd.proc.pid())?;
    table.section("*");
    table.info(
        "signetd VmHWM after every goal",
        format!("{:.1} MB", mem.hwm_mb()),
        &format!("VmRSS now {:.1} MB; peak over the whole run", mem.rss_mb()),
    );
    bench.note(&format!("done in {:.0} s", bench.started.elapsed().as_secs_f64()));
    Ok(table)
}
