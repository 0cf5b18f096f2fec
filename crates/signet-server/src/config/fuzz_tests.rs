//! signetd's TOML configuration file fuzzed on stable (issue 15): arbitrary
//! text, TOML-shaped lines, and documents generated to the file's shape with
//! values of every kind, parsed as `FileConfig` and then resolved as
//! `serve::run` resolves it, short of I/O: connection limits, the listen
//! address and the plain-HTTP rule, trusted proxies, checkpoint sinks, the
//! public URL, the store's URL, and `[admin_api.authentication]` checked and
//! sealed. Never a panic; and a secret written in the file is never in the
//! configuration's `Debug` nor in an error. `PROPTEST_CASES` sets the number
//! of cases; `fuzz/run.sh` runs it longer.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use toml::{Table, Value};

use super::*;
use crate::audit_chain::Sink;
use crate::net::TrustedProxies;

/// Every secret the generated files hold: it must never be shown.
const SECRET: &str = "s3cret-in-the-config";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

/// Parses `text` and resolves everything `serve::run` resolves before it
/// touches the disk or the network; how far it got.
fn exercise(text: &str, kek: &Kek) -> &'static str {
    let Ok(file) = toml::from_str::<FileConfig>(text) else { return "not a configuration" };
    let shown = format!("{file:?}");
    assert!(!shown.contains(SECRET), "a secret in the configuration's Debug: {shown}");
    let Ok(cli) = <crate::cli::Cli as clap::Parser>::try_parse_from(["signetd", "serve"]) else { return "no flags" };
    let crate::cli::Command::Serve(args) = cli.command else { return "no flags" };
    let _ = crate::serve::connection_limits(&args, &file);
    let tls = file.tls_cert.is_some() && file.tls_key.is_some();
    if let Ok(listen) = parse_listen(file.listen.as_deref().unwrap_or(DEFAULT_LISTEN)) {
        let _ = check_plain_http(listen, tls, file.insecure_http.unwrap_or(false));
    }
    if let Ok(proxies) = TrustedProxies::parse(&file.trusted_proxies.clone().unwrap_or_default()) {
        for ip in ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::1", "0.0.0.0", "255.255.255.255"] {
            let _ = proxies.contains(ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])));
        }
    }
    for sink in file.audit_checkpoint_sink.iter().flatten() {
        let _ = sink.parse::<Sink>();
    }
    if let Some(u) = &file.public_url {
        let _ = url::Url::parse(u);
    }
    let data_dir = file.data_dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let _ = database_url(file.database_url.clone(), &data_dir);
    let Some(admin) = file.admin_api else { return "a configuration" };
    let mut settings = admin.authentication;
    // CRL files are read by the check: only those that are not there.
    if settings.mtls.as_ref().is_some_and(|m| m.crl_files.iter().any(|p| p.exists())) {
        return "CRL files there";
    }
    match settings.check(kek, tls) {
        Ok(()) => {
            let shown = format!("{settings:?}");
            assert!(!shown.contains(SECRET), "a secret in the checked settings' Debug: {shown}");
            let stored = serde_json::to_string(&settings).unwrap_or_default();
            assert!(!stored.contains(SECRET), "a secret stored unsealed: {stored}");
            "authentication settings taken"
        }
        Err(e) => {
            assert!(!e.contains(SECRET), "a secret in an error: {e}");
            "authentication settings refused"
        }
    }
}

/// Values of every TOML kind, with the ones that break resolvers.
fn value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        prop::sample::select(
            &[
                "127.0.0.1:8080",
                "0.0.0.0:0",
                "[::1]:65535",
                "[::1]:65536",
                "localhost:80",
                "http://127.0.0.1:8080",
                "https://signet.example",
                "postgres://u@127.0.0.1:5432/db",
                "sqlite:///tmp/x.db",
                "10.0.0.0/8",
                "10.0.0.0/33",
                "::/0",
                "::/129",
                "1.2.3.4/-1",
                "file:/tmp/x",
                "file:",
                "syslog",
                "syslog:",
                "syslog:/dev/log",
                "ldap://ldap.example",
                "ldaps://ldap.example:636",
                "ldap://",
                "radius.example:1812",
                "[2001:db8::1]:1812",
                "[nope]:1",
                "host:0",
                "uid={username},ou=people,dc=example",
                "(uid={username})",
                "(member={dn})",
                "native",
                "ldap",
                "radius",
                "mtls",
                "oauth",
                "Class",
                "Filter-Id",
                "26",
                "256",
                "UserAdmin",
                "Admin",
                "ExpressionAdmin",
                "CryptoAdmin",
                "subject_cn",
                "san_email",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "",
                " ",
                "\u{0}",
                "\u{202e}",
                "é",
            ][..],
        )
        .prop_map(|s| Value::String(s.into())),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(
            &[0i64, 1, -1, 60, 61, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296, i64::MAX, i64::MIN][..]
        )
        .prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Boolean),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3).prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

