//! Regression tests for what an outside attack on signetd found (issue 15),
//! each named after its finding. Storage is involved in each, so each runs
//! on SQLite and on PostgreSQL.

use reqwest::Method;
use serde_json::json;
use signet_core::clock::Clock;
use signet_core::model::{AppKind, CLI_CLIENT_ID, GrantType};

use crate::admin::{Api, admin_with, assert_error, basic};
use crate::harness::{Backend, Browser, Server, code_flow_tokens, pkce_pair, query, sign_on};

/// Runs one async test body on both backends, as `NAME_sqlite` and `NAME_postgres`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

on_both!(finding_5_a_refused_refresh_does_not_spend_the_token);
async fn finding_5_a_refused_refresh_does_not_spend_the_token(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let tokens = code_flow_tokens(&s, &admin).await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let refresh = |scope: Option<&'static str>| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", r1), ("client_id", "signet-cli")];
        form.extend(scope.map(|sc| ("scope", sc)));
        let s = &s;
        async move { s.token(&form).await }
    };
    let (status, wider) = refresh(Some("openid profile offline_access email")).await;
    assert_eq!((status, wider["error"].as_str()), (400, Some("invalid_scope")), "{wider}");
    // The token is still good: the next normal refresh is not taken for reuse.
    let (status, next) = refresh(None).await;
    assert_eq!(status, 200, "a refused refresh spent the token: {next}");
    assert!(next["refresh_token"].is_string());
    // And the family lives on: the new refresh token works too.
    let r2 = next["refresh_token"].as_str().unwrap();
    let (status, again) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", r2), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 200, "{again}");
}

/// The stored CLI application.
async fn cli_app(s: &Server) -> signet_core::model::Application {
    s.store().application(&s.env_id, CLI_CLIENT_ID).await.unwrap().unwrap()
}

