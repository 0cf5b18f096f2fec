//! Login enforcement at the sign-on pages: the methods the Vault-compatible
//! API configures are asked for when people sign on, in the code and device
//! flows, with every success and failure in the trail.

use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_core::mfa::Algorithm;
use signet_core::totp::Params;
use signet_testkit::standin::{DuoOutcome, DuoStandin, OktaOutcome, OktaStandin, PingIdOutcome, PingIdStandin};

use crate::harness::*;
use crate::vault::{Vault, admin_token, b64};

const AUTHORIZE: &str = "?response_type=code&client_id=signet-cli&redirect_uri=http://127.0.0.1:4711/callback\
&scope=openid&state=st&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeKt8xtK6VSQ6mbdGlEs&code_challenge_method=S256";

async fn method(s: &Server, token: &str, kind: &str, body: Value) -> String {
    let a = Vault::new(s).call("POST", &format!("identity/mfa/method/{kind}"), Some(token), Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["data"]["method_id"].as_str().unwrap().to_owned()
}

async fn enforce(s: &Server, token: &str, name: &str, body: Value) {
    let a =
        Vault::new(s).call("POST", &format!("identity/mfa/login-enforcement/{name}"), Some(token), Some(body)).await;
    assert_eq!(a.status, 204, "{}", a.body);
}

/// Starts a code flow and signs on with the password: the sign-on page's URL.
async fn password(s: &Server, b: &mut Browser, who: &TestAccount) -> String {
    let start = b.get(&format!("{}{AUTHORIZE}", s.url("/authorize"))).await;
    let signon = start.location.unwrap();
    let after = b.submit(&signon, &[("username", &who.username), ("password", &who.password)]).await;
    assert_eq!(after.status, 303, "{}", after.body);
    signon
}

fn secret_on(page: &Page) -> Vec<u8> {
    let marker = "id=\"mfa-secret\">";
    let start = page.body.find(marker).unwrap_or_else(|| panic!("no enrolment key on {}", page.body)) + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    signet_core::totp::from_base32(&page.body[start..end]).unwrap()
}

async fn mfa_events(s: &Server) -> Vec<(String, String)> {
    let events = s.store().audit_events(0, 1000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.event.action == "signon.mfa")
        .map(|e| (e.event.actor.scheme.to_string(), e.event.outcome.clone().unwrap_or_default()))
        .collect()
}

async fn totp_enrols_limits_attempts_and_refuses_replays(s: Server) {
    let token = admin_token(&s).await;
    let person = s.account(false, false).await;
    let bystander = s.account(false, false).await;
    let id = method(
        &s,
        &token,
        "totp",
        json!({"issuer": "Acme", "digits": 8, "algorithm": "SHA256", "max_validation_attempts": 2, "method_name": "app"}),
    )
    .await;
    enforce(&s, &token, "people", json!({"mfa_method_ids": [id], "identity_entity_ids": [person.id]})).await;
    let params = Params { algorithm: Algorithm::SHA256, digits: 8, period: 30, skew: 1 };

    // Someone the enforcement does not name signs on as before.
    let mut b = Browser::default();
    let signon = {
        let start = b.get(&format!("{}{AUTHORIZE}", s.url("/authorize"))).await;
        start.location.unwrap()
    };
    let done = b.submit(&signon, &[("username", &bystander.username), ("password", &bystander.password)]).await;
    assert!(done.location.unwrap().starts_with(CLI_REDIRECT), "no MFA step for others");

    // First use: enrolment in the page, with the method's parameters.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    let enrol = b.get(&signon).await;
    assert!(enrol.body.contains("Set up") && enrol.body.contains("<svg"), "{}", enrol.body);
    let secret = secret_on(&enrol);
    assert_eq!(secret.len(), 20);
    let wrong = b.submit(&signon, &[("code", "00000000")]).await;
    assert_eq!(wrong.status, 401);
    assert!(
        s.store()
            .totp_enrolment(
                &signet_core::id::MethodId::from(id.as_str()),
                &signet_core::id::AccountId::from(person.id.as_str())
            )
            .await
            .unwrap()
            .is_none(),
        "not enrolled by a wrong code"
    );
    let code = params.code_at(&secret, s.clock.now()).unwrap();
    assert_eq!(code.len(), 8);
    let done = b.submit(&signon, &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with(CLI_REDIRECT));

    // The next sign-on asks for a code; the enrolment's code is spent.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    let ask = b.get(&signon).await;
    assert!(ask.body.contains("Enter the code") && !ask.body.contains("mfa-secret"), "{}", ask.body);
    assert_eq!(b.submit(&signon, &[("code", &code)]).await.status, 401, "a code is accepted once");
    // The method's own limit: a second wrong code locks it for a while, even for a right one.
    assert_eq!(b.submit(&signon, &[("code", "12345678")]).await.status, 401);
    s.clock.advance(30);
    let right = params.code_at(&secret, s.clock.now()).unwrap();
    let locked = b.submit(&signon, &[("code", &right)]).await;
    assert_eq!(locked.status, 401);
    assert!(locked.body.contains("Too many wrong codes"), "{}", locked.body);
    s.clock.advance(120);
    let right = params.code_at(&secret, s.clock.now()).unwrap();
    let done = b.submit(&signon, &[("code", &right)]).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // Every success and failure is in the trail.
    let outcomes: Vec<String> = mfa_events(&s).await.into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, ["failure", "success", "failure", "failure", "failure", "success"]);
    let events = s.store().audit_events(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.event.action == "account.mfa.enrol" && e.event.target == id));
}

