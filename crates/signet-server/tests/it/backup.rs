//! Issue 18: `signetd backup` under write load, and `signetd restore` into a
//! fresh data dir, through the binary: the restored server starts, its
//! audit trail verifies, the backup holds no key-encryption key, and a
//! refresh token from before the restore is refused unless `--keep-sessions`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use base64::Engine;
use signet_client::admin::{AdminClient, Credentials};
use signet_proto::admin::accounts::AccountView;
use signet_proto::admin::audit::ChainStatus;
use tokio::process::Command;

use crate::admin::new_account;
use crate::cli::{Daemon, temp_dir};
use crate::harness::{Server, code_flow_tokens};

const SIGNETD: &str = env!("CARGO_BIN_EXE_signetd");

async fn signetd(args: &[&str]) -> String {
    let out = Command::new(SIGNETD).args(args).output().await.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "signetd {args:?}: {text}");
    text
}

/// Creates accounts through the admin API until `stop`; counts them.
fn write_load(
    admin: AdminClient,
    stop: Arc<AtomicBool>,
    made: Arc<AtomicUsize>,
    worker: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            let name = format!("load-{worker}-{n}");
            let body = new_account(&name, "a long enough password", &[], false);
            admin.create::<_, AccountView>(&["accounts"], &body).await.unwrap();
            made.fetch_add(1, Ordering::SeqCst);
            n += 1;
        }
    })
}

