//! Finding 1: where an administrator's codes may go, and who may change it.

use super::*;

/// The stored CLI application.
async fn cli_app(s: &Server) -> signet_core::model::Application {
    s.store()
        .application(
            &signet_core::id::EnvironmentId::from(s.env_id.as_str()),
            &signet_core::id::ClientId::from(CLI_CLIENT_ID),
        )
        .await
        .unwrap()
        .unwrap()
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
    // Nor may an import change the CLI's redirect URIs, even to ones the rule allows.
    let mut doc = api.get("/bulk", &root).await.body;
    let cli = doc["applications"].as_array_mut().unwrap().iter_mut().find(|a| a["id"] == CLI_CLIENT_ID).unwrap();
    cli["redirect_uris"] = json!(["http://127.0.0.1/callback", "http://127.0.0.1/other"]);
    let r = api.call(Method::POST, "/bulk", Some(&root), Some(doc), None).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("admin_api"), "{:?}", r.body);
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
        .update_application(
            &signet_core::id::EnvironmentId::from(s.env_id.as_str()),
            &signet_core::id::ClientId::from(CLI_CLIENT_ID),
            |cli| {
                let mut next = cli.clone();
                next.redirect_uris.push(attacker.into());
                Ok::<_, ()>((next, crate::harness::test_event("planted", None, CLI_CLIENT_ID)))
            },
        )
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
        signet_server::web::authorize::log_refused_redirects(s.store()).await.unwrap(),
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
    assert_eq!(query(&to).get("error").map(String::as_str), Some("interaction_required"), "{to}");
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
    // Both answers are in the trail, by the administrator.
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    for action in ["authorize.cancel", "authorize.confirm"] {
        let ev = events.iter().find(|e| e.event.action == action).unwrap_or_else(|| panic!("no {action}"));
        assert_eq!(
            (ev.event.actor.id.as_str(), ev.event.target.as_str()),
            (admin.id.as_str(), format!("client:{web}").as_str())
        );
    }
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
    // A code given silently from a live session is recorded too.
    let silent = format!(
        "{}?response_type=code&client_id={CLI_CLIENT_ID}&redirect_uri=http://127.0.0.1:4711/callback&prompt=none&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    assert!(cli.get(&silent).await.location.unwrap().contains("code="));
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    assert!(events.iter().any(|e| e.event.action == "authorize.session" && e.event.actor.id == admin.id));
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
    // Approving is recorded, with where the code was asked for.
    b.submit(&signon, &[("decision", "approve")]).await;
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let approved = events.iter().find(|e| e.event.action == "device.approve").expect("the approval is in the trail");
    assert_eq!(approved.event.actor.id, admin.id);
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
    let stored = s
        .store()
        .application(
            &signet_core::id::EnvironmentId::from(s.env_id.as_str()),
            &signet_core::id::ClientId::from(id.as_str()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.roles.len(), 1, "the UserAdmin's grant was not reverted by an Admin");
    assert_eq!(stored.name, "deployer");
}
