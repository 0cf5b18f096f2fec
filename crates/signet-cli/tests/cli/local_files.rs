//! The files signet keeps on this machine (issue 15, finding 16): token
//! files and the configuration are used only when they are the user's own
//! and closed to others, in directories of signet's own that are not
//! links; lock files never follow a planted link; and a keychain save that
//! fails leaves no tokens behind.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::harness::{Home, Run};
use crate::rogue::{Answer, Rogue, discovery};

const ENV_ID: &str = "5a3f1c2e-8b4d-4e6f-9a1b-2c3d4e5f6a7b";

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Another user's: `nobody`'s, as only root may make it (the tests run as root).
fn chown_nobody(p: &Path) {
    std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
}

fn chown_back(p: &Path) {
    std::os::unix::fs::lchown(p, Some(current_uid()), None).unwrap();
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // A file just made is this process's own.
    let probe = std::env::temp_dir().join(format!("signet-uid-{}", uuid::Uuid::new_v4()));
    std::fs::write(&probe, b"").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid
}

/// `auth status` reports the tokens it may not use as a status (exit 4), with the fix.
fn reported(r: &Run, says: &str, hint: &str) {
    assert_eq!(r.code, 4, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("storage unavailable"), "{}", r.stdout);
    assert!(r.stdout.contains(says), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("hint: {hint}")), "{}", r.stdout);
}

fn refused(r: &Run, says: &str, hint: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(says), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("hint: {hint}")), "{}", r.stderr);
}

/// A profile whose pingone service has a sign-on cached in a token file,
/// as a login leaves it (the provider is never asked: nothing listens there).
fn signed_on(h: &Home, expires_at: i64) -> PathBuf {
    let base = "http://127.0.0.1:9";
    h.configure(
        base,
        ENV_ID,
        &[
            ("service.pingone.authentication.type", "device_code"),
            ("service.pingone.authentication.deviceCode.clientID", "signet-cli"),
        ],
    );
    let issuer = format!("{base}/{ENV_ID}/as");
    let digest = signet_core::crypto::sha256(format!("default\0{issuer}\0signet-cli\0device_code").as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let dir = h.dir.join("state/signet/tokens");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).unwrap();
    let file = dir.join(format!("default-pingone-{hex}.json"));
    std::fs::write(
        &file,
        format!(
            r#"{{"issuer":"{issuer}","client_id":"signet-cli","grant":"device_code","access_token":"a","refresh_token":"r","expires_at":{expires_at},"subject":"ada"}}"#
        ),
    )
    .unwrap();
    chmod(&file, 0o600);
    file
}

#[test]
fn finding_16_token_files_and_their_directory_are_refused_unless_private() {
    let h = Home::new();
    let file = signed_on(&h, 4_000_000_000);
    assert_eq!(h.run(&["auth", "status"]).code, 0, "the user's own 0600 file is used");

    chmod(&file, 0o644);
    reported(&h.run(&["auth", "status"]), "may be read by others (mode 644)", &format!("chmod 600 {}", file.display()));
    refused(&h.run(&["auth", "token"]), "may be read by others", "chmod 600");
    chmod(&file, 0o600);

    chown_nobody(&file);
    reported(&h.run(&["auth", "status"]), "belongs to another user (uid 65534)", "remove it");
    chown_back(&file);
    assert_eq!(h.run(&["auth", "status"]).code, 0);

    // The tokens directory open to others' writes.
    let dir = file.parent().unwrap().to_owned();
    chmod(&dir, 0o777);
    refused(&h.run(&["auth", "token"]), "may be written by others (mode 777)", "chmod 700");
    reported(
        &h.run(&["auth", "status"]),
        "may be written by others (mode 777)",
        &format!("chmod 700 {}", dir.display()),
    );
    chmod(&dir, 0o700);

    // The tokens directory as a link to a directory elsewhere (with the same, valid file).
    let elsewhere = h.dir.join("elsewhere");
    std::fs::rename(&dir, &elsewhere).unwrap();
    symlink(&elsewhere, &dir).unwrap();
    reported(&h.run(&["auth", "status"]), "is a symbolic link", "replace the link with a directory");
    refused(&h.run(&["auth", "logout"]), "is a symbolic link", "replace the link with a directory");
    assert!(elsewhere.read_dir().unwrap().count() == 1, "nothing there was touched");
}

