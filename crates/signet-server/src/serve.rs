//! `signetd serve`: resolve the configuration, open the store, bootstrap,
//! bind, print the ready line, and serve HTTP or HTTPS until a stop signal
//! (see `lifecycle` for the signals and the graceful stop).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use signet_core::clock::{Clock, SystemClock};
use signet_store::Store;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::config::{self, FileConfig};
use crate::conn::{self, Limits};
use crate::live::Live;
use crate::net::TrustedProxies;
use crate::reload::{LogFilter, Reloader};
use crate::state::{AppState, StateConfig};

/// Runs the server; `log` sets the log filter of the process (`main` owns it).
pub async fn run(args: ServeArgs, log: Option<LogFilter>) -> anyhow::Result<()> {
    let mut file = FileConfig::load(args.store.config.as_deref())?;
    if let Some(set) = &log {
        set(&config::log_filter(&file)).map_err(|e| anyhow::anyhow!("log_level: {e}"))?;
    }
    let net = Network::resolve(&args, &file)?;
    let data_dir =
        args.store.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| config::DEFAULT_DATA_DIR.into());
    let allow_private_fetch = args.allow_private_fetch || file.allow_private_fetch.unwrap_or(false);
    let (sinks, checkpoint_minutes) = checkpoints(&args, &file)?;

    crate::data_dir::ensure(&data_dir)?;
    let kek_from_env = std::env::var(config::env::KEY_ENCRYPTION_KEY).ok();
    let kek_file = args.key_encryption_key_file.clone().or(file.key_encryption_key_file.clone());
    let kek = config::resolve_kek(kek_file.as_deref(), kek_from_env.as_deref(), &data_dir)?;
    let url = config::database_url(args.store.database_url.clone().or(file.database_url.clone()), &data_dir);
    let store = Store::open(&url).await.context("opening the store")?;

    let listener = TcpListener::bind(net.listen).await.with_context(|| format!("binding {}", net.listen))?;
    let local = listener.local_addr()?;
    let scheme = if net.tls.is_some() { "https" } else { "http" };
    let public_url =
        args.public_url.clone().or(file.public_url.clone()).unwrap_or_else(|| format!("{scheme}://{local}"));
    url::Url::parse(&public_url).with_context(|| format!("--public-url {public_url:?} is not a URL"))?;

    let admin_authentication = admin_authentication(file.admin_api.take(), &kek, net.tls.is_some())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fresh = crate::bootstrap::ensure(&store, &kek, clock.now(), &public_url, &data_dir).await?;
    let admins = store
        .environment_by_name(signet_core::model::ADMINISTRATORS)
        .await?
        .context("the Administrators environment is missing")?;
    let state = AppState::new(StateConfig {
        store: store.clone(),
        clock,
        kek,
        public_url: public_url.clone(),
        trusted_proxies: net.trusted_proxies,
        allow_private_fetch,
        admin_authentication,
        require_dpop_nonce: args.require_dpop_nonce || file.require_dpop_nonce.unwrap_or(false),
    })?;
    // Fail now, not at the first token request, if the key-encryption key is wrong.
    state.env_keys(admins.id.as_str()).await.map_err(|e| {
        anyhow::anyhow!(
            "{e}\nhint: start signetd with the key-encryption key the store was sealed with (--key-encryption-key-file)"
        )
    })?;

    let bootstrap_file = data_dir.join(config::BOOTSTRAP_FILE_NAME);
    if fresh.is_some() {
        println!("first start: administrator credentials written to {}", bootstrap_file.display());
    }
    // Signals are caught from here on, so a stop right after the ready line is graceful.
    let signals = crate::lifecycle::Signals::install()?;
    println!("signetd listening on {scheme}://{local}");
    println!("issuer: {}", state.issuer(&admins.id));
    warn_of_bootstrap_file(&bootstrap_file);
    let retention = args.audit_retention_days.or(file.audit_retention_days);
    if retention == Some(0) {
        anyhow::bail!("audit_retention_days must be at least 1 (leave it unset to keep every event)");
    }
    spawn_purge(state.clone(), retention);
    crate::web::authorize::log_refused_redirects(&store).await?;
    crate::audit_chain::spawn(state.clone(), sinks, Duration::from_secs(u64::from(checkpoint_minutes) * 60));
    crate::ops::keys::spawn_schedule(state.clone());
    let reloader = Reloader::new(args, &file, state.clone(), net.tls.clone(), log)?;
    let stopped = signals.until_stopped(state.clone(), reloader, net.shutdown_delay);
    let app = crate::app(state.clone());
    conn::serve(listener, app, net.tls, net.limits, state.trusted_proxies.clone(), stopped).await?;
    tracing::info!("stopped");
    store.close().await;
    Ok(())
}

