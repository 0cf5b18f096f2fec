//! `signetd`: parses the command line and runs it. Everything else is in the library.

use clap::Parser;
use signet_server::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    // Nothing signetd creates is for other users. Files it writes on purpose
    // (the store, keys, credentials) are made 0600 explicitly; this umask
    // covers whatever else is created, by signetd or the libraries it uses.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    let filter =
        std::env::var(signet_server::config::env::LOG).unwrap_or_else(|_| signet_server::config::DEFAULT_LOG.into());
    // SIGHUP reloads the level (`serve`'s `reload`) through this handle; the
    // format layer takes no part in filtering.
    let (filter, handle) = tracing_subscriber::reload::Layer::new(tracing_subscriber::EnvFilter::new(filter));
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry().with(filter).with(signet_server::logging::layer(cli.log_format)).init();
    }
    let log: signet_server::reload::LogFilter = std::sync::Arc::new(move |filter: &str| {
        let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => signet_server::serve::run(args, Some(log)).await,
            Command::RecoverAccount(args) => signet_server::recover::run(args).await,
            Command::RotateKek(args) => signet_server::recover::rotate_kek(args).await,
            Command::Backup(args) => signet_server::backup::backup(args).await,
            Command::Restore(args) => signet_server::backup::restore(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