#[tokio::test]
async fn totp_enforcement_on_sqlite() {
    totp_enrols_limits_attempts_and_refuses_replays(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn totp_enforcement_on_postgres() {
    totp_enrols_limits_attempts_and_refuses_replays(Server::start_on(Backend::Postgres).await).await;
}

/// PingID through its stand-in, in the device flow, for an enforcement by
/// sign-on kind, with the seed's username_format.
#[tokio::test]
async fn pingid_approves_a_device_and_a_denial_stops_it() {
    let s = Server::start().await;
    let token = admin_token(&s).await;
    let ping = PingIdStandin::start().await;
    let file = format!(
        "use_base64_key={}\nuse_signature=true\ntoken={}\nidp_url={}\norg_alias={}\n",
        ping.use_base64_key, ping.token, ping.idp_url, ping.org_alias
    );
    let id = method(
        &s,
        &token,
        "pingid",
        json!({
            "username_format": "{{identity.entity.aliases.auth_userpass_1793464a.name}}@acme.test",
            "settings_file_base64": b64(&file),
        }),
    )
    .await;
    enforce(&s, &token, "everyone", json!({"mfa_method_ids": [id], "auth_method_types": ["password"]})).await;
    let person = s.account(false, false).await;
    let pinged = format!("{}@acme.test", person.username);

    for (outcome, approved) in
        [(PingIdOutcome::Deny { error_id: 10002, message: "denied".into() }, false), (PingIdOutcome::Approve, true)]
    {
        ping.set(&pinged, outcome);
        let (_, d) = s
            .post_form(&s.url("/device_authorization"), &[("client_id", "signet-cli"), ("scope", "openid")], None)
            .await;
        let mut b = Browser::default();
        let signon =
            b.submit(&s.url("/device"), &[("user_code", d["user_code"].as_str().unwrap())]).await.location.unwrap();
        b.submit(&signon, &[("username", &person.username), ("password", &person.password)]).await;
        let ask = b.get(&signon).await;
        assert!(ask.body.contains("PingID"), "{}", ask.body);
        let answer = b.submit(&signon, &[("push", "1")]).await;
        if !approved {
            assert_eq!(answer.status, 401);
            assert!(answer.body.contains("not approved"), "{}", answer.body);
            continue;
        }
        assert_eq!(answer.status, 303, "{}", answer.body);
        let consent = b.get(&signon).await;
        assert!(consent.body.contains("Approve this device?"), "{}", consent.body);
        assert_eq!(b.submit(&signon, &[("decision", "approve")]).await.status, 200);
    }
    // The stand-in was asked about the name the format made, under the org's token.
    let asked = ping.requests();
    assert_eq!(asked.len(), 2);
    for r in &asked {
        let payload = r.body.split('.').nth(1).and_then(signet_core::crypto::b64url_decode).unwrap();
        let claims: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims["reqBody"]["userName"], pinged.as_str(), "{claims}");
        assert_eq!(claims["reqHeader"]["orgAlias"], ping.org_alias.as_str());
    }
    // Each push is a call made for the page's request, in its trace (W3C Trace Context).
    let traces: Vec<_> =
        asked.iter().map(|r| r.header("traceparent").and_then(signet_server::trace_context::parse)).collect();
    assert!(traces.iter().all(Option::is_some) && traces[0] != traces[1], "{traces:?}");
    assert_eq!(
        mfa_events(&s).await,
        [("mfa:pingid".into(), "failure".into()), ("mfa:pingid".into(), "success".into())]
    );
}

/// Okta push and Duo passcode through their stand-ins, in the code flow,
/// with a choice between methods; an unreachable service is a clear failure.
#[tokio::test]
async fn okta_and_duo_each_satisfy_an_enforcement_of_either() {
    let s = Server::start().await;
    let token = admin_token(&s).await;
    let okta = OktaStandin::start().await;
    let duo = DuoStandin::start().await;
    let person = s.account(false, false).await;
    let okta_id = method(
        &s,
        &token,
        "okta",
        json!({"org_name": "acme", "api_token": okta.api_token, "base_url": okta.base, "method_name": "okta"}),
    )
    .await;
    let duo_id = method(
        &s,
        &token,
        "duo",
        json!({
            "integration_key": duo.integration_key, "secret_key": duo.secret_key, "api_hostname": duo.base,
            "use_passcode": true, "method_name": "duo"
        }),
    )
    .await;
    enforce(&s, &token, "acme", json!({"mfa_method_ids": [okta_id, duo_id], "auth_method_accessors": [s.env_id]}))
        .await;
    okta.set(&person.username, OktaOutcome::Approve { waits: 0 });
    duo.set(&person.username, DuoOutcome::Passcode("314159".into()));

    // Okta Verify push.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    let choose = b.get(&signon).await;
    assert!(choose.body.contains("Okta Verify (okta)") && choose.body.contains("Duo (duo)"), "{}", choose.body);
    let chosen = b.submit(&signon, &[("method", &okta_id)]).await;
    assert_eq!(chosen.status, 303);
    let done = b.submit(&signon, &[("push", "1")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with(CLI_REDIRECT));

    // A Duo passcode; a wrong one first.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    b.submit(&signon, &[("method", &duo_id)]).await;
    let page = b.get(&signon).await;
    assert!(page.body.contains("passcode"), "{}", page.body);
    assert_eq!(b.submit(&signon, &[("code", "271828")]).await.status, 401);
    let done = b.submit(&signon, &[("code", "314159")]).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // A method not in the set cannot be chosen.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    let other = b.submit(&signon, &[("method", "00000000-0000-4000-8000-000000000000")]).await;
    assert_eq!(other.status, 401);
    assert_eq!(
        mfa_events(&s).await,
        [
            ("mfa:okta".into(), "success".into()),
            ("mfa:duo".into(), "failure".into()),
            ("mfa:duo".into(), "success".into())
        ]
    );
}

/// LDAP sign-ons to the admin API: a matching enforcement asks for Vault's
/// X-Vault-MFA header, checks it with the service, and a pass stands a while.
#[tokio::test]
async fn ldap_sign_ons_to_the_admin_api_pass_enforcements_with_x_vault_mfa() {
    use signet_testkit::ldap::Slapd;
    let s = Server::start().await;
    let dir = std::env::temp_dir().join(format!("signet-slapd-{}", signet_core::crypto::random_id().unwrap()));
    let slapd = Slapd::start(&dir, None).await;
    let root = crate::admin::basic(&s.boot.admin.username, &s.boot.admin.password);
    let api = crate::admin::Api::new(&s);
    let settings = json!({"schemes": ["native", "ldap"], "ldap": {
        "connection": {"url": slapd.url, "dn_template": "uid={username},ou=people,dc=example,dc=test",
                       "groups": {"base_dn": "ou=groups,dc=example,dc=test"}},
        "roles": [{"value": "cn=signet-admins,ou=groups,dc=example,dc=test", "roles": ["UserAdmin", "Admin", "ExpressionAdmin", "CryptoAdmin"]}]}});
    let set = api.call(reqwest::Method::PUT, "/settings/authentication", Some(&root), Some(settings), None).await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    let token = admin_token(&s).await;
    let duo = DuoStandin::start().await;
    duo.set("alice", DuoOutcome::Passcode("424242".into()));
    let duo_id = method(
        &s,
        &token,
        "duo",
        json!({"integration_key": duo.integration_key, "secret_key": duo.secret_key, "api_hostname": duo.base,
               "use_passcode": true, "method_name": "duo"}),
    )
    .await;
    let totp_id = method(&s, &token, "totp", json!({"issuer": "Acme"})).await;
    // Password (native) sign-ons are not touched by an LDAP enforcement.
    enforce(&s, &token, "directory", json!({"mfa_method_ids": [duo_id, totp_id], "auth_method_types": ["ldap"]})).await;
    assert_eq!(api.get("/accounts", &root).await.status, 200);

    let alice = crate::admin::basic("alice", "alicepw");
    // Being told a second factor is needed is not a failed sign-on: no 429 for the address.
    for _ in 0..=signet_server::ratelimit::ADDRESS_MAX {
        let told = s.http.get(format!("{}/admin-api/v1/accounts", s.base)).header("authorization", alice.clone());
        assert_eq!(told.send().await.unwrap().status().as_u16(), 401);
    }
    let call = |mfa: Option<&'static str>| {
        let mut req = s.http.get(format!("{}/admin-api/v1/accounts", s.base)).header("authorization", alice.clone());
        if let Some(m) = mfa {
            req = req.header("x-vault-mfa", m);
        }
        req.send()
    };
    let bare = call(None).await.unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    assert!(
        body["message"].as_str().unwrap().contains("X-Vault-MFA") && body["message"].as_str().unwrap().contains("duo")
    );
    let totp = call(Some("unused-name")).await.unwrap();
    assert_eq!(totp.status().as_u16(), 401, "a method outside the set is no answer");
    let wrong = call(Some("duo:111111")).await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = call(Some("duo:424242")).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200, "{}", ok.text().await.unwrap());
    // The pass stands for a while, from this address.
    assert_eq!(call(None).await.unwrap().status().as_u16(), 200);
    s.clock.advance(301);
    assert_eq!(call(None).await.unwrap().status().as_u16(), 401, "and then lapses");
    assert_eq!(mfa_events(&s).await, [("mfa:duo".into(), "failure".into()), ("mfa:duo".into(), "success".into())]);
}

