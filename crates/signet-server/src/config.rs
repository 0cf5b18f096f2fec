//! signetd's configuration: parsed from flags, `SIGNETD_*` variables and an
//! optional TOML file, then resolved with explicit precedence
//! flag > environment > file > default. Every environment variable is named
//! in [`env`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use serde::Deserialize;
use signet_core::crypto::Kek;

pub mod admin_auth;

/// The environment variables signetd reads. Each mirrors a flag.
pub mod env {
    pub const CONFIG: &str = "SIGNETD_CONFIG";
    pub const DATA_DIR: &str = "SIGNETD_DATA_DIR";
    pub const LISTEN: &str = "SIGNETD_LISTEN";
    pub const DATABASE_URL: &str = "SIGNETD_DATABASE_URL";
    pub const PUBLIC_URL: &str = "SIGNETD_PUBLIC_URL";
    pub const TLS_CERT: &str = "SIGNETD_TLS_CERT";
    pub const TLS_KEY: &str = "SIGNETD_TLS_KEY";
    pub const INSECURE_HTTP: &str = "SIGNETD_INSECURE_HTTP";
    pub const TRUSTED_PROXIES: &str = "SIGNETD_TRUSTED_PROXIES";
    pub const FORWARDED_HEADER: &str = "SIGNETD_FORWARDED_HEADER";
    pub const ALLOW_PRIVATE_FETCH: &str = "SIGNETD_ALLOW_PRIVATE_FETCH";
    pub const REQUIRE_DPOP_NONCE: &str = "SIGNETD_REQUIRE_DPOP_NONCE";
    pub const AUDIT_RETENTION_DAYS: &str = "SIGNETD_AUDIT_RETENTION_DAYS";
    pub const MAX_CONNECTIONS: &str = "SIGNETD_MAX_CONNECTIONS";
    pub const MAX_CONNECTIONS_PER_ADDRESS: &str = "SIGNETD_MAX_CONNECTIONS_PER_ADDRESS";
    pub const HEADER_READ_TIMEOUT_SECS: &str = "SIGNETD_HEADER_READ_TIMEOUT_SECS";
    pub const IDLE_TIMEOUT_SECS: &str = "SIGNETD_IDLE_TIMEOUT_SECS";
    pub const AUDIT_CHECKPOINT_SINK: &str = "SIGNETD_AUDIT_CHECKPOINT_SINK";
    pub const AUDIT_CHECKPOINT_MINUTES: &str = "SIGNETD_AUDIT_CHECKPOINT_MINUTES";
    pub const KEY_ENCRYPTION_KEY_FILE: &str = "SIGNETD_KEY_ENCRYPTION_KEY_FILE";
    /// The key-encryption key itself, base64 (32 bytes), for platforms that inject secrets as variables.
    pub const KEY_ENCRYPTION_KEY: &str = "SIGNETD_KEY_ENCRYPTION_KEY";
    /// A tracing filter, such as `info` or `signet_server=debug`.
    pub const LOG: &str = "SIGNETD_LOG";
    /// How log lines are written: `text` or `json`.
    pub const LOG_FORMAT: &str = "SIGNETD_LOG_FORMAT";
    pub const SHUTDOWN_DELAY_SECS: &str = "SIGNETD_SHUTDOWN_DELAY_SECS";
    pub const DRAIN_TIMEOUT_SECS: &str = "SIGNETD_DRAIN_TIMEOUT_SECS";
}

pub const DEFAULT_DATA_DIR: &str = "./signet-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const KEK_FILE_NAME: &str = "key-encryption-key";
pub const BOOTSTRAP_FILE_NAME: &str = "bootstrap.json";
/// The log filter when neither `SIGNETD_LOG` nor the file's `log_level` gives one.
pub const DEFAULT_LOG: &str = "info,sqlx=warn";

/// The optional TOML file. Unknown keys are an error, so a typo is never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub forwarded_header: Option<String>,
    pub allow_private_fetch: Option<bool>,
    pub require_dpop_nonce: Option<bool>,
    pub key_encryption_key_file: Option<PathBuf>,
    pub admin_api: Option<AdminApiFile>,
    pub audit_retention_days: Option<u32>,
    pub max_connections: Option<u32>,
    pub max_connections_per_address: Option<u32>,
    pub header_read_timeout_secs: Option<u32>,
    pub idle_timeout_secs: Option<u32>,
    pub audit_checkpoint_sink: Option<Vec<String>>,
    pub audit_checkpoint_minutes: Option<u32>,
    pub shutdown_delay_secs: Option<u32>,
    pub drain_timeout_secs: Option<u32>,
    /// The log filter, reloaded on SIGHUP; `SIGNETD_LOG` wins when set.
    pub log_level: Option<String>,
}

