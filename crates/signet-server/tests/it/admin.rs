//! The admin API end to end: native Basic and OAuth callers, the policy's
//! answers, ETags, bad bodies, and the audit trail it leaves.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use signet_core::model::{AppKind, GrantType};

use std::borrow::Cow;

use signet_client::admin::{AdminClient, AdminError, Credentials, Reply, Versioned, encode_query};
use signet_proto::admin::accounts::{AccountPage, AccountUpdate, AccountView, NewAccount, PasswordChange};
use signet_proto::admin::applications::{self as wire, ApplicationPage, ApplicationView, NewApplication};
use signet_proto::admin::audit::{AuditItem, AuditPage, ChainStatus};
use signet_proto::roles::Role;

use crate::harness::*;

pub struct Api<'a> {
    s: &'a Server,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

impl<'a> Api<'a> {
    pub fn new(s: &'a Server) -> Api<'a> {
        Api { s, http: reqwest::Client::new() }
    }

    /// Through `http`: an HTTPS client trusting the server, perhaps with a client certificate.
    pub fn with_client(s: &'a Server, http: reqwest::Client) -> Api<'a> {
        Api { s, http }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}/admin-api/v1{path}", self.s.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = if_match {
            req = req.header("if-match", t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let etag = headers.get("etag").map(|v| v.to_str().unwrap().to_owned());
        let text = res.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Answer { status, etag, headers, body }
    }

    pub async fn get(&self, path: &str, auth: &str) -> Answer {
        self.call(Method::GET, path, Some(auth), None, None).await
    }
}

/// The error body of the admin API.
pub fn assert_error(a: &Answer, status: u16, error: &str, mentions: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["error"], error, "{:?}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains(mentions), "{:?}", a.body);
}

/// The admin API through `signet_client`'s typed client, as `username`.
pub fn typed(s: &Server, username: &str, password: &str) -> AdminClient {
    let base = url::Url::parse(&format!("{}/admin-api/v1", s.base)).unwrap();
    AdminClient::new(reqwest::Client::new(), base, Credentials::basic(username, password))
}

/// A refusal by the admin API: its status, its code, and a message that mentions `mentions`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(r: Result<T, AdminError>, status: u16, error: &str, mentions: &str) {
    let refusal = match r {
        Err(AdminError::Refused(r) | AdminError::Changed(r)) => r,
        other => panic!("expected a {status} refusal, got {other:?}"),
    };
    assert_eq!((refusal.status, refusal.code.as_deref()), (status, Some(error)), "{refusal}");
    assert!(refusal.message.contains(mentions), "{refusal}");
}

/// An account as `NewAccount` takes it.
pub fn new_account<'a>(username: &'a str, password: &'a str, roles: &[Role], auditor: bool) -> NewAccount<'a> {
    NewAccount {
        username: Cow::Borrowed(username),
        password: Cow::Borrowed(password),
        active: true,
        roles: roles.iter().copied().collect(),
        auditor,
    }
}

pub fn password_change<'a>(current: Option<&'a str>, password: &'a str) -> PasswordChange<'a> {
    PasswordChange {
        current_password: current.map(Cow::Borrowed),
        password: Cow::Borrowed(password),
        must_change: None,
    }
}

fn account_update(active: bool, roles: &[Role], auditor: bool) -> AccountUpdate {
    AccountUpdate { username: None, active, roles: roles.iter().copied().collect(), auditor }
}

/// A `POST` or an unconditional `PUT` (no `If-Match`), answered with its status.
async fn send<B: serde::Serialize>(
    admin: &AdminClient,
    method: Method,
    segments: &[&str],
    body: &B,
) -> Result<Reply, AdminError> {
    admin.execute(method, admin.at(segments, None).unwrap(), Some(body), None).await
}

/// One request through the typed client that must be answered with
/// `status`: the answer read as a `T` (`()` for none), and its version.
pub async fn answered<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
    admin: &AdminClient,
    method: Method,
    segments: &[&str],
    body: Option<&B>,
    if_match: Option<&str>,
    status: u16,
) -> Versioned<T> {
    let reply = admin.execute(method.clone(), admin.at(segments, None).unwrap(), body, if_match).await;
    let reply = reply.unwrap_or_else(|e| panic!("{method} {segments:?}: expected {status}, got {e}"));
    assert_eq!(reply.status, status, "{method} {segments:?}: {reply:?}");
    let text = if reply.text.is_empty() { "null" } else { reply.text.as_str() };
    Versioned { value: serde_json::from_str(text).unwrap(), etag: reply.etag }
}

/// A `POST` to a collection that must be answered 201 Created.
pub async fn created<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
    admin: &AdminClient,
    segments: &[&str],
    body: &B,
) -> Versioned<T> {
    answered(admin, Method::POST, segments, Some(body), None, 201).await
}

/// A `DELETE` that must be answered 204 No Content.
pub async fn deleted(admin: &AdminClient, segments: &[&str], if_match: Option<&str>) {
    answered::<(), ()>(admin, Method::DELETE, segments, None, if_match, 204).await;
}

/// A `GET` through the typed client, read both as its text (to look for
/// what must never be in it) and as a `T`.
pub async fn read_both<T: serde::de::DeserializeOwned>(
    admin: &AdminClient,
    segments: &[&str],
    query: &[(&str, &str)],
) -> (String, Versioned<T>) {
    let query = (!query.is_empty()).then(|| encode_query(query));
    let url = admin.at(segments, query.as_deref()).unwrap();
    let reply = admin.execute::<()>(Method::GET, url, None, None).await.unwrap();
    assert_eq!(reply.status, 200, "{segments:?}: {reply:?}");
    let value = serde_json::from_str(&reply.text).unwrap();
    (reply.text, Versioned { value, etag: reply.etag })
}

/// The trail's events that `query` selects (`action`, `limit`, …), as `admin` reads them.
pub async fn trail(admin: &AdminClient, query: &[(&str, &str)]) -> Vec<AuditItem> {
    admin.find::<AuditPage>(&["audit"], query).await.unwrap().value.items
}

/// An administrator made by `root` with `roles`, their first password
/// replaced: the typed client as them.
pub async fn typed_admin(s: &Server, root: &AdminClient, username: &str, roles: &[Role]) -> AdminClient {
    let (first, own) = ("a first passphrase", "an own passphrase");
    let made: Versioned<AccountView> = created(root, ACCOUNTS, &new_account(username, first, roles, false)).await;
    assert_eq!(made.value.username, username);
    let change = password_change(Some(first), own);
    answered::<_, ()>(
        &typed(s, username, first),
        Method::POST,
        &["accounts", username, "password"],
        Some(&change),
        None,
        204,
    )
    .await;
    typed(s, username, own)
}

