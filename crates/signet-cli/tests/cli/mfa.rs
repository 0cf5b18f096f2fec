//! `signet mfa …` against an in-process signetd's Vault-compatible API:
//! methods of each kind of input (fields, a settings file, a secret on
//! stdin), enforcements, `-O json`, and every refusal as one line with a hint.

use signet_core::model::{AppKind, GrantType};
use signet_proto::roles::Role;
use signet_testkit::Server;

use crate::admin::admin_basic;
use crate::harness::{Home, Run};

/// A PingID settings file as PingOne provides it: comments, then all seven keys.
const SETTINGS: &str = "#Auto-Generated from PingOne, downloaded by id=[SSO]\n\
#Wed Jan 01 00:00:00 UTC 2025\n\
use_base64_key=bXktc2VjcmV0LWtleQ==\n\
use_signature=true\n\
token=widgets-token-1\n\
idp_url=https://idpxnyl3m.pingidentity.com/pingid\n\
org_alias=181459b0-9fb1-4938-8c86-181459b0abcd\n\
admin_url=https://idpxnyl3m.pingidentity.com/pingid\n\
authenticator_url=https://authenticator.pingone.com/pingid/ppm\n";

/// A home signed on through the pingone connector as a worker holding
/// `roles`, whose token the admin API (and so the Vault API) uses.
async fn signed_on(s: &Server, roles: &[Role]) -> Home {
    let (id, secret) = s.application(AppKind::Worker, &[GrantType::ClientCredentials], roles, None).await;
    let secret = secret.unwrap();
    let h = Home::new();
    h.configure(
        &s.base,
        &s.env_id,
        &[
            ("service.pingone.authentication.type", "worker"),
            ("service.pingone.authentication.worker.clientID", &id),
            ("service.pingone.authentication.worker.clientSecret", &secret),
            ("service.pingfederate.httpsHost", &s.base),
            ("service.pingfederate.authentication.type", "oauth"),
            ("service.pingfederate.authentication.oauth.service", "pingone"),
        ],
    );
    h
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
}

/// Exit 1, and one `error:` line holding `needle`, with nothing after it but hints.
fn refused(r: &Run, needle: &str) {
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let mut lines = r.stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("error: ") && first.contains(needle), "{needle:?} not in {:?}", r.stderr);
    assert!(lines.all(|l| l.starts_with("hint: ")), "one line and hints: {:?}", r.stderr);
}

fn has_hint(r: &Run, needle: &str) {
    assert!(r.stderr.lines().any(|l| l.starts_with("hint: ") && l.contains(needle)), "{needle:?}: {}", r.stderr);
}

/// The value of `name  value` in text output.
fn field<'a>(r: &'a Run, name: &str) -> &'a str {
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with("  ")).map(str::trim))
        .unwrap_or_else(|| panic!("no {name:?} in {}", r.stdout))
}

