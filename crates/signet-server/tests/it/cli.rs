//! The `signetd` binary itself: flags, the ready line, bootstrap on disk,
//! refusal of plain HTTP off loopback, TLS, recovery and key rotation.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use signet_core::clock::{Clock, SystemClock};
use signet_store::Store;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{Browser, CLI_REDIRECT, pkce_pair};

const SIGNETD: &str = env!("CARGO_BIN_EXE_signetd");

pub(crate) fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("signetd-cli-{}", signet_core::crypto::random_id().unwrap()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) struct Daemon {
    child: Child,
    pub(crate) base: String,
    pub(crate) issuer: String,
    stdout: Vec<String>,
    /// What it logged so far, read as it comes so the pipe never fills.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_read: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Starts `signetd serve` and waits for its ready line and issuer.
    pub(crate) async fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(SIGNETD);
        cmd.arg("serve").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        // A test stops at once unless it asks for the shutdown delay (a flag beats this).
        cmd.env("SIGNETD_SHUTDOWN_DELAY_SECS", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logged = stderr.clone();
        let stderr_read = tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut logged = logged.lock().unwrap();
                logged.push_str(&line);
                logged.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = Vec::new();
        let read = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stdout.push(line.clone());
                if line.starts_with("issuer: ") {
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), read).await.is_err() || stdout.len() < 2 {
            let _ = child.kill().await;
            let _ = stderr_read.await;
            panic!("signetd did not get ready: {stdout:?}\n{}", stderr.lock().unwrap());
        }
        let n = stdout.len();
        let base =
            stdout[n - 2].strip_prefix("signetd listening on ").expect("the ready line, then the issuer").to_owned();
        let issuer = stdout[n - 1].strip_prefix("issuer: ").unwrap().to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Daemon { child, base, issuer, stdout, stderr, stderr_read }
    }

    /// Sends `signal` (`TERM`, `HUP`…) to signetd.
    pub(crate) async fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().unwrap().to_string()).status();
        assert!(sent.await.unwrap().success());
    }

    /// What signetd has logged so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (30 s at most) until signetd has logged `needle`.
    pub(crate) async fn logged(&self, needle: &str) {
        for _ in 0..300 {
            if self.stderr().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("signetd did not log {needle:?}:\n{}", self.stderr());
    }

    /// Waits for signetd to exit (after a stop signal sent already); its status and log.
    pub(crate) async fn exited(mut self) -> (std::process::ExitStatus, String) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        let _ = (&mut self.stderr_read).await;
        (status, self.stderr())
    }

    pub(crate) async fn stop(self) -> String {
        self.signal("TERM").await;
        let (status, err) = self.exited().await;
        assert!(status.success(), "signetd exits cleanly on SIGTERM: {status}\n{err}");
        err
    }
}

async fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SIGNETD).args(args).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn bootstrap(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("bootstrap.json")).unwrap()).unwrap()
}

