//! What every goal is given: the run's settings and places (`Bench`), and
//! the signetd it measures (`Signetd`), started once for the whole run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use signet_core::audit_key::AuditKeys;
use signet_core::crypto::Kek;
use signet_proto::bootstrap::BootstrapFile;
use signet_store::Store;
use zeroize::Zeroizing;

use crate::procs::Proc;

/// What every goal needs: where things are and how long to load.
pub struct Bench {
    pub secs: u64,
    pub warmup: u64,
    pub scripts: PathBuf,
    pub tmp: PathBuf,
    pub peer_dir: PathBuf,
    pub baseline_pool: usize,
    pub started: Instant,
}

impl Bench {
    pub fn script(&self, name: &str) -> PathBuf {
        self.scripts.join(name)
    }

    /// A progress line on stderr, so stdout is only the table.
    pub fn note(&self, what: &str) {
        eprintln!("[{:6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// A running signetd and what its first start wrote.
pub struct Signetd {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub boot: BootstrapFile,
    pub data_dir: PathBuf,
    /// The binary it runs, for a second instance on the same store.
    pub bin: PathBuf,
}

impl Signetd {
    /// The issuer's path, such as `/{env}/as`, which every endpoint sits under.
    pub fn path(&self, endpoint: &str) -> anyhow::Result<String> {
        let issuer = url::Url::parse(&self.boot.issuer).context("the issuer in bootstrap.json is not a URL")?;
        Ok(format!("{}{endpoint}", issuer.path().trim_end_matches('/')))
    }

    pub fn worker_basic(&self) -> String {
        basic(&self.boot.worker.client_id, &self.boot.worker.client_secret)
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.data_dir.join("signet.db").display())
    }

    /// signetd's store, opened as signetd opens it: with the audit trail's
    /// keys, sealed under the key-encryption key signetd made in its data
    /// dir, so that the events the bench seeds chain as the server's own do.
    /// A store opened without them refuses every write that is recorded.
    pub async fn store(&self) -> anyhow::Result<Store> {
        let store = Store::open(&self.database_url()).await.context("opening signetd's store")?;
        let path = self.data_dir.join(KEK_FILE);
        let text = Zeroizing::new(
            std::fs::read_to_string(&path).with_context(|| format!("reading signetd's key {}", path.display()))?,
        );
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not base64", path.display()))?,
        );
        let kek = Kek::from_bytes(&raw).with_context(|| format!("{} is not a key-encryption key", path.display()))?;
        if let Some(sealed) = store.sealed_audit_keys().await? {
            store.use_audit_keys(AuditKeys::open(&kek, &sealed).context("opening the audit trail's keys")?)?;
        }
        Ok(store)
    }
}

/// Where signetd keeps the key-encryption key it makes when none is given.
const KEK_FILE: &str = "key-encryption-key";

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

pub async fn start_signetd(bench: &Bench, bin: &Path) -> anyhow::Result<Signetd> {
    let data_dir = bench.tmp.join("signetd");
    let args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let (proc, base) = Proc::start("signetd", bin, &args, &[], &bench.tmp, "signetd listening on ").await?;
    let raw = std::fs::read(data_dir.join("bootstrap.json")).context("reading signetd's bootstrap.json")?;
    let boot: BootstrapFile = serde_json::from_slice(&raw).context("parsing signetd's bootstrap.json")?;
    Ok(Signetd { proc, base, boot, data_dir, bin: bin.to_owned() })
}

/// Another signetd on the same data directory and public URL, as a second
/// instance behind a load balancer would be; its address.
pub async fn start_replica(bench: &Bench, signetd: &Signetd, name: &str) -> anyhow::Result<(Proc, String)> {
    let args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        signetd.data_dir.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--public-url".into(),
        signetd.base.clone(),
    ];
    Proc::start(name, &signetd.bin, &args, &[], &bench.tmp, "signetd listening on ").await
}

/// Creates a worker holding the Admin role through `apps_url` (an
/// environment's applications), as `authorization`: its id and secret.
pub async fn admin_worker(
    http: &reqwest::Client,
    apps_url: &str,
    authorization: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let made = http
        .post(apps_url)
        .header("authorization", authorization)
        .json(&serde_json::json!({
            "name": name,
            "kind": "worker",
            "grant_types": ["client_credentials"],
            "roles": ["Admin"],
        }))
        .send()
        .await?;
    let status = made.status();
    let app: serde_json::Value = made.json().await?;
    anyhow::ensure!(status == 201, "creating a worker with the Admin role answered {status}: {app}");
    let id = app["id"].as_str().context("the new worker has no id")?;
    let secret = app["client_secret"].as_str().context("the new worker has no secret")?;
    Ok((id.to_owned(), secret.to_owned()))
}