const ACCOUNTS: &[&str] = &["accounts"];

async fn native_basic_rbac_etags_and_audit(s: Server) {
    let api = Api::new(&s);
    let admin = &s.boot.admin.username;
    let root = typed(&s, admin, &s.boot.admin.password);

    let none = api.call(Method::GET, "/accounts", None, None, None).await;
    assert_error(&none, 401, "unauthorized", "authentication");
    // A new installation's schemes: native Basic, and its administrators' tokens.
    assert_eq!(
        none.headers["www-authenticate"],
        "Basic realm=\"signet admin API\", Bearer realm=\"signet admin API\", \
         DPoP realm=\"signet admin API\", algs=\"ES256 EdDSA\""
    );
    let wrong = typed(&s, admin, "not the password").get::<AccountPage>(ACCOUNTS).await;
    assert_refused(wrong, 401, "unauthorized", "authentication");
    let empty = typed(&s, admin, "").get::<AccountPage>(ACCOUNTS).await;
    assert!(matches!(empty, Err(AdminError::Refused(r)) if r.status == 401), "an empty password is never tried");

    let list = root.get::<AccountPage>(ACCOUNTS).await.unwrap().value;
    assert_eq!(list.items[0].username, *admin);
    assert_eq!(list.items[0].roles, ["UserAdmin", "Admin", "ExpressionAdmin", "CryptoAdmin"]);
    // What the typed view would not show: a field beyond it.
    let raw = root.execute::<()>(Method::GET, root.at(ACCOUNTS, None).unwrap(), None, None).await.unwrap();
    let raw: Value = serde_json::from_str(&raw.text).unwrap();
    assert!(raw["items"][0].get("password").is_none() && !raw.to_string().contains("argon2"));

    // A UserAdmin creates an Admin.
    let ada_pw = "ada's long passphrase";
    let body = serde_json::to_value(new_account("ada", ada_pw, &[Role::Admin], false)).unwrap();
    let made = api.call(Method::POST, "/accounts", Some(&basic(admin, &s.boot.admin.password)), Some(body), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.headers["location"], "/admin-api/v1/accounts/ada");
    assert!(made.etag.is_some());
    let made: AccountView = serde_json::from_value(made.body).unwrap();
    assert_eq!(
        (made.username.as_str(), made.roles.as_slice(), made.password_change_required),
        ("ada", &["Admin".to_owned()][..], true)
    );
    let again = root.create::<_, AccountView>(ACCOUNTS, &new_account("ada", ada_pw, &[], false)).await;
    assert_refused(again, 409, "conflict", "ada");
    // A password someone else set: replacing it is all ada may do at first,
    // and that takes the current one.
    let first = typed(&s, "ada", ada_pw);
    assert_refused(first.get::<AccountPage>(ACCOUNTS).await, 403, "forbidden", "replace it first");
    let ada_password = &["accounts", "ada", "password"][..];
    let no_current = first.post::<_, ()>(ada_password, Some(&password_change(None, "ada's own passphrase"))).await;
    assert_refused(no_current, 400, "invalid_request", "current_password");
    let change = password_change(Some("a guess at it"), "ada's own passphrase");
    assert_refused(first.post::<_, ()>(ada_password, Some(&change)).await, 403, "forbidden", "current_password");
    let change = password_change(Some(ada_pw), "ada's own passphrase");
    let replaced = send(&first, Method::POST, ada_password, &change).await.unwrap();
    assert_eq!(replaced.status, 204, "{replaced:?}");
    let ada_pw = "ada's own passphrase";
    let ada = typed(&s, "ada", ada_pw);
    ada.get::<AccountPage>(ACCOUNTS).await.unwrap();

    // Privilege escalation: an Admin granting itself more, or creating accounts.
    let ada_account = &["accounts", "ada"][..];
    let grant = account_update(true, &[Role::Admin, Role::ExpressionAdmin, Role::UserAdmin], false);
    assert_refused(send(&ada, Method::PUT, ada_account, &grant).await, 403, "forbidden", "UserAdmin");
    let mallory = new_account("mallory", "a long enough password", &[], false);
    let create = ada.create::<_, AccountView>(ACCOUNTS, &mallory).await;
    assert_refused(create, 403, "forbidden", "needs the UserAdmin role");
    // UserAdmin only with Admin and ExpressionAdmin; Auditor alone.
    let bad_set = send(&root, Method::PUT, ada_account, &account_update(true, &[Role::UserAdmin], false)).await;
    assert_refused(bad_set, 422, "unprocessable", "ExpressionAdmin");
    let auditor_with_role = send(&root, Method::PUT, ada_account, &account_update(true, &[Role::Admin], true)).await;
    assert_refused(auditor_with_role, 422, "unprocessable", "Auditor");

    // ETags: a write from a stale read is refused, as its own error.
    let read = root.get::<AccountView>(ada_account).await.unwrap();
    let tag = read.etag.clone().unwrap();
    let change = account_update(true, &[Role::Admin, Role::CryptoAdmin], false);
    let written = root.update::<_, AccountView>(ada_account, &change, &tag).await.unwrap();
    assert_eq!(written.value.roles, ["Admin", "CryptoAdmin"]);
    assert_ne!(written.etag.as_deref(), Some(tag.as_str()));
    let second = root.update::<_, AccountView>(ada_account, &change, &tag).await;
    assert!(matches!(second, Err(AdminError::Changed(_))), "{second:?}");
    assert_refused(second, 412, "precondition_failed", "changed");

    // Bad bodies: each a 400/413/415 naming what is wrong, and nothing written.
    // What the typed bodies cannot say is sent as raw JSON.
    let root_basic = basic(admin, &s.boot.admin.password);
    let unknown = api
        .call(
            Method::POST,
            "/accounts",
            Some(&root_basic),
            Some(json!({"username": "x1", "password": "a long enough password", "admin": true})),
            None,
        )
        .await;
    assert_error(&unknown, 400, "invalid_request", "unknown field `admin`");
    let missing = api.call(Method::POST, "/accounts", Some(&root_basic), Some(json!({"username": "x2"})), None).await;
    assert_error(&missing, 400, "invalid_request", "missing field `password`");
    let short = root.create::<_, AccountView>(ACCOUNTS, &new_account("x3", "short", &[], false)).await;
    assert_refused(short, 400, "invalid_request", "password");
    let role = api
        .call(
            Method::POST,
            "/accounts",
            Some(&root_basic),
            Some(json!({"username": "x4", "password": "a long enough password", "roles": ["Root"]})),
            None,
        )
        .await;
    assert_error(&role, 400, "invalid_request", "Root");
    let raw = |body: &'static str, ctype: &'static str| {
        api.http
            .post(format!("{}/admin-api/v1/accounts", s.base))
            .header("authorization", root_basic.clone())
            .header("content-type", ctype)
            .body(body)
    };
    let malformed = raw("{\"username\": ", "application/json").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    let not_json = raw("username=x", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_eq!(not_json.status(), 415);
    let huge = api
        .http
        .post(format!("{}/admin-api/v1/accounts", s.base))
        .header("authorization", root_basic.clone())
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{}\"}}", "x".repeat(300 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert_refused(root.page::<AccountView>(ACCOUNTS, 0, None).await, 400, "invalid_request", "limit");
    let names = root.page::<AccountView>(ACCOUNTS, 1, None).await.unwrap();
    assert_eq!(names.items.len(), 1);
    assert_eq!(names.items[0].username, "ada", "by username");
    let cursor = names.next_cursor.unwrap();
    let rest = root.page::<AccountView>(ACCOUNTS, 10, Some(&cursor)).await.unwrap();
    assert_eq!(rest.items[0].username, *admin);
    assert!(rest.next_cursor.is_none(), "the last page");
    let x1 = root.get::<AccountView>(&["accounts", "x1"]).await;
    assert!(matches!(x1, Err(AdminError::Refused(r)) if r.status == 404), "a refused create wrote nothing");
    let every = root.list::<AccountView>(ACCOUNTS, 1, true).await.unwrap();
    assert_eq!(every.items.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(), ["ada", admin.as_str()]);
    assert!(every.next_cursor.is_none());

    // Any account changes its own password; the old one stops working at once.
    let change = password_change(Some(ada_pw), "ada's new passphrase");
    let own = send(&ada, Method::POST, ada_password, &change).await.unwrap();
    assert_eq!(own.status, 204, "{own:?}");
    assert_refused(ada.get::<AccountPage>(ACCOUNTS).await, 401, "unauthorized", "");
    let ada = typed(&s, "ada", "ada's new passphrase");
    ada.get::<AccountPage>(ACCOUNTS).await.unwrap();
    let hijack = password_change(None, "hijacked passphrase");
    let other = ada.post::<_, ()>(&["accounts", admin, "password"], Some(&hijack)).await;
    assert_refused(other, 403, "forbidden", "UserAdmin");

    // Deactivation takes effect on the next call, verification cache or not.
    let off = send(&root, Method::PUT, ada_account, &account_update(false, &[Role::Admin], false)).await.unwrap();
    assert_eq!(off.status, 200, "{off:?}");
    assert_refused(ada.get::<AccountPage>(ACCOUNTS).await, 401, "unauthorized", "");

    // The last UserAdmin cannot remove their own power to manage accounts.
    let last = send(&root, Method::PUT, &["accounts", admin], &account_update(true, &[Role::Admin], false)).await;
    assert_refused(last, 409, "conflict", "last active UserAdmin");

    // An Auditor reads everything and writes nothing.
    let made = send(&root, Method::POST, ACCOUNTS, &new_account("aud", "auditor passphrase", &[], true)).await.unwrap();
    assert_eq!(made.status, 201, "{made:?}");
    let change = password_change(Some("auditor passphrase"), "the auditor's own words");
    let aud_first = typed(&s, "aud", "auditor passphrase");
    let changed = send(&aud_first, Method::POST, &["accounts", "aud", "password"], &change).await.unwrap();
    assert_eq!(changed.status, 204, "an Auditor changes its own password: {changed:?}");
    let aud = basic("aud", "the auditor's own words");
    let auditor = typed(&s, "aud", "the auditor's own words");
    auditor.get::<AccountPage>(ACCOUNTS).await.unwrap();
    answered::<(), AuditPage>(&auditor, Method::GET, &["audit"], None, None, 200).await;
    let write = send(&auditor, Method::PUT, &["accounts", "aud"], &account_update(true, &[], true)).await;
    assert_refused(write, 403, "forbidden", "Auditor may only read");
    assert_error(&api.get("/settings/authentication", &aud).await, 403, "forbidden", "roles");

    // The trail: every write and every refusal, by whom, from where, in one chain.
    let (_, denied) =
        read_both::<AuditPage>(&auditor, &["audit"], &[("action", "admin.denied"), ("limit", "100")]).await;
    let events = &denied.value.items;
    assert!(events.len() >= 4, "{events:?}");
    assert!(events.iter().all(|e| e.event.action == "admin.denied"), "{events:?}");
    assert!(events.iter().any(|e| e.event.actor.name == "ada" && e.event.source_ip.as_deref() == Some("127.0.0.1")));
    assert!(events.iter().any(|e| e.event.actor.name == "aud"));
    let (text, updates) =
        read_both::<AuditPage>(&auditor, &["audit"], &[("action", "admin.account."), ("limit", "100")]).await;
    let actions: Vec<&str> = updates.value.items.iter().map(|e| e.event.action.as_str()).collect();
    for a in ["admin.account.create", "admin.account.update", "admin.account.password.change"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(!text.contains("ada's new passphrase"), "no password in the trail");
    let verify = auditor.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value;
    assert!(verify.intact, "{verify:?}");
    assert!(verify.events > 10, "{verify:?}");
    assert_eq!(verify.head.as_deref().map(str::len), Some(64), "{verify:?}");
    let bad_filter = auditor.find::<AuditPage>(&["audit"], &[("colour", "red")]).await;
    assert_refused(bad_filter, 400, "invalid_request", "colour");
}

#[tokio::test]
async fn native_basic_rbac_etags_and_audit_on_sqlite() {
    native_basic_rbac_etags_and_audit(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn native_basic_rbac_etags_and_audit_on_postgres() {
    native_basic_rbac_etags_and_audit(Server::start_on(Backend::Postgres).await).await;
}

#[tokio::test]
async fn oauth_tokens_act_with_the_roles_in_the_store_while_the_scheme_is_on() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let person = s.account(true, true).await;
    let tokens = code_flow_tokens(&s, &person).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());

    // A new installation takes native Basic and, beside it, its own
    // administrators' tokens (PingFederate's `OAuth2,native`).
    let new = api.get("/settings/authentication", &root).await;
    assert_eq!(new.body, json!({"schemes": ["native", "oauth"]}));
    assert_eq!(api.get("/accounts", &bearer).await.status, 200);
    // An operator turns OAuth off: then a token is not a credential.
    let off = api
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&root),
            Some(json!({"schemes": ["native"]})),
            new.etag.as_deref(),
        )
        .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    assert_eq!(api.get("/accounts", &bearer).await.status, 401);
    let settings = api.get("/settings/authentication", &root).await;
    assert_eq!(settings.body, json!({"schemes": ["native"]}));
    // Switching to OAuth alone while signed on with native would lock the caller out.
    let lockout =
        api.call(Method::PUT, "/settings/authentication", Some(&root), Some(json!({"schemes": ["oauth"]})), None).await;
    assert_error(&lockout, 422, "unprocessable", "lock you out");
    let unknown = api
        .call(Method::PUT, "/settings/authentication", Some(&root), Some(json!({"schemes": ["kerberos"]})), None)
        .await;
    assert_error(&unknown, 400, "invalid_request", "kerberos");
    let on = api
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&root),
            Some(json!({"schemes": ["oauth", "native"]})),
            settings.etag.as_deref(),
        )
        .await;
    assert_eq!(on.status, 200, "{:?}", on.body);
    let stale = api
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&root),
            Some(json!({"schemes": ["native", "oauth"]})),
            settings.etag.as_deref(),
        )
        .await;
    assert_eq!(stale.status, 412);

    let listed = api.get("/accounts", &bearer).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let challenge = api.call(Method::GET, "/accounts", None, None, None).await;
    assert_eq!(
        challenge.headers["www-authenticate"],
        "Bearer realm=\"signet admin API\", DPoP realm=\"signet admin API\", algs=\"ES256 EdDSA\", \
         Basic realm=\"signet admin API\""
    );

    // Roles come from the store at request time, not from the token.
    let demote = api
        .call(
            Method::PUT,
            &format!("/accounts/{}", person.username),
            Some(&root),
            Some(json!({"active": true, "roles": ["Admin"], "auditor": false})),
            None,
        )
        .await;
    assert_eq!(demote.status, 200, "{:?}", demote.body);
    // Changing the roles ended the sign-on the token came from.
    assert_eq!(api.get("/accounts", &bearer).await.status, 401, "its access token was revoked with its family");

    // A worker's client-credentials token acts with the worker's roles.
    let (id, secret) = s
        .application(
            signet_core::model::AppKind::Worker,
            &[signet_core::model::GrantType::ClientCredentials],
            &[signet_proto::roles::Role::Admin],
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
    let worker = format!("Bearer {}", t["access_token"].as_str().unwrap());
    assert_eq!(api.get("/accounts", &worker).await.status, 200, "Admin reads");
    let write = api
        .call(
            Method::POST,
            "/accounts",
            Some(&worker),
            Some(json!({"username": "w", "password": "a long enough password"})),
            None,
        )
        .await;
    assert_error(&write, 403, "forbidden", "UserAdmin");
    let trail = trail(&typed(&s, &s.boot.admin.username, &s.boot.admin.password), &[("action", "admin.denied")]).await;
    let by_worker = trail.into_iter().find(|e| e.event.actor.id == id).unwrap().event;
    assert_eq!(by_worker.actor.kind, "application", "service credentials are not people");
    assert_eq!(by_worker.outcome.as_deref(), Some("denied"));
    assert_eq!(by_worker.actor.scheme, "oauth");
    assert_eq!(by_worker.jti.as_deref().map(str::len), Some(36), "the token that was used");
    // The bootstrap worker has no roles and its tokens lack the admin audience.
    let (_, t) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.boot.worker.client_id),
            ("client_secret", &s.boot.worker.client_secret),
        ])
        .await;
    assert_eq!(api.get("/accounts", &format!("Bearer {}", t["access_token"].as_str().unwrap())).await.status, 401);
    assert_eq!(api.get("/accounts", "Bearer not.a.token").await.status, 401);
}

