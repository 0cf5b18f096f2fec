//! `signet session …` against a real signetd: a key-bound session signed on
//! in headless Chromium with TOTP, used, refreshed, carried to a fresh HOME
//! and terminated; the 24-hour limit on the server's injected clock (the
//! CLI's moved with it by libfaketime, as its proofs carry the time);
//! sessions minted without a browser; and archives that are not sessions.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use signet_core::clock::Clock;
use signet_testkit::{Browser, Server, TestAccount, query};

use crate::admin::admin_basic;
use crate::harness::{Home, to_run, with_browser_handoff};

fn boot_admin(s: &Server) -> TestAccount {
    TestAccount {
        id: String::new(),
        username: s.boot.admin.username.clone(),
        password: s.boot.admin.password.clone(),
        secret: signet_core::totp::from_base32(&s.boot.admin.totp_secret),
    }
}

/// The admin API takes OAuth tokens (and still native credentials).
async fn oauth_scheme_on(s: &Server) {
    let ops = Home::new();
    admin_basic(&ops, s, &s.boot.admin.password);
    let on = ops
        .run_async(&["request", "PUT", "/settings/authentication", "--data", r#"{"schemes": ["oauth", "native"]}"#])
        .await;
    assert_eq!(on.code, 0, "{}", on.stderr);
}

/// A profile whose admin API is reached with the `pingone` service's tokens.
fn configure(h: &Home, s: &Server, auth: &[(&str, &str)]) {
    h.configure(&s.base, &s.env_id, auth);
    h.ok(&["config", "set", &format!("service.pingfederate.httpsHost={}", s.base)]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=oauth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.oauth.service=pingone"]);
}

const BROWSER_SIGN_ON: [(&str, &str); 2] = [
    ("service.pingone.authentication.type", "authorization_code"),
    ("service.pingone.authentication.authorizationCode.clientID", "signet-cli"),
];

fn session_dir(h: &Home, profile: &str) -> std::path::PathBuf {
    h.dir.join("state/signet/sessions").join(profile)
}

fn session_json(h: &Home) -> Value {
    serde_json::from_str(&std::fs::read_to_string(session_dir(h, "default").join("session.json")).unwrap()).unwrap()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn introspect(s: &Server, token: &str) -> Value {
    s.introspect(token, (&s.boot.worker.client_id, &s.boot.worker.client_secret)).await
}

/// `signet session authenticate` at the server's time, signed on by `who`
/// through the URL it opens: in Chromium, or (without a `chrome`) by the
/// testkit's HTTP browser, which then delivers the answer to signet's loopback.
async fn authenticate(
    s: &Server,
    h: &Home,
    who: &TestAccount,
    args: &[&str],
    chrome: Option<&signet_testkit::webdriver::Chrome>,
) -> crate::harness::Run {
    let args: Vec<&str> = ["session", "authenticate"].into_iter().chain(args.iter().copied()).collect();
    let (child, url) = with_browser_handoff(h, h.command_at(s.clock.now()), &args).await;
    let code = s.code(who.secret.as_ref().unwrap());
    match chrome {
        Some(chrome) => {
            chrome.goto(&url).await;
            chrome.fill("#username", &who.username).await;
            chrome.fill("#password", &who.password).await;
            chrome.click("button[type=submit]").await;
            chrome.fill("#code", &code).await;
            chrome.click("button[type=submit]").await;
            chrome.wait_title("Signed on").await;
        }
        None => {
            let mut b = Browser::default();
            let start = b.get(&url).await;
            let signon = start.location.unwrap();
            let pw = b.submit(&signon, &[("username", &who.username), ("password", &who.password)]).await;
            assert_eq!(pw.status, 303, "{}", pw.body);
            let done = b.submit(&signon, &[("code", &code)]).await;
            let back = done.location.unwrap();
            assert!(query(&back).contains_key("code"), "{back}");
            b.get(&back).await;
        }
    }
    to_run(tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_session_is_bound_used_refreshed_carried_elsewhere_and_terminated() {
    let s = Server::start().await;
    oauth_scheme_on(&s).await;
    let admin = boot_admin(&s);
    let h = Home::new();
    configure(&h, &s, &BROWSER_SIGN_ON);

    let chrome = signet_testkit::webdriver::Chrome::start().await;
    let signed = authenticate(&s, &h, &admin, &["--session-expiration-in-minutes", "10"], Some(&chrome)).await;
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    assert!(
        signed.stdout.contains(&format!("Session for pingone signed on as {}", admin.username)),
        "{}",
        signed.stdout
    );

    // The key and tokens are the owner's alone; the tokens are bound to the key.
    let dir = session_dir(&h, "default");
    assert_eq!(mode(&dir), 0o700);
    let file = session_json(&h);
    let key_file = dir.join(format!("key-{}.pem", file["jkt"].as_str().unwrap()));
    assert_eq!((mode(&dir.join("session.json")), mode(&key_file)), (0o600, 0o600));
    let token = file["access_token"].as_str().unwrap().to_owned();
    let seen = introspect(&s, &token).await;
    assert_eq!((seen["active"].as_bool(), seen["token_type"].as_str()), (Some(true), Some("DPoP")), "{seen}");
    assert_eq!(seen["cnf"]["jkt"], file["jkt"]);
    assert_eq!(seen["exp"].as_i64().unwrap() - seen["iat"].as_i64().unwrap(), 600, "the chosen 10 minutes");

    // validate asks the server.
    let now = s.clock.now();
    let valid = h.run_at(now, &["session", "validate"], &[]).await;
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    assert!(valid.stdout.starts_with("Session is valid until ") && valid.stdout.contains("UTC"), "{}", valid.stdout);
    let json = h.run_at(now, &["-O", "json", "session", "validate"], &[]).await;
    assert_eq!(
        (json.json()["valid"].as_bool(), json.json()["expires_at"].as_i64()),
        (Some(true), file["expires_at"].as_i64())
    );

    // request signs each call with a fresh proof: --auth, or SIGNET_AUTH.
    for (args, env) in [
        (vec!["request", "GET", "/accounts", "--auth", "security_token"], vec![]),
        (vec!["request", "GET", "/accounts"], vec![("SIGNET_AUTH", "security_token")]),
    ] {
        let r = h.run_at(now, &args, &env).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.json()["items"].as_array().unwrap().iter().any(|a| a["username"] == admin.username.as_str()));
    }
    // The Vault-compatible API takes the session the same way.
    let methods = h.run_at(now, &["-O", "json", "mfa", "method", "list", "--auth", "security_token"], &[]).await;
    assert_eq!(methods.code, 0, "{}", methods.stderr);
    // Without --auth, this profile has no sign-on of the ordinary kind.
    assert_eq!(h.run_at(now, &["request", "GET", "/accounts"], &[]).await.code, 4);

    // auth token hands the token out, saying it is key-bound; alone it is refused.
    let printed = h.run_at(now, &["auth", "token", "--service", "pingone", "--auth", "security_token"], &[]).await;
    assert_eq!((printed.code, printed.stdout.trim()), (0, token.as_str()), "{}", printed.stderr);
    assert!(printed.stderr.contains("bound to the session's key (DPoP)"), "{}", printed.stderr);
    let stolen = s.http.get(s.base.clone() + "/admin-api/v1/accounts").bearer_auth(&token).send().await.unwrap();
    assert_eq!(stolen.status(), 401);
    let challenge = stolen.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"DPoP realm="signet admin API", algs="ES256 EdDSA", error="invalid_token""#),
        "{challenge}"
    );

    // Refresh gives a new full lifetime.
    s.clock.advance(9 * 60);
    let refreshed = h.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    assert!(refreshed.stdout.starts_with("Session refreshed"), "{}", refreshed.stdout);
    let after = session_json(&h);
    assert_ne!(after["access_token"], file["access_token"]);
    let renewed = introspect(&s, after["access_token"].as_str().unwrap()).await;
    assert_eq!(renewed["exp"].as_i64().unwrap(), s.clock.now() + 600, "{renewed}");
    assert_eq!(renewed["cnf"]["jkt"], file["jkt"], "the same key");

    // Exported with a passphrase, imported into a fresh HOME, where request works.
    let archive = h.dir.join("session.zip");
    let pass = h.dir.join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let exported = h
        .run_at(
            s.clock.now(),
            &[
                "session",
                "export",
                "--output-file",
                archive.to_str().unwrap(),
                "--passphrase-file",
                pass.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert_eq!(mode(&archive), 0o600);
    let elsewhere = Home::new();
    let imported = elsewhere
        .run_at(
            s.clock.now(),
            &[
                "session",
                "import",
                "--session-archive",
                archive.to_str().unwrap(),
                "--passphrase-file",
                pass.to_str().unwrap(),
                "--accept-settings",
            ],
            &[],
        )
        .await;
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let there =
        elsewhere.run_at(s.clock.now(), &["request", "GET", "/accounts", "--auth", "security_token"], &[]).await;
    assert_eq!(there.code, 0, "{}", there.stderr);
    assert!(there.json()["items"].as_array().unwrap().iter().any(|a| a["username"] == admin.username.as_str()));

    // Terminate revokes at the server first: the session is over everywhere.
    let ended = elsewhere.run_at(s.clock.now(), &["session", "terminate"], &[]).await;
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert!(!session_dir(&elsewhere, "default").exists(), "the files are gone");
    let gone = elsewhere.run_at(s.clock.now(), &["session", "validate"], &[]).await;
    assert_eq!(gone.code, 4, "{}", gone.stderr);
    let revoked = h.run_at(s.clock.now(), &["session", "validate"], &[]).await;
    assert_eq!(revoked.code, 4, "{}", revoked.stderr);
    assert!(
        revoked.stderr.contains("no longer accepts the session")
            && revoked.stderr.contains("hint: signet session authenticate"),
        "{}",
        revoked.stderr
    );
    assert_eq!(introspect(&s, after["access_token"].as_str().unwrap()).await["active"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_extends_a_session_until_24_hours_after_its_sign_on_and_no_further() {
    let s = Server::start().await;
    let admin = boot_admin(&s);
    let h = Home::new();
    configure(&h, &s, &BROWSER_SIGN_ON);
    let signed = authenticate(&s, &h, &admin, &[], None).await;
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let first = introspect(&s, session_json(&h)["access_token"].as_str().unwrap()).await;
    let signed_on_at = first["iat"].as_i64().unwrap();

    // Hourly refreshes carry it through the day; the last token ends with it.
    for _ in 0..23 {
        s.clock.advance(60 * 60 - 30);
        let r = h.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    s.clock.advance(20 * 60);
    let last = h.run_at(s.clock.now(), &["-O", "json", "session", "refresh"], &[]).await;
    assert_eq!(last.code, 0, "{}", last.stderr);
    let token = session_json(&h)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&s, &token).await["exp"].as_i64(), Some(signed_on_at + 24 * 60 * 60), "capped at the limit");

    s.clock.advance(60 * 60);
    let past = h.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
    assert_eq!(past.code, 4, "{}", past.stderr);
    assert!(past.stderr.contains("the session has reached its limit"), "the server's reason: {}", past.stderr);
    assert!(past.stderr.contains("hint: signet session authenticate"), "{}", past.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_browser_a_session_is_minted_from_a_session_or_a_worker_and_lasts_an_hour() {
    let s = Server::start().await;
    oauth_scheme_on(&s).await;

    // Neither credential: the error names both ways.
    let none = Home::new();
    configure(&none, &s, &BROWSER_SIGN_ON);
    let r = none.run_at(s.clock.now(), &["session", "authenticate", "--no-browser"], &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no live session to mint from") && r.stderr.contains("worker"), "{}", r.stderr);
    assert!(!session_dir(&none, "default").exists());

    // From a browser session: a new key, the same person, at most an hour in all.
    let admin = boot_admin(&s);
    let h = Home::new();
    configure(&h, &s, &BROWSER_SIGN_ON);
    assert_eq!(authenticate(&s, &h, &admin, &[], None).await.code, 0);
    let parent = session_json(&h);
    let minted = h.run_at(s.clock.now(), &["session", "authenticate", "--no-browser"], &[]).await;
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    assert!(minted.stdout.contains("minted by token exchange"), "{}", minted.stdout);
    let child = session_json(&h);
    assert_ne!(child["jkt"], parent["jkt"]);
    assert_eq!(child["minted"], true);
    let seen = introspect(&s, child["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (seen["username"].as_str(), seen["cnf"]["jkt"].as_str()),
        (Some(admin.username.as_str()), child["jkt"].as_str())
    );
    s.clock.advance(50 * 60);
    assert_eq!(h.run_at(s.clock.now(), &["session", "refresh"], &[]).await.code, 0);
    s.clock.advance(15 * 60);
    let over = h.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
    assert_eq!(over.code, 4, "a minted session ends an hour after it was minted: {}", over.stderr);

    // From a worker's credentials, bound to a key pair of the person's own.
    let (id, secret) = s
        .application(
            signet_core::model::AppKind::Worker,
            &[signet_core::model::GrantType::ClientCredentials],
            &[signet_proto::roles::Role::Admin],
            None,
        )
        .await;
    let w = Home::new();
    let secret = secret.unwrap();
    configure(
        &w,
        &s,
        &[
            ("service.pingone.authentication.type", "worker"),
            ("service.pingone.authentication.worker.clientID", &id),
            ("service.pingone.authentication.worker.clientSecret", &secret),
        ],
    );
    let key = w.dir.join("own.pem");
    let public = w.dir.join("own_public.pem");
    let sh = format!(
        "umask 077 && openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out {k} && openssl ec -in {k} -pubout -out {p}",
        k = key.display(),
        p = public.display()
    );
    assert!(std::process::Command::new("sh").args(["-c", &sh]).stderr(Stdio::null()).status().unwrap().success());
    let own = mint_with_key(&w, s.clock.now(), &public, None).await;
    assert_eq!(own.code, 0, "{}", own.stderr);
    let file = session_json(&w);
    assert_eq!(file["private_key_file"], std::fs::canonicalize(&key).unwrap().to_str().unwrap());
    let kept: Vec<_> = std::fs::read_dir(session_dir(&w, "default")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        kept.iter().all(|n| !n.to_string_lossy().ends_with(".pem")),
        "the person's key stays where it is: {kept:?}"
    );
    // The worker's session is checked by introspection, with its own credentials.
    let valid = w.run_at(s.clock.now(), &["session", "validate"], &[]).await;
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    // Minting again replaces it, and ends the one replaced.
    let replaced = file["access_token"].as_str().unwrap().to_owned();
    let again = w.run_at(s.clock.now(), &["session", "authenticate", "--no-browser"], &[]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(introspect(&s, &replaced).await["active"], false);
    assert_eq!(w.run_at(s.clock.now(), &["session", "validate"], &[]).await.code, 0);
    let r = w.run_at(s.clock.now(), &["request", "GET", "/accounts", "--auth", "security_token"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let refresh = w.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
    assert_eq!(refresh.code, 4, "a worker's session is minted again, not refreshed: {}", refresh.stderr);

    // A key pair kept inside signet's session directories is refused: signet
    // replaces what is there as sessions change.
    let inside = session_dir(&w, "default").join("own.pem");
    std::fs::copy(&key, &inside).unwrap();
    let r = mint_with_key(&w, s.clock.now(), &public, Some(&inside)).await;
    assert!(r.code == 1 && r.stderr.contains("inside signet's session directories"), "{}", r.stderr);
    // A public key whose private key is not beside it, or not its pair.
    let lonely = w.dir.join("lonely.pub.pem");
    std::fs::copy(&public, &lonely).unwrap();
    let r = mint_with_key(&w, s.clock.now(), &lonely, None).await;
    assert!(r.code == 1 && r.stderr.contains("--private-key-file-path"), "{}", r.stderr);
    let other = w.dir.join("other.pem");
    let sh = format!(
        "umask 077 && openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out {}",
        other.display()
    );
    assert!(std::process::Command::new("sh").args(["-c", &sh]).status().unwrap().success());
    let r = mint_with_key(&w, s.clock.now(), &public, Some(&other)).await;
    assert!(r.code == 1 && r.stderr.contains("is not the private key of"), "{}", r.stderr);
}

/// `session authenticate --no-browser` bound to the key pair of `public`.
async fn mint_with_key(
    h: &Home,
    now: i64,
    public: &std::path::Path,
    private: Option<&std::path::Path>,
) -> crate::harness::Run {
    let mut args = vec!["session", "authenticate", "--no-browser", "--public-key-file-path", public.to_str().unwrap()];
    if let Some(p) = private {
        args.extend(["--private-key-file-path", p.to_str().unwrap()]);
    }
    h.run_at(now, &args, &[]).await
}

/// A session made on disk as `signet session authenticate` leaves one, for
/// the archive tests, which need no server.
fn made_session(h: &Home) -> Value {
    h.ok(&["config", "set", "service.pingone.endpoint.baseURL=http://127.0.0.1:9"]);
    h.ok(&["config", "set", "service.pingone.endpoint.environmentID=6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11"]);
    h.ok(&["config", "set", "service.pingone.authentication.type=worker"]);
    h.ok(&["config", "set", "service.pingone.authentication.worker.clientID=w-1"]);
    h.ok(&["config", "set", "service.pingone.authentication.worker.clientSecret=the-client-secret"]);
    let key = std::sync::Arc::new(signet_client::ProofKey::generate().unwrap());
    let file = signet_client::SessionFile {
        service: "pingone".into(),
        issuer: "http://127.0.0.1:9/6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11/as".into(),
        client_id: "w-1".into(),
        access_token: "the-access-token".into(),
        refresh_token: Some("the-refresh-token".into()),
        expires_at: 4_000_000_000,
        jkt: key.thumbprint().to_owned(),
        private_key_file: None,
        minted: false,
        subject: Some("ada".into()),
    };
    signet_client::Session::new(session_dir(h, "default"), file, key).save().unwrap();
    session_json(h)
}

/// A zip of `entries`; a `None` body makes the entry a symlink to "/etc/passwd".
fn zip_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        match body {
            Some(b) => {
                z.start_file(*name, o).unwrap();
                z.write_all(b).unwrap();
            }
            None => z.add_symlink(*name, "/etc/passwd", o).unwrap(),
        }
    }
    z.finish().unwrap().into_inner()
}

fn entries_of(archive: &[u8]) -> Vec<(String, String)> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            (e.name().unwrap().into_owned(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn archives_keep_every_secret_encrypted_and_bad_ones_are_refused_with_nothing_written() {
    let h = Home::new();
    let original = made_session(&h);
    let archive = h.dir.join("s.zip");
    let out = archive.to_str().unwrap();

    // No passphrase and no terminal: refused, with both ways out named.
    let r = h.run(&["session", "export", "--output-file", out]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--passphrase-file") && r.stderr.contains("--insecure-unencrypted"), "{}", r.stderr);
    assert!(!archive.exists());

    let pass = h.dir.join("pass");
    std::fs::write(&pass, "a passphrase\n").unwrap();
    let pass = pass.to_str().unwrap();
    h.ok(&["session", "export", "--output-file", out, "--passphrase-file", pass]);
    assert_eq!(mode(&archive), 0o600);
    let bytes = std::fs::read(&archive).unwrap();
    let entries = entries_of(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", "key.pem", "secrets.pem"]);
    for (name, text) in &entries {
        for secret in ["the-access-token", "the-refresh-token", "the-client-secret", "-----BEGIN PRIVATE KEY-----"] {
            assert!(!text.contains(secret), "{name} holds {secret} in the clear");
        }
    }
    assert!(entries[1].1.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // A standard encrypted PKCS#8 key: PBES2 with scrypt and AES-256-CBC (RFC 8018).
    let key_file = h.dir.join("exported-key.pem");
    std::fs::write(&key_file, &entries[1].1).unwrap();
    let asn1 =
        std::process::Command::new("openssl").args(["asn1parse", "-in", key_file.to_str().unwrap()]).output().unwrap();
    let asn1 = String::from_utf8_lossy(&asn1.stdout);
    for part in [":PBES2", ":scrypt", ":aes-256-cbc"] {
        assert!(asn1.contains(part), "{asn1}");
    }
    let again = h.run(&["session", "export", "--output-file", out, "--passphrase-file", pass]);
    assert!(again.code == 1 && again.stderr.contains("--force"), "{}", again.stderr);

    // Each bad archive is refused, and the fresh HOME stays empty.
    let fresh = Home::new();
    let nothing_written = |why: &str| {
        assert!(!fresh.dir.join("state/signet/sessions/default").exists(), "{why}: a session was written");
        let config = std::fs::read_to_string(fresh.config_file()).unwrap_or_default();
        assert!(!config.contains("pingone"), "{why}: the profile was written: {config}");
    };
    let wrong = fresh.dir.join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let manifest = entries[0].1.as_bytes();
    let key = entries[1].1.as_bytes();
    let sealed = entries[2].1.as_bytes();
    let edited = entries[0]
        .1
        .replace("http://127.0.0.1:9/6f1c1f4e-3b8a-4f53-9a43-0d6a5b7f2e11/as", "https://attacker.example/as");
    let bomb = vec![b' '; 4 << 20];
    let truncated = bytes[..bytes.len() / 2].to_vec();
    // A key whose encryption names a scrypt cost of 2^22 blocks (not 2^17).
    let costly = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let body: String = entries[1].1.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = b64.decode(body).unwrap();
        let at = der.windows(5).position(|w| w == [0x02, 0x03, 0x02, 0x00, 0x00]).expect("N = 2^17 in the key");
        der[at + 2] = 0x40;
        let text = b64.encode(der);
        let lines: Vec<&str> = text.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n", lines.join("\n"))
    };
    // A zip whose headers say an entry is small while it inflates to 4 MiB.
    let lying = {
        let mut z = zip_of(&[("manifest.json", Some(&bomb))]);
        let real = (bomb.len() as u32).to_le_bytes();
        let mut patched = 0;
        for at in 0..z.len() - 4 {
            if z[at..at + 4] == real {
                z[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
                patched += 1;
            }
        }
        assert_eq!(patched, 2, "the local and central headers");
        z
    };
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("wrong passphrase", bytes.clone(), wrong.to_str().unwrap(), "wrong passphrase"),
        ("truncated", truncated, pass, "truncated or damaged"),
        ("../ entry", zip_of(&[("../manifest.json", Some(manifest)), ("key.pem", Some(key))]), pass, "path traversal"),
        ("absolute entry", zip_of(&[("/tmp/manifest.json", Some(manifest))]), pass, "path traversal"),
        ("symlink", zip_of(&[("manifest.json", Some(manifest)), ("key.pem", None)]), pass, "is a link"),
        ("zip bomb", zip_of(&[("manifest.json", Some(&bomb))]), pass, "zip bomb"),
        ("lying sizes", lying, pass, "damaged"),
        (
            "hostile scrypt cost",
            zip_of(&[
                ("manifest.json", Some(manifest)),
                ("key.pem", Some(costly.as_bytes())),
                ("secrets.pem", Some(sealed)),
            ]),
            pass,
            "key-derivation cost",
        ),
        ("unexpected entry", zip_of(&[("manifest.json", Some(manifest)), (".bashrc", Some(b"x"))]), pass, "does not"),
        (
            "edited manifest",
            zip_of(&[
                ("manifest.json", Some(edited.as_bytes())),
                ("key.pem", Some(key)),
                ("secrets.pem", Some(sealed)),
            ]),
            pass,
            "not the one its secrets were sealed with",
        ),
    ];
    for (why, archive, passphrase, says) in cases {
        let path = fresh.dir.join("bad.zip");
        std::fs::write(&path, &archive).unwrap();
        let r = fresh.run(&[
            "session",
            "import",
            "--session-archive",
            path.to_str().unwrap(),
            "--passphrase-file",
            passphrase,
        ]);
        assert_eq!(r.code, 1, "{why}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{why}: {}", r.stderr);
        nothing_written(why);
    }

    // The real one, with the passphrase: settings, secrets and session come across.
    let ok =
        fresh.run(&["session", "import", "--session-archive", out, "--passphrase-file", pass, "--accept-settings"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let imported = session_json(&fresh);
    for k in ["access_token", "refresh_token", "jkt", "issuer", "expires_at"] {
        assert_eq!(imported[k], original[k], "{k}");
    }
    let dir = session_dir(&fresh, "default");
    let key = dir.join(format!("key-{}.pem", imported["jkt"].as_str().unwrap()));
    assert_eq!((mode(&dir), mode(&key), mode(&dir.join("session.json"))), (0o700, 0o600, 0o600));
    let secret = fresh.ok(&["config", "get", "service.pingone.authentication.worker.clientSecret", "--unmask"]);
    assert!(secret.stdout.contains("the-client-secret"), "{}", secret.stdout);
    // Never over an existing profile without --force.
    let twice = fresh.run(&["session", "import", "--session-archive", out, "--passphrase-file", pass]);
    assert!(
        twice.code == 1 && twice.stderr.contains("already exists") && twice.stderr.contains("--force"),
        "{}",
        twice.stderr
    );
    fresh.ok(&[
        "session",
        "import",
        "--session-archive",
        out,
        "--passphrase-file",
        pass,
        "--force",
        "--accept-settings",
    ]);
    fresh.ok(&[
        "-P",
        "copy",
        "session",
        "import",
        "--session-archive",
        out,
        "--passphrase-file",
        pass,
        "--accept-settings",
    ]);
    assert!(session_dir(&fresh, "copy").join("session.json").exists());

    // Unencrypted only when asked, with a warning; it imports without a passphrase.
    let plain = h.dir.join("plain.zip");
    let r = h.run(&["session", "export", "--output-file", plain.to_str().unwrap(), "--insecure-unencrypted"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning:") && r.stderr.contains("unencrypted"), "{}", r.stderr);
    let names: Vec<String> = entries_of(&std::fs::read(&plain).unwrap()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["manifest.json", "key.pem", "secrets.json"]);
    let third = Home::new();
    let r = third.run(&["session", "import", "--session-archive", plain.to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("--insecure-unencrypted"), "only when asked: {}", r.stderr);
    assert!(!session_dir(&third, "default").exists());
    let r = third.run(&[
        "session",
        "import",
        "--session-archive",
        plain.to_str().unwrap(),
        "--insecure-unencrypted",
        "--accept-settings",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // An encrypted archive is never taken as an unencrypted one.
    let r = third.run(&["-P", "other", "session", "import", "--session-archive", out, "--insecure-unencrypted"]);
    assert!(r.code == 1 && r.stderr.contains("is encrypted"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_asks_for_dpop_nonces_gets_them_from_signet() {
    let s = Server::start_requiring_dpop_nonce(signet_testkit::Backend::Sqlite).await;
    let admin = boot_admin(&s);
    let h = Home::new();
    configure(&h, &s, &BROWSER_SIGN_ON);
    // The code exchange, the refresh and the token exchange each meet
    // use_dpop_nonce first, and send the proof again with the nonce.
    let signed = authenticate(&s, &h, &admin, &[], None).await;
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let refreshed = h.run_at(s.clock.now(), &["session", "refresh"], &[]).await;
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    let minted = h.run_at(s.clock.now(), &["session", "authenticate", "--no-browser"], &[]).await;
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    assert_eq!(h.run_at(s.clock.now(), &["session", "validate"], &[]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_session_or_past_its_expiry_the_session_commands_exit_4_and_write_nothing() {
    let h = Home::new();
    for args in [["session", "validate"], ["session", "refresh"], ["session", "terminate"]] {
        let r = h.run(&args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("has no session") && r.stderr.contains("hint: signet session authenticate"),
            "{}",
            r.stderr
        );
    }
    assert!(!h.dir.join("state").exists(), "no directory was made");

    // Past its expiry by this machine's clock: no need to ask the server.
    let expired = Home::new();
    made_session(&expired);
    let r = expired.run_at(4_000_000_100, &["session", "validate"], &[]).await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("the session expired at") && r.stderr.contains("hint: signet session refresh"),
        "{}",
        r.stderr
    );
    let json = expired.run_at(4_000_000_100, &["-O", "json", "session", "validate"], &[]).await;
    assert_eq!((json.code, json.json()["valid"].as_bool()), (4, Some(false)));
    // Commands that would use it say so in people's time, and print no token.
    let token = expired
        .run_at(4_000_000_100, &["auth", "token", "--service", "pingone", "--auth", "security_token"], &[])
        .await;
    assert_eq!((token.code, token.stdout.as_str()), (4, ""), "{}", token.stderr);
    assert!(token.stderr.contains("the session expired at 2096-") && token.stderr.contains(" UTC"), "{}", token.stderr);
}

/// `made_session`'s profile, with an admin API and a CA file beside it,
/// exported with a passphrase: the archive and the passphrase's file.
fn exported_with_settings(h: &Home) -> (std::path::PathBuf, std::path::PathBuf) {
    made_session(h);
    let ca = h.dir.join("corp-ca.pem");
    h.ok(&["config", "set", "service.pingfederate.httpsHost=https://admin.example.test"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=oauth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.oauth.service=pingone"]);
    h.ok(&["config", "set", &format!("service.pingfederate.caCertificatePemFiles={}", ca.display())]);
    let (archive, pass) = (h.dir.join("s.zip"), h.dir.join("pass"));
    std::fs::write(&pass, "a passphrase\n").unwrap();
    h.ok(&[
        "session",
        "export",
        "--output-file",
        archive.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    (archive, pass)
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_19_an_archive_naming_an_entry_twice_is_refused() {
    let h = Home::new();
    let (archive, pass) = exported_with_settings(&h);
    let entries = entries_of(&std::fs::read(&archive).unwrap());
    // The reader keeps one entry per name: a second manifest.json (here
    // the same one, so nothing else in the archive would give it away).
    let mut twice = zip_of(&[
        ("manifest.json", Some(entries[0].1.as_bytes())),
        ("key.pem", Some(entries[1].1.as_bytes())),
        ("secrets.pem", Some(entries[2].1.as_bytes())),
        ("xanifest.json", Some(entries[0].1.as_bytes())),
    ]);
    let mut renamed = 0;
    for at in 0..twice.len() - 13 {
        if &twice[at..at + 13] == b"xanifest.json" {
            twice[at] = b'm';
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "the local and central headers");
    let path = h.dir.join("twice.zip");
    std::fs::write(&path, &twice).unwrap();
    let fresh = Home::new();
    let r = fresh.run(&[
        "session",
        "import",
        "--session-archive",
        path.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("holds an entry name more than once; nothing was imported"), "{}", r.stderr);
    assert!(!session_dir(&fresh, "default").exists());
    assert!(!fresh.config_file().exists(), "no profile was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_19_import_shows_where_the_profile_connects_and_applies_it_only_when_accepted() {
    let h = Home::new();
    let (archive, pass) = exported_with_settings(&h);
    let (archive, pass) = (archive.to_str().unwrap(), pass.to_str().unwrap());
    let fresh = Home::new();
    let import = ["session", "import", "--session-archive", archive, "--passphrase-file", pass];

    // No terminal and no --accept-settings: shown in the refusal, and nothing written.
    let r = fresh.run(&import);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for shown in [
        "service.pingfederate.httpsHost = https://admin.example.test",
        "service.pingfederate.caCertificatePemFiles = ",
        "service.pingone.endpoint.baseURL = http://127.0.0.1:9",
    ] {
        assert!(r.stderr.contains(shown), "{shown}: {}", r.stderr);
    }
    assert!(r.stderr.contains("hint: check them, then import with --accept-settings"), "{}", r.stderr);
    assert!(!session_dir(&fresh, "default").exists());
    assert!(!fresh.config_file().exists(), "no profile was written");

    // On a terminal they are shown and asked about: no is no.
    let no = fresh.run_on_tty(&import, &[("Apply these settings? [y/N]", "n")]).await;
    assert_eq!(no.code, 1, "{}", no.stdout);
    assert!(no.stdout.contains("  service.pingfederate.httpsHost = https://admin.example.test"), "{}", no.stdout);
    assert!(no.stdout.contains("the settings were not accepted; nothing was imported"), "{}", no.stdout);
    assert!(!session_dir(&fresh, "default").exists());

    let yes = fresh.run_on_tty(&import, &[("Apply these settings? [y/N]", "y")]).await;
    assert_eq!(yes.code, 0, "{}", yes.stdout);
    assert!(session_dir(&fresh, "default").join("session.json").exists());
    assert_eq!(
        fresh.ok(&["config", "get", "service.pingfederate.httpsHost"]).stdout.trim(),
        "https://admin.example.test"
    );

    // --accept-settings, for scripts.
    let mut scripted = import.to_vec();
    scripted.extend(["-P", "copy", "--accept-settings"]);
    fresh.ok(&scripted);
    assert_eq!(
        fresh.ok(&["-P", "copy", "config", "get", "service.pingfederate.httpsHost"]).stdout.trim(),
        "https://admin.example.test"
    );
}