/// `[admin_api]`: set here, the authentication settings cannot be changed
/// through the API; this file is then the one place to change them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminApiFile {
    pub authentication: admin_auth::AuthSettings,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        // toml's own message quotes the offending line, which may hold a
        // secret (a bind password): the error names the line instead.
        toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].lines().count().max(1));
            anyhow::anyhow!("config file {} is invalid: line {line}: {}", path.display(), e.message())
        })
    }
}

/// The log filter: `SIGNETD_LOG`, else the file's `log_level`, else the default.
pub fn log_filter(file: &FileConfig) -> String {
    std::env::var(env::LOG).ok().or_else(|| file.log_level.clone()).unwrap_or_else(|| DEFAULT_LOG.into())
}

/// Where the store is: a PostgreSQL URL, or SQLite in the data dir.
pub fn database_url(database_url: Option<String>, data_dir: &Path) -> String {
    database_url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("signet.db").display()))
}

pub fn parse_listen(s: &str) -> anyhow::Result<SocketAddr> {
    s.parse().with_context(|| format!("--listen {s:?} is not an address such as 127.0.0.1:8080"))
}

/// Writes a file holding secrets: mode 0600 from creation, fsynced, then
/// renamed into place so a reader never sees half of it.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn decode_kek(text: &str, from: &str) -> anyhow::Result<Kek> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .with_context(|| format!("the key-encryption key in {from} is not base64"))?;
    Kek::from_bytes(&raw)
        .map_err(|_| anyhow::anyhow!("the key-encryption key in {from} must be 32 bytes (base64 of 32 random bytes)"))
}

pub fn read_kek_file(path: &Path) -> anyhow::Result<Kek> {
    crate::data_dir::ensure_private_file(path, "key-encryption key")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading key-encryption key {}", path.display()))?;
    decode_kek(&text, &path.display().to_string())
}

/// The key-encryption key: from a file, else the environment, else (the
/// embedded default) a key generated once into the data dir.
pub fn resolve_kek(file: Option<&Path>, from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<Kek> {
    if let Some(path) = file {
        return read_kek_file(path);
    }
    if let Some(value) = from_env {
        return decode_kek(value, env::KEY_ENCRYPTION_KEY);
    }
    let path = data_dir.join(KEK_FILE_NAME);
    if path.exists() {
        return read_kek_file(&path);
    }
    let raw = Kek::generate()?;
    let text = base64::engine::general_purpose::STANDARD.encode(raw.expose());
    write_secret_file(&path, format!("{text}\n").as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "generated a key-encryption key in the data dir; in production supply your own with --key-encryption-key-file \
         and keep it apart from the database (every instance sharing a database needs the same key)"
    );
    Kek::from_bytes(raw.expose()).map_err(|_| anyhow::anyhow!("generated key-encryption key is invalid"))
}

/// The key-encryption key an offline command needs, without making one: a
/// file, else the environment, else the data dir's if it is there.
pub fn existing_kek(file: Option<&Path>, from_env: Option<&str>, data_dir: &Path) -> anyhow::Result<Option<Kek>> {
    let default = data_dir.join(KEK_FILE_NAME);
    match (file, from_env) {
        (None, None) if !default.exists() => Ok(None),
        _ => resolve_kek(file, from_env, data_dir).map(Some),
    }
}

/// Plain HTTP is for loopback only; anything else needs TLS or an explicit opt-out.
pub fn check_plain_http(listen: SocketAddr, tls: bool, insecure_http: bool) -> anyhow::Result<()> {
    if tls || listen.ip().is_loopback() {
        return Ok(());
    }
    if !insecure_http {
        bail!(
            "refusing to serve plain HTTP on {listen}, which is not a loopback address\n\
             hint: give --tls-cert and --tls-key, listen on 127.0.0.1, or pass --insecure-http behind a TLS-terminating proxy"
        );
    }
    tracing::warn!(%listen, "serving plain HTTP on a non-loopback address (--insecure-http); tokens and passwords cross the network unencrypted unless a proxy terminates TLS");
    Ok(())
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(check_plain_http("127.0.0.1:80".parse().unwrap(), false, false).is_ok());
        assert!(check_plain_http("[::1]:80".parse().unwrap(), false, false).is_ok());
        assert!(check_plain_http("0.0.0.0:80".parse().unwrap(), false, false).is_err());
        assert!(check_plain_http("0.0.0.0:80".parse().unwrap(), true, false).is_ok());
        assert!(check_plain_http("0.0.0.0:80".parse().unwrap(), false, true).is_ok());
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"").is_ok());
        assert!(toml::from_str::<FileConfig>("lisen = \"127.0.0.1:1\"").is_err());
        let c = toml::from_str::<FileConfig>("allow_private_fetch = true").unwrap();
        assert_eq!(c.allow_private_fetch, Some(true));
    }

    #[test]
    fn kek_must_be_32_bytes_of_base64() {
        assert!(decode_kek("not base64!", "test").is_err());
        assert!(decode_kek("AAAA", "test").is_err());
        assert!(decode_kek(&base64::engine::general_purpose::STANDARD.encode([1u8; 32]), "test").is_ok());
    }
}