#[tokio::test]
async fn the_openapi_document_is_generated_from_the_routes() {
    let s = Server::start().await;
    let doc: Value = reqwest::get(format!("{}/admin-api/v1/openapi.json", s.base)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(doc["servers"][0]["url"], "/admin-api/v1");
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/accounts", &["get", "post"][..]),
        ("/accounts/{username}", &["get", "put"]),
        ("/accounts/{username}/password", &["post"]),
        ("/settings/authentication", &["get", "put"]),
        ("/audit", &["get"]),
        ("/audit/verify", &["get"]),
        ("/bulk", &["get", "post"]),
        ("/configArchive/export", &["post"]),
        ("/configArchive/import", &["post"]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path} is documented");
        }
    }
    // Every documented operation is served, behind authentication.
    let http = reqwest::Client::new();
    let verbs = ["get", "put", "post", "delete", "patch"];
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys().filter(|k| verbs.contains(&k.as_str())) {
            let url = format!("{}/admin-api/v1{}", s.base, path.replace("{username}", "nobody"));
            let res = http.request(method.to_uppercase().parse().unwrap(), url).send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} is routed behind authentication");
        }
    }
    let wrong_verb = http.get(format!("{}/admin-api/v1/accounts/x/password", s.base)).send().await.unwrap();
    assert_eq!(wrong_verb.status(), 405);
    assert_eq!(wrong_verb.json::<Value>().await.unwrap()["error"], "method_not_allowed");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        (schemes["basic"]["scheme"].as_str(), schemes["bearer"]["scheme"].as_str()),
        (Some("basic"), Some("bearer"))
    );
    let new_account = &doc["components"]["schemas"]["NewAccount"];
    assert!(new_account["required"].as_array().unwrap().contains(&json!("password")), "{new_account}");
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["message"].is_object());
    let unknown = http.get(format!("{}/admin-api/v1/nothing-here", s.base)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"], "not_found");
}