on_both!(finding_1_an_admin_cannot_send_the_clis_codes_elsewhere);
async fn finding_1_an_admin_cannot_send_the_clis_codes_elsewhere(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let path = format!("/environments/{}/applications/{CLI_CLIENT_ID}", s.env_id);
    let before = cli_app(&s).await;
    let with_attacker = json!({
        "name": "signet CLI", "kind": "native",
        "redirect_uris": ["http://127.0.0.1/callback", "https://attacker.example/cb"],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "scopes": ["openid", "profile", "email", "offline_access"]
    });
    // An Admin alone: refused, whatever the URI.
    let r = api.call(Method::PUT, &path, Some(&ed), Some(with_attacker.clone()), None).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let loopback_too = json!({
        "name": "signet CLI", "kind": "native",
        "redirect_uris": ["http://127.0.0.1/callback", "http://127.0.0.1/other"],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "scopes": ["openid", "profile", "email", "offline_access"]
    });
    let r = api.call(Method::PUT, &path, Some(&ed), Some(loopback_too.clone()), None).await;
    assert_error(&r, 403, "forbidden", "needs the UserAdmin, ExpressionAdmin, CryptoAdmin roles");
    // Every role: the CLI's redirect URIs and grants still do not change through the API.
    let r = api.call(Method::PUT, &path, Some(&root), Some(loopback_too), None).await;
    assert_error(&r, 403, "forbidden", "cannot be changed through the API");
    let fewer_grants = json!({
        "name": "signet CLI", "kind": "native", "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code"], "scopes": ["openid"]
    });
    let r = api.call(Method::PUT, &path, Some(&root), Some(fewer_grants), None).await;
    assert_error(&r, 403, "forbidden", "cannot be changed through the API");
    // Nor is it deleted, by anyone.
    let r = api.call(Method::DELETE, &path, Some(&ed), None, None).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(cli_app(&s).await, before, "nothing about the CLI application changed");
    // What the trail says: each refusal, by whom.
    let denied = s.store().audit_events(0, 1000).await.unwrap();
    let denied: Vec<_> = denied.iter().filter(|e| e.event.action == "admin.denied").collect();
    assert!(denied.iter().any(|e| e.event.actor.name == "ed" && e.event.target.starts_with("AdminApiClients")));
    assert!(denied.iter().any(|e| e.event.target.starts_with("CliApplication")));
    // Every role may still rename it: a change that moves no code anywhere.
    let renamed = json!({
        "name": "signet command line", "kind": "native", "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "scopes": ["openid", "profile", "email", "offline_access"]
    });
    let r = api.call(Method::PUT, &path, Some(&root), Some(renamed), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

on_both!(finding_1_admin_audience_applications_need_every_role);
async fn finding_1_admin_audience_applications_need_every_role(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    // A UserAdmin without CryptoAdmin: enough for roles, not for the admin audience.
    let ua = admin_with(&api, &root, "ua", json!(["UserAdmin", "Admin", "ExpressionAdmin"])).await;
    let apps = format!("/environments/{}/applications", s.env_id);
    let worker = json!({"name": "keys", "kind": "worker", "grant_types": ["client_credentials"], "roles": ["Admin"]});
    assert_error(
        &api.call(Method::POST, &apps, Some(&ua), Some(worker.clone()), None).await,
        403,
        "forbidden",
        "CryptoAdmin",
    );
    let made = api.call(Method::POST, &apps, Some(&root), Some(worker), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap();
    let one = format!("{apps}/{id}");
    let scoped = json!({"name": "keys", "kind": "worker", "grant_types": ["client_credentials"], "roles": ["Admin"], "scopes": ["x"]});
    assert_error(
        &api.call(Method::PUT, &one, Some(&ua), Some(scoped.clone()), None).await,
        403,
        "forbidden",
        "CryptoAdmin",
    );
    assert_error(
        &api.call(Method::POST, &format!("{one}/secret"), Some(&ua), None, None).await,
        403,
        "forbidden",
        "CryptoAdmin",
    );
    assert_error(&api.call(Method::DELETE, &one, Some(&ua), None, None).await, 403, "forbidden", "CryptoAdmin");
    assert_eq!(api.call(Method::PUT, &one, Some(&root), Some(scoped), None).await.status, 200);
    assert_eq!(api.call(Method::POST, &format!("{one}/secret"), Some(&root), None, None).await.status, 200);
    assert_eq!(api.call(Method::DELETE, &one, Some(&root), None, None).await.status, 204);
}

on_both!(finding_1_redirect_uris_follow_the_rules_on_every_write);
async fn finding_1_redirect_uris_follow_the_rules_on_every_write(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let apps = format!("/environments/{}/applications", s.env_id);
    let app = |kind: &str, uri: &str| {
        let grants = if kind == "native" {
            json!(["authorization_code", "refresh_token"])
        } else {
            json!(["authorization_code"])
        };
        json!({"name": "x", "kind": kind, "grant_types": grants, "redirect_uris": [uri]})
    };
    for (kind, uri) in [
        ("native", "https://attacker.example/cb"),
        ("native", "http://localhost:8000/cb"),
        ("native", "myapp:/cb"),
        ("web", "javascript:alert(1)"),
        ("web", "data:text/html,x"),
        ("web", "file:///etc/passwd"),
        ("web", "https://*.app.test/cb"),
        ("web", "https://user:pw@app.test/cb"),
        ("web", "https://app.test/cb#x"),
        ("web", "http://app.test/cb"),
    ] {
        let r = api.call(Method::POST, &apps, Some(&root), Some(app(kind, uri)), None).await;
        assert_error(&r, 400, "invalid_request", "redirect_uris");
    }
    for (kind, uri) in [
        ("native", "http://127.0.0.1/callback"),
        ("native", "http://[::1]:8400/cb"),
        ("native", "com.example.app:/oauth2redirect"),
        ("web", "https://app.test/cb"),
        ("web", "http://127.0.0.1:3000/cb"),
    ] {
        let r = api.call(Method::POST, &apps, Some(&root), Some(app(kind, uri)), None).await;
        assert_eq!(r.status, 201, "{kind} {uri}: {:?}", r.body);
    }
    // The whole-configuration import applies the same rules.
    let mut doc = api.get("/bulk", &root).await.body;
    let cli = doc["applications"].as_array_mut().unwrap().iter_mut().find(|a| a["id"] == CLI_CLIENT_ID).unwrap();
    cli["redirect_uris"] = json!(["http://127.0.0.1/callback", "https://attacker.example/cb"]);
    let r = api.call(Method::POST, "/bulk", Some(&root), Some(doc), None).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("redirect_uris"), "{:?}", r.body);
    assert_eq!(cli_app(&s).await.redirect_uris, ["http://127.0.0.1/callback"]);
}

on_both!(finding_1_a_stored_attackers_redirect_stops_working);
async fn finding_1_a_stored_attackers_redirect_stops_working(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    // Written before the rules existed, straight into the store.
    let attacker = "https://attacker.example/cb";
    let decided = s
        .store()
        .update_application(&s.env_id, CLI_CLIENT_ID, |cli| {
            let mut next = cli.clone();
            next.redirect_uris.push(attacker.into());
            Ok::<_, ()>((next, crate::harness::test_event("planted", None, CLI_CLIENT_ID)))
        })
        .await
        .unwrap();
    assert!(matches!(decided, signet_store::Decided::Done(_)));
    s.clock.advance(11); // past the client cache
    // The administrator has a live browser session.
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    sign_on(&s, &mut b, CLI_CLIENT_ID, &admin, &challenge).await;
    let url = format!(
        "{}?response_type=code&client_id={CLI_CLIENT_ID}&redirect_uri={attacker}&prompt=none&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    let page = b.get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none(), "no code, and no redirect at all, goes to a refused URI");
    assert_eq!(
        signet_server::oauth::authorize::log_refused_redirects(s.store()).await.unwrap(),
        1,
        "start-up names the application"
    );
}

on_both!(finding_1_an_administrators_code_leaves_the_device_only_when_they_confirm);
async fn finding_1_an_administrators_code_leaves_the_device_only_when_they_confirm(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let (web, _) = s.application(AppKind::Web, &[GrantType::AuthorizationCode], &[], None).await;
    let mut b = Browser::default();
    let (_, challenge) = pkce_pair();
    sign_on(&s, &mut b, CLI_CLIENT_ID, &admin, &challenge).await;
    let url = |prompt: &str| {
        format!(
            "{}?response_type=code&client_id={web}&redirect_uri=https://app.test/cb&state=s1{prompt}&code_challenge={challenge}&code_challenge_method=S256",
            s.url("/authorize")
        )
    };
    // One link, prompt=none: no page, so no code.
    let silent = b.get(&url("&prompt=none")).await;
    let to = silent.location.expect("an error goes back to the client");
    assert_eq!(query(&to)["error"], "interaction_required", "{to}");
    assert!(!query(&to).contains_key("code"));
    // Without it: a page naming where the code goes.
    let start = b.get(&url("")).await;
    let confirm = start.location.unwrap();
    assert!(confirm.contains("/signon/"), "{confirm}");
    let page = b.get(&confirm).await;
    assert!(page.body.contains("id=\"destination\">app.test<"), "{}", page.body);
    let cancelled = b.submit(&confirm, &[("decision", "cancel")]).await;
    assert_eq!(cancelled.status, 200);
    assert!(cancelled.location.is_none() && cancelled.body.contains("No code was sent"));
    // Confirmed: the code goes.
    let confirm = b.get(&url("")).await.location.unwrap();
    let sent = b.submit(&confirm, &[("decision", "continue")]).await;
    let to = sent.location.expect("the code goes to the client");
    assert!(to.starts_with("https://app.test/cb?") && query(&to).contains_key("code"), "{to}");
    // A sign-on that starts without a session confirms too, after the second factor.
    let mut fresh = Browser::default();
    let signon = fresh.get(&url("")).await.location.unwrap();
    fresh.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    let after = fresh.submit(&signon, &[("code", &s.code(admin.secret.as_ref().unwrap()))]).await;
    assert_eq!(after.location.as_deref(), Some(signon.as_str()), "back to the page, which now asks to confirm");
    assert!(fresh.get(&signon).await.body.contains("id=\"destination\""));
    // The CLI's own loopback redirect never asks.
    let mut cli = Browser::default();
    let q = sign_on(&s, &mut cli, CLI_CLIENT_ID, &admin, &challenge).await;
    assert!(q.contains_key("code"));
}

on_both!(finding_1_the_device_page_resists_phishing_links);
async fn finding_1_the_device_page_resists_phishing_links(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    // Anyone can start a device flow for the CLI and send the link.
    let (status, d) =
        s.post_form(&s.url("/device_authorization"), &[("client_id", CLI_CLIENT_ID), ("scope", "openid")], None).await;
    assert_eq!(status, 200, "{d}");
    let code = d["user_code"].as_str().unwrap();
    let mut b = Browser::default();
    let form = b.get(d["verification_uri_complete"].as_str().unwrap()).await;
    assert_eq!(form.status, 200);
    assert!(!form.body.contains(code), "the link's code is not filled in: {}", form.body);
    assert!(form.body.contains("Approve only a code that you started yourself"));
    // Typed in, it shows where and when it was asked for.
    let signon = b.submit(&s.url("/device"), &[("user_code", code)]).await.location.unwrap();
    b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    b.submit(&signon, &[("code", &s.code(admin.secret.as_ref().unwrap()))]).await;
    let consent = b.get(&signon).await;
    assert!(consent.body.contains("id=\"requested-from\">127.0.0.1<"), "{}", consent.body);
    assert!(consent.body.contains("id=\"requested-at\">"), "{}", consent.body);
    assert!(consent.body.contains("Approve only a code that you started yourself"));
}

/// Another environment's device page still fills in the code from the link.
#[tokio::test]
async fn device_links_elsewhere_are_still_filled_in() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let made = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": "Customers"})), None).await;
    let env = made.body["id"].as_str().unwrap();
    let page = Browser::default().get(&format!("{}/{env}/as/device?user_code=BCDF-GHJK", s.base)).await;
    assert!(page.body.contains("value=\"BCDF-GHJK\""), "{}", page.body);
}

// Multi-threaded: on SQLite the server's write waits in SQLite's busy
// handler, which blocks its thread until the outside transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_the_role_decision_is_made_on_the_row_the_write_replaces_sqlite() {
    finding_1_the_role_decision_is_made_on_the_row_the_write_replaces(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_the_role_decision_is_made_on_the_row_the_write_replaces_postgres() {
    finding_1_the_role_decision_is_made_on_the_row_the_write_replaces(Backend::Postgres).await;
}

async fn finding_1_the_role_decision_is_made_on_the_row_the_write_replaces(backend: Backend) {
    use signet_testkit::outside::Outside;
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let apps = format!("/environments/{}/applications", s.env_id);
    let worker = json!({"name": "deployer", "kind": "worker", "grant_types": ["client_credentials"]});
    let made = api.call(Method::POST, &apps, Some(&ed), Some(worker), None).await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    // A UserAdmin's change commits on another instance while ed's rename,
    // without If-Match, is on its way: ed read no roles, the worker now has some.
    let mut other = Outside::begin(&s).await;
    if other.is_postgres() {
        other.execute("SELECT pg_advisory_xact_lock(89504675623940)").await; // the applications' lock
    }
    other.execute(&format!("UPDATE applications SET roles = '[\"Admin\"]' WHERE id = '{id}'")).await;
    let rename = {
        let (api, path) = (Api::new(&s), format!("{apps}/{id}"));
        let body = json!({"name": "renamed", "kind": "worker", "grant_types": ["client_credentials"]});
        let ed = ed.clone();
        async move { api.call(Method::PUT, &path, Some(&ed), Some(body), None).await }
    };
    let (answer, ()) = tokio::join!(rename, other.commit_once_waited());
    assert_error(&answer, 403, "forbidden", "UserAdmin");
    let stored = s.store().application(&s.env_id, &id).await.unwrap().unwrap();
    assert_eq!(stored.roles.len(), 1, "the UserAdmin's grant was not reverted by an Admin");
    assert_eq!(stored.name, "deployer");
}

/// A fresh browser's sign-on page for the CLI.
async fn signon_page(s: &Server, b: &mut Browser) -> String {
    let (_, challenge) = pkce_pair();
    let url = format!(
        "{}?response_type=code&client_id={CLI_CLIENT_ID}&redirect_uri=http://127.0.0.1:4711/callback&prompt=login&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    b.get(&url).await.location.expect("the sign-on page")
}

/// The alert a page shows, if any.
fn alert(page: &crate::harness::Page) -> String {
    page.body
        .split("role=\"alert\"")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .unwrap_or("")
        .split('<')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Strangers, each in a browser of their own, spend the account's password budget.
async fn strangers_lock(s: &Server, username: &str) {
    for _ in 0..5 {
        let mut stranger = Browser::default();
        let signon = signon_page(s, &mut stranger).await;
        let page = stranger.submit(&signon, &[("username", username), ("password", "a wrong guess")]).await;
        assert_eq!(page.status, 401);
    }
}

on_both!(finding_2_strangers_cannot_lock_out_a_person_with_both_factors);
async fn finding_2_strangers_cannot_lock_out_a_person_with_both_factors(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let secret = admin.secret.clone().unwrap();
    strangers_lock(&s, &admin.username).await;
    let stored = s.store().account(&admin.id).await.unwrap().unwrap();
    assert!(stored.is_locked(s.clock.now()), "five wrong passwords lock the account");

    // Locked: the password alone is never checked, right or wrong: one answer.
    let mut b = Browser::default();
    let signon = signon_page(&s, &mut b).await;
    let right = b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    let wrong = b.submit(&signon, &[("username", &admin.username), ("password", "another guess")]).await;
    assert_eq!((right.status, wrong.status), (401, 401));
    assert_eq!(alert(&right), alert(&wrong), "a locked form tells nothing about the password");
    assert!(right.body.contains("name=\"code\""), "it asks for both factors: {}", right.body);
    // Every failure with both gets the same answer too.
    let code = s.code(&secret);
    let wrong_password =
        b.submit(&signon, &[("username", &admin.username), ("password", "another guess"), ("code", &code)]).await;
    let wrong_code =
        b.submit(&signon, &[("username", &admin.username), ("password", &admin.password), ("code", "000000")]).await;
    assert_eq!((wrong_password.status, wrong_code.status), (401, 401));
    assert_eq!(alert(&wrong_password), alert(&right));
    assert_eq!(alert(&wrong_code), alert(&right));
    // The person with both is let in, lock or no lock.
    let both = b
        .submit(&signon, &[("username", &admin.username), ("password", &admin.password), ("code", &s.code(&secret))])
        .await;
    assert_eq!(both.status, 303, "{}", both.body);
    let to = both.location.unwrap();
    assert!(to.starts_with("http://127.0.0.1:4711/callback?") && query(&to).contains_key("code"), "{to}");

    // The trail: each failure before the lock, the lock, the first refusal; the rest counted.
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let count = |action: &str| events.iter().filter(|e| e.event.action == action && e.event.target == admin.id).count();
    assert_eq!(count("account.lock"), 1);
    assert_eq!(count("signon.refused"), 1, "only the lock's first refusal is recorded");
    let lock = s.store().lock_state(&admin.id).await.unwrap().unwrap();
    assert_eq!(lock.lock_refused, 4, "the others are counted");
}

on_both!(finding_2_a_browser_that_signed_on_before_has_its_own_budget);
async fn finding_2_a_browser_that_signed_on_before_has_its_own_budget(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let secret = admin.secret.clone().unwrap();
    // The person's own browser signed on once: it holds a device cookie.
    let mut own = Browser::default();
    let (_, challenge) = pkce_pair();
    sign_on(&s, &mut own, CLI_CLIENT_ID, &admin, &challenge).await;
    strangers_lock(&s, &admin.username).await;
    // The lock does not reach it: password, then the usual second step.
    let signon = signon_page(&s, &mut own).await;
    let page = own.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(page.status, 303, "a known browser is not refused for strangers' failures: {}", page.body);
    let done = own.submit(&signon, &[("code", &s.code(&secret))]).await;
    assert_eq!(done.status, 303);
    // Its own failures spend its own budget, not the account's.
    let before = s.store().lock_state(&admin.id).await.unwrap().unwrap();
    for _ in 0..5 {
        let signon = signon_page(&s, &mut own).await;
        let page = own.submit(&signon, &[("username", &admin.username), ("password", "my typo")]).await;
        assert_eq!(page.status, 401);
    }
    let signon = signon_page(&s, &mut own).await;
    let page = own.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(page.status, 401, "five of its own failures lock this browser out");
    let after = s.store().lock_state(&admin.id).await.unwrap().unwrap();
    assert_eq!((after.failed_attempts, after.locked_until), (before.failed_attempts, before.locked_until));
    // A reset voids every device cookie: the browser is a stranger again.
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let reset = api
        .call(
            Method::POST,
            &format!("/accounts/{}/password", admin.username),
            Some(&root),
            Some(json!({"password": "a brand new passphrase"})),
            None,
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    let stored = s.store().account(&admin.id).await.unwrap().unwrap();
    let cookie_gone = signet_server::lockout::device_of(&s.state, &stored, &own.cookie_headers());
    assert_eq!(cookie_gone, None);
}

on_both!(finding_2_a_locked_basic_caller_needs_the_second_factor);
async fn finding_2_a_locked_basic_caller_needs_the_second_factor(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let admin = s.account(true, true).await;
    let secret = admin.secret.clone().unwrap();
    for _ in 0..5 {
        assert_eq!(api.get("/accounts", &basic(&admin.username, "wrong")).await.status, 401);
    }
    let call = |otp: Option<String>| {
        let http = reqwest::Client::new();
        let mut req = http
            .get(format!("{}/admin-api/v1/accounts", s.base))
            .header("authorization", basic(&admin.username, &admin.password));
        if let Some(code) = otp {
            req = req.header("x-signet-otp", code);
        }
        async move { req.send().await.unwrap() }
    };
    let bare = call(None).await;
    assert_eq!(bare.status().as_u16(), 401, "locked: the right password alone is not enough");
    let body: serde_json::Value = bare.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("X-Signet-OTP"), "{body}");
    assert_eq!(call(Some("000000".into())).await.status().as_u16(), 401);
    assert_eq!(call(Some(s.code(&secret))).await.status().as_u16(), 200, "both factors pass the lock");
    // A UserAdmin unlocks online; the trail says how many the lock refused.
    let view = api.get(&format!("/accounts/{}", admin.username), &root).await;
    assert_eq!(view.body["locked"], true);
    let unlocked =
        api.call(Method::POST, &format!("/accounts/{}/unlock", admin.username), Some(&root), None, None).await;
    assert_eq!((unlocked.status, unlocked.body["was_locked"].as_bool()), (200, Some(true)), "{:?}", unlocked.body);
    assert_eq!(api.get(&format!("/accounts/{}", admin.username), &root).await.body["locked"], false);
    assert_eq!(api.get("/accounts", &basic(&admin.username, &admin.password)).await.status, 200);
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let unlock = events.iter().rev().find(|e| e.event.action == "account.unlock").unwrap();
    assert_eq!(
        unlock.event.actor.id,
        s.store().account_by_username(&s.env_id, &s.boot.admin.username).await.unwrap().unwrap().id
    );
    assert_eq!(
        unlock.event.digest,
        signet_core::audit::digest_of(&json!({"refused": 2})),
        "the bare try and the wrong code"
    );
}

on_both!(finding_2_resets_and_admins_unlock_end_users_too);
async fn finding_2_resets_and_admins_unlock_end_users_too(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let env = s.environment("Customers").await;
    let user = s.account_in(&env, false, false).await;
    let password_signon = |password: &'static str| {
        let (s, env, username) = (&s, env.clone(), user.username.clone());
        async move {
            let mut b = Browser::default();
            let (_, challenge) = pkce_pair();
            let (app, _) = s.application(AppKind::Native, &[GrantType::AuthorizationCode], &[], Some(&env)).await;
            let url = format!(
                "{}?response_type=code&client_id={app}&redirect_uri=http://127.0.0.1:4711/callback&code_challenge={challenge}&code_challenge_method=S256",
                s.url_in(&env, "/authorize")
            );
            let signon = b.get(&url).await.location.unwrap();
            b.submit(&signon, &[("username", &username), ("password", password)]).await.status
        }
    };
    for _ in 0..5 {
        assert_eq!(password_signon("wrong").await, 401);
    }
    let path = format!("/environments/{env}/users/{}", user.id);
    assert_eq!(api.get(&path, &ed).await.body["locked"], true);
    let r = api.call(Method::POST, &format!("{path}/unlock"), Some(&ed), None, None).await;
    assert_eq!((r.status, r.body["was_locked"].as_bool()), (200, Some(true)), "{:?}", r.body);
    assert_eq!(api.get(&path, &ed).await.body["locked"], false);
    // Locked again, a password reset ends the lock.
    for _ in 0..5 {
        password_signon("wrong").await;
    }
    let r = api
        .call(
            Method::POST,
            &format!("{path}/password"),
            Some(&ed),
            Some(json!({"password": "a brand new passphrase", "must_change": false})),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(api.get(&path, &ed).await.body["locked"], false, "a reset clears the lock");
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let unlocks = events.iter().filter(|e| e.event.action == "account.unlock" && e.event.target == user.id).count();
    let locks = events.iter().filter(|e| e.event.action == "account.lock" && e.event.target == user.id).count();
    assert_eq!((locks, unlocks), (2, 2), "every lock and every unlock is in the trail");
}

on_both!(finding_3_nul_gets_each_protocols_400_and_no_500);
async fn finding_3_nul_gets_each_protocols_400_and_no_500(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    // OAuth: the RFC 6749 §5.2 body.
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials"), ("client_id", "x\0")], None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let raw = s
        .http
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=x%00")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some(("x\0y", "secret"))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "a NUL in client Basic: {body}");
    // Pages: an HTML 400.
    let page =
        Browser::default().get(&format!("{}?client_id=signet-cli%00&response_type=code", s.url("/authorize"))).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("NUL"), "{}", page.body);
    // The admin API: its error body, for a body, a path and Basic credentials.
    let r = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": "a\u{0}b"})), None).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let r = api.get(&format!("/environments/{}/applications/x%00", s.env_id), &root).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let r = api.get("/accounts", &basic("admin\0istrator", "whatever")).await;
    assert_error(&r, 400, "invalid_request", "NUL");
    let mapping = json!({"claim": "dept", "expression": "\"a\u{0}\""});
    let r = api
        .call(Method::POST, &format!("/environments/{}/claim-mappings", s.env_id), Some(&root), Some(mapping), None)
        .await;
    assert_error(&r, 400, "invalid_request", "NUL");
    // The Vault-compatible API: Vault's {"errors": [...]}.
    let v = crate::vault::Vault::new(&s);
    let token = crate::vault::admin_token(&s).await;
    let a = v.call("POST", "identity/mfa/method/totp", Some(&token), Some(json!({"issuer": "a\u{0}b"}))).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["errors"][0].as_str().unwrap().contains("NUL"), "{:?}", a.body);
    let a = v.call("GET", "identity/mfa/method/totp/x%00", Some(&token), None).await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(a.body["errors"].is_array());
    // Nothing was written on the way.
    let envs = api.get("/environments", &root).await;
    assert_eq!(envs.body["items"].as_array().unwrap().len(), 1, "{:?}", envs.body);
}

on_both!(finding_4_one_noisy_client_blocks_nobody_else_at_its_address);
async fn finding_4_one_noisy_client_blocks_nobody_else_at_its_address(backend: Backend) {
    let s = Server::start_on(backend).await;
    let admin = s.account(true, true).await;
    let (worker, worker_secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let (noisy, _) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let cc = |id: &str, secret: &str| {
        let (s, id, secret) = (&s, id.to_owned(), secret.to_owned());
        async move { s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await.0 }
    };
    for n in 0..40 {
        // One client's wrong secrets, and guesses at client ids that do not exist.
        let status = if n % 2 == 0 { cc(&noisy, "wrong").await } else { cc(&format!("ghost-{n}"), "wrong").await };
        assert!(status == 401 || status == 429, "{status}");
    }
    assert_eq!(cc(&noisy, "wrong").await, 429, "the noisy one is limited");
    // A correct credential of another client does not pay for it,
    assert_eq!(cc(&worker, &worker_secret).await, 200);
    // nor the administrator's Basic, nor a person's sign-on: budgets per kind.
    let api = Api::new(&s);
    assert_eq!(api.get("/accounts", &basic(&s.boot.admin.username, &s.boot.admin.password)).await.status, 200);
    let mut b = Browser::default();
    let signon = signon_page(&s, &mut b).await;
    let page = b.submit(&signon, &[("username", &admin.username), ("password", &admin.password)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

on_both!(finding_7_security_events_are_in_the_trail);
async fn finding_7_security_events_are_in_the_trail(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    admin_with(&api, &root, "ed", json!(["Admin"])).await;
    // A wrong current password on a password change.
    let r = api
        .call(
            Method::POST,
            "/accounts/ed/password",
            Some(&basic("ed", "an own passphrase")),
            Some(json!({"current_password": "not it at all", "password": "a third passphrase"})),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    // A replayed authorization code: recorded once, however often replayed.
    let admin = s.account(true, true).await;
    let code = crate::harness::CodeToRedeem::of(&s, &admin).await;
    assert_eq!(s.token(&code.form()).await.0, 200);
    for _ in 0..3 {
        assert_eq!(s.token(&code.form()).await.1["error"], "invalid_grant");
    }
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let wrong = events
        .iter()
        .filter(|e| e.event.action == "account.password.change" && e.event.outcome.as_deref() == Some("failure"));
    assert_eq!(wrong.count(), 1);
    let replays: Vec<_> = events.iter().filter(|e| e.event.action == "grant.revoke.code_replay").collect();
    assert_eq!(replays.len(), 1, "{replays:?}");
    assert_eq!(replays[0].event.actor.id, CLI_CLIENT_ID);
}

#[tokio::test]
async fn finding_10_hsts_whenever_the_public_url_is_https() {
    use tower::ServiceExt;
    let s = Server::start().await;
    let behind_proxy = signet_server::state::AppState::new(signet_server::StateConfig {
        store: s.state.store.clone(),
        clock: std::sync::Arc::new(s.clock.clone()),
        kek: signet_core::crypto::Kek::from_bytes(&[7; 32]).unwrap(),
        public_url: "https://id.example.com".into(),
        trusted_proxies: Default::default(),
        allow_private_fetch: false,
        admin_authentication: None,
        require_dpop_nonce: false,
    })
    .unwrap();
    let healthz = axum::http::Request::get("/healthz").body(axum::body::Body::empty()).unwrap();
    let res = signet_server::app(behind_proxy).oneshot(healthz).await.unwrap();
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000");
    let plain = s.http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert!(plain.headers().get("strict-transport-security").is_none(), "not over plain http on loopback");
}

#[tokio::test]
async fn finding_10_every_admin_api_answer_is_no_store() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    for (what, answer) in [
        ("a read", api.get("/accounts", &root).await),
        ("a refusal", api.get("/accounts", &basic("nobody", "x")).await),
        ("an unknown path", api.get("/nothing-here", &root).await),
        ("the OpenAPI document", api.get("/openapi.json", &root).await),
    ] {
        assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
    }
}

#[tokio::test]
async fn finding_10_names_refuse_controls_and_bidi_overrides() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    for name in ["Customers\u{202E}gpj", "a\u{2066}b", "tab\there", "esc\u{1b}[2J"] {
        let r = api.call(Method::POST, "/environments", Some(&root), Some(json!({"name": name})), None).await;
        assert_error(&r, 400, "invalid_request", "name");
        let app = json!({"name": name, "kind": "worker", "grant_types": ["client_credentials"]});
        let r = api
            .call(Method::POST, &format!("/environments/{}/applications", s.env_id), Some(&root), Some(app), None)
            .await;
        assert_error(&r, 400, "invalid_request", "name");
        let provider = json!({"name": name, "issuer": "https://idp.example", "client_id": "c", "client_secret": "s"});
        let r = api
            .call(
                Method::POST,
                &format!("/environments/{}/identity-providers", s.env_id),
                Some(&root),
                Some(provider),
                None,
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{name:?}: {:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains("name"), "{:?}", r.body);
    }
}

on_both!(finding_10_how_administrators_sign_on_is_user_admins_to_change);
async fn finding_10_how_administrators_sign_on_is_user_admins_to_change(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let lockout = json!({"max_failures": 1, "lock_seconds": 86400});
    assert_error(
        &api.call(Method::PUT, "/policies/lockout", Some(&ed), Some(lockout.clone()), None).await,
        403,
        "forbidden",
        "UserAdmin",
    );
    assert_eq!(api.call(Method::PUT, "/policies/lockout", Some(&root), Some(lockout), None).await.status, 200);
    // Login enforcements: those that reach administrators are UserAdmin's.
    let v = crate::vault::Vault::new(&s);
    let root_token = crate::vault::admin_token(&s).await;
    let ed_person = s.administrator(&[signet_proto::roles::Role::Admin]).await;
    let ed_token = code_flow_tokens(&s, &ed_person).await["access_token"].as_str().unwrap().to_owned();
    let made = v.call("POST", "identity/mfa/method/totp", Some(&root_token), Some(json!({"issuer": "Acme"}))).await;
    let method = made.body["data"]["method_id"].as_str().unwrap().to_owned();
    let customers = s.environment("Customers").await;
    let admins = json!({"mfa_method_ids": [method], "identity_group_ids": ["Admin"]});
    let a = v.call("POST", "identity/mfa/login-enforcement/admins", Some(&ed_token), Some(admins.clone())).await;
    assert_eq!(a.status, 403, "an Admin cannot change how administrators sign on: {:?}", a.body);
    let people = json!({"mfa_method_ids": [method], "auth_method_accessors": [customers]});
    let a = v.call("POST", "identity/mfa/login-enforcement/people", Some(&ed_token), Some(people)).await;
    assert_eq!(a.status, 204, "end users' sign-on is still an Admin's: {:?}", a.body);
    // Widening one to reach administrators is refused too.
    let widened = json!({"mfa_method_ids": [method], "auth_method_types": ["password"]});
    assert_eq!(
        v.call("POST", "identity/mfa/login-enforcement/people", Some(&ed_token), Some(widened)).await.status,
        403
    );
    assert_eq!(
        v.call("POST", "identity/mfa/login-enforcement/admins", Some(&root_token), Some(admins)).await.status,
        204
    );
    assert_eq!(v.call("DELETE", "identity/mfa/login-enforcement/admins", Some(&ed_token), None).await.status, 403);
    assert!(
        s.store().mfa_enforcement("admins").await.unwrap().is_some(),
        "the enforcement that protects administrators stays"
    );
}

on_both!(finding_10_end_users_of_the_administrators_environment_get_no_admin_audience);
async fn finding_10_end_users_of_the_administrators_environment_get_no_admin_audience(backend: Backend) {
    let s = Server::start_on(backend).await;
    let user = s.account(false, true).await;
    let tokens = code_flow_tokens(&s, &user).await;
    let at = crate::tokens::claims(tokens["access_token"].as_str().unwrap());
    assert!(!at["aud"].to_string().contains("/admin-api"), "{at}");
    let admin = s.account(true, true).await;
    let at = crate::tokens::claims(code_flow_tokens(&s, &admin).await["access_token"].as_str().unwrap());
    assert!(at["aud"].to_string().contains("/admin-api"), "an administrator's still does: {at}");
}

on_both!(finding_10_confidential_clients_use_pkce_unless_they_opt_out);
async fn finding_10_confidential_clients_use_pkce_unless_they_opt_out(backend: Backend) {
    let s = Server::start_on(backend).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let env = s.environment("Customers").await;
    let apps = format!("/environments/{env}/applications");
    let web = |pkce: Option<bool>| {
        let mut a = json!({"name": "site", "kind": "web", "grant_types": ["authorization_code"],
                           "redirect_uris": ["https://app.test/cb"], "scopes": ["openid"]});
        if let Some(p) = pkce {
            a["pkce_required"] = json!(p);
        }
        a
    };
    let strict = api.call(Method::POST, &apps, Some(&root), Some(web(None)), None).await;
    assert_eq!(strict.body["pkce_required"], true, "required unless opted out");
    let relaxed = api.call(Method::POST, &apps, Some(&root), Some(web(Some(false))), None).await;
    assert_eq!(relaxed.body["pkce_required"], false);
    let native = json!({"name": "n", "kind": "native", "grant_types": ["authorization_code"], "redirect_uris": ["http://127.0.0.1/cb"], "pkce_required": false});
    assert_error(
        &api.call(Method::POST, &apps, Some(&root), Some(native), None).await,
        400,
        "invalid_request",
        "pkce_required",
    );
    let without_challenge = |id: &str| {
        format!(
            "{}?response_type=code&client_id={id}&redirect_uri=https://app.test/cb&scope=openid&state=s",
            s.url_in(&env, "/authorize")
        )
    };
    let mut b = Browser::default();
    let refused = b.get(&without_challenge(strict.body["id"].as_str().unwrap())).await;
    let to = refused.location.unwrap();
    assert_eq!(query(&to)["error"], "invalid_request", "{to}");
    let allowed = b.get(&without_challenge(relaxed.body["id"].as_str().unwrap())).await;
    assert!(allowed.location.unwrap().contains("/signon/"), "the opted-out one goes on to sign-on");
}
