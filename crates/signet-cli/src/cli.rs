//! The command line, as clap reads it. Global flags work on every command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "signet",
    version,
    about = "Sign on to signetd and other OpenID providers, and automate identity configuration"
)]
pub struct Cli {
    /// The profile to use for this command, instead of the active one.
    #[arg(short = 'P', long, global = true)]
    pub profile: Option<String>,
    /// Output format: text for people, json for scripts.
    #[arg(short = 'O', long = "output-format", global = true, value_enum)]
    pub output_format: Option<Format>,
    /// No colour, even on a terminal.
    #[arg(long, global = true)]
    pub no_color: bool,
    /// The configuration file [default: $XDG_CONFIG_HOME/signet/config.toml].
    #[arg(long, global = true, env = crate::env::CONFIG)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read and change settings and profiles.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sign on, check, sign off: every configured service, or one.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// The PingOne connector (or signetd, through service.pingone.endpoint.baseURL).
    #[command(subcommand)]
    Pingone(PingoneCommand),
    /// The admin API's audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// One authenticated call to the admin API (service.pingfederate.*).
    Request {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// A path under the admin API (/accounts), or a URL on its origin.
        path_or_url: String,
        /// The JSON body, inline or as @file.
        #[arg(long)]
        data: Option<String>,
        /// Send credentials to this host although it is not the admin API's.
        #[arg(long)]
        trust_host: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recorded events, oldest first, filtered.
    List {
        /// An action, or a prefix ending in '.', e.g. admin.account.
        #[arg(long)]
        action: Option<String>,
        /// The acting account or application (id or name).
        #[arg(long)]
        account: Option<String>,
        /// The resource acted on.
        #[arg(long)]
        resource: Option<String>,
        /// Unix seconds, inclusive.
        #[arg(long)]
        since: Option<i64>,
        #[arg(long)]
        until: Option<i64>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
    },
    /// Walk the hash chain; exit 1 if any event was edited or removed.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum PingoneCommand {
    /// Sign on, check, sign off for the pingone service alone.
    #[command(subcommand)]
    Auth(ServiceAuthCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Sign on to every configured service in turn (or --service NAME).
    Login {
        #[arg(long)]
        service: Option<String>,
        /// Print the sign-on URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Show each service's sign-on state; exit 4 if any needs a sign-on.
    Status {
        #[arg(long)]
        service: Option<String>,
    },
    /// Revoke tokens at the provider, then remove them here.
    Logout {
        #[arg(long)]
        service: Option<String>,
    },
    /// Print a fresh access token, refreshing it if needed.
    Token {
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAuthCommand {
    Login {
        #[arg(long)]
        no_browser: bool,
    },
    Status,
    Logout,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set a key in the profile: signet config set "KEY=VALUE".
    Set { assignment: String },
    /// Show a key's value and where it comes from.
    Get {
        key: String,
        /// Show secret values in clear.
        #[arg(long)]
        unmask: bool,
    },
    /// Remove a key from the profile.
    Unset { key: String },
    /// List every key, with its environment variable and meaning.
    ListKeys,
    /// List the profiles.
    ListProfiles,
    /// Create a profile.
    AddProfile(AddProfile),
    /// Delete a profile (not the active one).
    DeleteProfile { name: String },
    /// Make a profile the active one.
    SetActiveProfile { name: String },
    /// Show a profile's settings.
    ViewProfile {
        name: Option<String>,
        /// Show secret values in clear.
        #[arg(long)]
        unmask: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddProfile {
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// Make it the active profile.
    #[arg(long)]
    pub set_active: bool,
}