const TOP: &[&str] = &[
    "data_dir",
    "listen",
    "database_url",
    "public_url",
    "tls_cert",
    "tls_key",
    "insecure_http",
    "trusted_proxies",
    "allow_private_fetch",
    "require_dpop_nonce",
    "key_encryption_key_file",
    "audit_retention_days",
    "max_connections",
    "max_connections_per_address",
    "header_read_timeout_secs",
    "idle_timeout_secs",
    "audit_checkpoint_sink",
    "audit_checkpoint_minutes",
];

/// Paths of `[admin_api.authentication]`, with a value mostly of the right kind.
const AUTH: &[&str] = &[
    "schemes",
    "ldap.connection.url",
    "ldap.connection.start_tls",
    "ldap.connection.ca_certificates_pem",
    "ldap.connection.dn_template",
    "ldap.connection.search.base_dn",
    "ldap.connection.search.filter",
    "ldap.connection.search.bind_dn",
    "ldap.connection.search.bind_password",
    "ldap.connection.groups.base_dn",
    "ldap.connection.groups.filter",
    "ldap.connection.timeout_seconds",
    "ldap.roles",
    "radius.connection.servers",
    "radius.connection.timeout_ms",
    "radius.connection.retries",
    "radius.connection.require_message_authenticator",
    "radius.connection.nas_identifier",
    "radius.role_attribute",
    "radius.roles",
    "mtls.identity",
    "mtls.crl_files",
    "oauth.issuers",
];

/// A value that fits the field more often than not.
fn fitting(path: &'static str) -> BoxedStrategy<Value> {
    let s = |v: &str| Value::String(v.into());
    let strings = |vs: &[&str]| Value::Array(vs.iter().map(|v| s(v)).collect());
    let grant = |value: &str, roles: &[&str]| {
        let mut t = Table::new();
        t.insert("value".into(), s(value));
        t.insert("roles".into(), strings(roles));
        Value::Table(t)
    };
    let right: Vec<Value> = match path {
        "schemes" => vec![
            strings(&["native"]),
            strings(&["native", "ldap"]),
            strings(&["radius", "native", "mtls", "oauth"]),
            strings(&["ldap", "ldap"]),
            strings(&[]),
        ],
        "ldap.connection.url" => vec![s("ldap://ldap.example"), s("ldaps://ldap.example"), s("http://x")],
        "ldap.connection.search.bind_password" => vec![s(SECRET)],
        "ldap.connection.search.bind_dn" => vec![s("cn=signetd,dc=example")],
        "ldap.connection.search.filter" => vec![s("(uid={username})"), s("uid={username}")],
        "ldap.connection.groups.filter" => vec![s("(member={dn})"), s("(cn=x)")],
        "ldap.roles" | "radius.roles" => vec![
            Value::Array(vec![grant("cn=admins", &["Admin"])]),
            Value::Array(vec![grant("x", &["UserAdmin"])]),
            Value::Array(vec![grant("", &["Admin"]), grant("y", &[])]),
        ],
        "radius.connection.servers" => {
            let server = |address: &str, secret: &str| {
                let mut t = Table::new();
                t.insert("address".into(), s(address));
                t.insert("secret".into(), s(secret));
                Value::Table(t)
            };
            vec![
                Value::Array(vec![server("radius.example:1812", SECRET)]),
                Value::Array(vec![server("[::1]:1812", SECRET), server("bad", SECRET)]),
                Value::Array(vec![server("radius.example:1812", "")]),
                Value::Array(vec![]),
            ]
        }
        "mtls.crl_files" => vec![strings(&["/nonexistent/signet-fuzz.crl"]), strings(&[])],
        "oauth.issuers" => {
            let mut t = Table::new();
            t.insert("issuer".into(), s("https://issuer.example"));
            t.insert("audience".into(), s("signetd"));
            t.insert("roles".into(), Value::Array(vec![grant("admins", &["Admin"])]));
            vec![Value::Array(vec![Value::Table(t)])]
        }
        _ => vec![s("x")],
    };
    prop_oneof![2 => prop::sample::select(right), 1 => value()].boxed()
}