/// A password alone cannot add a second authenticator, a method's later
/// change keeps working for those enrolled, and `prompt=none` never shows a page.
#[tokio::test]
async fn enrolment_needs_a_factor_once_one_exists_and_survives_method_changes() {
    let s = Server::start().await;
    let token = admin_token(&s).await;
    let person = s.account(false, false).await;
    let phone = method(&s, &token, "totp", json!({"issuer": "Acme", "method_name": "phone"})).await;
    let spare = method(&s, &token, "totp", json!({"issuer": "Acme", "method_name": "spare"})).await;
    enforce(&s, &token, "people", json!({"mfa_method_ids": [phone, spare], "identity_entity_ids": [person.id]})).await;
    let params = Params { algorithm: Algorithm::SHA1, digits: 6, period: 30, skew: 1 };

    // First sign-on: the password sets up a first method.
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    b.submit(&signon, &[("method", &phone)]).await;
    let secret = secret_on(&b.get(&signon).await);
    let done = b.submit(&signon, &[("code", &params.code_at(&secret, s.clock.now()).unwrap())]).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // Someone with the password only cannot set up the spare one for themselves.
    let mut thief = Browser::default();
    let signon = password(&s, &mut thief, &person).await;
    thief.submit(&signon, &[("method", &spare)]).await;
    let page = thief.get(&signon).await;
    assert!(!page.body.contains("mfa-secret"), "no new secret is offered: {}", page.body);
    let refused = thief.submit(&signon, &[("code", "123456")]).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("not set up for your account"), "{}", refused.body);
    assert!(
        s.store()
            .totp_enrolment(
                &signet_core::id::MethodId::from(spare.as_str()),
                &signet_core::id::AccountId::from(person.id.as_str())
            )
            .await
            .unwrap()
            .is_none()
    );

    // The administrator changes the phone method's period and digits: the
    // person's authenticator, set up with the old ones, still works.
    let changed = crate::vault::Vault::new(&s)
        .call(
            "POST",
            &format!("identity/mfa/method/totp/{phone}"),
            Some(&token),
            Some(json!({"issuer": "Acme", "period": 60, "digits": 8})),
        )
        .await;
    assert_eq!(changed.status, 204);
    s.clock.advance(30);
    let mut b = Browser::default();
    let signon = password(&s, &mut b, &person).await;
    b.submit(&signon, &[("method", &phone)]).await;
    let done = b.submit(&signon, &[("code", &params.code_at(&secret, s.clock.now()).unwrap())]).await;
    assert_eq!(done.status, 303, "{}", done.body);

    // A lost phone: an administrator ends the enrolment (Vault's admin-destroy).
    let v = crate::vault::Vault::new(&s);
    let destroy = "identity/mfa/method/totp/admin-destroy";
    let missing = v.call("POST", destroy, Some(&token), Some(json!({"entity_id": person.id}))).await;
    assert_eq!((missing.status, missing.body["errors"][0].as_str()), (400, Some("missing method ID")));
    let nobody = v.call("POST", destroy, Some(&token), Some(json!({"method_id": phone, "entity_id": "nobody"}))).await;
    assert_eq!((nobody.status, nobody.body["errors"][0].as_str()), (400, Some("invalid entity ID")));
    let done = v.call("POST", destroy, Some(&token), Some(json!({"method_id": phone, "entity_id": person.id}))).await;
    assert_eq!(done.status, 204, "{}", done.body);
    assert!(
        s.store()
            .totp_enrolment(
                &signet_core::id::MethodId::from(phone.as_str()),
                &signet_core::id::AccountId::from(person.id.as_str())
            )
            .await
            .unwrap()
            .is_none()
    );
    let events = s.store().audit_events(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.event.action == "mfa.enrolment.destroy" && e.event.target == person.id));

    // A session without a second factor on record, asked with prompt=none, is told to interact.
    let other = s.account(false, false).await;
    let mut b = Browser::default();
    let start = b.get(&format!("{}{AUTHORIZE}", s.url("/authorize"))).await;
    let signon = start.location.unwrap();
    let done = b.submit(&signon, &[("username", &other.username), ("password", &other.password)]).await;
    assert!(done.location.unwrap().starts_with(CLI_REDIRECT), "not enforced yet");
    enforce(&s, &token, "everyone", json!({"mfa_method_ids": [phone], "auth_method_types": ["password"]})).await;
    let silent = b.get(&format!("{}{AUTHORIZE}&prompt=none", s.url("/authorize"))).await;
    let location = silent.location.unwrap();
    assert!(location.starts_with(CLI_REDIRECT) && location.contains("error=interaction_required"), "{location}");
    let again = b.get(&format!("{}{AUTHORIZE}", s.url("/authorize"))).await;
    let step_up = b.get(&again.location.unwrap()).await;
    assert!(step_up.body.contains("Set up"), "the session steps up: {}", step_up.body);
}