fn write(h: &Home, name: &str, text: &str) -> String {
    let path = h.dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_and_pingid_methods_are_created_read_updated_listed_and_deleted() {
    let s = Server::start().await;
    let h = signed_on(&s, &[Role::Admin]).await;

    // Nothing yet: Vault's 404 for an empty list is an empty list here.
    let empty = h.run_async(&["mfa", "method", "list"]).await;
    ok(&empty);
    assert_eq!(empty.stdout.trim(), "no MFA methods");
    let empty = h.run_async(&["-O", "json", "mfa", "method", "list"]).await;
    ok(&empty);
    assert_eq!(empty.json(), serde_json::json!([]));

    let made = h
        .run_async(&["mfa", "method", "create", "totp", "--issuer", "signet", "--method-name", "app", "--digits", "8"])
        .await;
    ok(&made);
    let totp = made.stdout.trim().strip_prefix("created totp method ").unwrap_or_else(|| panic!("{}", made.stdout));
    let totp = totp.to_owned();
    let file = write(&h, "pingid.properties", SETTINGS);
    let made = h
        .run_async(&[
            "-O",
            "json",
            "mfa",
            "method",
            "create",
            "pingid",
            "--settings-file",
            &file,
            "--method-name",
            "ping",
        ])
        .await;
    ok(&made);
    let ping = made.json()["method_id"].as_str().unwrap().to_owned();

    let read = h.run_async(&["mfa", "method", "read", "totp", &totp]).await;
    ok(&read);
    assert_eq!((field(&read, "id"), field(&read, "type"), field(&read, "name")), (totp.as_str(), "totp", "app"));
    assert_eq!((field(&read, "issuer"), field(&read, "digits"), field(&read, "period")), ("signet", "8", "30"));
    // By id alone, whatever the type; the settings file's secrets never come back.
    let read = h.run_async(&["-O", "json", "mfa", "method", "read", &ping]).await;
    ok(&read);
    let m = read.json();
    assert_eq!((m["type"].as_str(), m["name"].as_str()), (Some("pingid"), Some("ping")));
    assert_eq!(m["org_alias"], "181459b0-9fb1-4938-8c86-181459b0abcd");
    assert_eq!(m["use_signature"], true);
    assert!(!read.stdout.contains("widgets-token-1") && !read.stdout.contains("bXktc2VjcmV0LWtleQ=="));

    // An update replaces the settings, keeping the name it is not given.
    let up = h.run_async(&["mfa", "method", "update", "totp", &totp, "--issuer", "signet-2", "--skew", "0"]).await;
    ok(&up);
    assert!(up.stdout.starts_with(&format!("updated totp method {totp}\n")), "{}", up.stdout);
    assert_eq!((field(&up, "name"), field(&up, "issuer")), ("app", "signet-2"));
    assert_eq!((field(&up, "digits"), field(&up, "skew")), ("6", "0"), "absent fields take their defaults");
    let other = SETTINGS.replace("181459b0-9fb1-4938-8c86-181459b0abcd", "another-org");
    let file = write(&h, "other.properties", &other);
    let up = h
        .run_async(&[
            "-O",
            "json",
            "mfa",
            "method",
            "update",
            "pingid",
            &ping,
            "--settings-file",
            &file,
            "--method-name",
            "ping-2",
        ])
        .await;
    ok(&up);
    assert_eq!((up.json()["org_alias"].as_str(), up.json()["name"].as_str()), (Some("another-org"), Some("ping-2")));

    let list = h.run_async(&["mfa", "method", "list"]).await;
    ok(&list);
    let header = list.stdout.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("TYPE") && header.contains("SETTINGS"), "{header}");
    let row = list.stdout.lines().find(|l| l.starts_with(&totp)).unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(row.contains("totp") && row.contains("app") && row.contains("issuer=signet-2"), "{row}");
    assert!(list.stdout.lines().any(|l| l.starts_with(&ping) && l.contains("org_alias=another-org")));
    let pingids = h.run_async(&["-O", "json", "mfa", "method", "list", "pingid"]).await;
    ok(&pingids);
    let listed = pingids.json();
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ping.as_str()]);

    let gone = h.run_async(&["mfa", "method", "delete", "totp", &totp]).await;
    ok(&gone);
    assert_eq!(gone.stdout.trim(), format!("deleted totp method {totp}"));
    let gone = h.run_async(&["-O", "json", "mfa", "method", "delete", "pingid", &ping]).await;
    ok(&gone);
    assert_eq!(gone.json(), serde_json::json!({"method_id": ping, "deleted": true}));
    let none = h.run_async(&["mfa", "method", "list", "totp"]).await;
    ok(&none);
    assert_eq!(none.stdout.trim(), "no MFA methods of type totp");
    let missing = h.run_async(&["mfa", "method", "read", "totp", &totp]).await;
    refused(&missing, &format!("GET /v1/identity/mfa/method/totp/{totp} answered 404: not found"));
    has_hint(&missing, "signet mfa method list");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_secrets_come_from_stdin_or_a_file_never_an_argument() {
    let s = Server::start().await;
    let h = signed_on(&s, &[Role::Admin]).await;

    let made = h
        .run_async_stdin(
            &["-O", "json", "mfa", "method", "create", "okta", "--org-name", "acme", "--api-token-file", "-"],
            "okta-token-123\n",
        )
        .await;
    ok(&made);
    let okta = made.json()["method_id"].as_str().unwrap().to_owned();
    let read = h.run_async(&["mfa", "method", "read", "okta", &okta]).await;
    ok(&read);
    assert_eq!((field(&read, "org name"), field(&read, "production")), ("acme", "yes"));
    assert!(!read.stdout.contains("okta-token-123"));

    // No token: stdin is no terminal to ask on, and it is never a flag.
    let none = h.run_async(&["mfa", "method", "create", "okta", "--org-name", "acme"]).await;
    refused(&none, "no Okta API token");
    has_hint(&none, "--api-token-file -");
    let flag = h.run_async(&["mfa", "method", "create", "okta", "--org-name", "acme", "--api-token", "t"]).await;
    assert_eq!(flag.code, 2, "{}", flag.stderr);
    let empty =
        h.run_async_stdin(&["mfa", "method", "create", "okta", "--org-name", "x", "--api-token-file", "-"], "\n").await;
    refused(&empty, "stdin holds no Okta API token");

    // Duo's secret key from a file.
    let key = write(&h, "duo-secret", "duo-secret-key-456\n");
    let made = h
        .run_async(&[
            "mfa",
            "method",
            "create",
            "duo",
            "--api-hostname",
            "api-12345678.duosecurity.com",
            "--integration-key",
            "DIXXXXXXXXXXXXXXXXXX",
            "--use-passcode",
            "--secret-key-file",
            &key,
        ])
        .await;
    ok(&made);
    let duo = made.stdout.trim().strip_prefix("created duo method ").unwrap().to_owned();
    let read = h.run_async(&["-O", "json", "mfa", "method", "read", &duo]).await;
    ok(&read);
    assert_eq!((read.json()["use_passcode"].as_bool(), read.json()["type"].as_str()), (Some(true), Some("duo")));
    assert!(!read.stdout.contains("duo-secret-key-456"));
    let missing = h
        .run_async(&[
            "mfa",
            "method",
            "create",
            "duo",
            "--api-hostname",
            "h.example",
            "--integration-key",
            "k",
            "--secret-key-file",
            "/nonexistent/duo",
        ])
        .await;
    refused(&missing, "reading the Duo secret key from /nonexistent/duo");
}