#[tokio::test]
async fn basic_failures_lock_the_account_and_count_in_metrics() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let typed_root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let bo = new_account("bo", "bo's passphrase!", &[Role::Admin], false);
    let made = send(&typed_root, Method::POST, ACCOUNTS, &bo).await.unwrap();
    assert_eq!(made.status, 201);
    // The default policy: five failures lock the account for fifteen minutes
    // (well below the per-address limit, which these also count).
    for n in 0..5 {
        let res = api
            .http
            .get(format!("{}/admin-api/v1/accounts", s.base))
            .header("authorization", basic("bo", "wrong guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "attempt {n}");
    }
    let right = api.get("/accounts", &basic("bo", "bo's passphrase!")).await;
    assert_eq!(right.status, 401, "locked: the right password gets the same answer as a wrong one");
    let metrics = reqwest::get(format!("{}/metrics", s.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("signetd_limiter_blocks_total{kind=\"account_lock\"} 1"), "{metrics}");
    let bo = typed_root.get::<AccountView>(&["accounts", "bo"]).await.unwrap().value;
    assert!(bo.locked, "{bo:?}");
    let failures = trail(&typed_root, &[("action", "admin.signon.failure")]).await;
    assert_eq!(failures.len(), 5, "{failures:?}");
    // After the lock expires, the password works again.
    s.clock.advance(16 * 60);
    let after = api.get("/accounts", &basic("bo", "bo's passphrase!")).await;
    assert_error(&after, 403, "forbidden", "replace it first");
    let metrics = reqwest::get(format!("{}/metrics", s.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("signetd_failures_total{reason=\"admin_unauthenticated\"} 6"), "{metrics}");
}

/// An admin account made through the API with `roles`, its first password replaced.
pub async fn admin_with(api: &Api<'_>, root: &str, username: &str, roles: Value) -> String {
    let first = "a first passphrase";
    let roles: Vec<Role> = serde_json::from_value(roles).unwrap();
    let body = serde_json::to_value(new_account(username, first, &roles, false)).unwrap();
    let made = api.call(Method::POST, "/accounts", Some(root), Some(body), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let own = "an own passphrase";
    let change = password_change(Some(first), own);
    let person = typed(api.s, username, first);
    let changed = send(&person, Method::POST, &["accounts", username, "password"], &change).await.unwrap();
    assert_eq!(changed.status, 204, "{changed:?}");
    basic(username, own)
}

#[tokio::test]
async fn admins_manage_end_users_and_never_see_admin_accounts_there() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let cy = admin_with(&api, &root, "cy", json!(["CryptoAdmin"])).await;
    let env = s.env_id.clone();

    let denied = api
        .call(
            Method::POST,
            &format!("/environments/{env}/users"),
            Some(&cy),
            Some(json!({"username": "u1", "password": "a user passphrase"})),
            None,
        )
        .await;
    assert_error(&denied, 403, "forbidden", "needs the Admin role");
    let made = api
        .call(
            Method::POST,
            &format!("/environments/{env}/users"),
            Some(&ed),
            Some(json!({"username": "u1", "password": "a user passphrase"})),
            None,
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(made.headers["location"], format!("/admin-api/v1/environments/{env}/users/{id}").as_str());
    assert_eq!(made.body["password_change_required"], true);

    // The Administrators environment's users are its end users only.
    let listed = api.get(&format!("/environments/{env}/users"), &cy).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let names: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["u1"], "no admin account among the users");
    let admin = s
        .store()
        .account_by_username(&signet_core::id::EnvironmentId::from(env.as_str()), &s.boot.admin.username)
        .await
        .unwrap()
        .unwrap();
    assert_error(&api.get(&format!("/environments/{env}/users/{}", admin.id), &ed).await, 404, "not_found", "user");
    let wipe = api
        .call(
            Method::PUT,
            &format!("/environments/{env}/users/{}", admin.id),
            Some(&ed),
            Some(json!({"active": false})),
            None,
        )
        .await;
    assert_eq!(wipe.status, 404, "an Admin cannot deactivate an admin account through the user endpoints");
    assert_error(&api.get("/environments/no-such-env/users", &ed).await, 404, "not_found", "environment");

    // ETags, deactivation and a reset.
    let read = api.get(&format!("/environments/{env}/users/{id}"), &ed).await;
    let tag = read.etag.unwrap();
    let off = api
        .call(
            Method::PUT,
            &format!("/environments/{env}/users/{id}"),
            Some(&ed),
            Some(json!({"active": false})),
            Some(&tag),
        )
        .await;
    assert_eq!((off.status, off.body["active"].as_bool()), (200, Some(false)), "{:?}", off.body);
    let stale = api
        .call(
            Method::PUT,
            &format!("/environments/{env}/users/{id}"),
            Some(&ed),
            Some(json!({"active": true})),
            Some(&tag),
        )
        .await;
    assert_error(&stale, 412, "precondition_failed", "changed");
    let bad = api
        .call(
            Method::PUT,
            &format!("/environments/{env}/users/{id}"),
            Some(&ed),
            Some(json!({"active": true, "admin": true})),
            None,
        )
        .await;
    assert_error(&bad, 400, "invalid_request", "unknown field `admin`");
    let reset = api
        .call(
            Method::POST,
            &format!("/environments/{env}/users/{id}/password"),
            Some(&ed),
            Some(json!({"password": "a reset passphrase"})),
            None,
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    // A new environment is a working authority at once, with its own key.
    let denied = api.call(Method::POST, "/environments", Some(&cy), Some(json!({"name": "Customers"})), None).await;
    assert_error(&denied, 403, "forbidden", "Admin");
    let made = api.call(Method::POST, "/environments", Some(&ed), Some(json!({"name": "Customers"})), None).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let issuer = made.body["issuer"].as_str().unwrap().to_owned();
    let disco: Value =
        reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(disco["issuer"], issuer.as_str());
    let jwks: Value = reqwest::get(disco["jwks_uri"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let twice = api.call(Method::POST, "/environments", Some(&ed), Some(json!({"name": "Customers"})), None).await;
    assert_error(&twice, 409, "conflict", "Customers");
    let blank = api.call(Method::POST, "/environments", Some(&ed), Some(json!({"name": "  "})), None).await;
    assert_error(&blank, 400, "invalid_request", "name");
    let envs = api.get("/environments", &cy).await;
    assert_eq!(envs.body["items"].as_array().unwrap().len(), 2, "{:?}", envs.body);
    let new_env = made.body["id"].as_str().unwrap();
    let user = api
        .call(
            Method::POST,
            &format!("/environments/{new_env}/users"),
            Some(&ed),
            Some(json!({"username": "u1", "password": "a user passphrase"})),
            None,
        )
        .await;
    assert_eq!(user.status, 201, "the same username in another environment: {:?}", user.body);

    let trail = trail(&typed(&s, "cy", "an own passphrase"), &[("action", "admin.user."), ("limit", "100")]).await;
    let actions: Vec<&str> = trail.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["admin.user.create", "admin.user.update", "admin.user.password.reset", "admin.user.create"]);
}

/// An application as `NewApplication` takes it, with PKCE as its default.
fn application(
    name: &str,
    kind: wire::AppKind,
    grants: &[wire::GrantType],
    redirects: &[&str],
    roles: &[Role],
) -> NewApplication {
    NewApplication {
        name: name.into(),
        kind,
        redirect_uris: redirects.iter().map(|r| (*r).to_owned()).collect(),
        grant_types: grants.iter().copied().collect(),
        scopes: Default::default(),
        roles: roles.iter().copied().collect(),
        pkce_required: true,
    }
}

/// A client-credentials worker.
fn worker(name: &str, roles: &[Role]) -> NewApplication {
    application(name, wire::AppKind::Worker, &[wire::GrantType::ClientCredentials], &[], roles)
}

#[tokio::test]
async fn admins_manage_applications_and_only_user_admins_privileged_workers() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let ed = typed_admin(&s, &root, "ed", &[Role::Admin]).await;
    let env = s.env_id.clone();
    let apps = ["environments", env.as_str(), "applications"];
    let cc = |id: String, secret: String| {
        let s = &s;
        async move {
            s.token(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)]).await.0
        }
    };

    // Raw, for its Cache-Control header.
    let made = api
        .call(
            Method::POST,
            &format!("/environments/{env}/applications"),
            Some(&basic("ed", "an own passphrase")),
            Some(serde_json::to_value(worker("deployer", &[])).unwrap()),
            None,
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store");
    let made: ApplicationView = serde_json::from_value(made.body).unwrap();
    let (id, secret) = (made.id.clone(), made.client_secret.clone().unwrap());
    assert_eq!(cc(id.clone(), secret.clone()).await, 200, "the new worker signs on at once");
    let one = ["environments", env.as_str(), "applications", id.as_str()];
    let (text, read) = read_both::<ApplicationView>(&ed, &one, &[]).await;
    assert!(!text.contains("client_secret") && !text.contains(&secret));
    assert!(read.value.has_secret && read.value.client_secret.is_none());
    assert!(read.etag.is_some());

    // Admin roles on a worker are UserAdmin's to give.
    let privileged = worker("keys", &[Role::CryptoAdmin]);
    assert_refused(
        ed.create::<_, ApplicationView>(&apps, &privileged).await.map(|_| ()),
        403,
        "forbidden",
        "UserAdmin",
    );
    let made: Versioned<ApplicationView> = created(&root, &apps, &privileged).await;
    assert_eq!(made.value.roles, ["CryptoAdmin"]);
    let keys_secret = ["environments", env.as_str(), "applications", made.value.id.as_str(), "secret"];
    let rotate_privileged = ed.post::<(), ApplicationView>(&keys_secret, None).await.map(|_| ());
    assert_refused(rotate_privileged, 403, "forbidden", "UserAdmin");

    // Rotation: the old secret stops, the new one works, the ETag moves.
    // A token minted with the old secret, live until rotation.
    let (status, live) =
        s.token(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)]).await;
    assert_eq!(status, 200);
    let live = live["access_token"].as_str().unwrap().to_owned();
    let (rs, rs_secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let rs = (rs.as_str(), rs_secret.as_deref().unwrap());
    assert_eq!(s.introspect(&live, rs).await["active"], true);
    let secret_path = ["environments", env.as_str(), "applications", id.as_str(), "secret"];
    let rotated: Versioned<ApplicationView> = answered::<(), _>(&ed, Method::POST, &secret_path, None, None, 200).await;
    let new_secret = rotated.value.client_secret.unwrap();
    assert_eq!(cc(id.clone(), secret).await, 401);
    assert_eq!(s.introspect(&live, rs).await["active"], false, "its live tokens are revoked with the old secret");
    // Tokens are dated to the second: one minted in the second of the rotation is refused too.
    s.clock.advance(1);
    let (status, fresh) =
        s.token(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &new_secret)]).await;
    assert_eq!(status, 200);
    assert_eq!(s.introspect(fresh["access_token"].as_str().unwrap(), rs).await["active"], true);
    assert_ne!(ed.get::<ApplicationView>(&one).await.unwrap().etag, read.etag);

    // Bad shapes, each naming what is wrong; a kind the typed body cannot
    // name is sent as raw JSON. As the UserAdmin, so that every shape
    // reaches validation.
    let robot = json!({"name": "x", "kind": "robot", "grant_types": ["client_credentials"]});
    let robot = api
        .call(
            Method::POST,
            &format!("/environments/{env}/applications"),
            Some(&basic(&s.boot.admin.username, &s.boot.admin.password)),
            Some(robot),
            None,
        )
        .await;
    assert_error(&robot, 400, "invalid_request", "robot");
    let (web, native, code, device) =
        (wire::AppKind::Web, wire::AppKind::Native, wire::GrantType::AuthorizationCode, wire::GrantType::DeviceCode);
    for (body, mentions) in [
        (application("x", wire::AppKind::Worker, &[code], &[], &[]), "cannot use authorization_code"),
        (application("x", web, &[code], &[], &[]), "redirect_uris"),
        (application("x", web, &[code], &["http://app.example/cb"], &[]), "https"),
        (application("x", web, &[code], &["https://app.example/cb#x"], &[]), "fragment"),
        (application("x", native, &[device], &[], &[Role::Admin]), "only a worker"),
    ] {
        let r = root.create::<_, ApplicationView>(&apps, &body).await.map(|_| ());
        assert_refused(r, 400, "invalid_request", mentions);
    }
    let made = send(&ed, Method::POST, &apps, &application("cli", native, &[device], &[], &[])).await.unwrap();
    assert_eq!(made.status, 201, "{made:?}");
    assert!(!made.text.contains("client_secret"), "a public client has no secret");
    let native: ApplicationView = serde_json::from_str(&made.text).unwrap();
    assert!(!native.has_secret);
    let native_secret = ["environments", env.as_str(), "applications", native.id.as_str(), "secret"];
    let rotate_public = ed.post::<(), ApplicationView>(&native_secret, None).await.map(|_| ());
    assert_refused(rotate_public, 422, "unprocessable", "public");

    let (text, listed) = read_both::<ApplicationPage>(&ed, &apps, &[("limit", "500")]).await;
    assert!(listed.value.items.len() >= 5, "{} applications", listed.value.items.len());
    assert!(listed.value.items.iter().all(|a| a.client_secret.is_none()));
    assert!(!text.contains("secret_hash"));
}

