//! The admin API's LDAP scheme against a real OpenLDAP (slapd): binds as the
//! person, groups to roles, ldaps and StartTLS, injection in the username,
//! and a directory that is down.

use reqwest::Method;
use serde_json::{Value, json};
use signet_testkit::ldap::{MANAGER, MANAGER_PASSWORD, Slapd};
use signet_testkit::tls::TestCa;

use crate::admin::{Api, assert_error, basic, trail, typed};
use crate::harness::*;

const PEOPLE: &str = "ou=people,dc=example,dc=test";

fn roles() -> Value {
    json!([
        {"value": "cn=signet-admins,ou=groups,dc=example,dc=test", "roles": ["UserAdmin", "Admin", "ExpressionAdmin", "CryptoAdmin"]},
        {"value": "CN=Signet-Auditors,OU=Groups,DC=example,DC=test", "auditor": true},
        {"value": "cn=signet-ops,ou=groups,dc=example,dc=test", "roles": ["Admin"]},
    ])
}

fn template(url: &str) -> Value {
    json!({"url": url, "dn_template": format!("uid={{username}},{PEOPLE}"),
           "groups": {"base_dn": "ou=groups,dc=example,dc=test"}})
}

async fn put_settings(api: &Api<'_>, auth: &str, settings: Value) -> crate::admin::Answer {
    api.call(Method::PUT, "/settings/authentication", Some(auth), Some(settings), None).await
}

