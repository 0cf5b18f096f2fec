//! The data dir against the real `signetd` binary (finding 9): a pre-made
//! world-readable dir is made private, every file signetd writes there is
//! 0600 (SQLite's -wal and -shm included), and a dir someone else owns that
//! others can read is refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::cli::{Daemon, bootstrap, temp_dir};

/// The permission bits, in octal as people write them.
fn mode(path: &Path) -> String {
    format!("{:o}", std::fs::metadata(path).unwrap().permissions().mode() & 0o777)
}

/// Every entry of `dir` with its mode, asserting each is a file only its owner can use.
fn assert_private(dir: &Path) -> Vec<String> {
    assert_eq!(mode(dir), "700", "the data dir {}", dir.display());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(entry.file_type().unwrap().is_file(), "{name} is a file");
        assert_eq!(mode(&entry.path()), "600", "{name}");
        names.push(name);
    }
    names.sort();
    names
}

/// Changes something through the admin API, so the store writes (and SQLite's WAL grows).
async fn create_environments(d: &Daemon, dir: &Path, names: &[&str]) {
    let boot = bootstrap(dir);
    let http = reqwest::Client::new();
    for name in names {
        let res = http
            .post(format!("{}/admin-api/v1/environments", d.base))
            .basic_auth(boot["admin"]["username"].as_str().unwrap(), boot["admin"]["password"].as_str())
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }
}

async fn data_dir_is_private(database_url: Option<&str>) {
    let dir = temp_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.to_str().unwrap();
    let mut args = vec!["--data-dir", data, "--listen", "127.0.0.1:0"];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    let d = Daemon::start(&args, &[]).await;
    create_environments(&d, &dir, &["Customers", "Partners"]).await;
    // Checked while signetd runs: SQLite removes its -wal and -shm at a clean close.
    let names = assert_private(&dir);
    for name in ["bootstrap.json", "key-encryption-key"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    if database_url.is_none() {
        for name in ["signet.db", "signet.db-wal", "signet.db-shm"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }
    let stderr = d.stop().await;
    assert!(stderr.contains("0755") && stderr.contains("0700"), "the change is logged: {stderr}");

    if database_url.is_none() {
        // A store an older signetd left readable is made private when it is opened.
        std::fs::set_permissions(dir.join("signet.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let d = Daemon::start(&args, &[]).await;
        create_environments(&d, &dir, &["Suppliers"]).await;
        assert_private(&dir);
        d.stop().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn finding_9_data_dir_is_private_sqlite() {
    data_dir_is_private(None).await;
}

#[tokio::test]
async fn finding_9_data_dir_is_private_postgres() {
    let db = signet_testkit::PgDatabase::create().await;
    data_dir_is_private(Some(&db.url)).await;
}

/// `signetd serve` that is expected to stop by itself: its success and stderr.
async fn serve_until_exit(data: &Path) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signetd"));
    cmd.args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("signetd started in a data dir it should have refused")
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn finding_9_foreign_readable_data_dir_is_refused() {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("the nobody user");
    let dir = temp_dir();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();

    let (ok, stderr) = serve_until_exit(&data).await;
    assert!(!ok, "signetd refuses the dir");
    for part in ["nobody", "0755", "chown", "chmod 700"] {
        assert!(stderr.contains(part), "the message names {part:?}: {stderr}");
    }
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "nothing was written there");
    assert_eq!(mode(&data), "755", "someone else's dir is left as it was");
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), nobody.uid.as_raw());

    // The same dir closed to others is theirs to lend: signetd starts in it.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let d = Daemon::start(&["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"], &[]).await;
    assert_eq!(mode(&data), "700");
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