#[tokio::test]
async fn crypto_admins_rotate_signing_keys_and_old_tokens_stay_valid() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["Admin"])).await;
    let cy = admin_with(&api, &root, "cy", json!(["CryptoAdmin"])).await;
    let keys = format!("/environments/{}/keys", s.env_id);
    let worker = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let token = || async {
        let (status, t) = s
            .token(&[("grant_type", "client_credentials"), ("client_id", &worker.0), ("client_secret", &worker.1)])
            .await;
        assert_eq!(status, 200, "{t}");
        t["access_token"].as_str().unwrap().to_owned()
    };

    let before = token().await;
    let listed = api.get(&keys, &ed).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "{:?}", listed.body);
    assert!(!listed.body.to_string().contains("\"d\""), "no private part");
    assert_error(&api.call(Method::POST, &keys, Some(&ed), None, None).await, 403, "forbidden", "CryptoAdmin");
    // A UserAdmin (with Admin and ExpressionAdmin, as it must) cannot touch keys either.
    let ua = admin_with(&api, &root, "ua", json!(["UserAdmin", "Admin", "ExpressionAdmin"])).await;
    assert_error(&api.call(Method::POST, &keys, Some(&ua), None, None).await, 403, "forbidden", "CryptoAdmin");
    let rotated = api.call(Method::POST, &keys, Some(&cy), None, None).await;
    assert_eq!(rotated.status, 201, "{:?}", rotated.body);
    let items = rotated.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the old key stays published while its tokens may live");
    let active: Vec<&Value> = items.iter().filter(|k| k["active"] == true).collect();
    assert_eq!(active.len(), 1);
    let after = token().await;
    assert_eq!(signet_core::token::peek_kid(&after).as_deref(), active[0]["kid"].as_str(), "the new key signs");
    assert_ne!(signet_core::token::peek_kid(&before), signet_core::token::peek_kid(&after));
    for t in [&before, &after] {
        assert_eq!(s.introspect(t, (&worker.0, &worker.1)).await["active"], true);
    }
    let jwks: Value = reqwest::get(format!("{}/jwks", s.issuer)).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let first = api.get(&format!("{keys}?limit=1"), &ed).await.body;
    assert_eq!(first["items"][0]["active"], true, "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = api.get(&format!("{keys}?limit=1&cursor={cursor}"), &ed).await.body;
    assert_eq!(rest["items"][0]["active"], false);
    assert!(rest["next_cursor"].is_null());
    let trail = trail(&typed(&s, "ed", "an own passphrase"), &[("action", "admin.key.rotate")]).await;
    assert_eq!(trail[0].event.actor.name, "cy", "{trail:?}");

    // Retiring: never the active key; a retired one stops being published, and its tokens with it.
    let active_kid = active[0]["kid"].as_str().unwrap();
    let old_kid = signet_core::token::peek_kid(&before).unwrap();
    let active_path = format!("{keys}/{active_kid}");
    assert_error(&api.call(Method::DELETE, &active_path, Some(&cy), None, None).await, 409, "conflict", "rotate first");
    let old_path = format!("{keys}/{old_kid}");
    assert_error(&api.call(Method::DELETE, &old_path, Some(&ed), None, None).await, 403, "forbidden", "CryptoAdmin");
    assert_eq!(api.call(Method::DELETE, &old_path, Some(&cy), None, None).await.status, 204);
    assert_error(&api.call(Method::DELETE, &old_path, Some(&cy), None, None).await, 404, "not_found", "signing key");
    assert_eq!(s.introspect(&before, (&worker.0, &worker.1)).await["active"], false, "signed by a retired key");
    assert_eq!(s.introspect(&after, (&worker.0, &worker.1)).await["active"], true);
    let jwks: Value = reqwest::get(format!("{}/jwks", s.issuer)).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn applications_are_updated_and_deleted_and_their_tokens_go_with_them() {
    let s = Server::start().await;
    let root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let ed = typed_admin(&s, &root, "ed", &[Role::Admin]).await;
    let apps = ["environments", s.env_id.as_str(), "applications"];
    let (rs, rs_secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], &[], None).await;
    let rs = (rs.as_str(), rs_secret.as_deref().unwrap());

    let made: Versioned<ApplicationView> = created(&ed, &apps, &worker("deployer", &[])).await;
    let id = made.value.id.clone();
    let secret = made.value.client_secret.clone().unwrap();
    let path = ["environments", s.env_id.as_str(), "applications", id.as_str()];
    let token = || async {
        let (status, t) =
            s.token(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)]).await;
        (status, t["access_token"].as_str().map(str::to_owned))
    };

    let renamed = NewApplication { scopes: ["api:read".to_owned()].into(), ..worker("deployer 2", &[]) };
    let stale = ed.update::<_, ApplicationView>(&path, &renamed, "\"stale\"").await.map(|_| ());
    assert_refused(stale, 412, "precondition_failed", "");
    let tag = ed.get::<ApplicationView>(&path).await.unwrap().etag;
    let updated: Versioned<ApplicationView> =
        answered(&ed, Method::PUT, &path, Some(&renamed), tag.as_deref(), 200).await;
    assert_eq!(updated.value.name, "deployer 2");
    assert_eq!(updated.value.scopes, ["api:read".to_owned()].into());
    assert_ne!(updated.etag, tag);
    let kind = application("x", wire::AppKind::Web, &[wire::GrantType::AuthorizationCode], &["https://a.test/cb"], &[]);
    assert_refused(send(&ed, Method::PUT, &path, &kind).await, 422, "unprocessable", "kind");

    // Granting a worker admin roles is UserAdmin's; doing it ends the tokens it holds.
    let (_, live) = token().await;
    let live = live.unwrap();
    let promote = worker("deployer 2", &[Role::Admin]);
    assert_refused(send(&ed, Method::PUT, &path, &promote).await, 403, "forbidden", "UserAdmin");
    assert_eq!(s.introspect(&live, rs).await["active"], true, "a refused change changes nothing");
    let by_user_admin: Versioned<ApplicationView> =
        answered(&root, Method::PUT, &path, Some(&promote), None, 200).await;
    assert_eq!(by_user_admin.value.roles, ["Admin"]);
    assert_eq!(s.introspect(&live, rs).await["active"], false, "its roles changed: its tokens are revoked");

    // Deleting: an Admin cannot delete a privileged worker; a UserAdmin can, and its tokens go.
    s.clock.advance(1);
    let (status, live) = token().await;
    assert_eq!(status, 200);
    let live = live.unwrap();
    assert_refused(ed.delete(&path, None).await, 403, "forbidden", "UserAdmin");
    assert_refused(root.delete(&path, Some("\"stale\"")).await, 412, "precondition_failed", "");
    deleted(&root, &path, None).await;
    assert_eq!(s.introspect(&live, rs).await["active"], false);
    assert_eq!(token().await.0, 401, "its secret is gone with it");
    assert_refused(ed.get::<ApplicationView>(&path).await.map(|_| ()), 404, "not_found", "application");
    let cli = ["environments", s.env_id.as_str(), "applications", "signet-cli"];
    assert_refused(root.delete(&cli, None).await, 409, "conflict", "signet-cli");
    let trail = trail(&root, &[("action", "admin.application."), ("limit", "100")]).await;
    let actions: Vec<&str> = trail.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "admin.application.update").count(), 2, "{actions:?}");
    assert!(actions.contains(&"admin.application.delete"));
}