/// RADIUS sign-ons to the admin API, matched by group (their Class grants
/// CryptoAdmin): a PingID push through its stand-in, named in X-Vault-MFA.
#[tokio::test]
async fn radius_sign_ons_pass_a_group_enforcement_with_a_pingid_push() {
    use signet_testkit::radius::{FreeRadius, FreeRadiusOptions};
    let users = "carol Cleartext-Password := \"carolpw\"\n    Class := \"signet:crypto\"\n\
                 dave Cleartext-Password := \"davepw\"\n    Class := \"signet:ops\"\n";
    let radius =
        FreeRadius::start_with(FreeRadiusOptions { users: users.into(), ..FreeRadiusOptions::default() }).await;
    let s = Server::start().await;
    let api = crate::admin::Api::new(&s);
    let root = crate::admin::basic(&s.boot.admin.username, &s.boot.admin.password);
    let settings = json!({"schemes": ["native", "radius"], "radius": {
        "connection": {"servers": [{"address": radius.address, "secret": radius.secret}], "timeout_ms": 500, "retries": 0},
        "role_attribute": "Class",
        "roles": [{"value": "signet:crypto", "roles": ["CryptoAdmin"]}, {"value": "signet:ops", "roles": ["Admin"]}]}});
    let set = api.call(reqwest::Method::PUT, "/settings/authentication", Some(&root), Some(settings), None).await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    let token = admin_token(&s).await;
    let ping = PingIdStandin::start().await;
    let file = format!(
        "use_base64_key={}\ntoken={}\nidp_url={}\norg_alias={}\n",
        ping.use_base64_key, ping.token, ping.idp_url, ping.org_alias
    );
    let id = method(
        &s,
        &token,
        "pingid",
        json!({"settings_file_base64": b64(&file), "method_name": "ping",
               "username_format": "{{identity.entity.aliases.auth_radius_0a1b2c3d.name}}@corp"}),
    )
    .await;
    enforce(&s, &token, "crypto", json!({"mfa_method_ids": [id], "identity_group_ids": ["CryptoAdmin"]})).await;
    ping.set("carol@corp", PingIdOutcome::Approve);

    let get = |who: &str, mfa: Option<&str>| {
        let mut req = s
            .http
            .get(format!("{}/admin-api/v1/environments", s.base))
            .header("authorization", crate::admin::basic(who, &format!("{who}pw")));
        if let Some(m) = mfa {
            req = req.header("x-vault-mfa", m.to_owned());
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("dave", None).await, 200, "not in the group");
    assert_eq!(get("carol", None).await, 401);
    assert_eq!(get("carol", Some("ping")).await, 200);
    let asked = ping.requests();
    assert_eq!(asked.len(), 1);
    let payload = asked[0].body.split('.').nth(1).and_then(signet_core::crypto::b64url_decode).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["reqBody"]["userName"], "carol@corp", "the radius alias fills the format");
    assert_eq!(mfa_events(&s).await, [("mfa:pingid".into(), "success".into())]);
}
