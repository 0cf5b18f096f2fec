//! SIGHUP: read the configuration again (flags and environment as at start,
//! the config file as it is now) and apply what changed of the parts that
//! can change while serving:
//!
//! - the TLS certificate and key, checked as a pair (the key must match the
//!   certificate); new connections get the new pair, open ones keep theirs;
//! - the log level (`log_level` in the file; `SIGNETD_LOG`, when set, wins);
//! - the trusted proxies and the header they write.
//!
//! All or nothing: if any part is invalid, nothing changes and the log says
//! why (never a secret: a config file error names the line, not its text).
//! A reload that changes something is audited as `server.reload`, its target
//! naming the parts that changed.

use std::path::Path;
use std::sync::Arc;

use signet_core::audit::{Action, Actor, AuditEvent, digest_of};

use crate::cli::ServeArgs;
use crate::config::FileConfig;
use crate::live::Live;
use crate::net::TrustedProxies;
use crate::state::AppState;

/// Sets the log filter (a `tracing_subscriber` filter directive) of the
/// running process; given by `main`, which owns the subscriber.
pub type LogFilter = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

pub struct Reloader {
    args: ServeArgs,
    state: AppState,
    tls: Option<Live<rustls::ServerConfig>>,
    /// SHA-256 of the certificate and key files in use, to tell a change.
    tls_files: Option<[u8; 32]>,
    log: Option<LogFilter>,
    log_level: String,
}

/// The reloadable parts as the configuration gives them now, all checked.
struct Loaded {
    /// A new TLS configuration, if the files changed, and their digest.
    tls: Option<(Arc<rustls::ServerConfig>, [u8; 32])>,
    proxies: TrustedProxies,
    log_level: String,
}

impl Reloader {
    /// What the server started with: `file` is the config file it read.
    pub fn new(
        args: ServeArgs,
        file: &FileConfig,
        state: AppState,
        tls: Option<Live<rustls::ServerConfig>>,
        log: Option<LogFilter>,
    ) -> anyhow::Result<Reloader> {
        let tls_files = match crate::serve::tls_files(&args, file)? {
            Some((cert, key)) => Some(digest(&cert, &key)?),
            None => None,
        };
        let log_level = crate::config::log_filter(file);
        Ok(Reloader { args, state, tls, tls_files, log, log_level })
    }

    /// Reloads, applies and audits; every failure is logged, none is fatal.
    pub async fn reload(&mut self) {
        tracing::info!("SIGHUP: reloading the TLS certificate, the log level and the trusted proxies");
        let loaded = match self.load() {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!("reload refused; the running configuration is kept: {e:#}");
                return;
            }
        };
        let changed = self.apply(loaded);
        if changed.is_empty() {
            tracing::info!("reload: nothing changed");
            return;
        }
        tracing::info!(changed = %changed.join(","), "reloaded");
        if let Err(e) = self.audit(&changed).await {
            tracing::warn!(error = %e, "recording the reload in the audit trail failed");
        }
    }

    fn load(&self) -> anyhow::Result<Loaded> {
        let file = FileConfig::load(self.args.store.config.as_deref())?;
        let tls = match (crate::serve::tls_files(&self.args, &file)?, self.tls_files) {
            (None, None) => None,
            (Some((cert, key)), Some(now)) => {
                let next = digest(&cert, &key)?;
                match next == now {
                    true => None,
                    false => Some((crate::serve::tls_config(&cert, &key)?, next)),
                }
            }
            _ => anyhow::bail!("TLS cannot be turned on or off by a reload; restart signetd for that"),
        };
        let proxies = crate::serve::trusted_proxies(&self.args, &file)?;
        let log_level = crate::config::log_filter(&file);
        tracing_subscriber::EnvFilter::try_new(&log_level)
            .map_err(|e| anyhow::anyhow!("log_level {log_level:?} is not a log filter: {e}"))?;
        Ok(Loaded { tls, proxies, log_level })
    }

    /// Puts `loaded` in place; the names of the parts that changed.
    fn apply(&mut self, loaded: Loaded) -> Vec<&'static str> {
        let mut changed = vec![];
        if let (Some(live), Some((config, files))) = (&self.tls, loaded.tls) {
            live.set(Arc::unwrap_or_clone(config));
            self.tls_files = Some(files);
            changed.push("tls");
        }
        if loaded.log_level != self.log_level
            && let Some(set) = &self.log
        {
            match set(&loaded.log_level) {
                Ok(()) => {
                    self.log_level = loaded.log_level;
                    changed.push("log_level");
                }
                Err(e) => tracing::error!("setting the log level failed: {e}"),
            }
        }
        if *self.state.trusted_proxies.get() != loaded.proxies {
            self.state.trusted_proxies.set(loaded.proxies);
            changed.push("trusted_proxies");
        }
        changed
    }

    async fn audit(&self, changed: &[&str]) -> anyhow::Result<()> {
        let target = changed.join(",");
        let mut ev = AuditEvent::new(Actor::console("reload"), Action::ServerReload, None, &target, self.state.now())?;
        ev.digest = digest_of(&serde_json::json!({ "changed": changed }));
        self.state.store.record(&ev).await?;
        Ok(())
    }
}

/// SHA-256 of the certificate file and the key file, read as they are.
fn digest(cert: &Path, key: &Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context;
    let mut both = std::fs::read(cert).with_context(|| format!("reading certificate {}", cert.display()))?;
    both.extend(std::fs::read(key).with_context(|| format!("reading private key {}", key.display()))?);
    Ok(signet_core::crypto::sha256(&both))
}