#[tokio::test]
async fn ldap_binds_as_the_person_and_their_groups_grant_roles() {
    let s = Server::start().await;
    let dir = std::env::temp_dir().join(format!("signet-slapd-{}", signet_core::crypto::random_id().unwrap()));
    let ca = TestCa::create(&dir.join("ca")).await;
    let slapd = Slapd::start(&dir.join("slapd"), Some(&ca)).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);

    // Bad settings are refused, naming the field; nothing changes.
    let ldap_only = json!({"schemes": ["ldap"], "ldap": {"connection": template(&slapd.url), "roles": roles()}});
    assert_error(&put_settings(&api, &root, ldap_only.clone()).await, 422, "unprocessable", "lock you out");
    let bad = put_settings(&api, &root, json!({"schemes": ["native", "kerberos"]})).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let missing = put_settings(&api, &root, json!({"schemes": ["native", "ldap"]})).await;
    assert_error(&missing, 400, "invalid_request", "ldap");
    let combo = json!({"schemes": ["native", "ldap"], "ldap": {"connection": template(&slapd.url),
        "roles": [{"value": "cn=x", "roles": ["UserAdmin"]}]}});
    assert_error(&put_settings(&api, &root, combo).await, 400, "invalid_request", "ldap.roles[0]");
    let no_user =
        json!({"schemes": ["native", "ldap"], "ldap": {"connection": {"url": slapd.url, "dn_template": "uid=alice"}}});
    assert_error(&put_settings(&api, &root, no_user).await, 400, "invalid_request", "ldap.dn_template");
    assert_eq!(api.get("/settings/authentication", &root).await.body, json!({"schemes": ["native", "oauth"]}));

    // Native stays beside LDAP, as PingFederate allows.
    let both = json!({"schemes": ["native", "ldap"], "ldap": {"connection": template(&slapd.url), "roles": roles()}});
    let set = put_settings(&api, &root, both).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(api.get("/accounts", &root).await.status, 200, "native still works");

    let alice = basic("alice", "alicepw");
    let read = api.get("/accounts", &alice).await;
    assert_eq!(read.status, 200, "alice's group grants all four roles: {:?}", read.body);
    let env = api.call(Method::POST, "/environments", Some(&alice), Some(json!({"name": "ldap-made"})), None).await;
    assert_eq!(env.status, 201, "{:?}", env.body);

    let bob = basic("bob", "bobpw");
    assert_eq!(api.get("/environments", &bob).await.status, 200, "bob audits");
    let write = api.call(Method::POST, "/environments", Some(&bob), Some(json!({"name": "x"})), None).await;
    assert_error(&write, 403, "forbidden", "Auditor may only read");

    let carol = basic("carol", "carolpw");
    assert_eq!(api.get("/environments", &carol).await.status, 200);
    let escalate = api
        .call(
            Method::POST,
            "/accounts",
            Some(&carol),
            Some(json!({"username": "c2", "password": "a long passphrase"})),
            None,
        )
        .await;
    assert_error(&escalate, 403, "forbidden", "UserAdmin");

    let mallory = api.get("/environments", &basic("mallory", "mallorypw")).await;
    assert_error(&mallory, 403, "forbidden", "no admin role");

    for (who, pw) in [("alice", "wrong"), ("alice", ""), ("nobody-here", "x"), ("", "alicepw")] {
        let a = api.get("/environments", &basic(who, pw)).await;
        assert_error(&a, 401, "unauthorized", "authentication");
    }
    // A DN built from the username cannot be steered to another entry.
    let steered = api.get("/environments", &basic(&format!("alice,{PEOPLE}"), "alicepw")).await;
    assert_eq!(steered.status, 401);

    // The trail names the person and the scheme; failures are recorded too.
    let root_client = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let events = trail(&root_client, &[("action", "admin.signon"), ("limit", "100")]).await;
    let by_alice: Vec<_> = events.iter().filter(|e| e.event.actor.id == format!("ldap:uid=alice,{PEOPLE}")).collect();
    assert_eq!(by_alice.len(), 1, "one sign-on recorded, not one per call: {events:?}");
    assert_eq!(by_alice[0].event.actor.scheme, "ldap");
    assert_eq!(by_alice[0].event.actor.kind, "person");
    let failures = trail(&root_client, &[("action", "admin.signon.failure"), ("limit", "100")]).await;
    assert!(failures.iter().any(|e| e.event.actor.id == "ldap:alice"), "{failures:?}");
    let made = trail(&root_client, &[("action", "admin.environment.create")]).await;
    assert_eq!(made[0].event.actor.name, "alice", "{made:?}");

    // A search bound as a service account; the username is escaped as a
    // filter value, so `al*` finds no one instead of alice.
    let search = json!({"schemes": ["native", "ldap"], "ldap": {"roles": roles(), "connection": {
        "url": slapd.url, "search": {"base_dn": PEOPLE, "filter": "(uid={username})",
        "bind_dn": MANAGER, "bind_password": MANAGER_PASSWORD},
        "groups": {"base_dn": "ou=groups,dc=example,dc=test"}}}});
    let set = put_settings(&api, &root, search).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let shown = api.get("/settings/authentication", &root).await.body;
    assert!(shown["ldap"]["connection"]["search"]["bind_password"]["sealed"].is_string(), "{shown}");
    assert!(!shown.to_string().contains(MANAGER_PASSWORD));
    assert_eq!(api.get("/environments", &alice).await.status, 200);
    for injected in ["al*", "*", "alice)(uid=*", "alice)(|(uid=*"] {
        let a = api.get("/environments", &basic(injected, "alicepw")).await;
        assert_eq!(a.status, 401, "{injected}: {:?}", a.body);
    }

    // TLS: ldaps:// and StartTLS, against the directory's own CA.
    let ca_pem = std::fs::read_to_string(&ca.ca).unwrap();
    let ldaps = slapd.ldaps_url.clone().unwrap();
    for connection in [
        json!({"url": ldaps, "ca_certificates_pem": ca_pem, "dn_template": format!("uid={{username}},{PEOPLE}"),
               "groups": {"base_dn": "ou=groups,dc=example,dc=test"}}),
        json!({"url": slapd.url, "start_tls": true, "ca_certificates_pem": ca_pem,
               "dn_template": format!("uid={{username}},{PEOPLE}"), "groups": {"base_dn": "ou=groups,dc=example,dc=test"}}),
    ] {
        let settings = json!({"schemes": ["native", "ldap"], "ldap": {"connection": connection,
            "roles": [{"value": "cn=signet-admins,ou=groups,dc=example,dc=test", "roles": ["Admin"]}]}});
        assert_eq!(put_settings(&api, &root, settings).await.status, 200);
        let a = api.get("/environments", &alice).await;
        assert_eq!(a.status, 200, "signed on over TLS: {:?}", a.body);
    }
    // A directory whose certificate is not trusted cannot vouch for anyone.
    let untrusted = json!({"schemes": ["native", "ldap"], "ldap": {"connection": {"url": ldaps,
        "dn_template": format!("uid={{username}},{PEOPLE}")}}});
    assert_eq!(put_settings(&api, &root, untrusted).await.status, 200);
    assert_error(&api.get("/environments", &alice).await, 503, "authentication_unavailable", "LDAP");

    // A directory that is down: 503, and native still gets in.
    drop(slapd);
    let down = json!({"schemes": ["native", "ldap"], "ldap": {"connection": template(&format!("ldap://127.0.0.1:{}", free_port()))}});
    assert_eq!(put_settings(&api, &root, down).await.status, 200);
    assert_error(&api.get("/environments", &alice).await, 503, "authentication_unavailable", "LDAP");
    assert_eq!(api.get("/environments", &root).await.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn an_empty_password_is_refused_before_anything_is_sent() {
    // Nothing listens there: had it tried, it would be an error, not a refusal.
    let settings: signet_server::ldap::LdapSettings = serde_json::from_value(json!({
        "url": format!("ldap://127.0.0.1:{}", free_port()), "dn_template": "uid={username},dc=x"}))
    .unwrap();
    let kek = signet_core::crypto::Kek::from_bytes(&[3; 32]).unwrap();
    let found = signet_server::ldap::authenticate(&settings, &kek, "alice", "").await;
    assert!(matches!(found, Ok(None)), "{found:?}");
    let tried = signet_server::ldap::authenticate(&settings, &kek, "alice", "alicepw").await;
    assert!(tried.is_err(), "the same call with a password does reach for the directory");
}

#[tokio::test]
async fn an_ldap_admin_may_switch_to_ldap_alone_and_keeps_getting_in() {
    let s = Server::start().await;
    let dir = std::env::temp_dir().join(format!("signet-slapd-{}", signet_core::crypto::random_id().unwrap()));
    let slapd = Slapd::start(&dir, None).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ldap = json!({"connection": template(&slapd.url), "roles": roles()});
    assert_eq!(put_settings(&api, &root, json!({"schemes": ["native", "ldap"], "ldap": ldap})).await.status, 200);
    let alice = basic("alice", "alicepw");
    let tag = api.get("/settings/authentication", &alice).await.etag.unwrap();
    let only = api
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&alice),
            Some(json!({"schemes": ["ldap"], "ldap": ldap})),
            Some(&tag),
        )
        .await;
    assert_eq!(only.status, 200, "{:?}", only.body);
    assert_error(&api.get("/environments", &root).await, 401, "unauthorized", "authentication");
    assert_eq!(api.get("/environments", &alice).await.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

/// `ALICE`, `Alice`, `" alice"` and `"alice "` all bind as alice: each is
/// the one person the directory names, so the trail shows one actor (the
/// entry's DN and its `uid` as stored), a second factor passed under one
/// spelling stands for the others, and the service is asked about `alice`.
/// With a DN template and with a search alike.
async fn finding_17_one_directory_person_is_one_actor(s: Server) {
    use signet_testkit::standin::{DuoOutcome, DuoStandin};
    let dir = std::env::temp_dir().join(format!("signet-slapd-{}", signet_core::crypto::random_id().unwrap()));
    let slapd = Slapd::start(&dir, None).await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let vault = crate::vault::Vault::new(&s);
    let token = crate::vault::admin_token(&s).await;
    let duo = DuoStandin::start().await;
    duo.set("alice", DuoOutcome::Passcode("424242".into()));
    let method = vault
        .call(
            "POST",
            "identity/mfa/method/duo",
            Some(&token),
            Some(json!({"integration_key": duo.integration_key, "secret_key": duo.secret_key,
                        "api_hostname": duo.base, "use_passcode": true, "method_name": "duo"})),
        )
        .await;
    assert_eq!(method.status, 200, "{}", method.body);
    let method = method.body["data"]["method_id"].as_str().unwrap().to_owned();
    let enforce = json!({"mfa_method_ids": [method], "auth_method_types": ["ldap"]});
    let enforced = vault.call("POST", "identity/mfa/login-enforcement/directory", Some(&token), Some(enforce)).await;
    assert_eq!(enforced.status, 204, "{}", enforced.body);

    let search = json!({"url": slapd.url, "search": {"base_dn": PEOPLE, "filter": "(uid={username})",
        "bind_dn": MANAGER, "bind_password": MANAGER_PASSWORD}, "groups": {"base_dn": "ou=groups,dc=example,dc=test"}});
    let spellings = ["alice", "ALICE", "Alice", " alice", "alice "];
    for (round, connection) in [template(&slapd.url), search].into_iter().enumerate() {
        let settings = json!({"schemes": ["native", "ldap"], "ldap": {"connection": connection, "roles": roles()}});
        assert_eq!(put_settings(&api, &root, settings).await.status, 200);
        s.clock.advance(600);
        let call = |who: &str, n: usize, mfa: Option<&str>| {
            let mut req = s
                .http
                .post(format!("{}/admin-api/v1/environments", s.base))
                .header("authorization", basic(who, "alicepw"))
                .json(&json!({"name": format!("ldap-{round}-{n}")}));
            if let Some(m) = mfa {
                req = req.header("x-vault-mfa", m.to_owned());
            }
            req.send()
        };
        let passed = call(spellings[round + 1], 0, Some("duo:424242")).await.unwrap();
        assert_eq!(passed.status().as_u16(), 201, "{}", passed.text().await.unwrap());
        for (n, who) in spellings.iter().enumerate() {
            let made = call(who, n + 1, None).await.unwrap();
            assert_eq!(made.status().as_u16(), 201, "{who:?} rides the same pass: {}", made.text().await.unwrap());
        }
    }
    let usernames: Vec<String> = duo
        .requests()
        .into_iter()
        .flat_map(|r| url::form_urlencoded::parse(r.body.as_bytes()).into_owned().collect::<Vec<_>>())
        .filter_map(|(k, v)| (k == "username").then_some(v))
        .collect();
    assert!(!usernames.is_empty() && usernames.iter().all(|u| u == "alice"), "{usernames:?}");

    let events = s.store().audit_events(0, 10_000).await.unwrap();
    let actors: std::collections::BTreeSet<(String, String)> = events
        .iter()
        .filter(|e| e.event.actor.scheme == signet_core::audit::ActorScheme::Ldap)
        .map(|e| (e.event.actor.id.clone(), e.event.actor.name.clone()))
        .collect();
    assert_eq!(actors.into_iter().collect::<Vec<_>>(), [(format!("ldap:uid=alice,{PEOPLE}"), "alice".to_owned())]);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn finding_17_one_directory_person_is_one_actor_on_sqlite() {
    finding_17_one_directory_person_is_one_actor(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn finding_17_one_directory_person_is_one_actor_on_postgres() {
    finding_17_one_directory_person_is_one_actor(Server::start_on(Backend::Postgres).await).await;
}