/// Restores `backup` into `data` and starts signetd there.
async fn restored(backup: &Path, data: &Path, kek: &Path, keep: bool, public_url: &str) -> (Daemon, String) {
    let mut args = vec!["restore", "--from", backup.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
    args.extend(["--key-encryption-key-file", kek.to_str().unwrap()]);
    if keep {
        args.push("--keep-sessions");
    }
    let said = signetd(&args).await;
    // The restored node serves as the backed-up one's issuer, as it would in place.
    let serve = ["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0", "--public-url", public_url];
    let d = Daemon::start(&[&serve[..], &["--key-encryption-key-file", kek.to_str().unwrap()]].concat(), &[]).await;
    (d, said)
}

async fn refresh(d: &Daemon, token: &str) -> (u16, serde_json::Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", "signet-cli")];
    // At this node itself: its issuer names the public URL it serves as.
    let path = url::Url::parse(&d.issuer).unwrap().path().to_owned();
    let res = reqwest::Client::new().post(format!("{}{path}/token", d.base)).form(&form).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Asks the restored `d` (serving as `s`'s issuer) about `token`, as `s`'s worker.
async fn introspect(d: &Daemon, s: &Server, token: &str) -> serde_json::Value {
    let path = url::Url::parse(&s.issuer).unwrap().path().to_owned();
    let worker = (&s.boot.worker.client_id, Some(&s.boot.worker.client_secret));
    let req = reqwest::Client::new().post(format!("{}{path}/introspect", d.base)).basic_auth(worker.0, worker.1);
    req.form(&[("token", token)]).send().await.unwrap().json().await.unwrap()
}

async fn chain(d: &Daemon, s: &Server) -> ChainStatus {
    let base = url::Url::parse(&format!("{}/admin-api/v1", d.base)).unwrap();
    let admin = AdminClient::new(
        reqwest::Client::new(),
        base,
        Credentials::basic(&s.boot.admin.username, &s.boot.admin.password),
    );
    admin.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_18_a_backup_under_write_load_restores_and_ends_every_session() {
    let s = Server::start().await;
    // Before anything moves the test's clock past the restore's: a token of
    // no grant, which only a revocation of its subject ends.
    let worker = (s.boot.worker.client_id.as_str(), s.boot.worker.client_secret.as_str());
    let (_, cc) = s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some(worker)).await;
    let cc = cc["access_token"].as_str().unwrap().to_owned();
    let who = s.account(true, true).await;
    let tokens = code_flow_tokens(&s, &who).await;
    let old_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let dir = temp_dir();
    let kek = dir.join("kek");
    s.write_kek_file(&kek);

    let (stop, made) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let root = || crate::admin::typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let load: Vec<_> = (0..3).map(|w| write_load(root(), stop.clone(), made.clone(), w)).collect();
    while made.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let backup = dir.join("signet.backup");
    let said = signetd(&["backup", "--data-dir", s.dir.to_str().unwrap(), "--to", backup.to_str().unwrap()]).await;
    let during = made.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }
    assert!(said.contains("key-encryption key is not in it"), "{said}");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&backup).unwrap();
    let kek_text = std::fs::read_to_string(&kek).unwrap();
    let kek_raw = base64::engine::general_purpose::STANDARD.decode(kek_text.trim()).unwrap();
    assert!(!bytes.windows(kek_raw.len()).any(|w| w == kek_raw), "no key-encryption key in the backup");
    assert!(!bytes.windows(kek_text.trim().len()).any(|w| w == kek_text.trim().as_bytes()));
    // A second backup to the same file is refused, not overwritten.
    let args = ["backup", "--data-dir", s.dir.to_str().unwrap(), "--to", backup.to_str().unwrap()];
    assert!(!Command::new(SIGNETD).args(args).output().await.unwrap().status.success());

    // Restored: the server starts, the trail (with store.restore) verifies,
    // and the refresh token from before is refused.
    let (d, said) = restored(&backup, &dir.join("fresh/data"), &kek, false, &s.base).await;
    assert!(said.contains("ended every session"), "{said}");
    let v = chain(&d, &s).await;
    assert!(v.intact && v.broken_at.is_none(), "{v:?}");
    let (status, body) = refresh(&d, &old_refresh).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(introspect(&d, &s, &cc).await["active"], false, "the client credentials token is revoked");
    assert!(during >= 10, "the backup ran under write load");
    d.stop().await;

    // With --keep-sessions the same token still works: the check above can fail.
    let (d, _) = restored(&backup, &dir.join("kept/data"), &kek, true, &s.base).await;
    let (status, body) = refresh(&d, &old_refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(introspect(&d, &s, &cc).await["active"], true, "kept: the same token is live");
    d.stop().await;

    // A data dir that has a store is never restored over.
    let fresh = dir.join("fresh/data");
    let args = ["restore", "--from", backup.to_str().unwrap(), "--data-dir", fresh.to_str().unwrap()];
    let out = Command::new(SIGNETD).args(args).args(["--key-encryption-key-file", kek.to_str().unwrap()]).output();
    let out = out.await.unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("exists"));
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn checkpoint_status(s: &Server, username: &str, password: &str) -> u16 {
    let res = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit/checkpoint", s.base))
        .header("authorization", crate::admin::basic(username, password))
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

/// Issue 18, item 6: recover-account beside a running instance. The old
/// password, verified and cached by the instance just before, stops working
/// at once; the new one is taken.
#[tokio::test]
async fn issue_18_recover_account_beside_a_running_instance_takes_effect_at_once() {
    let s = Server::start().await;
    let (user, old) = (s.boot.admin.username.clone(), s.boot.admin.password.clone());
    assert_eq!(checkpoint_status(&s, &user, &old).await, 200);
    let dir = temp_dir();
    let kek = dir.join("kek");
    s.write_kek_file(&kek);
    let out = dir.join("recovered.json");
    let data = s.dir.to_str().unwrap();
    let args = ["recover-account", &user, "--data-dir", data, "--key-encryption-key-file", kek.to_str().unwrap()];
    signetd(&[&args[..], &["--output", out.to_str().unwrap()]].concat()).await;
    let recovered: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(checkpoint_status(&s, &user, &old).await, 401, "the cached old password lapses");
    let new = recovered["password"].as_str().unwrap();
    assert_ne!(checkpoint_status(&s, &user, new).await, 401, "the new password is taken");
    std::fs::remove_dir_all(&dir).unwrap();
}
