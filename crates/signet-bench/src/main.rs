//! `signet-bench`: measures signetd against the performance goals in one run
//! and prints each figure, its baseline, the ratio, the goal and PASS/SHORT.
//!
//! Every load stays on 127.0.0.1 and every loop is bounded in time. `run`
//! drives the benchmarks; `bare-cc` is the bare token handler of goal 1c, run
//! by `run` as a subprocess so that its memory can be read on its own.
//! `load` and `verify` drive the HA harness (deploy/ha).

mod admin;
mod bare;
mod cc;
mod context;
mod dpop;
mod ha;
mod introspect;
mod procs;
mod refresh;
mod report;
mod run;
mod signon;
mod vault;
mod wrk;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "signet-bench", about = "Measures signetd against its performance goals")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmarks and print the table.
    Run(run::RunArgs),
    /// The bare token handler (goal 1c); `run` starts it by itself.
    BareCc(bare::Args),
    /// Acknowledged writes or token grants through one URL, for deploy/ha.
    Load(ha::LoadArgs),
    /// Reads back every id `load --ids` kept: none may be missing.
    Verify(ha::VerifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BareCc(args) => bare::run(args),
        Command::Run(args) => run::run(args),
        Command::Load(args) => ha::load(args),
        Command::Verify(args) => ha::verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
