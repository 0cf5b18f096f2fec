//! The Vault-compatible Login MFA API (seed 002): Vault's paths, verbs,
//! envelope and errors; the roles in the store; the trail; and real
//! clients (the seed's own curl commands, Vault's Python client).

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

/// Vault's CRUD test fixture: two comment lines and all seven keys.
pub const FIXTURE: &str = "#Auto-Generated from PingOne, downloaded by id=[SSO]\n\
#Wed Jan 01 00:00:00 UTC 2025\n\
use_base64_key=bXktc2VjcmV0LWtleQ==\n\
use_signature=true\n\
token=widgets-token-1\n\
idp_url=https://idpxnyl3m.pingidentity.com/pingid\n\
org_alias=181459b0-9fb1-4938-8c86-181459b0abcd\n\
admin_url=https://idpxnyl3m.pingidentity.com/pingid\n\
authenticator_url=https://authenticator.pingone.com/pingid/ppm\n";

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub struct Vault<'a> {
    s: &'a Server,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl<'a> Vault<'a> {
    pub fn new(s: &'a Server) -> Vault<'a> {
        Vault { s }
    }

    pub async fn call(&self, verb: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut req =
            self.s.http.request(Method::from_bytes(verb.as_bytes()).unwrap(), format!("{}/v1/{path}", self.s.base));
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        Answer { status, body }
    }
}

/// An admin-audience access token of an admin account holding every role.
pub async fn admin_token(s: &Server) -> String {
    let person = s.account(true, true).await;
    code_flow_tokens(s, &person).await["access_token"].as_str().unwrap().to_owned()
}

/// A worker's token with only these roles.
async fn worker_token(s: &Server, roles: &[signet_proto::roles::Role]) -> String {
    let (id, secret) = s
        .application(
            signet_core::model::AppKind::Worker,
            &[signet_core::model::GrantType::ClientCredentials],
            roles,
            None,
        )
        .await;
    let (status, t) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", secret.as_deref().unwrap()),
        ])
        .await;
    assert_eq!(status, 200, "{t}");
    t["access_token"].as_str().unwrap().to_owned()
}

fn assert_errors(a: &Answer, status: u16, needle: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    let errors = a.body["errors"].as_array().unwrap_or_else(|| panic!("no errors array: {}", a.body));
    assert!(errors.iter().any(|e| e.as_str().unwrap().contains(needle)), "{needle:?} not in {}", a.body);
}

