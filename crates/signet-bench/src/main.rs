//! `signet-bench`: measures signetd against the performance goals in one run
//! and prints each figure, its baseline, the ratio, the goal and PASS/SHORT.
//!
//! Every load stays on 127.0.0.1 and every loop is bounded in time. `run`
//! drives the benchmarks; `bare-cc` is the bare token handler of goal 1c, run
//! by `run` as a subprocess so that its memory can be read on its own.

mod admin;
mod bare;
mod cc;
mod context;
mod dpop;
mod introspect;
mod procs;
mod refresh;
mod report;
mod signon;
mod vault;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "signet-bench", about = "Measures signetd against its performance goals")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmarks and print the table.
    Run(RunArgs),
    /// The bare token handler (goal 1c); `run` starts it by itself.
    BareCc(bare::Args),
}

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
    signetd: PathBuf,
    /// The oidc-provider peer (with node_modules installed).
    #[arg(long, default_value = "interop/oidc-provider")]
    peer_dir: PathBuf,
    /// Where cc.lua, pool.lua, mint.lua and get.lua are.
    #[arg(long, default_value = "bench")]
    scripts: PathBuf,
    /// Seconds of each measured load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before each wrk load.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Refresh tokens seeded for the bare rotation loop (goal 2). signetd's own
    /// pool is sized from the loop's rate: 1.5 times what it spends in a run.
    #[arg(long, default_value_t = 200_000)]
    baseline_pool: usize,
    /// Run only these goals.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Goal>,
    /// Keep the temporary directory (logs, databases, token pools).
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BareCc(args) => bare::run(args),
        Command::Run(args) => context::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
