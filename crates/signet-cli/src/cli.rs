//! The command line, as clap reads it. Global flags work on every command.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use signet_proto::roles::Role;

pub mod mfa;

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
    /// security_token: call the admin API with the profile's session
    /// (signet session authenticate), each request signed with its key.
    #[arg(long, global = true, env = crate::env::AUTH, value_enum)]
    pub auth: Option<AuthMode>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The profile's key-bound session.
    #[value(name = "security_token")]
    SecurityToken,
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
    /// Admin accounts (the Administrators environment), through the admin API.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// An environment's OAuth clients, through the admin API.
    #[command(subcommand)]
    Applications(ApplicationsCommand),
    /// An environment's signing keys, through the admin API.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Login MFA methods and enforcements, through the Vault-compatible API.
    #[command(subcommand)]
    Mfa(mfa::MfaCommand),
    /// Key-bound session tokens: a sign-on whose tokens only work with a key kept here.
    #[command(subcommand)]
    Session(SessionCommand),
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
pub enum SessionCommand {
    /// Sign on and bind the session's tokens to a new P-256 key pair (DPoP).
    ///
    /// In the browser by default. With --no-browser, a session is minted by
    /// token exchange from the profile's current session, or from its
    /// worker's credentials; it lasts at most 60 minutes in all.
    Authenticate {
        /// The service to sign on to [default: the one the admin API uses, or the only one].
        #[arg(long)]
        service: Option<String>,
        /// The access tokens' lifetime; refresh extends the session up to 24 hours.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(5..=60))]
        session_expiration_in_minutes: u32,
        /// Bind to this key pair's public key (PEM) instead of a new one.
        #[arg(long)]
        public_key_file_path: Option<PathBuf>,
        /// Its private key [default: beside it: KEY_public.pem → KEY.pem, KEY.pub → KEY].
        #[arg(long, requires = "public_key_file_path")]
        private_key_file_path: Option<PathBuf>,
        /// Mint without a browser, by token exchange.
        #[arg(long)]
        no_browser: bool,
    },
    /// Ask the server whether the session is still good; exit 4 if it is not.
    Validate,
    /// A new access token with a full lifetime, until 24 hours after sign-on.
    Refresh,
    /// Write the session (settings, tokens, private key) to one archive, its
    /// secrets encrypted with a passphrase.
    Export {
        /// Where to write the archive (a zip, mode 0600).
        #[arg(long)]
        output_file: PathBuf,
        /// The passphrase's file (first line) [default: asked for on a terminal].
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Write the secrets unencrypted. Anyone with the file has the session.
        #[arg(long, conflicts_with = "passphrase_file")]
        insecure_unencrypted: bool,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Make an exported session this machine's: its profile, tokens and key.
    Import {
        /// An archive from signet session export.
        #[arg(long)]
        session_archive: PathBuf,
        /// The passphrase's file (first line) [default: asked for on a terminal].
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Take an archive whose secrets are not encrypted. Nothing then
        /// shows it was not altered: import only one you made yourself.
        #[arg(long, conflicts_with = "passphrase_file")]
        insecure_unencrypted: bool,
        /// Replace a profile or session of the same name.
        #[arg(long)]
        force: bool,
        /// Apply the archive's settings that say where the profile connects
        /// and which files it reads (hosts, CA and certificate files) without
        /// asking. Without it they are shown and asked about on a terminal,
        /// and refused elsewhere.
        #[arg(long)]
        accept_settings: bool,
    },
    /// Revoke the session at the server, then remove it here.
    Terminate,
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
    /// Walk the hash chain; exit 1 if any event was edited or removed. With
    /// --checkpoint, also check the trail against a signed checkpoint kept
    /// outside the server's database, which shows the newest events removed.
    Verify {
        /// A checkpoint: one JSON object (GET /audit/checkpoint), or JSON
        /// lines as signetd's checkpoint file holds them (the last is checked).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Offline: check the checkpoint against this trail export (GET
        /// /audit?format=jsonl) instead of the server.
        #[arg(long, requires = "checkpoint")]
        trail: Option<PathBuf>,
        /// The checkpoint key to trust, base64url (GET /audit/checkpoint/key)
        /// [default: the server's; offline, the checkpoint's own].
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
}

/// `--limit` and `--all` of every list.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Items per page.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,
    /// Follow next_cursor through every page.
    #[arg(long)]
    pub all: bool,
}

/// A role name, checked here so a typo fails before anything is sent.
/// Case is forgiven; the API gets the canonical name.
fn role(s: &str) -> Result<Role, String> {
    if let Some(r) = Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s.trim())) {
        return Ok(r);
    }
    if s.trim().eq_ignore_ascii_case("auditor") {
        return Err("Auditor is an account type, not a role\nhint: use --auditor".into());
    }
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    Err(format!("no such role\nhint: the roles are {}", names.join(", ")))
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Admin accounts, by username.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// One admin account.
    Get { username: String },
    /// Create an admin account; its password must be replaced at the first sign-on.
    ///
    /// The password is never an argument: it is asked for without echo, or
    /// read from stdin's first line with --password-stdin.
    Create {
        username: String,
        /// A role to grant; repeat it or separate with commas.
        #[arg(long = "role", value_name = "ROLE", value_delimiter = ',', value_parser = role)]
        roles: Vec<Role>,
        /// An Auditor: reads everything, changes nothing, holds no role.
        #[arg(long)]
        auditor: bool,
        /// Read the password from stdin instead of asking for it.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's roles, state or type, applied to the version read
    /// just before: if it changed in between, nothing is written (412).
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["roles", "no_roles", "active", "auditor"])))]
    Update {
        username: String,
        /// The account's roles become exactly these; repeat or separate with commas.
        #[arg(long = "role", value_name = "ROLE", value_delimiter = ',', value_parser = role)]
        roles: Vec<Role>,
        /// Take every role away.
        #[arg(long, conflicts_with = "roles")]
        no_roles: bool,
        /// Deactivating ends the account's sessions and tokens.
        #[arg(long, value_name = "true|false")]
        active: Option<bool>,
        /// An Auditor reads everything, changes nothing and holds no role.
        #[arg(long, value_name = "true|false")]
        auditor: Option<bool>,
    },
    /// Change your own password (the current one is asked for too), or reset
    /// another's (UserAdmin), who must then replace it at the next sign-on.
    ///
    /// With --password-stdin, stdin holds the new password; for your own
    /// account, the current password on the first line and the new one on the second.
    SetPassword {
        username: String,
        /// Read the password(s) from stdin instead of asking for them.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppKind {
    /// Public, PKCE: a CLI or a mobile or desktop app.
    Native,
    /// Confidential, client credentials: a service.
    Worker,
    /// Confidential, authorization code: a web server.
    Web,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrantType {
    #[value(name = "authorization_code")]
    AuthorizationCode,
    #[value(name = "refresh_token")]
    RefreshToken,
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "device_code", alias = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

#[derive(Debug, Subcommand)]
pub enum ApplicationsCommand {
    /// An environment's applications.
    List {
        /// The environment's id.
        env: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One application (never its secret).
    Get { env: String, id: String },
    /// Create an application; a worker's or web application's secret is shown once.
    Create {
        env: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        kind: AppKind,
        /// A grant it may use; repeat or separate with commas [default: client_credentials
        /// for a worker, authorization_code otherwise].
        #[arg(long = "grant", value_name = "GRANT", value_enum, value_delimiter = ',')]
        grants: Vec<GrantType>,
        /// Where the authorization code may be sent; repeat for more.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A scope it may ask for; repeat or separate with commas.
        #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
        scopes: Vec<String>,
        /// An admin role for a worker (needs UserAdmin); repeat or separate with commas.
        #[arg(long = "role", value_name = "ROLE", value_delimiter = ',', value_parser = role)]
        roles: Vec<Role>,
    },
    /// Issue a new secret, shown once; the old one stops working.
    RotateSecret { env: String, id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The signing keys still published: the active one and those whose tokens may be live.
    List { env: String },
    /// A new key signs from now on (CryptoAdmin); the old one stays published until its tokens expire.
    Rotate { env: String },
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
    /// Set a key in the profile: signet config set "KEY=VALUE", or
    /// signet config set KEY --stdin to read the value from stdin (a secret
    /// is then never an argument, which ps and shell history see); on a
    /// terminal, signet config set KEY asks for it without echo.
    Set {
        /// KEY=VALUE, or KEY alone with --stdin or on a terminal.
        assignment: String,
        /// Read the value from stdin: one line.
        #[arg(long)]
        stdin: bool,
    },
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