/// Where and how signetd listens, whom it trusts to forward requests, and
/// how long it takes to stop.
struct Network {
    limits: Limits,
    listen: std::net::SocketAddr,
    tls: Option<Live<rustls::ServerConfig>>,
    trusted_proxies: TrustedProxies,
    shutdown_delay: Duration,
}

impl Network {
    /// Flag (or environment) over the config file over the default. Plain
    /// HTTP off loopback needs saying so; the open-file limit is raised to
    /// fit the connection limits.
    fn resolve(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Network> {
        let limits = connection_limits(args, file)?;
        let listen = args.listen.clone().or(file.listen.clone()).unwrap_or_else(|| config::DEFAULT_LISTEN.into());
        let listen = config::parse_listen(&listen)?;
        let tls = match tls_files(args, file)? {
            Some((cert, key)) => Some(Live::new(Arc::unwrap_or_clone(tls_config(&cert, &key)?))),
            None => None,
        };
        let insecure_http = args.insecure_http || file.insecure_http.unwrap_or(false);
        config::check_plain_http(listen, tls.is_some(), insecure_http)?;
        let trusted_proxies = trusted_proxies(args, file)?;
        conn::ensure_open_file_limit(&limits);
        let delay = args.shutdown_delay_secs.or(file.shutdown_delay_secs);
        let shutdown_delay = delay.unwrap_or(crate::lifecycle::DEFAULT_SHUTDOWN_DELAY_SECS);
        Ok(Network { limits, listen, tls, trusted_proxies, shutdown_delay: Duration::from_secs(shutdown_delay.into()) })
    }
}

/// The TLS certificate and key files, if signetd serves HTTPS.
pub(crate) fn tls_files(
    args: &ServeArgs,
    file: &FileConfig,
) -> anyhow::Result<Option<(std::path::PathBuf, std::path::PathBuf)>> {
    match (args.tls_cert.as_ref().or(file.tls_cert.as_ref()), args.tls_key.as_ref().or(file.tls_key.as_ref())) {
        (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    }
}

/// The trusted proxies and the header they write: flag (or environment), else the file.
pub(crate) fn trusted_proxies(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<TrustedProxies> {
    let trusted = if args.trusted_proxies.is_empty() {
        file.trusted_proxies.clone().unwrap_or_default()
    } else {
        args.trusted_proxies.clone()
    };
    let header = match args.forwarded_header.as_ref().or(file.forwarded_header.as_ref()) {
        Some(h) => crate::net::ForwardedHeader::parse(h).map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    Ok(TrustedProxies::parse(&trusted).map_err(anyhow::Error::msg)?.writing(header))
}

/// Where the audit trail's checkpoints go, checked now, and every how many minutes.
fn checkpoints(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<(Vec<crate::audit_chain::Sink>, u32)> {
    let sinks = if args.audit_checkpoint_sink.is_empty() {
        file.audit_checkpoint_sink.clone().unwrap_or_default()
    } else {
        args.audit_checkpoint_sink.clone()
    };
    let sinks = sinks
        .iter()
        .map(|s| s.parse::<crate::audit_chain::Sink>().map_err(|e| anyhow::anyhow!("--audit-checkpoint-sink: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for sink in &sinks {
        sink.check()?;
    }
    let checkpoint_minutes = args.audit_checkpoint_minutes.or(file.audit_checkpoint_minutes).unwrap_or(60);
    if checkpoint_minutes == 0 {
        anyhow::bail!("audit_checkpoint_minutes must be at least 1");
    }
    Ok((sinks, checkpoint_minutes))
}

/// The admin API's authentication from the config file, if it names one, checked.
fn admin_authentication(
    admin_api: Option<crate::config::AdminApiFile>,
    kek: &signet_core::crypto::Kek,
    tls: bool,
) -> anyhow::Result<Option<crate::config::admin_auth::AuthSettings>> {
    let Some(admin_api) = admin_api else { return Ok(None) };
    let mut settings = admin_api.authentication;
    settings.check(kek, tls).map_err(|e| anyhow::anyhow!("config file: admin_api.authentication.{e}"))?;
    Ok(Some(settings))
}

/// The first start's credentials belong in a password manager, not on disk.
fn warn_of_bootstrap_file(bootstrap_file: &std::path::Path) {
    if bootstrap_file.exists() {
        tracing::warn!(
            path = %bootstrap_file.display(),
            "the bootstrap credentials file still exists: store the credentials in a password manager and delete it"
        );
    }
}

/// A rustls server configuration from PEM files (HTTP/2 and HTTP/1.1).
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading private key {}", key.display()))?;
    // Client certificates are asked for, never required: the admin API's
    // mutual-TLS scheme decides per request whether one is any good.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let clients = Arc::new(crate::mtls::RequestClientCertificate::new(&provider));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(clients)
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, with the
/// default connection limits and no trusted proxies.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    conn::serve(listener, app, Some(Live::new(Arc::unwrap_or_clone(tls))), Limits::default(), Live::default(), shutdown)
        .await
}

/// Connection limits and timeouts: flag or environment, then the config
/// file, then the default. None may be 0.
pub(crate) fn connection_limits(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Limits> {
    let pick = |flag: Option<u32>, from_file: Option<u32>, default: u32, name: &str| match flag.or(from_file) {
        Some(0) => Err(anyhow::anyhow!("{name} must be at least 1")),
        value => Ok(value.unwrap_or(default)),
    };
    let drain =
        pick(args.drain_timeout_secs, file.drain_timeout_secs, conn::DEFAULT_DRAIN_TIMEOUT_SECS, "drain_timeout_secs")?;
    let limits = Limits::new(
        pick(args.max_connections, file.max_connections, conn::DEFAULT_MAX_CONNECTIONS, "max_connections")?,
        pick(
            args.max_connections_per_address,
            file.max_connections_per_address,
            conn::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            "max_connections_per_address",
        )?,
        pick(
            args.header_read_timeout_secs,
            file.header_read_timeout_secs,
            conn::DEFAULT_HEADER_READ_TIMEOUT_SECS,
            "header_read_timeout_secs",
        )?,
        pick(args.idle_timeout_secs, file.idle_timeout_secs, conn::DEFAULT_IDLE_TIMEOUT_SECS, "idle_timeout_secs")?,
    );
    Ok(Limits { drain_timeout: Duration::from_secs(drain.into()), ..limits })
}

/// Deletes expired codes, flows, sessions, revoked jtis and idle families
/// every few minutes, and audit events past their retention.
fn spawn_purge(state: AppState, audit_retention_days: Option<u32>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            let now = state.now();
            let idle = now - signet_core::model::ACCESS_TOKEN_TTL - 300;
            let purged = state.store.purge_expired(now).await.and(state.store.purge_idle_grants(idle).await);
            if let Err(e) = purged {
                tracing::warn!(error = %e, "purging expired records failed");
            }
            if let Some(days) = audit_retention_days
                && let Err(e) = crate::ops::prune_audit(&state, days).await
            {
                tracing::warn!(error = %e, "pruning the audit trail failed");
            }
        }
    });
}