fn insert(t: &mut Table, path: &[&str], v: Value) {
    match path {
        [] => {}
        [last] => {
            t.insert((*last).to_owned(), v);
        }
        [first, rest @ ..] => {
            let entry = t.entry((*first).to_owned()).or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(inner) = entry {
                insert(inner, rest, v);
            }
        }
    }
}

/// A document of the file's shape: top-level settings and the admin API's authentication.
fn structured() -> impl Strategy<Value = String> {
    let top = prop::collection::vec((prop::sample::select(TOP), value()), 0..6);
    let auth = prop::collection::vec(prop::sample::select(AUTH).prop_flat_map(|p| (Just(p), fitting(p))), 0..8);
    let unknown = prop::option::weighted(0.1, ("[a-z_]{1,10}", value()));
    (top, prop::option::weighted(0.7, auth), unknown).prop_map(|(top, auth, unknown)| {
        let mut doc = Table::new();
        for (k, v) in top {
            doc.insert(k.into(), v);
        }
        if let Some(auth) = auth {
            let mut a = Table::new();
            for (path, v) in auth {
                insert(&mut a, &path.split('.').collect::<Vec<_>>(), v);
            }
            insert(&mut doc, &["admin_api", "authentication"], Value::Table(a));
        }
        if let Some((k, v)) = unknown {
            doc.insert(k, v);
        }
        toml::to_string(&doc).unwrap_or_default()
    })
}

/// A file that configures everything, and is taken as it is.
fn complete() -> Table {
    let doc: Table = toml::from_str(&format!(
        r#"
listen = "127.0.0.1:8080"
public_url = "https://signet.example"
data_dir = "/nonexistent/signet-data"
database_url = "postgres://signet@127.0.0.1:5432/signet"
trusted_proxies = ["10.0.0.0/8", "::1"]
insecure_http = false
allow_private_fetch = false
require_dpop_nonce = true
audit_retention_days = 400
max_connections = 1024
max_connections_per_address = 64
header_read_timeout_secs = 10
idle_timeout_secs = 60
audit_checkpoint_sink = ["file:/nonexistent/checkpoints", "syslog"]
audit_checkpoint_minutes = 60

[admin_api.authentication]
schemes = ["native", "ldap", "radius", "oauth"]

[admin_api.authentication.ldap.connection]
url = "ldap://ldap.example"
timeout_seconds = 5
[admin_api.authentication.ldap.connection.search]
base_dn = "ou=people,dc=example"
filter = "(uid={{username}})"
bind_dn = "cn=signetd,dc=example"
bind_password = "{SECRET}"
[admin_api.authentication.ldap.connection.groups]
base_dn = "ou=groups,dc=example"
[[admin_api.authentication.ldap.roles]]
value = "cn=admins,ou=groups,dc=example"
roles = ["Admin"]

[admin_api.authentication.radius]
role_attribute = "Class"
[admin_api.authentication.radius.connection]
timeout_ms = 2000
retries = 1
[[admin_api.authentication.radius.connection.servers]]
address = "radius.example:1812"
secret = "{SECRET}"
[[admin_api.authentication.radius.roles]]
value = "signet:auditors"
auditor = true

[admin_api.authentication.mtls]
identity = "subject_cn"
crl_files = []

[[admin_api.authentication.oauth.issuers]]
issuer = "https://issuer.example"
audience = "signetd"
"#
    ))
    .unwrap_or_default();
    doc
}