#[tokio::test]
async fn user_admins_set_the_lockout_policy_and_it_applies() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let ed = admin_with(&api, &root, "ed", json!(["UserAdmin", "Admin", "ExpressionAdmin"])).await;
    let cy = admin_with(&api, &root, "cy", json!(["CryptoAdmin"])).await;
    let read = api.get("/policies/lockout", &cy).await;
    assert_eq!(read.body, json!({"max_failures": 5, "lock_seconds": 900}));
    let by_crypto = api
        .call(Method::PUT, "/policies/lockout", Some(&cy), Some(json!({"max_failures": 2, "lock_seconds": 600})), None)
        .await;
    assert_error(&by_crypto, 403, "forbidden", "UserAdmin");
    for (body, field) in [
        (json!({"max_failures": 0, "lock_seconds": 600}), "max_failures"),
        (json!({"max_failures": 2, "lock_seconds": 5}), "lock_seconds"),
        (json!({"max_failures": 2}), "lock_seconds"),
    ] {
        let a = api.call(Method::PUT, "/policies/lockout", Some(&ed), Some(body), None).await;
        assert_error(&a, 400, "invalid_request", field);
    }
    let stale = api
        .call(
            Method::PUT,
            "/policies/lockout",
            Some(&ed),
            Some(json!({"max_failures": 2, "lock_seconds": 600})),
            Some("\"old\""),
        )
        .await;
    assert_eq!(stale.status, 412);
    let set = api
        .call(
            Method::PUT,
            "/policies/lockout",
            Some(&ed),
            Some(json!({"max_failures": 2, "lock_seconds": 600})),
            read.etag.as_deref(),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    // Two wrong passwords now lock cy, until the ten minutes pass.
    for _ in 0..2 {
        assert_eq!(api.get("/environments", &basic("cy", "wrong")).await.status, 401);
    }
    assert_eq!(api.get("/environments", &cy).await.status, 401, "locked: the right password alone is not enough");
    s.clock.advance(601);
    assert_eq!(api.get("/environments", &cy).await.status, 200);
    let trail =
        trail(&typed(&s, &s.boot.admin.username, &s.boot.admin.password), &[("action", "admin.policy.lockout")]).await;
    assert_eq!(trail[0].event.actor.name, "ed", "{trail:?}");
}

