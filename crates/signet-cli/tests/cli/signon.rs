//! `signet auth …` against a real signetd (in-process, from signet-testkit):
//! the worker, the device flow and the authorization code flow, status,
//! token, logout with revocation, and the errors people meet.

use std::time::Duration;

use signet_testkit::{Server, query};

use crate::harness::{Home, Login, to_run, with_browser_handoff};

async fn introspect(s: &Server, token: &str) -> serde_json::Value {
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    s.introspect(token, (&id, &secret)).await
}

fn worker(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("service.pingone.authentication.type", "worker".into()),
        ("service.pingone.authentication.worker.clientID", s.boot.worker.client_id.clone()),
        ("service.pingone.authentication.worker.clientSecret", s.boot.worker.client_secret.clone()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_signs_on_reports_status_prints_tokens_and_logs_out_with_revocation() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    let before = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(before.code, 4, "not signed in yet: {}", before.stderr);
    assert_eq!(before.json()["services"][0]["status"], "not_signed_in");

    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0);
    let svc = &status.json()["services"][0];
    assert_eq!(svc["status"], "authenticated");
    assert_eq!(svc["grant"], "client_credentials");
    assert_eq!(svc["subject"], s.boot.worker.client_id.as_str());
    assert!(svc["expires_at"].as_i64().unwrap() > 0);

    let token = h.run_async(&["auth", "token"]).await.stdout.trim().to_owned();
    assert_eq!(introspect(&s, &token).await["active"], true);
    let files: Vec<_> = std::fs::read_dir(h.dir.join("state/signet/tokens")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let mode = std::os::unix::fs::PermissionsExt::mode(&files[0].as_ref().unwrap().metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let logout = h.run_async(&["auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stdout.contains("revoked"), "{}", logout.stdout);
    assert_eq!(introspect(&s, &token).await["active"], false, "logout revokes at the provider");
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4);
    let again = h.run_async(&["auth", "token"]).await;
    assert_eq!(again.code, 0, "a worker signs on again by itself: {}", again.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_flow_signs_a_person_on() {
    let s = Server::start().await;
    // The bootstrap administrator, as a new operator would sign on; the TOTP code is computed here.
    let admin = signet_testkit::TestAccount {
        id: String::new(),
        username: s.boot.admin.username.clone(),
        password: s.boot.admin.password.clone(),
        secret: signet_core::totp::from_base32(&s.boot.admin.totp_secret),
    };
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "device_code"),
            ("service.pingone.authentication.deviceCode.clientID", "signet-cli"),
        ],
    );
    let (login, url) = Login::start(&h, &["auth", "login"], "or open").await;
    assert!(url.contains("user_code="), "verification_uri_complete: {url}");
    // The person, in headless Chromium: types the code (the Administrators
    // environment never fills a link's code in); sign on; approve.
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    chrome.fill("#user_code", &query(&url)["user_code"]).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#username", &admin.username).await;
    chrome.fill("#password", &admin.password).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#code", &s.code(admin.secret.as_ref().unwrap())).await;
    chrome.click("button[type=submit]").await;
    chrome.click("#approve").await;
    chrome.wait_page("Device approved").await;
    let done = login.finish().await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stdout.contains(&format!("as {}", admin.username)), "{}", done.stdout);

    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0);
    let svc = &status.json()["services"][0];
    assert_eq!(svc["status"], "authenticated");
    assert_eq!(svc["subject"], admin.username.as_str());
    assert_eq!(svc["refreshable"], true);
    assert!(svc["scopes"].as_array().unwrap().iter().any(|x| x == "openid"));
    let token = h.run_async(&["auth", "token"]).await.stdout.trim().to_owned();
    assert_eq!(introspect(&s, &token).await["username"], admin.username.as_str());
    let logout = h.run_async(&["pingone", "auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert_eq!(introspect(&s, &token).await["active"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_code_flow_checks_state_and_signs_on() {
    let s = Server::start().await;
    let user = s.account(false, false).await;
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "authorization_code"),
            ("service.pingone.authentication.authorizationCode.clientID", "signet-cli"),
        ],
    );
    // A callback with the wrong state is answered and ignored: signet
    // goes on waiting for its own (finding 13 has the whole story).
    let (login, url) = Login::start(&h, &["auth", "login", "--no-browser"], "").await;
    let redirect = query(&url)["redirect_uri"].clone();
    let forged = format!("{redirect}?code=stolen&state=not-the-one&iss={}", s.issuer);
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 400);
    drop(login);

    // Now through $BROWSER, which hands the URL to headless Chromium.
    let (child, url) = with_browser_handoff(&h, h.command(), &["auth", "login"]).await;
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    chrome.fill("#username", &user.username).await;
    chrome.fill("#password", &user.password).await;
    chrome.click("button[type=submit]").await;
    chrome.wait_title("Signed on").await;
    let done = to_run(tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap());
    assert_eq!(done.code, 0, "{}", done.stderr);
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.json()["services"][0]["subject"], user.username.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_failures_are_one_line_errors_with_hints() {
    let s = Server::start().await;
    let h = Home::new();
    let mut wrong = worker(&s);
    wrong[2].1 = "not-the-secret".into();
    h.configure(&s.base, &s.env_id, &pairs(&wrong));
    let r = h.run_async(&["auth", "login"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid_client: client authentication failed"), "{}", r.stderr);

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    h.ok(&["config", "set", &format!("service.pingone.endpoint.baseURL=http://127.0.0.1:{port}")]);
    let r = h.run_async(&["auth", "login"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: cannot reach") && r.stderr.contains("hint:"), "{}", r.stderr);

    // A provider whose discovery document is not JSON.
    let junk = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let junk_port = junk.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut c, _)) = junk.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut c, &mut buf).await;
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!").await;
        }
    });
    h.ok(&["config", "set", &format!("service.pingone.endpoint.baseURL=http://127.0.0.1:{junk_port}")]);
    let r = h.run_async(&["auth", "login"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("discovery document") && r.stderr.contains("malformed"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    {
        let e = &r.stderr;
        assert!(!e.contains(&s.boot.worker.client_secret));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_os_keychain_keeps_tokens_across_sessions_and_logout_clears_it() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    h.ok(&["config", "set", "auth.storage.type=secure_local"]);
    let login = h.run_in_session_keyring(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(!h.dir.join("state/signet/tokens").exists(), "nothing is written to files");
    // Another session of the same user finds the token (the persistent keyring).
    let status = h.run_in_session_keyring(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.json()["services"][0]["status"], "authenticated");
    let logout = h.run_in_session_keyring(&["auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert_eq!(h.run_in_session_keyring(&["auth", "status"]).await.code, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desktop_session_keeps_tokens_in_the_secret_service_across_sessions() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    h.ok(&["config", "set", "auth.storage.type=secure_local"]);
    let login = h.run_in_secret_service("signet", &["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(!h.dir.join("state/signet/tokens").exists(), "nothing is written to files");

    // A new bus and keyring daemon over the same keyring files: a later
    // session, or the same user after a reboot, finds the token.
    let status = h.run_in_secret_service("signet", &["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.json()["storage"], "secure_local (Secret Service)");
    assert_eq!(status.json()["services"][0]["status"], "authenticated");
    // secret-tool prints an item's secret on stdout and its attributes on stderr.
    let items = h.run_in_secret_service("secret-tool", &["search", "--all", "service", "signet"]).await;
    assert!(items.stderr.contains("attribute.service = signet"), "{}", items.stderr);
    // It went to the Secret Service, not to the kernel's keychain.
    let keyutils = h.run_in_session_keyring(&["-O", "json", "auth", "status"]).await;
    assert_eq!(keyutils.code, 4, "{}", keyutils.stderr);
    assert_eq!(keyutils.json()["storage"], "secure_local (kernel keyutils)");

    // A token kept in the kernel's keychain by an SSH session of the same user...
    let ssh = h.run_in_session_keyring(&["auth", "login"]).await;
    assert_eq!(ssh.code, 0, "{}", ssh.stderr);
    assert_eq!(h.run_in_session_keyring(&["auth", "status"]).await.code, 0);
    // ...is cleared too by a logout in the desktop session.
    let logout = h.run_in_secret_service("signet", &["auth", "logout"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert_eq!(h.run_in_secret_service("signet", &["auth", "status"]).await.code, 4);
    assert_eq!(h.run_in_session_keyring(&["auth", "status"]).await.code, 4, "nothing left in keyutils");
    let items = h.run_in_secret_service("secret-tool", &["search", "--all", "service", "signet"]).await;
    assert!(!items.stderr.contains("attribute.service = signet"), "logout leaves nothing: {}", items.stderr);
    assert!(items.stdout.is_empty(), "logout leaves no secret behind");
}

/// panva's oidc-provider (OpenID certified), started from interop/oidc-provider.
struct Peer {
    _provider: signet_testkit::oidc_provider::OidcProvider,
    issuer: String,
}

impl Peer {
    async fn start() -> Peer {
        let provider = signet_testkit::oidc_provider::OidcProvider::start().await;
        Peer { issuer: provider.issuer.clone(), _provider: provider }
    }
}

/// The `peer` service signing on with oidc-provider's public CLI client,
/// which registers http://127.0.0.1/callback: a generic service's own path
/// is /callback/peer by default, so the profile names the registered one
/// (the one-line fix the README gives).
const PEER_CODE_FLOW: [(&str, &str); 4] = [
    ("authentication.type", "authorization_code"),
    ("authentication.authorizationCode.clientID", "cli"),
    ("authentication.authorizationCode.scopes", "openid offline_access"),
    ("authentication.authorizationCode.redirectURIPath", "/callback"),
];

impl Peer {
    /// A profile whose `peer` service signs on here with `settings` (keys after `service.peer.`).
    fn home(&self, settings: &[(&str, &str)]) -> Home {
        let h = Home::new();
        h.ok(&["config", "set", "auth.storage.type=file"]);
        h.ok(&["config", "set", &format!("service.peer.issuer={}", self.issuer)]);
        for (k, v) in settings {
            h.ok(&["config", "set", &format!("service.peer.{k}={v}")]);
        }
        h
    }

    /// Plays the person on oidc-provider's development pages: confirm, log in
    /// as `login` (any password is accepted), consent — pressing each page's
    /// button until none is left or signet's loopback page shows.
    async fn approve(chrome: &signet_testkit::webdriver::Chrome, login: &str) {
        for _ in 0..6 {
            let page = chrome.source().await;
            if page.contains("Signed on") || !page.contains("<button") {
                return;
            }
            if page.contains("name=\"login\"") {
                chrome.fill("input[name=login]", login).await;
                chrome.fill("input[name=password]", "any-password").await;
            }
            chrome.click("button[autofocus], button[type=submit]").await;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_connector_signs_on_to_a_certified_provider_and_revokes_at_logout() {
    let peer = Peer::start().await;
    let h = peer.home(&[
        ("authentication.type", "client_credentials"),
        ("authentication.worker.clientID", "svc"),
        ("authentication.worker.clientSecret", "svc-secret"),
        ("authentication.worker.scopes", "api:read"),
    ]);
    let login = h.run_async(&["auth", "login", "--service", "peer"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.json()["services"][0]["status"], "authenticated");
    assert_eq!(status.json()["services"][0]["scopes"], serde_json::json!(["api:read"]));
    let token = h.run_async(&["auth", "token", "--service", "peer"]).await.stdout.trim().to_owned();
    let introspect = |token: String| {
        let url = format!("{}/token/introspection", peer.issuer);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("rs", Some("rs-secret"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()["active"].clone()
        }
    };
    assert_eq!(introspect(token.clone()).await, true);
    let logout = h.run_async(&["auth", "logout", "--service", "peer"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stdout.contains("revoked"), "{}", logout.stdout);
    assert_eq!(introspect(token).await, false, "the provider no longer honours it");
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_device_flow_signs_on_to_a_certified_provider_approved_in_chromium() {
    let peer = Peer::start().await;
    let h = peer.home(&[
        ("authentication.type", "device_code"),
        ("authentication.deviceCode.clientID", "cli"),
        ("authentication.deviceCode.scopes", "openid offline_access"),
    ]);
    let (login, url) = Login::start(&h, &["auth", "login", "--service", "peer"], "or open").await;
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    Peer::approve(&chrome, "ada").await;
    let done = login.finish().await;
    assert_eq!(done.code, 0, "{}\n{}", done.stderr, chrome.source().await);
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    let svc = &status.json()["services"][0];
    assert_eq!(svc["status"], "authenticated");
    assert_eq!(svc["subject"], "ada", "the subject comes from the provider's ID token");
    assert_eq!(svc["refreshable"], true);
    let logout = h.run_async(&["auth", "logout", "--service", "peer"]).await;
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stdout.contains("revoked"), "{}", logout.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorization_code_flow_opens_browser_and_signs_on_to_a_certified_provider() {
    let peer = Peer::start().await;
    let h = peer.home(&PEER_CODE_FLOW);
    // $BROWSER is a script that hands the URL to this test's Chromium.
    let (child, url) = with_browser_handoff(&h, h.command(), &["auth", "login", "--service", "peer"]).await;
    assert!(url.contains("code_challenge_method=S256") && url.contains("state="), "{url}");
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    Peer::approve(&chrome, "grace").await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    let done = to_run(out);
    assert_eq!(done.code, 0, "{}\n{}", done.stderr, chrome.source().await);
    assert!(chrome.source().await.contains("Signed on"), "the loopback answers the browser");
    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.json()["services"][0]["subject"], "grace");
    let logout = h.run_async(&["auth", "logout"]).await;
    assert!(logout.stdout.contains("revoked"), "{}", logout.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_sign_on_that_never_returns_times_out_with_a_hint() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "authorization_code"),
            ("service.pingone.authentication.authorizationCode.clientID", "signet-cli"),
            ("auth.loginTimeoutSeconds", "1"),
        ],
    );
    let r = h.run_async(&["auth", "login", "--no-browser"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no sign-on arrived within 1 seconds") && r.stderr.contains("hint:"), "{}", r.stderr);
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4, "nothing was stored");

    // A browser that opens and is closed before signing on: `true` takes the
    // URL and exits at once, as a closed window does.
    let r = h.run_async_with(&["auth", "login"], &[("BROWSER", "true")]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Asked true to open") && r.stderr.contains("/authorize?"), "{}", r.stderr);
    assert!(r.stderr.contains("was the browser closed") && r.stderr.contains("hint: run signet auth login again"));
    // A browser that cannot start at all: the URL is there to open by hand.
    let r = h.run_async_with(&["auth", "login"], &[("BROWSER", "/nonexistent/browser")]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/authorize?") && r.stderr.contains("hint:"), "{}", r.stderr);
    let config = std::fs::read_to_string(h.config_file()).unwrap();
    assert!(config.contains("loginTimeoutSeconds"), "the config file is intact");
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_errors_name_the_ca_setting() {
    let s = Server::start().await;
    let h = Home::new();
    // signetd speaks plain HTTP here, so a TLS handshake with it fails.
    let https = s.base.replacen("http://", "https://", 1);
    h.configure(&https, &s.env_id, &pairs(&worker(&s)));
    let r = h.run_async(&["auth", "login"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: TLS to https://") && r.stderr.contains("caCertificatePemFiles"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&s.boot.worker.client_secret), "{}", r.stderr);
    // A CA file that holds no certificate is its own clear error.
    let bogus = h.dir.join("not-a-ca.pem");
    std::fs::write(&bogus, "hello").unwrap();
    h.ok(&["config", "set", &format!("service.pingone.caCertificatePemFiles={}", bogus.display())]);
    let r = h.run_async(&["auth", "login"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not-a-ca.pem"), "{}", r.stderr);
}

/// Marks the cached token expired, as time would.
fn expire_cached_token(h: &Home) {
    let dir = h.dir.join("state/signet/tokens");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut t: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        t["expires_at"] = serde_json::json!(1);
        std::fs::write(&path, serde_json::to_vec(&t).unwrap()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_refreshing_at_once_spend_the_refresh_token_once() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "device_code"),
            ("service.pingone.authentication.deviceCode.clientID", "signet-cli"),
        ],
    );
    // Sign on through the device flow, the person approving over plain HTTP forms.
    let user = s.account(false, false).await;
    let (login, url) = Login::start(&h, &["auth", "login"], "or open").await;
    let mut b = signet_testkit::Browser::default();
    let code = query(&url)["user_code"].clone();
    let signon = b.submit(&url, &[("user_code", &code)]).await.location.unwrap();
    b.submit(&signon, &[("username", &user.username), ("password", &user.password)]).await;
    b.submit(&signon, &[("decision", "approve")]).await;
    assert_eq!(login.finish().await.code, 0);

    for round in 0..3 {
        expire_cached_token(&h);
        let (a, b) = tokio::join!(h.run_async(&["auth", "token"]), h.run_async(&["auth", "token"]));
        assert_eq!((a.code, b.code), (0, 0), "round {round}: {} / {}", a.stderr, b.stderr);
        // Had both spent the same refresh token, the family would now be revoked.
        assert_eq!(introspect(&s, a.stdout.trim()).await["active"], true, "round {round}");
        assert_eq!(a.stdout, b.stdout, "the second process used the first one's refresh");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_none_keeps_nothing_on_disk() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    h.ok(&["config", "set", "auth.storage.type=none"]);
    let token = h.run_async(&["auth", "token"]).await;
    assert_eq!(token.code, 0, "{}", token.stderr);
    assert_eq!(introspect(&s, token.stdout.trim()).await["active"], true);
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4, "the next command starts signed out");
    // A person's service reaches the refresh path, which takes no file lock for `none`.
    h.ok(&["config", "set", "service.pingone.authentication.type=device_code"]);
    h.ok(&["config", "set", "service.pingone.authentication.deviceCode.clientID=signet-cli"]);
    assert_eq!(h.run_async(&["auth", "token"]).await.code, 4);
    assert!(!h.dir.join("state").exists(), "no token, lock or directory is written");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_with_static_credentials_is_listed_as_static_and_never_asks_for_a_sign_on() {
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    for kv in [
        "service.pingfederate.httpsHost=https://signet.example.test",
        "service.pingfederate.authentication.type=basicauth",
        "service.pingfederate.authentication.basicAuth.username=administrator",
    ] {
        h.ok(&["config", "set", kv]);
    }
    // A scheme whose keys are incomplete names the missing one.
    let r = h.run_async(&["auth", "status"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("basicAuth.password is not set") && r.stderr.contains("hint:"), "{}", r.stderr);
    h.ok(&["config", "set", "service.pingfederate.authentication.basicAuth.password=correct horse battery"]);
    let get = h.ok(&["config", "get", "service.pingfederate.authentication.basicAuth.password"]);
    assert!(!get.stdout.contains("correct horse"), "the password is masked: {}", get.stdout);

    let status = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(status.code, 0, "static credentials never cause exit 4: {}", status.stderr);
    let row = &status.json()["services"][0];
    assert_eq!((row["service"].as_str(), row["status"].as_str()), (Some("pingfederate"), Some("static")));
    assert_eq!(row["scheme"], "basicAuth");
    assert_eq!(row["url"], "https://signet.example.test/admin-api/v1");
    let text = h.run_async(&["auth", "status"]).await;
    assert!(text.stdout.contains("static (basicAuth)"), "{}", text.stdout);
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stdout.contains("nothing to sign on to"), "{}", login.stdout);
    let named = h.run_async(&["auth", "login", "--service", "pingfederate"]).await;
    assert_eq!(named.code, 1);
    assert!(named.stderr.contains("uses basicAuth; it has nothing to sign on to"), "{}", named.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_over_oauth_is_as_signed_on_as_the_service_it_names() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    h.ok(&["config", "set", &format!("service.pingfederate.httpsHost={}", s.base)]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=oauth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.oauth.service=pingone"]);
    let before = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(before.code, 4, "{}", before.stderr);
    let rows = before.json()["services"].as_array().unwrap().clone();
    let admin = rows.iter().find(|r| r["service"] == "pingfederate").unwrap();
    assert_eq!((admin["status"].as_str(), admin["via"].as_str()), (Some("not_signed_in"), Some("pingone")));
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let after = h.run_async(&["-O", "json", "auth", "status"]).await;
    assert_eq!(after.code, 0, "{}", after.stderr);
    let rows = after.json()["services"].as_array().unwrap().clone();
    let admin = rows.iter().find(|r| r["service"] == "pingfederate").unwrap();
    assert_eq!(admin["status"], "authenticated");
    let text = h.run_async(&["auth", "status"]).await;
    assert!(text.stdout.contains("authenticated (via pingone)"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_code_that_expires_or_is_denied_stops_with_a_clear_message() {
    let s = Server::start().await;
    let admin = signet_testkit::TestAccount {
        id: String::new(),
        username: s.boot.admin.username.clone(),
        password: s.boot.admin.password.clone(),
        secret: signet_core::totp::from_base32(&s.boot.admin.totp_secret),
    };
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "device_code"),
            ("service.pingone.authentication.deviceCode.clientID", "signet-cli"),
        ],
    );
    // Nobody approves, and the server's clock passes the code's lifetime.
    let (login, _) = Login::start(&h, &["auth", "login"], "or open").await;
    s.clock.advance(601);
    let done = login.finish().await;
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(done.stderr.contains("error: the code expired before it was approved") && done.stderr.contains("hint:"));

    // The person says no in the browser.
    let (login, url) = Login::start(&h, &["auth", "login"], "or open").await;
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    chrome.fill("#user_code", &query(&url)["user_code"]).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#username", &admin.username).await;
    chrome.fill("#password", &admin.password).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#code", &s.code(admin.secret.as_ref().unwrap())).await;
    chrome.click("button[type=submit]").await;
    chrome.click("#deny").await;
    let done = login.finish().await;
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(done.stderr.contains("error: the sign-on was denied in the browser"), "{}", done.stderr);
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_loopback_redirect_takes_its_configured_port_and_path() {
    let s = Server::start().await;
    let h = Home::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "authorization_code"),
            ("service.pingone.authentication.authorizationCode.clientID", "signet-cli"),
            ("service.pingone.authentication.authorizationCode.redirectURIPort", &port.to_string()),
            ("service.pingone.authentication.authorizationCode.redirectURIPath", "/signet/done"),
            ("auth.loginTimeoutSeconds", "1"),
        ],
    );
    let r = h.run_async(&["auth", "login", "--no-browser"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let expected = format!("redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fsignet%2Fdone");
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_with_the_provider_unreachable_still_forgets_and_warns() {
    let h = Home::new();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = "5a3f1c2e-8b4d-4e6f-9a1b-2c3d4e5f6a7b";
    let base = format!("http://127.0.0.1:{closed}");
    h.configure(
        &base,
        env,
        &[
            ("service.pingone.authentication.type", "device_code"),
            ("service.pingone.authentication.deviceCode.clientID", "signet-cli"),
        ],
    );
    // A stored sign-on, as a login would have left it (bench/cli-status.sh writes the same).
    let issuer = format!("{base}/{env}/as");
    let material = format!("default\0{issuer}\0signet-cli\0device_code");
    let digest = signet_core::crypto::sha256(material.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let dir = h.dir.join("state/signet/tokens");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("default-pingone-{hex}.json"));
    // A login leaves it 0600, and signet uses no other (finding 16).
    let private = |p: &std::path::Path| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    };
    let expires = signet_core::clock::Clock::now(&signet_core::clock::SystemClock) + 3600;
    std::fs::write(
        &file,
        format!(r#"{{"issuer":"{issuer}","client_id":"signet-cli","grant":"device_code","access_token":"a","refresh_token":"r","expires_at":{expires},"subject":"ada"}}"#),
    )
    .unwrap();
    private(&file);
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 0, "the stored sign-on is found");
    let r = h.run_async(&["auth", "logout"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: pingone: tokens removed locally, but not revoked"), "{}", r.stderr);
    assert!(!file.exists());
    assert_eq!(h.run_async(&["auth", "status"]).await.code, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_binds_to_its_key_at_a_certified_provider_with_dpop() {
    // oidc-provider with its dPoP feature (interop/oidc-provider/provider.mjs).
    let peer = Peer::start().await;
    let h = peer.home(&PEER_CODE_FLOW);
    let (child, url) = with_browser_handoff(&h, h.command(), &["session", "authenticate", "--service", "peer"]).await;
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(&url).await;
    Peer::approve(&chrome, "grace").await;
    let done = to_run(tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap());
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stdout.contains("Session for peer signed on"), "{}", done.stdout);

    let dir = h.dir.join("state/signet/sessions/default");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("session.json")).unwrap()).unwrap();
    let introspect = |token: String| {
        let url = format!("{}/token/introspection", peer.issuer);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("rs", Some("rs-secret"))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    // The provider bound the token to the key signet keeps.
    let seen = introspect(file["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!((seen["active"].as_bool(), seen["token_type"].as_str()), (Some(true), Some("DPoP")), "{seen}");
    assert_eq!(seen["cnf"]["jkt"], file["jkt"]);
    // validate: the provider's userinfo, with a proof; refresh, with a proof.
    let valid = h.run_async(&["session", "validate"]).await;
    assert_eq!(valid.code, 0, "{}", valid.stderr);
    assert!(valid.stdout.starts_with("Session is valid until"), "{}", valid.stdout);
    let refreshed = h.run_async(&["session", "refresh"]).await;
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    let renewed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("session.json")).unwrap()).unwrap();
    assert_ne!(renewed["access_token"], file["access_token"]);
    assert_eq!(introspect(renewed["access_token"].as_str().unwrap().to_owned()).await["cnf"]["jkt"], file["jkt"]);
    // Terminate revokes there first.
    let ended = h.run_async(&["session", "terminate"]).await;
    assert_eq!(ended.code, 0, "{}", ended.stderr);
    assert_eq!(introspect(renewed["refresh_token"].as_str().unwrap().to_owned()).await["active"], false);
    assert!(!dir.exists());
}

/// A sign-on to signetd points the profile's admin API at it, setting only
/// what is unset and saying so; a key set otherwise is left alone, with the
/// line that would set it. Nothing on the server changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_sign_on_to_signetd_points_only_an_unset_admin_api_at_it() {
    let s = Server::start().await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    let login = h.run_async(&["auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stdout.contains(&format!("signed on to pingone (signetd at {})", s.base)), "{}", login.stdout);
    assert!(
        login.stdout.contains(&format!("admin API: {}/admin-api/v1 now takes this sign-on", s.base)),
        "{}",
        login.stdout
    );
    let view = |key: &str| h.ok(&["config", "get", key]).stdout.trim().to_owned();
    assert_eq!(view("service.pingfederate.httpsHost"), s.base);
    assert_eq!(view("service.pingfederate.authentication.type"), "oauth");
    assert_eq!(view("service.pingfederate.authentication.oauth.service"), "pingone");
    // The admin API now gets this sign-on's token. The bootstrap worker holds
    // no role, so its token is not for the admin API: a 401 about the
    // credentials, since the server does take Bearer tokens.
    let listed = h.run_async(&["accounts", "list"]).await;
    assert!(listed.stderr.contains("answered 401"), "{}", listed.stderr);
    assert!(listed.stderr.contains("hint: check the admin API credentials"), "{}", listed.stderr);
    // Again: everything already points there, so nothing is said or written.
    let before = std::fs::read(h.config_file()).unwrap();
    let again = h.run_async(&["-O", "json", "auth", "login"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["services"][0]["admin_api"], serde_json::json!({"result": "already_set"}));
    assert_eq!(std::fs::read(h.config_file()).unwrap(), before);

    // A profile whose admin API is set up otherwise keeps it.
    let other = Home::new();
    other.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    crate::admin::admin_basic(&other, &s, &s.boot.admin.password);
    let before = std::fs::read(other.config_file()).unwrap();
    let login = other.run_async(&["-O", "json", "auth", "login"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    let pointed = &login.json()["services"][0]["admin_api"];
    assert_eq!(pointed["result"], "unchanged", "{pointed}");
    let hint = pointed["hint"].as_str().unwrap();
    assert!(hint.contains("authentication.type=basicAuth (from the profile default)"), "{hint}");
    assert!(hint.contains("signet config set \"service.pingfederate.authentication.type=oauth\""), "{hint}");
    assert_eq!(std::fs::read(other.config_file()).unwrap(), before, "nothing is overwritten");
    let text = other.run_async(&["auth", "login"]).await;
    assert_eq!(
        text.stderr.lines().filter(|l| l.starts_with("hint: the profile's admin API")).count(),
        1,
        "{}",
        text.stderr
    );
    // The server's settings are as bootstrap wrote them.
    let settings = s.store().setting("admin_api.authentication").await.unwrap();
    assert_eq!(settings, Some(serde_json::json!({"schemes": ["native", "oauth"]})));
}

/// A 401 whose challenges do not offer what the profile sends says which
/// schemes the server takes, rather than blaming the credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_401_names_the_schemes_the_admin_api_takes() {
    let s = Server::start().await;
    let person = s.administrator(&[signet_proto::roles::Role::UserAdmin]).await;
    let h = Home::new();
    h.configure(&s.base, &s.env_id, &pairs(&worker(&s)));
    h.ok(&["config", "set", &format!("service.pingfederate.httpsHost={}", s.base)]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=oauth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.oauth.service=pingone"]);
    assert_eq!(h.run_async(&["auth", "login"]).await.code, 0);
    // An operator turns OAuth off: native Basic alone.
    let root = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", s.boot.admin.username, s.boot.admin.password)
        )
    );
    let off = s
        .http
        .put(format!("{}/admin-api/v1/settings/authentication", s.base))
        .header("authorization", root)
        .json(&serde_json::json!({"schemes": ["native"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    let refused = h.run_async(&["accounts", "list"]).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains(
            "hint: the admin API accepts Basic, and this profile sends Bearer (service.pingfederate.authentication.type=oauth)"
        ),
        "{}",
        refused.stderr
    );
    // With a scheme it takes, a refusal is about the credentials.
    crate::admin::basic_at(&h, &s.base, &person.username, "not the password");
    let wrong = h.run_async(&["accounts", "list"]).await;
    assert!(wrong.stderr.contains("hint: check the admin API credentials"), "{}", wrong.stderr);
}