/// A value at a dotted path of a table, if the path is there.
fn slot<'a>(t: &'a mut Table, path: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let v = t.get_mut(*first)?;
    if rest.is_empty() {
        return Some(v);
    }
    match v {
        Value::Table(inner) => slot(inner, rest),
        Value::Array(a) => match a.first_mut() {
            Some(Value::Table(inner)) => slot(inner, rest),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Remove,
    Set(Value),
}

/// The complete file with a few of its settings removed or changed.
fn near_complete() -> impl Strategy<Value = String> {
    let paths: Vec<String> = TOP
        .iter()
        .map(|p| (*p).to_owned())
        .chain(AUTH.iter().map(|p| format!("admin_api.authentication.{p}")))
        .collect();
    let edit = prop::sample::select(paths).prop_flat_map(|path| {
        let leaf: &'static str = AUTH.iter().find(|a| path.ends_with(*a)).copied().unwrap_or("");
        let change = prop_oneof![1 => Just(Edit::Remove), 3 => fitting(leaf).prop_map(Edit::Set)];
        (Just(path), change)
    });
    prop::collection::vec(edit, 1..4).prop_map(|edits| {
        let mut doc = complete();
        for (path, edit) in edits {
            let parts: Vec<&str> = path.split('.').collect();
            match edit {
                Edit::Set(v) => insert(&mut doc, &parts, v),
                Edit::Remove => {
                    if let Some((last, up)) = parts.split_last()
                        && let Some(Value::Table(t)) = if up.is_empty() { None } else { slot(&mut doc, up) }
                    {
                        t.remove(*last);
                    } else if parts.len() == 1 {
                        doc.remove(parts[0]);
                    }
                }
            }
        }
        toml::to_string(&doc).unwrap_or_default()
    })
}

/// Lines a hand-edited file might have, good and bad, in any order.
fn lines() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        (prop::sample::select(TOP), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(
            &[
                "[admin_api]",
                "[admin_api.authentication]",
                "[admin_api.authentication.ldap.connection]",
                "[admin_api.authentication.ldap.connection.search]",
                "[[admin_api.authentication.radius.connection.servers]]",
                "[[admin_api.authentication.ldap.roles]]",
                "[admin_api.authentication.mtls]",
                "[[admin_api.authentication.oauth.issuers]]",
                "[admin_api.authentication.radius]",
                "[[admin_api]]",
                "[",
                "]]",
                "# comment",
                "",
            ][..],
        )
        .prop_map(str::to_owned),
        (prop::sample::select(AUTH).prop_map(|p| p.rsplit('.').next().unwrap_or(p)), value())
            .prop_map(|(k, v)| format!("{k} = {v}")),
        "[ -~]{0,40}",
    ];
    prop::collection::vec(line, 0..16).prop_map(|l| l.join("\n"))
}

fn fuzz(name: &str, strategy: impl Strategy<Value = String>, default: u32) {
    let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
    let cases = cases(default);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<&str, u32>::new());
    let outcome = runner.run(&strategy, |text| {
        let outcome = exercise(&text, &kek);
        *seen.lock().unwrap().entry(outcome).or_default() += 1;
        Ok(())
    });
    eprintln!("fuzz-cases {name} {cases}: {:?}", seen.lock().unwrap());
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[test]
fn fuzz_server_config_any_text_is_a_configuration_or_an_error() {
    fuzz("server_config_text", any::<String>(), 512);
    fuzz(
        "server_config_bytes",
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        256,
    );
}

#[test]
fn fuzz_server_config_shaped_files_resolve_or_fail_cleanly() {
    fuzz("server_config_lines", lines(), 512);
    fuzz("server_config_structured", structured(), 512);
    fuzz("server_config_near_complete", near_complete(), 1024);
}

#[test]
fn the_complete_file_is_taken() {
    let text = toml::to_string(&complete()).unwrap();
    assert_eq!(exercise(&text, &Kek::from_bytes(&[7u8; 32]).unwrap()), "authentication settings taken", "{text}");
}

#[test]
fn a_secret_in_the_file_is_sealed_before_it_is_shown() {
    // The file's LDAP bind password and RADIUS secret, as the generated files write them.
    let text = format!(
        "[admin_api.authentication]\nschemes = [\"native\", \"ldap\", \"radius\"]\n\
         [admin_api.authentication.ldap.connection]\nurl = \"ldap://ldap.example\"\n\
         [admin_api.authentication.ldap.connection.search]\nbase_dn = \"dc=example\"\nfilter = \"(uid={{username}})\"\n\
         bind_dn = \"cn=signetd\"\nbind_password = \"{SECRET}\"\n\
         [[admin_api.authentication.radius.connection.servers]]\naddress = \"radius.example:1812\"\nsecret = \"{SECRET}\"\n"
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    let mut settings = file.admin_api.unwrap().authentication;
    settings.check(&Kek::from_bytes(&[7u8; 32]).unwrap(), false).unwrap();
    assert!(!format!("{settings:?}").contains(SECRET));
    assert!(!serde_json::to_string(&settings).unwrap().contains(SECRET));
}
