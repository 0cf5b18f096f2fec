//! `signetd`'s command line. Flags may also come from `SIGNETD_*` variables
//! (clap applies flag > environment) and then from the `--config` file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::env;

#[derive(Debug, Parser)]
#[command(name = "signetd", version, about = "signet's OAuth 2.0 / OpenID Connect authority and admin plane")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: text, or json (one object a
    /// line, with the request id and trace id of the request it is about).
    #[arg(long, global = true, env = env::LOG_FORMAT, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. The first start creates the Administrators environment
    /// and writes its credentials to DATA_DIR/bootstrap.json.
    Serve(ServeArgs),
    /// Break-glass, offline: reset an account's password and MFA enrolment and
    /// unlock it. Writes the new one-time credentials to a 0600 file.
    ///
    /// It may also run beside running instances (one transaction; each
    /// instance reads the account at every sign-on, and what it cached of a
    /// verified password is tied to the account's version, which this bumps).
    /// The account's browser sessions end; its refresh and access tokens do not.
    RecoverAccount(RecoverArgs),
    /// Offline: re-seal every stored private key and TOTP secret under a new
    /// key-encryption key.
    ///
    /// With several instances on one database, stop every one first: a
    /// running instance keeps the old key and would seal what it writes next
    /// (a new signing key, a TOTP enrolment) under it, where no instance
    /// restarted with the new key can open it. Rotate once, give every
    /// instance the new key, then start them.
    RotateKek(RotateKekArgs),
    /// Online: copy the SQLite store, as one consistent state, into a new
    /// file (0600) while the server runs. PostgreSQL: says how to use pg_dump.
    /// The key-encryption key is never in a backup.
    Backup(BackupArgs),
    /// Offline: put a backup in place as the store of a data dir that has
    /// none, end every session (a restore would bring back tokens spent or
    /// revoked since the backup) and record `store.restore`.
    Restore(RestoreArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = env::CONFIG)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database, the bootstrap file and the default key-encryption key [default: ./signet-data].
    #[arg(long, env = env::DATA_DIR)]
    pub data_dir: Option<PathBuf>,
    /// Use PostgreSQL (postgres://…) instead of SQLite in the data dir. Several hosts fail over as
    /// libpq's do: postgres://h1:5432,h2:5432/db?target_session_attrs=read-write (or any, the default).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = env::LISTEN)]
    pub listen: Option<String>,
    /// External base URL, used in issuers [default: the listen address].
    #[arg(long, env = env::PUBLIC_URL)]
    pub public_url: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, env = env::TLS_CERT, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = env::TLS_KEY, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    #[arg(long, env = env::INSECURE_HTTP)]
    pub insecure_http: bool,
    /// Proxies whose forwarded-address header is believed (addresses or CIDR ranges).
    #[arg(long, env = env::TRUSTED_PROXIES, value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write the client's address into, and the
    /// only one read: x-forwarded-for (HAProxy, nginx) or forwarded (RFC 7239)
    /// [default: x-forwarded-for].
    #[arg(long, env = env::FORWARDED_HEADER)]
    pub forwarded_header: Option<String>,
    /// Let configured URLs that signetd fetches (upstream providers, MFA
    /// services) point at private and link-local addresses.
    #[arg(long, env = env::ALLOW_PRIVATE_FETCH)]
    pub allow_private_fetch: bool,
    /// Ask DPoP proofs at the token endpoint for a nonce from signetd (RFC
    /// 9449 §8), so a proof made ahead of time is refused. Instances sharing
    /// a key-encryption key accept each other's nonces.
    #[arg(long, env = env::REQUIRE_DPOP_NONCE)]
    pub require_dpop_nonce: bool,
    /// File holding the key-encryption key (base64 of 32 bytes).
    #[arg(long, env = env::KEY_ENCRYPTION_KEY_FILE)]
    pub key_encryption_key_file: Option<PathBuf>,
    /// Prune audit events older than this many days (kept forever when unset).
    /// The chain stays verifiable from the last pruned event's hash.
    #[arg(long, env = env::AUDIT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_retention_days: Option<u32>,
    /// Most connections open at once; more are closed as they arrive [default: 1024].
    #[arg(long, env = env::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Most connections open at once from one address (an IPv6 /64 counts as
    /// one). Trusted proxies are exempt; the overall limit still holds them [default: 64].
    #[arg(long, env = env::MAX_CONNECTIONS_PER_ADDRESS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: Option<u32>,
    /// Seconds a client has to send a whole request head, from connecting
    /// (TLS handshake included) or, over HTTP/1.1, from the previous answer [default: 10].
    #[arg(long, env = env::HEADER_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u32).range(1..))]
    pub header_read_timeout_secs: Option<u32>,
    /// Seconds a connection may stay open with no request in flight [default: 60].
    #[arg(long, env = env::IDLE_TIMEOUT_SECS, value_parser = clap::value_parser!(u32).range(1..))]
    pub idle_timeout_secs: Option<u32>,
    /// Where signed checkpoints of the audit trail go, besides the database
    /// and the log: file:PATH (JSON lines, created 0600), syslog (to
    /// /dev/log) or syslog:SOCKET. Truncation of the trail is caught only
    /// against a checkpoint kept outside the database.
    #[arg(long, env = env::AUDIT_CHECKPOINT_SINK, value_delimiter = ',')]
    pub audit_checkpoint_sink: Vec<String>,
    /// Minutes between audit checkpoints; one instance writes each [default: 60].
    #[arg(long, env = env::AUDIT_CHECKPOINT_MINUTES, value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_checkpoint_minutes: Option<u32>,
    /// Seconds between a stop signal (SIGTERM, Ctrl-C) and closing the
    /// listener, while /readyz already answers 503 so load balancers take
    /// the instance out; 0 closes at once [default: 2].
    #[arg(long, env = env::SHUTDOWN_DELAY_SECS)]
    pub shutdown_delay_secs: Option<u32>,
    /// Most seconds requests in flight get to finish once the listener has
    /// closed; then signetd exits regardless [default: 10].
    #[arg(long, env = env::DRAIN_TIMEOUT_SECS, value_parser = clap::value_parser!(u32).range(1..))]
    pub drain_timeout_secs: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The account's username.
    pub username: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key-encryption key in use [default: the variable, else the one in
    /// the data dir]: the recovery is recorded in the keyed audit trail.
    #[arg(long, env = env::KEY_ENCRYPTION_KEY_FILE)]
    pub key_encryption_key_file: Option<PathBuf>,
    /// The environment's name.
    #[arg(long, default_value = signet_core::model::ADMINISTRATORS)]
    pub environment: String,
    /// Where to write the new credentials [default: DATA_DIR/recovery-USERNAME.json].
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RotateKekArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The key-encryption key in use now [default: the one in the data dir].
    #[arg(long, env = env::KEY_ENCRYPTION_KEY_FILE)]
    pub key_encryption_key_file: Option<PathBuf>,
    /// The new key (base64 of 32 bytes). Without it, a new key is generated
    /// into the data dir, replacing the default one.
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new backup file; an existing file is refused.
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup (SQLite) to restore into the data dir, which must have no
    /// store. Without it, on PostgreSQL: the database was restored with
    /// pg_restore; end its sessions and record the restore.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Keep refresh tokens, codes and browser sessions as the backup has
    /// them, including those spent or revoked after it.
    #[arg(long)]
    pub keep_sessions: bool,
    /// The key-encryption key the servers use [default: the variable, else
    /// the one in the data dir]: the restore is recorded in the keyed audit trail.
    #[arg(long, env = env::KEY_ENCRYPTION_KEY_FILE)]
    pub key_encryption_key_file: Option<PathBuf>,
}