#[test]
fn finding_16_a_config_file_open_to_others_is_refused() {
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    let file = h.config_file();
    let before = std::fs::read(&file).unwrap();

    chmod(&file, 0o644);
    let r = h.run(&["config", "get", "auth.storage.type"]);
    refused(&r, "may be read by others (mode 644)", &format!("chmod 600 {}", file.display()));
    assert!(r.stderr.starts_with("error: the configuration is not used:"), "{}", r.stderr);
    refused(&h.run(&["config", "set", "auth.storage.type=none"]), "may be read by others", "chmod 600");
    assert_eq!(std::fs::read(&file).unwrap(), before, "a refused file is not written over");
    chmod(&file, 0o600);

    chown_nobody(&file);
    refused(&h.run(&["config", "get", "auth.storage.type"]), "belongs to another user (uid 65534)", "remove it");
    // Wherever it is: --config names the same file.
    refused(
        &h.run(&["--config", file.to_str().unwrap(), "config", "get", "auth.storage.type"]),
        "belongs to another user",
        "remove it",
    );
    chown_back(&file);
    assert_eq!(h.ok(&["config", "get", "auth.storage.type"]).stdout.trim(), "file");

    // signet's own directory as a link to one elsewhere.
    let dir = file.parent().unwrap().to_owned();
    let elsewhere = h.dir.join("dotfiles-signet");
    std::fs::rename(&dir, &elsewhere).unwrap();
    symlink(&elsewhere, &dir).unwrap();
    refused(&h.run(&["config", "get", "auth.storage.type"]), "is a symbolic link", "replace the link with a directory");
    // The file itself, named directly, is used.
    let direct = elsewhere.join("config.toml");
    let r = h.run(&["--config", direct.to_str().unwrap(), "config", "get", "auth.storage.type"]);
    assert_eq!((r.code, r.stdout.trim()), (0, "file"), "{}", r.stderr);
}

#[test]
fn finding_16_lock_files_never_follow_a_planted_link() {
    let h = Home::new();
    // An expired sign-on whose refresh token would be spent under a lock.
    let token = signed_on(&h, 1);
    let planted = h.dir.join("created-through-the-link");
    let lock = h.dir.join("config/signet/config.toml.lock");
    let _ = std::fs::remove_file(&lock);
    symlink(&planted, &lock).unwrap();
    let r = h.run(&["config", "set", "auth.storage.type=none"]);
    refused(&r, "config.toml.lock is a symbolic link", "remove the link");
    assert!(!planted.exists(), "the lock created the file the link points to");
    assert_eq!(h.ok(&["config", "get", "auth.storage.type"]).stdout.trim(), "file", "nothing was set");

    // The lock held while a refresh token is spent.
    let name = token.file_stem().unwrap().to_str().unwrap().to_owned();
    let locks = h.dir.join("state/signet/locks");
    std::fs::DirBuilder::new().mode(0o700).create(&locks).unwrap();
    symlink(&planted, locks.join(format!("{name}.lock"))).unwrap();
    let r = h.run(&["auth", "token"]);
    refused(&r, ".lock is a symbolic link", "remove the link");
    assert!(!planted.exists(), "the lock created the file the link points to");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_16_a_failed_keychain_save_leaves_no_tokens_behind() {
    let rogue = Rogue::start(|r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
        _ => Answer::Json(200, serde_json::json!({"access_token": "at-16", "token_type": "Bearer", "expires_in": 600})),
    })
    .await;
    let h = Home::new();
    for kv in [
        format!("service.evil.issuer={}", rogue.base),
        "service.evil.authentication.type=worker".into(),
        "service.evil.authentication.worker.clientID=w".into(),
        "service.evil.authentication.worker.clientSecret=s".into(),
    ] {
        h.ok(&["config", "set", &kv]);
    }
    // The keychain item signet names for this sign-on (token_store's CacheKey::id).
    let digest = signet_core::crypto::sha256(format!("default\0{}\0w\0client_credentials", rogue.base).as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let item = format!("keyring:default-evil-{hex}@signet");
    let left_behind = || {
        let found = std::process::Command::new("keyctl").args(["search", "@us", "user", &item]).output().unwrap();
        found.status.success()
    };

    // As CI runs it, signet starts with no session keyring of its own: the
    // user-session keyring stands in. signet's keyutils store once added the
    // key there and then failed to link it to the persistent keyring, so the
    // save failed half way (issue 16); it now keeps keys in the persistent
    // keyring alone, and the save works.
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(!left_behind(), "a key in the user-session keyring, where logout cannot reach it");
    assert_eq!(h.run_async(&["auth", "logout"]).await.code, 0);
    assert!(!left_behind(), "the tokens are still in the user-session keyring, where logout cannot reach them");
}
