//! `signet`: parses the command line, runs the command, and alone chooses
//! the exit code. Errors print their cause chain on one line each, with a
//! `hint:` where there is a fix.

mod cli;
mod commands;
mod config;
mod env;
mod exit;
mod output;

use clap::Parser;

use crate::cli::{Cli, Command, Format};
use crate::commands::Ctx;
use crate::exit::ExitCode;
use crate::output::Output;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::Usage.into() } else { ExitCode::Ok.into() };
        }
    };
    let format = cli.output_format.unwrap_or_else(|| default_format(&cli));
    let ctx = Ctx {
        config_path: cli.config.clone(),
        profile_flag: cli.profile.clone(),
        out: Output::new(format, cli.no_color),
    };
    let result = match cli.command {
        Command::Config(c) => commands::config::run(&ctx, c),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            report(&e);
            ExitCode::Error.into()
        }
    }
}

/// The `outputFormat` setting, when no flag gives one.
fn default_format(cli: &Cli) -> Format {
    let settings = config::settings::Settings::load(cli.config.as_deref(), cli.profile.as_deref()).ok();
    match settings.and_then(|s| s.value("outputFormat")).as_deref() {
        Some("json") => Format::Json,
        _ => Format::Text,
    }
}

/// `error: …` with the cause chain joined by `: `, and any `hint:` lines after it.
fn report(e: &anyhow::Error) {
    let mut message = Vec::new();
    let mut hints = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let mut lines = text.lines();
        if let Some(first) = lines.next()
            && !message.iter().any(|m: &String| m.contains(first))
        {
            message.push(first.to_owned());
        }
        hints.extend(lines.filter_map(|l| l.strip_prefix("hint: ").map(str::to_owned)));
    }
    eprintln!("error: {}", message.join(": "));
    for h in hints {
        eprintln!("hint: {h}");
    }
}
