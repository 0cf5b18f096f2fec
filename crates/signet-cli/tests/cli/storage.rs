//! Where tokens are kept (issue 16, item 2): the kernel's keyutils in a plain
//! shell (SSH, CI, a container) whose only session keyring is the default
//! `_uid_ses` one; the storage checked before any sign-on starts; and
//! `auth status` reporting a storage that cannot keep tokens as a status.

use signet_testkit::Server;

use crate::harness::{Home, Run, to_run};
use crate::rogue::{Answer, Rogue, discovery};

/// How `signet` is started, as the shells people and CI run it in.
#[derive(Debug, Clone, Copy)]
enum Shell {
    /// With the keyrings this test runs with: in CI and containers, no
    /// session keyring of its own (the user-session keyring stands in).
    Inherited,
    /// With the default user-session keyring (`_uid_ses.<uid>`) as its
    /// session keyring, the plain shell the issue describes.
    UserSession,
    /// In a fresh anonymous session keyring (`keyctl session -`).
    Anonymous,
    /// Announcing a D-Bus session bus that is not there: no Secret Service answers.
    DeadBus,
}

fn uid() -> String {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn run_in(h: &Home, shell: Shell, args: &[&str]) -> Run {
    let c = h.command();
    let envs = c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect::<Vec<_>>();
    let mut k = match shell {
        Shell::Inherited | Shell::DeadBus => tokio::process::Command::new(c.get_program()),
        Shell::UserSession | Shell::Anonymous => {
            let session = match shell {
                Shell::UserSession => format!("_uid_ses.{}", uid()),
                _ => "-".into(),
            };
            let mut k = tokio::process::Command::new("keyctl");
            k.args(["session", &session]).arg(c.get_program());
            k
        }
    };
    // No D-Bus session bus: the harness clears the environment.
    k.env_clear().envs(envs).args(args);
    if let Shell::DeadBus = shell {
        k.env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", h.dir.join("no-bus").display()));
    }
    to_run(k.output().await.unwrap())
}

/// The keyutils key signet names for the `pingone` worker sign-on of `s`
/// (token_store's `CacheKey::id`, in the form keychain.rs gives it).
fn key_description(s: &Server) -> String {
    let issuer = format!("{}/{}/as", s.base, s.env_id);
    let material = format!("default\0{issuer}\0{}\0client_credentials", s.boot.worker.client_id);
    let digest = signet_core::crypto::sha256(material.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("keyring:default-pingone-{hex}@signet")
}

/// `keyctl rdescribe` of the key in the user's persistent keyring, as
/// another process of the user (in a session of its own) sees it.
fn persistent_key(description: &str) -> Option<String> {
    let script = format!("keyctl rdescribe $(keyctl search $(keyctl get_persistent @s) user '{description}')");
    let out = std::process::Command::new("keyctl").args(["session", "-", "sh", "-c", &script]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn worker_home(s: &Server) -> Home {
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "worker"),
            ("service.pingone.authentication.worker.clientID", &s.boot.worker.client_id),
            ("service.pingone.authentication.worker.clientSecret", &s.boot.worker.client_secret),
        ],
    );
    h.ok(&["config", "set", "auth.storage.type=secure_local"]);
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_16_keyutils_keeps_tokens_in_a_plain_shell_with_only_the_default_session_keyring() {
    let s = Server::start().await;
    let h = worker_home(&s);
    let description = key_description(&s);

    // The sign-on in the plain shell: its storage step works there.
    let login = run_in(&h, Shell::UserSession, &["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(!h.dir.join("state/signet/tokens").exists(), "nothing is written to files");

    // The key is in the user's persistent keyring, open to the user alone:
    // possessor and owner view/read/write/search/setattr, no link, nothing
    // for group or others.
    let described = persistent_key(&description).expect("the key is in the persistent keyring");
    let perm = described.split(';').nth(3).unwrap();
    assert_eq!(perm, "2f2f0000", "{described}");

    // Every other kind of shell of the same user finds it.
    for shell in [Shell::Inherited, Shell::Anonymous, Shell::DeadBus, Shell::UserSession] {
        let status = run_in(&h, shell, &["-O", "json", "auth", "status"]).await;
        assert_eq!(status.code, 0, "{shell:?}: {}", status.stderr);
        assert_eq!(status.json()["storage"], "secure_local (kernel keyutils)", "{shell:?}");
        assert_eq!(status.json()["services"][0]["status"], "authenticated", "{shell:?}");
    }
    let token = run_in(&h, Shell::Anonymous, &["auth", "token"]).await;
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert_eq!(token.stdout.split('.').count(), 3, "a JWT: {}", token.stdout);

    // Logout from another shell removes it everywhere.
    let logout = run_in(&h, Shell::Inherited, &["auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stdout.contains("revoked"), "{}", logout.stdout);
    assert_eq!(persistent_key(&description), None, "logout leaves no key behind");
    let after = run_in(&h, Shell::UserSession, &["-O", "json", "auth", "status"]).await;
    assert_eq!(after.code, 4, "{}", after.stderr);
    assert_eq!(after.json()["services"][0]["status"], "not_signed_in");

    // A sign-on in the shell CI gives (no session keyring of its own) works too.
    let again = run_in(&h, Shell::Inherited, &["auth", "login"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(persistent_key(&description).is_some());
    assert_eq!(run_in(&h, Shell::DeadBus, &["auth", "logout"]).await.code, 0);
    assert_eq!(persistent_key(&description), None);
}

/// A provider that answers anything: it must never be asked.
async fn provider() -> Rogue {
    Rogue::start(|r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
        _ => Answer::Json(400, serde_json::json!({"error": "invalid_request"})),
    })
    .await
}

/// A profile whose `evil` service signs on at `rogue` with `grant`, keeping
/// tokens in files under a state directory that is a regular file, so no
/// token can be kept there (root may write anywhere; not even root makes a
/// directory inside a file).
fn unkeepable(rogue: &Rogue, settings: &[(&str, &str)]) -> (Home, String) {
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    h.ok(&["config", "set", &format!("service.evil.issuer={}", rogue.base)]);
    for (k, v) in settings {
        h.ok(&["config", "set", &format!("service.evil.{k}={v}")]);
    }
    let state = h.dir.join("state-is-a-file");
    std::fs::write(&state, b"").unwrap();
    (h, state.to_str().unwrap().to_owned())
}

fn says_storage_cannot_keep_tokens(r: &Run, storage: &str) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("error: token storage {storage}")), "{}", r.stderr);
    assert!(first.contains("cannot keep tokens") && first.contains("Not a directory"), "{}", r.stderr);
    assert!(r.stderr.lines().nth(1).is_some_and(|l| l.starts_with("hint: ")), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_16_a_storage_that_cannot_keep_tokens_stops_every_sign_on_before_the_provider_is_asked() {
    let rogue = provider().await;

    // The device flow: no code is asked for, so nobody types a password.
    let device = [("authentication.type", "device_code"), ("authentication.deviceCode.clientID", "cli")];
    let (h, state) = unkeepable(&rogue, &device);
    let env = [("XDG_STATE_HOME", state.as_str())];
    let login = h.run_async_with(&["auth", "login"], &env).await;
    says_storage_cannot_keep_tokens(&login, "file");
    assert!(login.stderr.contains("hint: make $XDG_STATE_HOME/signet"), "{}", login.stderr);
    // A key-bound session's sign-on, in a browser or minted.
    let session = h.run_async_with(&["session", "authenticate"], &env).await;
    says_storage_cannot_keep_tokens(&session, "session directory");
    assert!(!session.stderr.contains("auth.storage.type"), "sessions are files whatever it says: {}", session.stderr);

    // A worker signs on by itself whenever a command needs a token.
    let worker = [
        ("authentication.type", "worker"),
        ("authentication.worker.clientID", "w"),
        ("authentication.worker.clientSecret", "s"),
    ];
    let (h, state) = unkeepable(&rogue, &worker);
    let env = [("XDG_STATE_HOME", state.as_str())];
    let login = h.run_async_with(&["auth", "login"], &env).await;
    says_storage_cannot_keep_tokens(&login, "file");
    let minted = h.run_async_with(&["session", "authenticate", "--no-browser"], &env).await;
    says_storage_cannot_keep_tokens(&minted, "session directory");
    // `auth token` looks for a cached token first, and that read fails.
    let token = h.run_async_with(&["auth", "token"], &env).await;
    assert_eq!(token.code, 1, "{}", token.stderr);
    assert!(token.stderr.contains("Not a directory"), "{}", token.stderr);

    let asked: Vec<String> = rogue.all().iter().map(|r| r.path.clone()).collect();
    assert!(asked.is_empty(), "the provider was asked {asked:?}");

    // The same profile with a state directory that works signs on at once
    // (the provider answers the worker's token request).
    let ok = Rogue::start(|r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
        _ => Answer::Json(200, serde_json::json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600})),
    })
    .await;
    h.ok(&["config", "set", &format!("service.evil.issuer={}", ok.base)]);
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_eq!(ok.seen("/token").len(), 1);
    let tokens: Vec<_> = std::fs::read_dir(h.dir.join("state/signet/tokens")).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(tokens.len(), 1, "the probe leaves nothing behind: {tokens:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_16_auth_status_reports_a_storage_that_cannot_keep_tokens_as_a_status() {
    let rogue = provider().await;
    let device = [("authentication.type", "device_code"), ("authentication.deviceCode.clientID", "cli")];
    let (h, state) = unkeepable(&rogue, &device);
    let env = [("XDG_STATE_HOME", state.as_str())];

    // Exit 4, as for every other service not signed on: a script's
    // `signet auth status || signet auth login` then meets the same check.
    let text = h.run_async_with(&["auth", "status"], &env).await;
    assert_eq!(text.code, 4, "{}{}", text.stdout, text.stderr);
    assert!(text.stderr.is_empty(), "a status, not an error: {}", text.stderr);
    let row = text.stdout.lines().find(|l| l.starts_with("evil")).unwrap();
    assert!(row.contains("storage unavailable"), "{}", text.stdout);
    let why: Vec<&str> =
        text.stdout.lines().filter(|l| l.starts_with("token storage file cannot keep tokens")).collect();
    assert_eq!(why.len(), 1, "said once: {}", text.stdout);
    assert!(why[0].contains("Not a directory"), "{}", text.stdout);
    assert!(text.stdout.contains("\nhint: make $XDG_STATE_HOME/signet"), "{}", text.stdout);

    let json = h.run_async_with(&["-O", "json", "auth", "status"], &env).await;
    assert_eq!(json.code, 4, "{}", json.stderr);
    let v = json.json();
    assert_eq!(v["storage"], "file");
    assert!(v["storage_error"].as_str().unwrap().contains("Not a directory"), "{v}");
    assert!(v["storage_hint"].as_str().unwrap().starts_with("make $XDG_STATE_HOME/signet"), "{v}");
    let svc = &v["services"][0];
    assert_eq!(svc["status"], "storage_unavailable");
    assert_eq!(svc["storage_error"], v["storage_error"]);
    assert!(rogue.all().is_empty(), "auth status asks no provider");

    // Once the storage works, the same service is simply not signed on.
    let fine = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(fine.code, 4, "{}", fine.stderr);
    let v = fine.json();
    assert_eq!(v["services"][0]["status"], "not_signed_in");
    assert_eq!(
        (&v["storage_error"], &v["services"][0]["storage_error"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert!(!h.dir.join("state/signet/tokens").exists(), "the check leaves no directory it made");
}