#[tokio::test]
async fn admins_shorten_token_lifetimes_and_new_tokens_follow() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let read = api.get("/policies/tokens", &root).await;
    assert_eq!(read.body, json!({"access_token_seconds": 3600, "refresh_token_seconds": 2592000}));
    for (body, field) in [
        (json!({"access_token_seconds": 7200, "refresh_token_seconds": 86400}), "access_token_seconds"),
        (json!({"access_token_seconds": 60, "refresh_token_seconds": 86400}), "access_token_seconds"),
        (json!({"access_token_seconds": 600, "refresh_token_seconds": 99999999}), "refresh_token_seconds"),
    ] {
        assert_error(
            &api.call(Method::PUT, "/policies/tokens", Some(&root), Some(body), None).await,
            400,
            "invalid_request",
            field,
        );
    }
    let set = api
        .call(
            Method::PUT,
            "/policies/tokens",
            Some(&root),
            Some(json!({"access_token_seconds": 600, "refresh_token_seconds": 7200})),
            read.etag.as_deref(),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    let (status, t) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.boot.worker.client_id),
            ("client_secret", &s.boot.worker.client_secret),
        ])
        .await;
    assert_eq!(status, 200);
    assert_eq!(t["expires_in"], 600);
    let part = t["access_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    // A person's refresh token lives two hours now: the third hour, it is refused.
    let person = s.account(false, true).await;
    let tokens = code_flow_tokens(&s, &person).await;
    assert_eq!(tokens["expires_in"], 600);
    s.clock.advance(7000);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, next) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 200, "within its two hours: {next}");
    s.clock.advance(7201);
    let refresh = next["refresh_token"].as_str().unwrap();
    let (status, _) =
        s.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", "signet-cli")]).await;
    assert_eq!(status, 400, "the refresh token outlived its policy");
}

/// A bearer token the admin API verified once is remembered; retiring the
/// key that signed it must still end it (regression: the cache skipped it).
#[tokio::test]
async fn a_remembered_bearer_token_ends_when_its_key_is_retired() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let set = api
        .call(Method::PUT, "/settings/authentication", Some(&root), Some(json!({"schemes": ["native", "oauth"]})), None)
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let person = s.account(true, true).await;
    let tokens = code_flow_tokens(&s, &person).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_eq!(api.get("/accounts", &bearer).await.status, 200, "verified, and now remembered");
    let old_kid = signet_core::token::peek_kid(tokens["access_token"].as_str().unwrap()).unwrap();

    let keys = format!("/environments/{}/keys", s.env_id);
    assert_eq!(api.call(Method::POST, &keys, Some(&root), None, None).await.status, 201);
    assert_eq!(api.get("/accounts", &bearer).await.status, 200, "a rotated-out key still verifies");
    assert_eq!(api.call(Method::DELETE, &format!("{keys}/{old_kid}"), Some(&root), None, None).await.status, 204);
    assert_error(&api.get("/accounts", &bearer).await, 401, "unauthorized", "authentication");
}
