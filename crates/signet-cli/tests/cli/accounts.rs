//! `signet accounts …` against an in-process signetd: the typed commands,
//! their `-O json`, passwords that are never arguments, and the API's
//! refusals (403, 412) as one line with a hint.

use std::sync::{Arc, Mutex};

use signet_testkit::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::admin::{admin_basic, basic_at};
use crate::harness::{Home, Run};

const ROLES_HINT: &str = "hint: the roles are UserAdmin, Admin, ExpressionAdmin, CryptoAdmin";

fn admin(s: &Server) -> Home {
    let h = Home::new();
    admin_basic(&h, s, &s.boot.admin.password);
    h
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
}

/// An admin account holding `roles`, its first password already replaced;
/// returns a home signed on as it, with `password`.
pub async fn person(s: &Server, admin: &Home, username: &str, roles: &str, password: &str) -> Home {
    let first = format!("{password} (first)");
    let made = admin
        .run_async_stdin(&["accounts", "create", username, "--role", roles, "--password-stdin"], &format!("{first}\n"))
        .await;
    ok(&made);
    let h = Home::new();
    basic_at(&h, &s.base, username, &first);
    let changed = h
        .run_async_stdin(&["accounts", "set-password", username, "--password-stdin"], &format!("{first}\n{password}\n"))
        .await;
    ok(&changed);
    basic_at(&h, &s.base, username, password);
    h
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_create_get_list_and_update_in_text_and_json() {
    let s = Server::start().await;
    let h = admin(&s);

    let made = h
        .run_async_stdin(
            &[
                "-O",
                "json",
                "accounts",
                "create",
                "ada",
                "--role",
                "Admin",
                "--role",
                "cryptoadmin",
                "--password-stdin",
            ],
            "a long passphrase\n",
        )
        .await;
    ok(&made);
    let json = made.json();
    assert_eq!(json["username"], "ada");
    assert_eq!(json["roles"], serde_json::json!(["Admin", "CryptoAdmin"]), "names are made canonical");
    assert_eq!(json["password_change_required"], true);
    assert!(!made.stdout.contains("a long passphrase"));

    let text =
        h.run_async_stdin(&["accounts", "create", "eve", "--auditor", "--password-stdin"], "another passphrase").await;
    ok(&text);
    assert!(text.stdout.contains("created eve; the password must be replaced"), "{}", text.stdout);

    let list = h.run_async(&["accounts", "list"]).await;
    ok(&list);
    let mut lines = list.stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("USERNAME") && header.contains("ROLES") && header.contains("AUDITOR"), "{header}");
    let ada = lines.find(|l| l.starts_with("ada ")).unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(ada.contains("Admin,CryptoAdmin"), "{ada}");
    let json = h.run_async(&["-O", "json", "accounts", "list"]).await;
    ok(&json);
    let names: Vec<String> =
        json.json()["items"].as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap().to_owned()).collect();
    assert!(names.contains(&"ada".into()) && names.contains(&"eve".into()), "{names:?}");

    let get = h.run_async(&["accounts", "get", "eve"]).await;
    ok(&get);
    assert!(get.stdout.lines().any(|l| l.starts_with("auditor") && l.ends_with("yes")), "{}", get.stdout);

    // update changes what it is told to and keeps the rest.
    let up = h.run_async(&["-O", "json", "accounts", "update", "ada", "--active", "false"]).await;
    ok(&up);
    assert_eq!(up.json()["active"], false);
    assert_eq!(up.json()["roles"], serde_json::json!(["Admin", "CryptoAdmin"]));
    let up = h
        .run_async(&["-O", "json", "accounts", "update", "ada", "--role", "ExpressionAdmin", "--active", "true"])
        .await;
    ok(&up);
    assert_eq!(
        (up.json()["active"].clone(), up.json()["roles"].clone()),
        (true.into(), serde_json::json!(["ExpressionAdmin"]))
    );
    let up = h.run_async(&["accounts", "update", "ada", "--no-roles"]).await;
    ok(&up);
    assert!(up.stdout.lines().any(|l| l.starts_with("roles") && l.ends_with(" -")), "{}", up.stdout);

    // The role rules are the API's: its refusal comes through as one line.
    let both = h.run_async(&["accounts", "update", "eve", "--role", "Admin"]).await;
    assert_eq!(both.code, 1);
    assert_eq!(
        both.stderr.trim(),
        "error: PUT /admin-api/v1/accounts/eve answered 422: unprocessable: an Auditor cannot hold any other role"
    );
    let nothing = h.run_async(&["accounts", "update", "ada"]).await;
    assert_eq!(nothing.code, 2, "nothing to change is a usage error: {}", nothing.stderr);
    let missing = h.run_async(&["accounts", "get", "nobody"]).await;
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("answered 404: not_found: no such admin account"), "{}", missing.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_list_all_follows_every_page() {
    let s = Server::start().await;
    let h = admin(&s);
    for name in ["p1", "p2", "p3"] {
        ok(&h.run_async_stdin(&["accounts", "create", name, "--password-stdin"], "a long passphrase\n").await);
    }
    let one = h.run_async(&["-O", "json", "accounts", "list", "--limit", "2"]).await;
    ok(&one);
    assert_eq!(one.json()["items"].as_array().unwrap().len(), 2);
    assert!(one.json()["next_cursor"].is_string());
    let text = h.run_async(&["accounts", "list", "--limit", "2"]).await;
    assert_eq!(text.stdout.lines().last(), Some("more accounts: --all lists every page"), "{}", text.stdout);

    let all = h.run_async(&["-O", "json", "accounts", "list", "--limit", "1", "--all"]).await;
    ok(&all);
    let everyone = h.run_async(&["-O", "json", "accounts", "list", "--limit", "500"]).await;
    assert_eq!(all.json()["items"], everyone.json()["items"]);
    assert_eq!(all.json()["items"].as_array().unwrap().len(), 4, "the administrator and three more");
    assert!(all.json()["next_cursor"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_unknown_role_is_refused_before_anything_is_sent() {
    let s = Server::start().await;
    let h = admin(&s);
    let r = h
        .run_async_stdin(
            &["accounts", "create", "bob", "--role", "Superuser", "--password-stdin"],
            "a long passphrase\n",
        )
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid value 'Superuser'") && r.stderr.contains(ROLES_HINT), "{}", r.stderr);
    let r = h.run_async(&["accounts", "update", "administrator", "--role", "Admin,Root"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid value 'Root'") && r.stderr.contains(ROLES_HINT), "{}", r.stderr);
    let r = h.run_async(&["accounts", "create", "bob", "--role", "Auditor", "--password-stdin"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("hint: use --auditor"), "{}", r.stderr);
    let r =
        h.run_async(&["applications", "create", &s.env_id, "--name", "w", "--kind", "worker", "--role", "God"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(ROLES_HINT), "{}", r.stderr);
    // Nothing reached the API.
    let bob = h.run_async(&["accounts", "get", "bob"]).await;
    assert!(bob.stderr.contains("answered 404"), "{}", bob.stderr);
    let trail = h.run_async(&["-O", "json", "audit", "list", "--action", "admin.", "--limit", "500"]).await;
    ok(&trail);
    let trail = trail.json();
    let actions: Vec<&str> =
        trail["items"].as_array().unwrap().iter().filter_map(|e| e["event"]["action"].as_str()).collect();
    assert!(!actions.iter().any(|a| a.contains("create") || a.contains("update")), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_passwords_are_never_arguments() {
    let s = Server::start().await;
    let h = admin(&s);
    for args in [
        &["accounts", "create", "bob", "--password", "hunter2-hunter2"][..],
        &["accounts", "create", "bob", "--password=hunter2-hunter2"],
        &["accounts", "set-password", "administrator", "--password", "hunter2-hunter2"],
    ] {
        let r = h.run_async(args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("unexpected argument '--password"), "{}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "the refusal does not repeat the password: {}", r.stderr);
    }
    // Without a terminal to ask on, and without --password-stdin, there is no password.
    for args in [&["accounts", "create", "bob"][..], &["accounts", "set-password", "administrator"]] {
        let r = h.run_async(args).await;
        assert_eq!(r.code, 1, "{}", r.stderr);
        let mut lines = r.stderr.lines();
        assert!(lines.next().unwrap().starts_with("error: no password: stdin is not a terminal"), "{}", r.stderr);
        assert_eq!(lines.next(), Some("hint: pipe it in with --password-stdin"));
    }
    let empty = h.run_async_stdin(&["accounts", "create", "bob", "--password-stdin"], "").await;
    assert_eq!(empty.code, 1);
    assert!(empty.stderr.starts_with("error: stdin held no password"), "{}", empty.stderr);
    let bob = h.run_async(&["accounts", "get", "bob"]).await;
    assert!(bob.stderr.contains("answered 404"), "no bob was made: {}", bob.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_own_password_needs_the_current_one_and_403s_name_the_role() {
    let s = Server::start().await;
    let h = admin(&s);
    ok(&h
        .run_async_stdin(&["accounts", "create", "ada", "--role", "Admin", "--password-stdin"], "first passphrase\n")
        .await);
    let ada = Home::new();
    basic_at(&ada, &s.base, "ada", "first passphrase");

    // A password someone else set must be replaced before anything else.
    let r = ada.run_async(&["accounts", "list"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("answered 403: forbidden: your password was set by someone else"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: replace it first: signet accounts set-password YOUR_USERNAME"), "{}", r.stderr);

    // One's own password: the API wants the current one too.
    let r = ada.run_async_stdin(&["accounts", "set-password", "ada", "--password-stdin"], "second passphrase\n").await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: ada is your own account: changing its password needs the current one"));
    assert!(r.stderr.contains("hint: give the current password on stdin's first line"), "{}", r.stderr);
    let r = ada
        .run_async_stdin(
            &["accounts", "set-password", "ada", "--password-stdin"],
            "first passphrase\nsecond passphrase\n",
        )
        .await;
    ok(&r);
    assert!(r.stdout.contains("password of ada changed") && r.stdout.contains("now out of date"), "{}", r.stdout);
    basic_at(&ada, &s.base, "ada", "second passphrase");

    // Admin alone reads, but neither manages accounts nor rotates keys.
    ok(&ada.run_async(&["-O", "json", "accounts", "list"]).await);
    let r = ada.run_async_stdin(&["accounts", "create", "bob", "--password-stdin"], "a long passphrase\n").await;
    assert_eq!(r.code, 1);
    let mut lines = r.stderr.lines();
    assert_eq!(
        lines.next(),
        Some("error: POST /admin-api/v1/accounts answered 403: forbidden: this needs the UserAdmin role")
    );
    assert!(lines.next().unwrap().starts_with("hint: sign on as an account or worker holding UserAdmin"));
    let r = ada.run_async(&["keys", "rotate", &s.env_id]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("this needs the CryptoAdmin role\nhint: sign on as an account or worker holding CryptoAdmin")
    );

    // A UserAdmin resets it: ada must replace it again.
    let r = h.run_async_stdin(&["accounts", "set-password", "ada", "--password-stdin"], "third passphrase\n").await;
    ok(&r);
    assert!(r.stdout.contains("ada must replace it at the next sign-on"), "{}", r.stdout);
    basic_at(&ada, &s.base, "ada", "third passphrase");
    let r = ada.run_async(&["accounts", "list"]).await;
    assert!(r.stderr.contains("your password was set by someone else"), "{}", r.stderr);
}

/// One request the proxy passed on.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    if_match: Option<String>,
    etag: Option<String>,
}

/// A proxy in front of signetd. With `race`, it writes `race` to ada itself
/// (as the administrator, without If-Match) just before passing on the first
/// PUT: someone else's change landing between the CLI's read and its write.
async fn proxy(s: &Server, race: Option<serde_json::Value>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (upstream, http, log) = (s.base.clone(), s.http.clone(), seen.clone());
    let admin = (s.boot.admin.username.clone(), s.boot.admin.password.clone());
    let race = Arc::new(Mutex::new(race));
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let head_end = loop {
                let mut chunk = [0u8; 4096];
                let n = c.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap().split(' ');
            let (method, path) = (first.next().unwrap().to_owned(), first.next().unwrap().to_owned());
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let length: usize = header("content-length").map_or(0, |l| l.parse().unwrap());
            while buf.len() < head_end + length {
                let mut chunk = [0u8; 4096];
                let n = c.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_end..head_end + length].to_vec();
            let interfere = if method == "PUT" { race.lock().unwrap().take() } else { None };
            if let Some(change) = interfere {
                let r = http
                    .put(format!("{upstream}/admin-api/v1/accounts/ada"))
                    .basic_auth(&admin.0, Some(&admin.1))
                    .json(&change)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "the interfering write lands");
            }
            let mut req =
                http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{upstream}{path}"));
            for (k, v) in &headers {
                if ["authorization", "content-type", "accept", "if-match"].contains(&k.as_str()) {
                    req = req.header(k, v);
                }
            }
            let res = req.body(body).send().await.unwrap();
            let status = res.status();
            let etag = res.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            let bytes = res.bytes().await.unwrap();
            log.lock().unwrap().push(Seen { method, path, if_match: header("if-match"), etag: etag.clone() });
            let mut answer = format!(
                "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                bytes.len()
            );
            for (k, v) in [("etag", etag), ("content-type", kind)] {
                if let Some(v) = v {
                    answer.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            answer.push_str("\r\n");
            c.write_all(answer.as_bytes()).await.unwrap();
            c.write_all(&bytes).await.unwrap();
        }
    });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_update_refuses_a_change_made_since_it_read() {
    let s = Server::start().await;
    let h = admin(&s);
    ok(&h
        .run_async_stdin(&["accounts", "create", "ada", "--role", "Admin", "--password-stdin"], "a long passphrase\n")
        .await);
    let (user, password) = (s.boot.admin.username.clone(), s.boot.admin.password.clone());

    // Undisturbed, the write carries the ETag of the read, and lands.
    let (base, seen) = proxy(&s, None).await;
    let calm = Home::new();
    basic_at(&calm, &base, &user, &password);
    ok(&calm.run_async(&["accounts", "update", "ada", "--role", "Admin,CryptoAdmin"]).await);
    let seen = seen.lock().unwrap().clone();
    let (read, write) = (&seen[0], &seen[1]);
    assert_eq!((read.method.as_str(), read.path.as_str()), ("GET", "/admin-api/v1/accounts/ada"));
    assert_eq!((write.method.as_str(), write.path.as_str()), ("PUT", "/admin-api/v1/accounts/ada"));
    assert!(read.etag.is_some());
    assert_eq!(write.if_match, read.etag, "If-Match is the ETag that was read");

    // Someone else writes between the read and the write: nothing is overwritten.
    let theirs = serde_json::json!({"active": true, "roles": ["ExpressionAdmin"], "auditor": false});
    let (base, _) = proxy(&s, Some(theirs)).await;
    let raced = Home::new();
    basic_at(&raced, &base, &user, &password);
    let r = raced.run_async(&["accounts", "update", "ada", "--active", "false"]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>(),
        [
            "error: ada changed after signet read it, so nothing was written (412 precondition_failed)",
            "hint: check it with signet accounts get ada, then re-run the command",
        ]
    );
    let now = h.run_async(&["-O", "json", "accounts", "get", "ada"]).await;
    ok(&now);
    assert_eq!(now.json()["active"], true, "the stale write did not land");
    assert_eq!(now.json()["roles"], serde_json::json!(["ExpressionAdmin"]), "the other change stands");
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_passwords_are_asked_for_without_echo_on_a_terminal() {
    let s = Server::start().await;
    let h = admin(&s);
    let r = h
        .run_on_tty(
            &["accounts", "create", "ada", "--role", "Admin"],
            &[("password for ada", "typed passphrase"), ("again", "typed passphrase")],
        )
        .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("created ada"), "{}", r.stdout);
    assert!(!r.stdout.contains("typed passphrase"), "not echoed: {}", r.stdout);
    let mismatch = h
        .run_on_tty(&["accounts", "create", "bob"], &[("password for bob", "one passphrase"), ("again", "another one")])
        .await;
    assert_eq!(mismatch.code, 1);
    assert!(mismatch.stdout.contains("error: the two passwords differ; nothing was sent"), "{}", mismatch.stdout);

    // Their own password, with the typed one: the current one is asked for first.
    let ada = Home::new();
    basic_at(&ada, &s.base, "ada", "typed passphrase");
    let r = ada
        .run_on_tty(
            &["accounts", "set-password", "ada"],
            &[
                ("current password for ada", "typed passphrase"),
                ("new password for ada", "a new passphrase"),
                ("again", "a new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("password of ada changed"), "{}", r.stdout);
    assert!(!r.stdout.contains("passphrase"), "{}", r.stdout);
    basic_at(&ada, &s.base, "ada", "a new passphrase");
    ok(&ada.run_async(&["accounts", "get", "ada"]).await);
}