#[tokio::test(flavor = "multi_thread")]
async fn enforcements_are_written_read_listed_and_deleted() {
    let s = Server::start().await;
    // This enforcement reaches administrators: UserAdmin's to write (issue 15, finding 10).
    let h = signed_on(&s, &[Role::UserAdmin, Role::Admin, Role::ExpressionAdmin]).await;
    let person = s.account(true, true).await;
    let made = h.run_async(&["-O", "json", "mfa", "method", "create", "totp", "--issuer", "signet"]).await;
    ok(&made);
    let totp = made.json()["method_id"].as_str().unwrap().to_owned();

    let empty = h.run_async(&["mfa", "enforcement", "list"]).await;
    ok(&empty);
    assert_eq!(empty.stdout.trim(), "no login enforcements");
    assert_eq!(h.run_async(&["-O", "json", "mfa", "enforcement", "list"]).await.json(), serde_json::json!([]));

    let made = h
        .run_async(&[
            "mfa",
            "enforcement",
            "create",
            "admins",
            "--method-id",
            &totp,
            "--group",
            "admin,cryptoadmin",
            "--entity",
            &person.id,
            "--auth-method-type",
            "password",
        ])
        .await;
    ok(&made);
    assert!(made.stdout.starts_with("wrote enforcement admins\n"), "{}", made.stdout);
    assert_eq!((field(&made, "methods"), field(&made, "groups")), (totp.as_str(), "Admin,CryptoAdmin"));
    assert_eq!((field(&made, "accounts"), field(&made, "environments")), (person.id.as_str(), "-"));

    let read = h.run_async(&["-O", "json", "mfa", "enforcement", "read", "admins"]).await;
    ok(&read);
    let e = read.json();
    assert_eq!(e["mfa_method_ids"], serde_json::json!([totp]));
    assert_eq!(e["identity_group_ids"], serde_json::json!(["Admin", "CryptoAdmin"]));
    assert_eq!(e["auth_method_types"], serde_json::json!(["password"]));
    let list = h.run_async(&["mfa", "enforcement", "list"]).await;
    ok(&list);
    let row = list.stdout.lines().find(|l| l.starts_with("admins ")).unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(row.contains(&totp) && row.contains("types password; groups Admin,CryptoAdmin"), "{row}");
    let listed = h.run_async(&["-O", "json", "mfa", "enforcement", "list"]).await;
    assert_eq!(listed.json()[0]["name"], "admins");

    // A method in use is not deleted; the server says by what.
    let in_use = h.run_async(&["mfa", "method", "delete", "totp", &totp]).await;
    refused(&in_use, "answered 400: methodID is still used by an enforcement configuration");
    assert!(in_use.stderr.contains("admins"), "{}", in_use.stderr);
    has_hint(&in_use, "signet mfa enforcement list");

    let gone = h.run_async(&["mfa", "enforcement", "delete", "admins"]).await;
    ok(&gone);
    assert_eq!(gone.stdout.trim(), "deleted enforcement admins");
    let missing = h.run_async(&["mfa", "enforcement", "read", "admins"]).await;
    refused(&missing, "GET /v1/identity/mfa/login-enforcement/admins answered 404: not found");
    has_hint(&missing, "signet mfa enforcement list");
    ok(&h.run_async(&["mfa", "method", "delete", "totp", &totp]).await);

    // The server checks what the ids name.
    let unknown = h
        .run_async(&[
            "mfa",
            "enforcement",
            "create",
            "x",
            "--method-id",
            "00000000-0000-4000-8000-000000000000",
            "--auth-method-type",
            "ldap",
        ])
        .await;
    refused(&unknown, "one of the provided method ids doesn't exist");
    let group = h.run_async(&["mfa", "enforcement", "create", "x", "--method-id", &totp, "--group", "devs"]).await;
    assert_eq!(group.code, 2, "a typo fails before anything is sent: {}", group.stderr);
    assert!(group.stderr.contains("hint: the groups are UserAdmin"), "{}", group.stderr);
    let no_target = h.run_async(&["mfa", "enforcement", "create", "x", "--method-id", &totp]).await;
    assert_eq!(no_target.code, 2, "{}", no_target.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_refusals_are_one_line_errors_with_hints() {
    let s = Server::start().await;
    let h = signed_on(&s, &[Role::Admin]).await;

    let unknown = h.run_async(&["mfa", "method", "create", "sms"]).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.starts_with("error: unrecognized subcommand 'sms'"), "{}", unknown.stderr);
    let unknown = h.run_async(&["mfa", "method", "read", "sms", "00000000-0000-4000-8000-000000000000"]).await;
    refused(&unknown, "\"sms\" is not a method type");
    has_hint(&unknown, "totp, pingid, okta, duo");
    let no_id = h.run_async(&["mfa", "method", "read", "totp"]).await;
    refused(&no_id, "totp is a method type: give the method's id after it");

    // Settings files are checked before anything is sent.
    let missing = h.run_async(&["mfa", "method", "create", "pingid", "--settings-file", "/nonexistent/pingid"]).await;
    refused(&missing, "reading the PingID settings file /nonexistent/pingid: No such file or directory");
    has_hint(&missing, "--settings-file takes the PingID settings file");
    let big = write(&h, "big.properties", &"#".repeat(17 * 1024));
    refused(
        &h.run_async(&["mfa", "method", "create", "pingid", "--settings-file", &big]).await,
        "too big for a PingID settings file",
    );
    let dir = h.dir.to_str().unwrap().to_owned();
    refused(&h.run_async(&["mfa", "method", "create", "pingid", "--settings-file", &dir]).await, "is not a file");
    let empty = h.run_async(&["-O", "json", "mfa", "method", "list"]).await;
    assert_eq!(empty.json(), serde_json::json!([]), "nothing was written");

    // What the server refuses: Vault's message, on one line.
    let bad = write(&h, "bad.properties", "colour=red\n");
    refused(
        &h.run_async(&["mfa", "method", "create", "pingid", "--settings-file", &bad]).await,
        "POST /v1/identity/mfa/method/pingid answered 400: ",
    );
    refused(
        &h.run_async(&["mfa", "method", "create", "totp", "--issuer", "x", "--digits", "7"]).await,
        "answered 400: digits can only be 6 or 8",
    );
    ok(&h.run_async(&["mfa", "method", "create", "totp", "--issuer", "x", "--method-name", "app"]).await);
    let dup = h.run_async(&["mfa", "method", "create", "totp", "--issuer", "y", "--method-name", "app"]).await;
    refused(&dup, "the method name app already exists");
    has_hint(&dup, "choose another --method-name");

    // Roles come from the store: a CryptoAdmin reads, but may not write.
    let crypto = signed_on(&s, &[Role::CryptoAdmin]).await;
    let list = crypto.run_async(&["-O", "json", "mfa", "method", "list"]).await;
    ok(&list);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    let denied = crypto.run_async(&["mfa", "method", "create", "totp", "--issuer", "z"]).await;
    refused(&denied, "POST /v1/identity/mfa/method/totp answered 403: permission denied");
    has_hint(&denied, "the Admin role");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_static_admin_credentials_the_token_is_the_sign_on_to_the_same_server() {
    let s = Server::start().await;
    // Basic credentials alone give the Vault API nothing it takes.
    let basic = Home::new();
    admin_basic(&basic, &s, &s.boot.admin.password);
    let r = basic.run_async(&["mfa", "method", "list"]).await;
    refused(&r, "the Vault-compatible API takes an access token");
    has_hint(&r, "signet auth login");

    // A sign-on to signetd itself supplies it.
    let h = signed_on(&s, &[Role::Admin]).await;
    admin_basic(&h, &s, &s.boot.admin.password);
    let r = h.run_async(&["mfa", "method", "create", "totp", "--issuer", "signet"]).await;
    ok(&r);
    assert!(r.stdout.starts_with("created totp method "), "{}", r.stdout);
}
