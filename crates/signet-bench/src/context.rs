//! The run: one temporary directory, one signetd serving every goal in turn,
//! the goals in order, then the table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use signet_core::crypto::random_id;
use signet_proto::bootstrap::BootstrapFile;

use crate::procs::{self, Proc};
use crate::report::Table;
use crate::{Goal, RunArgs};

/// What every goal needs: where things are and how long to load.
pub struct Bench {
    pub secs: u64,
    pub warmup: u64,
    pub scripts: PathBuf,
    pub tmp: PathBuf,
    pub peer_dir: PathBuf,
    pub baseline_pool: usize,
    pub started: Instant,
}

impl Bench {
    pub fn script(&self, name: &str) -> PathBuf {
        self.scripts.join(name)
    }

    /// A progress line on stderr, so stdout is only the table.
    pub fn note(&self, what: &str) {
        eprintln!("[{:6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// A running signetd and what its first start wrote.
pub struct Signetd {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub boot: BootstrapFile,
    pub data_dir: PathBuf,
    /// The binary it runs, for a second instance on the same store.
    pub bin: PathBuf,
}

impl Signetd {
    /// The issuer's path, such as `/{env}/as`, which every endpoint sits under.
    pub fn path(&self, endpoint: &str) -> anyhow::Result<String> {
        let issuer = url::Url::parse(&self.boot.issuer).context("the issuer in bootstrap.json is not a URL")?;
        Ok(format!("{}{endpoint}", issuer.path().trim_end_matches('/')))
    }

    pub fn worker_basic(&self) -> String {
        basic(&self.boot.worker.client_id, &self.boot.worker.client_secret)
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.data_dir.join("signet.db").display())
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
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

async fn start_signetd(bench: &Bench, bin: &Path) -> anyhow::Result<Signetd> {
    let data_dir = bench.tmp.join("signetd");
    let args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let (proc, base) = Proc::start("signetd", bin, &args, &[], &bench.tmp, "signetd listening on ").await?;
    let raw = std::fs::read(data_dir.join("bootstrap.json")).context("reading signetd's bootstrap.json")?;
    let boot: BootstrapFile = serde_json::from_slice(&raw).context("parsing signetd's bootstrap.json")?;
    Ok(Signetd { proc, base, boot, data_dir, bin: bin.to_owned() })
}

/// Another signetd on the same data directory and public URL, as a second
/// instance behind a load balancer would be; its address.
pub async fn start_replica(bench: &Bench, signetd: &Signetd, name: &str) -> anyhow::Result<(Proc, String)> {
    let args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        signetd.data_dir.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--public-url".into(),
        signetd.base.clone(),
    ];
    Proc::start(name, &signetd.bin, &args, &[], &bench.tmp, "signetd listening on ").await
}
