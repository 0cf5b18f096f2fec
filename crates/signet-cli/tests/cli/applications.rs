//! `signet applications …` and `signet keys …` against an in-process
//! signetd: a secret shown once that works, rotations that retire the old,
//! and bad input refused with a hint.

use signet_testkit::Server;

use crate::accounts::person;
use crate::admin::admin_basic;
use crate::harness::{Home, Run};

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
}

/// The value of a `name  value` line of the text output.
fn field(r: &Run, name: &str) -> String {
    let prefix = format!("{name}:");
    r.stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix(&prefix).or_else(|| l.strip_prefix(&format!("{name} "))).map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in {}", r.stdout))
}

async fn client_credentials(s: &Server, id: &str, secret: &str) -> u16 {
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((id, secret))).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn applications_create_shows_the_secret_once_and_rotation_retires_it() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let env = s.env_id.as_str();

    let made = h.run_async(&["applications", "create", env, "--name", "ci deploy", "--kind", "worker"]).await;
    ok(&made);
    let (id, secret) = (field(&made, "id"), field(&made, "client secret"));
    assert!(made.stdout.contains("it will not be shown again"), "{}", made.stdout);
    assert_eq!(field(&made, "grants"), "client_credentials", "a worker's grant by default");
    assert_eq!(client_credentials(&s, &id, &secret).await, 200, "the secret shown is the one that works");

    // Read back, the secret is never there again.
    let got = h.run_async(&["applications", "get", env, &id]).await;
    ok(&got);
    assert!(!got.stdout.contains(&secret) && !got.stdout.contains("client secret"), "{}", got.stdout);
    assert_eq!(field(&got, "has secret"), "yes");
    let got = h.run_async(&["-O", "json", "applications", "get", env, &id]).await;
    assert!(got.json().get("client_secret").is_none());

    // With -O json the secret is in the JSON.
    let web = h
        .run_async(&[
            "-O",
            "json",
            "applications",
            "create",
            env,
            "--name",
            "portal",
            "--kind",
            "web",
            "--redirect-uri",
            "https://portal.test/cb",
            "--scope",
            "openid,profile",
            "--grant",
            "authorization_code,refresh_token",
        ])
        .await;
    ok(&web);
    let web = web.json();
    assert!(web["client_secret"].as_str().is_some_and(|s| !s.is_empty()), "{web}");
    assert_eq!(web["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
    assert_eq!(web["scopes"], serde_json::json!(["openid", "profile"]));

    let list = h.run_async(&["applications", "list", env]).await;
    ok(&list);
    assert!(list.stdout.lines().next().unwrap().starts_with("ID"), "{}", list.stdout);
    assert!(list.stdout.lines().any(|l| l.starts_with(&id) && l.ends_with("ci deploy")), "{}", list.stdout);
    let all = h.run_async(&["-O", "json", "applications", "list", env, "--limit", "1", "--all"]).await;
    ok(&all);
    let all = all.json();
    let ids: Vec<&str> = all["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&web["id"].as_str().unwrap()), "{ids:?}");

    // Rotation: a new secret, shown once; the old one stops working.
    let rotated = h.run_async(&["applications", "rotate-secret", env, &id]).await;
    ok(&rotated);
    let fresh = field(&rotated, "client secret");
    assert_ne!(fresh, secret);
    assert!(rotated.stdout.contains("the previous secret no longer works"), "{}", rotated.stdout);
    assert_eq!(client_credentials(&s, &id, &secret).await, 401);
    assert_eq!(client_credentials(&s, &id, &fresh).await, 200);
    let again = h.run_async(&["-O", "json", "applications", "rotate-secret", env, &id]).await;
    ok(&again);
    assert!(again.json()["client_secret"].as_str().is_some_and(|s| s != fresh));
}

#[tokio::test(flavor = "multi_thread")]
async fn applications_bad_input_is_refused_with_the_reason() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let env = s.env_id.as_str();

    for args in [
        &["applications", "create", env, "--name", "x", "--kind", "robot"][..],
        &["applications", "create", env, "--name", "x", "--kind", "web", "--grant", "implicit"],
        &["applications", "create", env, "--kind", "worker"],
    ] {
        let r = h.run_async(args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    let r = h.run_async(&["applications", "list", "no-such-env"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>(),
        [
            "error: GET /admin-api/v1/environments/no-such-env/applications answered 404: not_found: no such environment",
            "hint: environments are named by id: signet request GET /environments lists them",
        ]
    );
    let r = h.run_async(&["applications", "create", env, "--name", "x", "--kind", "web"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("answered 400: invalid_request: redirect_uris: the authorization code grant needs at least one"),
        "{}",
        r.stderr
    );
    let r = h.run_async(&["applications", "get", env, "../../accounts"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("answered 404: not_found: no such application"), "an id stays an id: {}", r.stderr);

    // Admin roles on a worker are UserAdmin's to give.
    let ada = person(&s, &h, "ada", "Admin", "ada's passphrase").await;
    let r = ada
        .run_async(&["applications", "create", env, "--name", "w", "--kind", "worker", "--role", "CryptoAdmin"])
        .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("answered 403: forbidden: this needs the UserAdmin role"), "{}", r.stderr);
    ok(&ada.run_async(&["applications", "create", env, "--name", "w", "--kind", "worker"]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_list_and_rotate() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let env = s.env_id.as_str();

    let before = h.run_async(&["-O", "json", "keys", "list", env]).await;
    ok(&before);
    let items = before.json()["items"].as_array().unwrap().clone();
    let active: Vec<&serde_json::Value> = items.iter().filter(|k| k["active"] == true).collect();
    assert_eq!(active.len(), 1, "{items:?}");
    let old = active[0]["kid"].as_str().unwrap().to_owned();
    let text = h.run_async(&["keys", "list", env]).await;
    ok(&text);
    assert!(text.stdout.lines().next().unwrap().starts_with("KID"), "{}", text.stdout);
    assert!(text.stdout.lines().any(|l| l.starts_with(&old) && l.contains("ES256")), "{}", text.stdout);

    let rotated = h.run_async(&["keys", "rotate", env]).await;
    ok(&rotated);
    let new = rotated.stdout.split_whitespace().next().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated.stdout.starts_with(&format!("{new} signs from now on")), "{}", rotated.stdout);

    let after = h.run_async(&["-O", "json", "keys", "list", env]).await;
    ok(&after);
    let after = after.json();
    let by_kid = |kid: &str| after["items"].as_array().unwrap().iter().find(|k| k["kid"] == kid).cloned().unwrap();
    assert_eq!(by_kid(&new)["active"], true);
    assert_eq!(by_kid(&old)["active"], false, "the old key stays published, retired");
    assert!(by_kid(&old)["retired_at"].is_i64());
    let json = h.run_async(&["-O", "json", "keys", "rotate", env]).await;
    ok(&json);
    assert_eq!(json.json()["items"].as_array().unwrap().iter().filter(|k| k["active"] == true).count(), 1);
}