async fn client_credentials(issuer: &str, boot: &serde_json::Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(boot["worker"]["client_id"].as_str().unwrap(), boot["worker"]["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn serve_prints_its_address_keeps_secrets_off_stdout_and_restarts_unchanged() {
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    assert!(d.base.starts_with("http://127.0.0.1:"));
    let boot = bootstrap(&dir);
    assert_eq!(d.issuer, boot["issuer"]);
    assert_eq!(std::fs::metadata(dir.join("bootstrap.json")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(dir.join("key-encryption-key")).unwrap().permissions().mode() & 0o777, 0o600);
    let printed = d.stdout.join("\n");
    assert!(printed.contains("bootstrap.json"), "stdout says where the credentials are");
    assert!(!printed.contains(boot["admin"]["password"].as_str().unwrap()));
    assert!(!printed.contains(boot["worker"]["client_secret"].as_str().unwrap()));
    assert_eq!(reqwest::get(format!("{}/healthz", d.base)).await.unwrap().status(), 200);
    assert_eq!(client_credentials(&d.issuer, &boot).await, 200);
    let stderr = d.stop().await;
    assert!(stderr.contains("delete it"), "warns while the bootstrap file exists: {stderr}");
    assert!(stderr.contains("key-encryption key"), "warns about the generated key: {stderr}");

    // A restart changes nothing: same environment, same credentials, same file.
    let before = std::fs::read(dir.join("bootstrap.json")).unwrap();
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    assert_eq!(d.issuer.rsplit('/').nth(1), boot["environment_id"].as_str());
    assert!(!d.stdout.join("\n").contains("first start"));
    assert_eq!(std::fs::read(dir.join("bootstrap.json")).unwrap(), before);
    assert_eq!(client_credentials(&d.issuer, &boot).await, 200);
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn settings_come_from_environment_variables_and_a_strict_config_file() {
    let dir = temp_dir();
    let config = dir.join("signetd.toml");
    std::fs::write(&config, format!("data_dir = {:?}\nlisten = \"127.0.0.1:1\"\n", dir.join("data"))).unwrap();
    // The variable beats the file; the file beats the default.
    let d = Daemon::start(&["--config", config.to_str().unwrap()], &[("SIGNETD_LISTEN", "127.0.0.1:0")]).await;
    assert!(!d.base.ends_with(":1"));
    assert!(dir.join("data/bootstrap.json").exists());
    d.stop().await;
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlisen = \"typo\"\n").unwrap();
    let (ok, _, err) = run(&["serve", "--config", config.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(err.contains("signetd.toml") && err.contains("lisen"), "{err}");
    let (ok, _, err) = run(&["serve", "--listen", "nonsense"]).await;
    assert!(!ok && err.contains("--listen"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn plain_http_off_loopback_needs_tls_or_an_explicit_opt_out() {
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    let (ok, _, err) = run(&["serve", "--data-dir", data, "--listen", "0.0.0.0:0"]).await;
    assert!(!ok);
    assert!(err.contains("refusing to serve plain HTTP") && err.contains("hint:"), "{err}");
    let d = Daemon::start(&["--data-dir", data, "--listen", "0.0.0.0:0", "--insecure-http"], &[]).await;
    let stderr = d.stop().await;
    assert!(stderr.contains("--insecure-http"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = temp_dir();
    let ca = signet_testkit::tls::TestCa::create(&dir).await;
    let (cert, key) = (ca.cert.clone(), ca.key.clone());
    let data = dir.join("data");
    let d = Daemon::start(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(d.base.starts_with("https://127.0.0.1:"), "{}", d.base);
    assert!(d.issuer.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca.ca).unwrap()).unwrap();
    let https = reqwest::Client::builder().tls_certs_only([root]).build().unwrap();
    let disco: serde_json::Value =
        https.get(format!("{}/.well-known/openid-configuration", d.issuer)).send().await.unwrap().json().await.unwrap();
    assert_eq!(disco["issuer"], d.issuer);
    // A client that does not trust the certificate gets no answer at all.
    assert!(reqwest::Client::new().get(format!("{}/healthz", d.base)).send().await.is_err());
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn recover_account_resets_password_and_mfa_offline_and_is_audited() {
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    let boot = bootstrap(&dir);
    d.stop().await;

    let (ok, out, err) = run(&["recover-account", "administrator", "--data-dir", data]).await;
    assert!(ok, "{err}");
    let file = dir.join("recovery-administrator.json");
    assert!(out.contains(file.to_str().unwrap()), "{out}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let creds: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let password = creds["password"].as_str().unwrap();
    assert_ne!(password, boot["admin"]["password"]);
    assert!(!out.contains(password), "the password is not printed");

    let store = Store::open(&format!("sqlite://{}/signet.db", data)).await.unwrap();
    let kek = signet_server::config::read_kek_file(&dir.join("key-encryption-key")).unwrap();
    signet_server::audit_chain::use_existing(&store, &kek).await.unwrap();
    let env = boot["environment_id"].as_str().unwrap();
    let admin =
        store.account_by_username(&signet_core::id::EnvironmentId::from(env), "administrator").await.unwrap().unwrap();
    assert!(!admin.totp_confirmed && admin.totp_sealed.is_none(), "MFA enrolment is reset");
    assert!(signet_core::password::verify(password, admin.password_hash.as_deref().unwrap()));
    assert!(!admin.is_locked(SystemClock.now()));
    let events = store.audit_events(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.event.action == "account.recover" && e.event.target == admin.id));
    assert_eq!(store.verify_audit_chain().await.unwrap().broken_at, None);
    store.close().await;

    // The one-time password must be replaced, then the administrator enrols TOTP again.
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    let authorize = format!(
        "{}/authorize?response_type=code&client_id=signet-cli&redirect_uri={CLI_REDIRECT}&code_challenge={challenge}&code_challenge_method=S256",
        d.issuer
    );
    let signon = b.get(&authorize).await.location.unwrap();
    b.submit(&signon, &[("username", "administrator"), ("password", password)]).await;
    let change = b.get(&signon).await;
    assert!(change.body.contains("autocomplete=\"new-password\""), "{}", change.body);
    let same = b.submit(&signon, &[("new_password", password), ("confirm_password", password)]).await;
    assert_eq!(same.status, 401, "the one-time password cannot be kept");
    let short = b.submit(&signon, &[("new_password", "short"), ("confirm_password", "short")]).await;
    assert_eq!(short.status, 401);
    let mine = "a long passphrase of my own";
    let changed = b.submit(&signon, &[("new_password", mine), ("confirm_password", mine)]).await;
    assert_eq!(changed.status, 303);
    assert!(b.get(&signon).await.body.contains("id=\"totp-secret\""), "then MFA enrolment");
    d.stop().await;

    let (ok, _, err) = run(&["recover-account", "nobody", "--data-dir", data]).await;
    assert!(!ok && err.contains("nobody"), "{err}");
    let (ok, _, err) =
        run(&["recover-account", "administrator", "--data-dir", dir.join("empty").to_str().unwrap()]).await;
    assert!(!ok && err.contains("hint:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn rotating_the_key_encryption_key_keeps_the_signing_keys_usable() {
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    let boot = bootstrap(&dir);
    d.stop().await;
    let old = std::fs::read(dir.join("key-encryption-key")).unwrap();
    let (ok, out, err) = run(&["rotate-kek", "--data-dir", data]).await;
    assert!(ok, "{err}");
    assert!(out.contains("re-sealed 4 secrets"), "a signing key, a TOTP secret and the audit trail's two keys: {out}");
    assert_ne!(std::fs::read(dir.join("key-encryption-key")).unwrap(), old);
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    assert_eq!(client_credentials(&d.issuer, &boot).await, 200, "tokens are signed with the re-sealed key");
    // The audit trail, keyed before the rotation and recording it, still verifies.
    let verify: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit/verify", d.base))
        .basic_auth(boot["admin"]["username"].as_str().unwrap(), boot["admin"]["password"].as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((verify["intact"].as_bool(), verify["keyed_from"].as_i64()), (Some(true), Some(1)), "{verify}");
    d.stop().await;
    // The old key no longer opens anything.
    std::fs::write(dir.join("key-encryption-key"), &old).unwrap();
    let args = ["serve", "--data-dir", data, "--listen", "127.0.0.1:0"];
    let refused = tokio::time::timeout(Duration::from_secs(30), run(&args));
    let (ok, _, err) = refused.await.expect("signetd refuses to start, rather than serving errors");
    assert!(!ok && err.contains("key-encryption key"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn serves_from_postgresql_and_recovers_accounts_there() {
    let db = signet_testkit::PgDatabase::create().await;
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    let args = ["--data-dir", data, "--listen", "127.0.0.1:0", "--database-url", db.url.as_str()];
    let d = Daemon::start(&args, &[]).await;
    let boot = bootstrap(&dir);
    assert_eq!(client_credentials(&d.issuer, &boot).await, 200);
    d.stop().await;
    assert!(!dir.join("signet.db").exists(), "nothing is written to SQLite");
    let (ok, _, err) = run(&["recover-account", "administrator", "--database-url", &db.url, "--data-dir", data]).await;
    assert!(ok, "{err}");
    // A restart on the same database changes nothing.
    let d = Daemon::start(&args, &[]).await;
    assert!(!d.stdout.join("\n").contains("first start"));
    assert_eq!(client_credentials(&d.issuer, &boot).await, 200);
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn finding_6_first_start_after_upgrade_seals_the_old_trail_and_offline_commands_need_the_key() {
    let dir = temp_dir();
    let data = dir.to_str().unwrap();
    // The trail as a signetd before the keyed chain left it: plain SHA-256.
    let store = Store::open(&format!("sqlite://{data}/signet.db")).await.unwrap();
    for n in 0..3 {
        store.record(&signet_testkit::test_event(&format!("before.{n}"), None, "x")).await.unwrap();
    }
    store.close().await;
    let d = Daemon::start(&["--data-dir", data, "--listen", "127.0.0.1:0"], &[]).await;
    let boot = bootstrap(&dir);
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit/verify", d.base))
        .basic_auth(boot["admin"]["username"].as_str().unwrap(), boot["admin"]["password"].as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["intact"].as_bool(), v["keyed_from"].as_i64()),
        (Some(true), Some(4)),
        "sealed after the old events: {v}"
    );
    d.stop().await;

    // Break glass without the key-encryption key: refused, with the fix, and no credentials left behind.
    let key = dir.join("elsewhere.key");
    std::fs::rename(dir.join("key-encryption-key"), &key).unwrap();
    let (ok, _, err) = run(&["recover-account", "administrator", "--data-dir", data]).await;
    assert!(!ok && err.contains("hint: pass --key-encryption-key-file"), "{err}");
    assert!(!dir.join("recovery-administrator.json").exists());
    let key_arg = key.to_str().unwrap();
    let (ok, _, err) =
        run(&["recover-account", "administrator", "--data-dir", data, "--key-encryption-key-file", key_arg]).await;
    assert!(ok, "{err}");
    let store = Store::open(&format!("sqlite://{data}/signet.db")).await.unwrap();
    signet_server::audit_chain::use_existing(&store, &signet_server::config::read_kek_file(&key).unwrap())
        .await
        .unwrap();
    let check = store.verify_audit_chain().await.unwrap();
    assert_eq!((check.broken_at, check.keyed_from), (None, Some(4)), "{check:?}");
    let last = store.audit_events(check.head_seq - 1, 1).await.unwrap().remove(0);
    assert_eq!(last.event.action, "account.recover", "recorded in the keyed chain");
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