async fn crud_errors_and_roles(s: Server) {
    let v = Vault::new(&s);
    let token = admin_token(&s).await;
    let t = Some(token.as_str());

    // Who may call.
    assert_eq!(v.call("LIST", "identity/mfa/method", None, None).await.body, json!({"errors": ["permission denied"]}));
    let forged = v.call("LIST", "identity/mfa/method", Some("not.a.token"), None).await;
    assert_eq!((forged.status, forged.body), (403, json!({"errors": ["permission denied"]})));

    // Nothing yet: an empty list is 404 with no message.
    let empty = v.call("LIST", "identity/mfa/method", t, None).await;
    assert_eq!((empty.status, empty.body), (404, json!({"errors": []})));

    // Bad input: Vault's messages, nothing written.
    assert_errors(
        &v.call("POST", "identity/mfa/method/pingid", t, Some(json!({"settings_file_base64": ""}))).await,
        400,
        "settings_file_base64 is empty",
    );
    assert_errors(
        &v.call("POST", "identity/mfa/method/pingid", t, Some(json!({"settings_file_base64": b64("x\n")}))).await,
        400,
        "not in key=value format",
    );
    assert_errors(
        &v.call("POST", "identity/mfa/method/pingid", t, Some(json!({"settings_file_base64": b64("colour=red\n")})))
            .await,
        400,
        "unknown key \"colour\"",
    );
    let http_idp = b64("idp_url=http://idp.example/pingid\n");
    assert_errors(
        &v.call("POST", "identity/mfa/method/pingid", t, Some(json!({"settings_file_base64": http_idp}))).await,
        400,
        "idp_url",
    );
    assert_errors(
        &v.call(
            "POST",
            "identity/mfa/method/pingid",
            t,
            Some(json!({"settings_file_base64": b64(FIXTURE), "username_format": "{{identity.entity.email}}"})),
        )
        .await,
        400,
        "unsupported placeholder",
    );
    assert_errors(
        &v.call("POST", "identity/mfa/method/totp", t, Some(json!({"digits": 7, "issuer": "x"}))).await,
        400,
        "digits can only be 6 or 8",
    );
    let raw = s
        .http
        .post(format!("{}/v1/identity/mfa/method/totp", s.base))
        .header("X-Vault-Token", &token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert!(raw.text().await.unwrap().contains("failed to parse JSON input"));
    let huge = s
        .http
        .post(format!("{}/v1/identity/mfa/method/totp", s.base))
        .header("X-Vault-Token", &token)
        .body(format!("{{\"issuer\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);
    assert!(huge.json::<Value>().await.unwrap()["errors"][0].is_string(), "Vault's error body, not plain text");
    let mangled = s
        .http
        .get(format!("{}/v1/identity/mfa/login-enforcement/%FF%FE", s.base))
        .header("X-Vault-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(mangled.status().as_u16(), 404);
    assert_eq!(mangled.json::<Value>().await.unwrap(), json!({"errors": []}));
    assert_eq!(v.call("LIST", "identity/mfa/method", t, None).await.status, 404, "nothing half-written");

    // Create with Vault's fixture and the seed's sample username_format.
    let created = v
        .call(
            "POST",
            "identity/mfa/method/pingid",
            t,
            Some(json!({
                "method_name": "ping",
                "username_format": "{{identity.entity.aliases.auth_userpass_1793464a.name}}",
                "settings_file_base64": b64(FIXTURE),
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["data"]["method_id"].as_str().unwrap().to_owned();
    assert!(signet_core::mfa::is_method_id(&id), "{id}");
    assert_eq!(created.body["warnings"], Value::Null);

    for path in [format!("identity/mfa/method/pingid/{id}"), format!("identity/mfa/method/{id}")] {
        let read = v.call("GET", &path, t, None).await;
        assert_eq!(read.status, 200, "{}", read.body);
        let d = &read.body["data"];
        assert_eq!(d["use_signature"], true);
        assert_eq!(d["idp_url"], "https://idpxnyl3m.pingidentity.com/pingid");
        assert_eq!(d["org_alias"], "181459b0-9fb1-4938-8c86-181459b0abcd");
        assert_eq!(d["admin_url"], "https://idpxnyl3m.pingidentity.com/pingid");
        assert_eq!(d["authenticator_url"], "https://authenticator.pingone.com/pingid/ppm");
        assert_eq!(
            (d["type"].as_str(), d["id"].as_str(), d["name"].as_str()),
            (Some("pingid"), Some(id.as_str()), Some("ping"))
        );
        assert_eq!(d["namespace_path"], "root");
        assert!(d.get("namespace_id").is_some());
        let text = read.body.to_string();
        assert!(
            !text.contains("token") && !text.contains("use_base64_key") && !text.contains("bXktc2VjcmV0"),
            "{text}"
        );
    }

    // An update replaces the whole method but keeps name and format.
    let fixture2 = FIXTURE.replace("idpxnyl3m.pingidentity.com/pingid\norg", "idp2.pingidentity.com/pingid\norg");
    let updated = v
        .call(
            "POST",
            &format!("identity/mfa/method/pingid/{id}"),
            t,
            Some(json!({"settings_file_base64": b64(&fixture2)})),
        )
        .await;
    assert_eq!((updated.status, updated.body), (204, Value::Null));
    let read = v.call("GET", &format!("identity/mfa/method/pingid/{id}"), t, None).await;
    assert_eq!(read.body["data"]["idp_url"], "https://idp2.pingidentity.com/pingid");
    assert_eq!(read.body["data"]["name"], "ping");
    let minimal = b64("idp_url=https://idp3.pingidentity.com/pingid\n");
    v.call("POST", &format!("identity/mfa/method/pingid/{id}"), t, Some(json!({"settings_file_base64": minimal})))
        .await;
    let read = v.call("GET", &format!("identity/mfa/method/{id}"), t, None).await;
    assert_eq!(
        (read.body["data"]["use_signature"].as_bool(), read.body["data"]["org_alias"].as_str()),
        (Some(false), Some(""))
    );
    let stored = s.store().mfa_method(&id).await.unwrap().unwrap();
    assert_eq!(stored.username_format, "{{identity.entity.aliases.auth_userpass_1793464a.name}}");

    // A TOTP method, and the lists.
    let totp = v
        .call(
            "POST",
            "identity/mfa/method/totp",
            t,
            Some(json!({"issuer": "signet", "method_name": "app", "extra": 1})),
        )
        .await;
    assert_eq!(totp.status, 200, "{}", totp.body);
    assert!(totp.body["warnings"][0].as_str().unwrap().contains("extra"));
    let totp_id = totp.body["data"]["method_id"].as_str().unwrap().to_owned();
    let dup = v.call("POST", "identity/mfa/method/totp", t, Some(json!({"issuer": "x", "method_name": "ping"}))).await;
    assert_errors(&dup, 400, "method name ping already exists");
    for (verb, path) in [("LIST", "identity/mfa/method/pingid"), ("GET", "identity/mfa/method/pingid?list=true")] {
        let l = v.call(verb, path, t, None).await;
        assert_eq!(l.status, 200, "{}", l.body);
        assert_eq!(l.body["data"]["keys"], json!([id]));
        assert_eq!(l.body["data"]["key_info"][&id]["type"], "pingid");
    }
    let all = v.call("LIST", "identity/mfa/method", t, None).await;
    let mut keys: Vec<&str> =
        all.body["data"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    keys.sort();
    let mut want = vec![id.as_str(), totp_id.as_str()];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(all.body["data"]["key_info"][&totp_id]["algorithm"], "SHA1");
    assert_eq!(v.call("LIST", "identity/mfa/method/okta", t, None).await.body, json!({"errors": []}));
    let bad_list = v.call("GET", "identity/mfa/method/pingid?list=maybe", t, None).await;
    assert_errors(&bad_list, 400, "list parameter");
    // `vault list identity/mfa/method/pingid` asks with a trailing slash.
    let slashed = v.call("GET", "identity/mfa/method/pingid/?list=true", t, None).await;
    assert_eq!(slashed.body["data"]["keys"], json!([id]), "{}", slashed.body);

    // Ids, types and verbs.
    let upper = id.to_uppercase();
    assert_eq!(v.call("GET", &format!("identity/mfa/method/pingid/{upper}"), t, None).await.status, 404);
    assert_eq!(v.call("GET", &format!("identity/mfa/method/{upper}"), t, None).await.status, 404);
    let missing = v.call("GET", "identity/mfa/method/pingid/00000000-0000-4000-8000-000000000000", t, None).await;
    assert_eq!((missing.status, missing.body), (404, json!({"errors": []})));
    assert_errors(&v.call("GET", &format!("identity/mfa/method/totp/{id}"), t, None).await, 400, "under MFA type totp");
    assert_eq!(v.call("PATCH", &format!("identity/mfa/method/pingid/{id}"), t, None).await.status, 405);
    assert_eq!(v.call("DELETE", "identity/mfa/method/pingid", t, None).await.status, 405);
    assert_eq!(v.call("GET", "identity/mfa/method/sms/x", t, None).await.status, 404);

    // Roles from the store: a CryptoAdmin worker reads but does not write.
    let crypto = worker_token(&s, &[signet_proto::roles::Role::CryptoAdmin]).await;
    assert_eq!(v.call("GET", &format!("identity/mfa/method/{id}"), Some(&crypto), None).await.status, 200);
    let refused = v.call("POST", "identity/mfa/method/totp", Some(&crypto), Some(json!({"issuer": "x"}))).await;
    assert_eq!((refused.status, refused.body), (403, json!({"errors": ["permission denied"]})));
    // Bearer works as X-Vault-Token does.
    let bearer = s
        .http
        .get(format!("{}/v1/identity/mfa/method/{id}", s.base))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 200);

    // Login enforcements.
    let e = "identity/mfa/login-enforcement/admins";
    assert_errors(
        &v.call("POST", e, t, Some(json!({"mfa_method_ids": [id]}))).await,
        400,
        "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified",
    );
    assert_errors(
        &v.call("POST", e, t, Some(json!({"auth_method_types": ["password"]}))).await,
        400,
        "missing method ids",
    );
    assert_errors(
        &v.call(
            "POST",
            e,
            t,
            Some(
                json!({"mfa_method_ids": ["00000000-0000-4000-8000-000000000000"], "auth_method_types": ["password"]}),
            ),
        )
        .await,
        400,
        "method ids doesn't exist",
    );
    assert_errors(
        &v.call("POST", e, t, Some(json!({"mfa_method_ids": [id], "auth_method_accessors": ["nowhere"]}))).await,
        400,
        "accessors provided is invalid",
    );
    assert_errors(
        &v.call("POST", e, t, Some(json!({"mfa_method_ids": [id], "identity_entity_ids": ["nobody"]}))).await,
        400,
        "entity ids doesn't exist",
    );
    assert_errors(
        &v.call("POST", e, t, Some(json!({"mfa_method_ids": [id], "auth_method_types": []}))).await,
        400,
        "One of auth_method_accessors",
    );
    assert_eq!(v.call("GET", e, t, None).await.status, 404, "nothing half-written");
    let put = v
        .call("POST", e, t, Some(json!({"mfa_method_ids": [id, totp_id], "auth_method_types": ["password"], "auth_method_accessors": [s.env_id]})))
        .await;
    assert_eq!(put.status, 204, "{}", put.body);
    let read = v.call("GET", e, t, None).await;
    assert_eq!(read.body["data"]["mfa_method_ids"], json!([id, totp_id]));
    assert_eq!(read.body["data"]["auth_method_accessors"], json!([s.env_id]));
    let enforcement_id = read.body["data"]["id"].as_str().unwrap().to_owned();
    // An update may not leave it without targets either.
    let emptied = v
        .call("POST", e, t, Some(json!({"mfa_method_ids": [id], "auth_method_types": [], "auth_method_accessors": ""})))
        .await;
    assert_errors(&emptied, 400, "One of auth_method_accessors");
    assert_eq!(v.call("GET", e, t, None).await.body["data"]["auth_method_types"], json!(["password"]));
    let listed = v.call("LIST", "identity/mfa/login-enforcement", t, None).await;
    assert_eq!(listed.body["data"]["keys"], json!(["admins"]));
    let in_use = v.call("DELETE", &format!("identity/mfa/method/pingid/{id}"), t, None).await;
    assert_errors(&in_use, 400, &format!("enforcement configuration with ID: {enforcement_id} (name \"admins\")"));
    assert_eq!(v.call("GET", &format!("identity/mfa/method/{id}"), t, None).await.status, 200, "still there");
    assert_eq!(v.call("DELETE", e, t, None).await.status, 204);
    assert_eq!(v.call("DELETE", e, t, None).await.status, 404);
    assert_eq!(v.call("DELETE", &format!("identity/mfa/method/pingid/{id}"), t, None).await.status, 204);
    assert_eq!(v.call("GET", &format!("identity/mfa/method/{id}"), t, None).await.status, 404);
    assert_eq!(v.call("DELETE", &format!("identity/mfa/method/pingid/{id}"), t, None).await.status, 404);

    // Every write is in the trail, by the person who made it.
    let events = s.store().audit_events(0, 1000).await.unwrap();
    let mfa: Vec<_> = events.iter().filter(|e| e.event.action.starts_with("mfa.")).collect();
    let actions: Vec<&str> = mfa.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "mfa.method.create",
            "mfa.method.update",
            "mfa.method.update",
            "mfa.method.create",
            "mfa.enforcement.create",
            "mfa.enforcement.delete",
            "mfa.method.delete"
        ]
    );
    assert!(
        mfa.iter().all(|e| e.event.actor.scheme == signet_core::audit::ActorScheme::Oauth && e.event.jti.is_some())
    );
    assert!(
        !serde_json::to_string(&events.iter().map(|e| &e.event).collect::<Vec<_>>())
            .unwrap()
            .contains("widgets-token-1")
    );
}

#[tokio::test]
async fn vault_api_crud_errors_and_roles_on_sqlite() {
    crud_errors_and_roles(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn vault_api_crud_errors_and_roles_on_postgres() {
    crud_errors_and_roles(Server::start_on(Backend::Postgres).await).await;
}

/// A list is answered from what this instance built, until a write on any
/// instance sharing the store changes the methods.
#[tokio::test]
async fn a_list_follows_writes_made_on_another_instance() {
    let s = Server::start_on(Backend::Postgres).await;
    let token = admin_token(&s).await;
    let v = Vault::new(&s);
    let other = s.another_instance().await;
    let other_base = other.trim_end_matches(&format!("/{}/as", s.env_id)).to_owned();
    let create_on = |base: String, issuer: &str| {
        let body = json!({"issuer": issuer});
        let req = s
            .http
            .post(format!("{base}/v1/identity/mfa/method/totp"))
            .header("X-Vault-Token", token.clone())
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status().as_u16(), 200);
            res.json::<Value>().await.unwrap()["data"]["method_id"].as_str().unwrap().to_owned()
        }
    };
    let first = create_on(s.base.clone(), "one").await;
    let keys = |a: &Answer| a.body["data"]["keys"].as_array().map(|k| k.len()).unwrap_or(0);
    let listed = v.call("LIST", "identity/mfa/method", Some(&token), None).await;
    assert_eq!(keys(&listed), 1);
    assert_eq!(v.call("LIST", "identity/mfa/method", Some(&token), None).await.body["data"], listed.body["data"]);
    let second = create_on(other_base.clone(), "two").await;
    let after = v.call("LIST", "identity/mfa/method/totp", Some(&token), None).await;
    assert_eq!(keys(&after), 2, "{}", after.body);
    assert_eq!(after.body["data"]["key_info"][&second]["issuer"], "two");
    // A delete on the other instance shows here too.
    let gone = s
        .http
        .delete(format!("{other_base}/v1/identity/mfa/method/totp/{first}"))
        .header("X-Vault-Token", token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 204);
    let last = v.call("LIST", "identity/mfa/method", Some(&token), None).await;
    assert_eq!(last.body["data"]["keys"], json!([second]));
    assert_ne!(last.body["request_id"], after.body["request_id"], "each answer has its own request id");
}
