//! `signet`: parses the command line, runs the command, and alone chooses
//! the exit code. Errors print their cause chain on one line each, with a
//! `hint:` where there is a fix.

mod cli;
mod commands;
mod config;
mod env;
mod exit;
mod http;
mod output;
mod secret;
mod services;
mod session;
mod signon;
mod token_store;

use clap::Parser;

use crate::cli::{AuditCommand, AuthCommand, Cli, Command, Format, PingoneCommand, ServiceAuthCommand};
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
        auth: cli.auth,
    };
    let result = match cli.command {
        Command::Config(c) => commands::config::run(&ctx, c),
        Command::Auth(c) => block_on(auth(&ctx, c)),
        Command::Pingone(PingoneCommand::Auth(c)) => block_on(pingone_auth(&ctx, c)),
        Command::Audit(AuditCommand::List { action, account, resource, since, until, limit }) => {
            block_on(commands::audit::list(
                &ctx,
                commands::audit::ListArgs {
                    action: action.as_deref(),
                    account: account.as_deref(),
                    resource: resource.as_deref(),
                    since,
                    until,
                    limit,
                },
            ))
        }
        Command::Audit(AuditCommand::Verify { checkpoint, trail, public_key }) => block_on(commands::audit::verify(
            &ctx,
            commands::audit::VerifyArgs {
                checkpoint: checkpoint.as_deref(),
                trail: trail.as_deref(),
                public_key: public_key.as_deref(),
            },
        )),
        Command::Accounts(c) => block_on(commands::accounts::run(&ctx, c)),
        Command::Applications(c) => block_on(commands::applications::run(&ctx, c)),
        Command::Keys(c) => block_on(commands::keys::run(&ctx, c)),
        Command::Mfa(c) => block_on(commands::mfa::run(&ctx, c)),
        Command::Session(c) => block_on(commands::session::run(&ctx, c)),
        Command::Request { method, path_or_url, data, trust_host } => block_on(commands::request::run(
            &ctx,
            commands::request::Request {
                method: &method,
                target: &path_or_url,
                data: data.as_deref(),
                trust_host: trust_host.as_deref(),
            },
        )),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            report(&e);
            if e.downcast_ref::<session::NotSignedIn>().is_some()
                || e.downcast_ref::<commands::session::Ended>().is_some()
                || matches!(
                    e.downcast_ref::<signet_client::Error>(),
                    Some(signet_client::Error::NoSession(_) | signet_client::Error::Expired(_))
                )
            {
                ExitCode::AuthRequired.into()
            } else {
                ExitCode::Error.into()
            }
        }
    }
}

/// Network commands run on a small current-thread runtime: `signet` is a
/// short-lived process, and most commands make a request or two.
fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(f: F) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

async fn auth(ctx: &Ctx, c: AuthCommand) -> anyhow::Result<ExitCode> {
    use commands::auth;
    match c {
        AuthCommand::Login { service, no_browser } => auth::login(ctx, service.as_deref(), !no_browser).await,
        AuthCommand::Status { service } => auth::status(ctx, service.as_deref()).await,
        AuthCommand::Logout { service } => auth::logout(ctx, service.as_deref()).await,
        AuthCommand::Token { service } => auth::token(ctx, service.as_deref()).await,
    }
}

async fn pingone_auth(ctx: &Ctx, c: ServiceAuthCommand) -> anyhow::Result<ExitCode> {
    use commands::auth;
    match c {
        ServiceAuthCommand::Login { no_browser } => auth::login(ctx, Some("pingone"), !no_browser).await,
        ServiceAuthCommand::Status => auth::status(ctx, Some("pingone")).await,
        ServiceAuthCommand::Logout => auth::logout(ctx, Some("pingone")).await,
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
    let (message, hints) = output::explain(e);
    // Messages may quote what a server or a file said: no control character
    // reaches the terminal (see `output::safe`).
    eprintln!("error: {}", output::safe(&message));
    for h in hints {
        eprintln!("hint: {}", output::safe(&h));
    }
}
