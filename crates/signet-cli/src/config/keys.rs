//! Every configuration key `signet` knows: its canonical spelling, what it
//! means, how its value is checked, whether it is a secret, and its
//! environment variable. Keys are matched case-insensitively; `service.<name>`
//! stands for any connector name.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Enum(&'static [&'static str]),
    Url,
    Uuid,
    Port,
    Seconds,
    /// Comma- or space-separated words, such as scopes.
    List,
    /// Comma-separated file paths.
    Paths,
    /// The path of a URL: `/` and then letters, digits, `-`, `.`, `_`, `~` and `/`.
    UrlPath,
}

#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    /// Canonical spelling; `<name>` is a connector name.
    pub key: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub secret: bool,
    pub default: Option<&'static str>,
}

pub const STORAGE_TYPES: &[&str] = &["secure_local", "file", "none"];
pub const AUTH_TYPES: &[&str] = &["worker", "client_credentials", "authorization_code", "device_code"];
pub const REGION_CODES: &[&str] = &["NA", "EU", "AP", "CA", "AU", "SG"];
pub const OUTPUT_FORMATS: &[&str] = &["text", "json"];
pub const ADMIN_AUTH_TYPES: &[&str] = &["basicAuth", "oauth", "clientCertificate"];
/// The service name of the admin API (pingcli's), whose keys are `service.pingfederate.*`.
pub const ADMIN_SERVICE: &str = "pingfederate";

const fn key(key: &'static str, description: &'static str, kind: Kind) -> KeyDef {
    KeyDef { key, description, kind, secret: false, default: None }
}

const fn with_default(mut k: KeyDef, default: &'static str) -> KeyDef {
    k.default = Some(default);
    k
}

const fn secret(mut k: KeyDef) -> KeyDef {
    k.secret = true;
    k
}

pub static KEYS: &[KeyDef] = &[
    with_default(
        key(
            "auth.storage.type",
            "Where tokens are kept: the OS keychain, a 0600 file, or nowhere",
            Kind::Enum(STORAGE_TYPES),
        ),
        "secure_local",
    ),
    with_default(
        key("auth.loginTimeoutSeconds", "How long a browser or device sign-on may take", Kind::Seconds),
        "300",
    ),
    with_default(key("outputFormat", "Default output format", Kind::Enum(OUTPUT_FORMATS)), "text"),
    key("service.pingone.regionCode", "PingOne region: NA, EU, AP, CA, AU or SG", Kind::Enum(REGION_CODES)),
    key(
        "service.pingone.endpoint.baseURL",
        "Base URL that replaces the region's host, e.g. http://127.0.0.1:8080 for signetd",
        Kind::Url,
    ),
    key(
        "service.pingone.endpoint.environmentID",
        "The environment to sign on to (alias: service.pingone.authentication.worker.environmentID)",
        Kind::Uuid,
    ),
    key(
        "service.pingfederate.httpsHost",
        "The admin API's server, e.g. https://signet.example.com (signetd's public URL)",
        Kind::Url,
    ),
    with_default(
        key("service.pingfederate.adminAPIPath", "Path of the admin API on httpsHost", Kind::Text),
        "/admin-api/v1",
    ),
    key(
        "service.pingfederate.authentication.type",
        "How to reach the admin API: basicAuth, oauth (another service's sign-on) or clientCertificate",
        Kind::Enum(ADMIN_AUTH_TYPES),
    ),
    key("service.pingfederate.authentication.basicAuth.username", "Admin account for basicAuth", Kind::Text),
    secret(key(
        "service.pingfederate.authentication.basicAuth.password",
        "Password of the basicAuth admin account",
        Kind::Text,
    )),
    key(
        "service.pingfederate.authentication.oauth.service",
        "The signed-on service whose access token the admin API accepts, e.g. pingone",
        Kind::Text,
    ),
    key(
        "service.pingfederate.authentication.clientCertificate.certFile",
        "PEM client certificate for mutual TLS",
        Kind::Text,
    ),
    key(
        "service.pingfederate.authentication.clientCertificate.keyFile",
        "PEM private key of the client certificate",
        Kind::Text,
    ),
    key(
        "service.<name>.issuer",
        "Issuer of a generic OpenID provider, found through its discovery document",
        Kind::Url,
    ),
    key(
        "service.<name>.authentication.type",
        "How to sign on: worker (client_credentials), authorization_code or device_code",
        Kind::Enum(AUTH_TYPES),
    ),
    key("service.<name>.authentication.worker.clientID", "Worker application's client id", Kind::Text),
    secret(key("service.<name>.authentication.worker.clientSecret", "Worker application's client secret", Kind::Text)),
    key("service.<name>.authentication.worker.scopes", "Scopes a worker asks for", Kind::List),
    key("service.<name>.authentication.authorizationCode.clientID", "Client id for the browser sign-on", Kind::Text),
    with_default(
        key(
            "service.<name>.authentication.authorizationCode.redirectURIPort",
            "Loopback port for the browser's redirect; 0 picks a free one",
            Kind::Port,
        ),
        "0",
    ),
    // Each service's browser sign-on comes back to a path of its own, so a
    // provider's answer never reaches the flow of another service (RFC 9700
    // §4.4.2). `pingone` keeps `/callback`, which signetd registers for
    // its `signet-cli` application; every other service defaults to
    // `/callback/<name>`.
    with_default(
        key(
            "service.pingone.authentication.authorizationCode.redirectURIPath",
            "Path of the loopback redirect, as the provider registers it: http://127.0.0.1/callback, any port",
            Kind::UrlPath,
        ),
        "/callback",
    ),
    with_default(
        key(
            "service.<name>.authentication.authorizationCode.redirectURIPath",
            "Path of the loopback redirect, the service's own (register http://127.0.0.1/callback/<name> at the provider)",
            Kind::UrlPath,
        ),
        "/callback/<name>",
    ),
    with_default(
        key(
            "service.<name>.authentication.authorizationCode.scopes",
            "Scopes asked for in the browser sign-on",
            Kind::List,
        ),
        "openid profile offline_access",
    ),
    key("service.<name>.authentication.deviceCode.clientID", "Client id for the device sign-on", Kind::Text),
    with_default(
        key("service.<name>.authentication.deviceCode.scopes", "Scopes asked for in the device sign-on", Kind::List),
        "openid profile offline_access",
    ),
    key(
        "service.<name>.caCertificatePemFiles",
        "PEM files of private CAs to trust for this service (comma-separated)",
        Kind::Paths,
    ),
];

/// Spellings that mean another key (seed 001 names the environment under `worker`).
pub static ALIASES: &[(&str, &str)] =
    &[("service.pingone.authentication.worker.environmentID", "service.pingone.endpoint.environmentID")];

/// A key resolved to its definition, with any `<name>` filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub canonical: String,
    pub def_index: usize,
}

impl Key {
    pub fn def(&self) -> &'static KeyDef {
        &KEYS[self.def_index]
    }

    /// `SIGNET_` and the segments upper-cased, any other character becoming `_`.
    pub fn env_var(&self) -> String {
        env_var(&self.canonical)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

pub fn env_var(key: &str) -> String {
    let mut out = String::from("SIGNET");
    for seg in key.split('.') {
        out.push('_');
        if seg == "<name>" {
            out.push_str("<NAME>");
            continue;
        }
        out.extend(seg.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }));
    }
    out
}

fn is_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    Unknown { key: String, suggestion: Option<String> },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Unknown { key, suggestion: Some(s) } => write!(f, "unknown key {key:?}; did you mean {s:?}?"),
            KeyError::Unknown { key, suggestion: None } => write!(f, "unknown key {key:?}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Resolves a key as typed: case-insensitive, aliases followed, `<name>` filled.
pub fn resolve(typed: &str) -> Result<Key, KeyError> {
    let lower = typed.trim().to_ascii_lowercase();
    let lower = ALIASES
        .iter()
        .find(|(alias, _)| alias.to_ascii_lowercase() == lower)
        .map(|(_, target)| target.to_ascii_lowercase())
        .unwrap_or(lower);
    let typed_segs: Vec<&str> = lower.split('.').collect();
    for (i, def) in KEYS.iter().enumerate() {
        let segs: Vec<&str> = def.key.split('.').collect();
        if segs.len() != typed_segs.len() {
            continue;
        }
        let mut canonical = Vec::with_capacity(segs.len());
        let fits = segs.iter().zip(&typed_segs).all(|(d, t)| {
            if *d == "<name>" {
                canonical.push(t.to_string());
                is_service_name(t)
            } else {
                canonical.push(d.to_string());
                d.to_ascii_lowercase() == *t
            }
        });
        if fits {
            return Ok(Key { canonical: canonical.join("."), def_index: i });
        }
    }
    Err(KeyError::Unknown { key: typed.to_owned(), suggestion: suggest(&lower) })
}

/// The closest known key, if it is close enough to be a typo.
fn suggest(lower: &str) -> Option<String> {
    let service = lower.strip_prefix("service.").and_then(|r| r.split('.').next()).filter(|s| is_service_name(s));
    let candidates = KEYS.iter().map(|d| match service {
        Some(name) => d.key.replace("<name>", name),
        None => d.key.replace("<name>", "pingone"),
    });
    let candidates = candidates.chain(ALIASES.iter().map(|(a, _)| a.to_string()));
    candidates
        .map(|c| (edit_distance(lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Key {
    /// The default value, with `<name>` filled in with the key's connector.
    pub fn default_value(&self) -> Option<String> {
        let d = self.def().default?;
        let name = self.canonical.split('.').nth(1).filter(|_| self.def().key.starts_with("service.<name>."));
        Some(match name {
            Some(n) => d.replace("<name>", n),
            None => d.to_owned(),
        })
    }
}

/// Whether a key says where signet connects (a URL) or which files it reads
/// and trusts (CA files, a client certificate and its key): settings that
/// `session import` shows before applying them.
pub fn steers(key: &Key) -> bool {
    let def = key.def();
    matches!(def.kind, Kind::Url | Kind::Paths)
        || def.key.ends_with(".certFile")
        || def.key.ends_with(".keyFile")
        || def.key.ends_with(".adminAPIPath")
}

/// Checks and normalises a value for a key. Enums take their canonical case.
/// No value holds a control character: values are shown on terminals, and
/// a session archive brings values from elsewhere.
pub fn validate(key: &Key, value: &str) -> Result<String, String> {
    let v = value.trim();
    let def = key.def();
    if v.chars().any(char::is_control) {
        return Err(format!("{key} cannot hold control characters"));
    }
    match def.kind {
        Kind::Text if v.is_empty() => Err(format!("{key} needs a value")),
        Kind::Text => Ok(v.to_owned()),
        Kind::Enum(options) => options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(v))
            .map(|o| o.to_string())
            .ok_or_else(|| format!("{v:?} is not a valid {key}; choose one of {}", options.join(", "))),
        Kind::Url => match url::Url::parse(v) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Ok(v.trim_end_matches('/').to_owned()),
            _ => Err(format!("{v:?} is not an http(s) URL for {key}")),
        },
        Kind::Uuid => uuid::Uuid::try_parse(v)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| format!("{v:?} is not a UUID, which {key} must be")),
        Kind::Port => {
            v.parse::<u16>().map(|p| p.to_string()).map_err(|_| format!("{v:?} is not a port (0-65535) for {key}"))
        }
        Kind::Seconds => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n.to_string()),
            _ => Err(format!("{v:?} is not a positive number of seconds for {key}")),
        },
        Kind::List => {
            let words: Vec<&str> = v.split([',', ' ']).filter(|s| !s.is_empty()).collect();
            if words.is_empty() { Err(format!("{key} needs at least one value")) } else { Ok(words.join(" ")) }
        }
        Kind::UrlPath => {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '/');
            if v.starts_with('/') && v.chars().all(plain) && !v.split('/').any(|seg| seg == "." || seg == "..") {
                Ok(v.to_owned())
            } else {
                Err(format!(
                    "{v:?} is not a redirect path for {key}: / and then letters, digits, '-', '.', '_', '~' and '/'"
                ))
            }
        }
        Kind::Paths => {
            let paths: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if paths.is_empty() { Err(format!("{key} needs at least one file")) } else { Ok(paths.join(",")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_keys_resolve_case_insensitively_with_their_variables() {
        let k = resolve("service.pingone.authentication.worker.clientID").unwrap();
        assert_eq!(k.env_var(), "SIGNET_SERVICE_PINGONE_AUTHENTICATION_WORKER_CLIENTID");
        assert_eq!(resolve("SERVICE.PINGONE.AUTHENTICATION.WORKER.CLIENTID").unwrap(), k);
        assert_eq!(resolve("service.pingone.regioncode").unwrap().canonical, "service.pingone.regionCode");
        let alias = resolve("service.pingone.authentication.worker.environmentID").unwrap();
        assert_eq!(alias.canonical, "service.pingone.endpoint.environmentID");
        let generic = resolve("service.okta-dev.issuer").unwrap();
        assert_eq!(generic.canonical, "service.okta-dev.issuer");
        assert_eq!(generic.env_var(), "SIGNET_SERVICE_OKTA_DEV_ISSUER");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let e = resolve("service.pingone.authentication.worker.clientSecrte").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown key \"service.pingone.authentication.worker.clientSecrte\"; did you mean \"service.pingone.authentication.worker.clientSecret\"?"
        );
        assert!(
            matches!(resolve("auth.storage.tpye"), Err(KeyError::Unknown { suggestion: Some(s), .. }) if s == "auth.storage.type")
        );
        assert!(matches!(resolve("completely.different"), Err(KeyError::Unknown { suggestion: None, .. })));
        assert!(resolve("service.Bad Name.issuer").is_err());
    }

    #[test]
    fn values_are_checked_and_normalised() {
        let k = |s: &str| resolve(s).unwrap();
        assert_eq!(validate(&k("service.pingone.regionCode"), "eu").unwrap(), "EU");
        assert!(validate(&k("service.pingone.regionCode"), "XX").is_err());
        assert!(validate(&k("service.pingone.endpoint.environmentID"), "not-a-uuid").is_err());
        assert_eq!(
            validate(&k("service.pingone.endpoint.environmentID"), "0F0E1B2A-3C4D-4E5F-8A9B-0C1D2E3F4A5B").unwrap(),
            "0f0e1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert!(validate(&k("service.pingone.endpoint.baseURL"), "ftp://x").is_err());
        assert_eq!(
            validate(&k("service.pingone.endpoint.baseURL"), "http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(validate(&k("service.pingone.authentication.authorizationCode.redirectURIPort"), "70000").is_err());
        assert_eq!(
            validate(&k("service.x.authentication.deviceCode.scopes"), "openid,profile").unwrap(),
            "openid profile"
        );
        assert!(validate(&k("auth.loginTimeoutSeconds"), "0").is_err());
        assert!(validate(&k("service.x.authentication.worker.clientID"), "id\u{1b}]0;x\u{7}").is_err());
        let path = k("service.x.authentication.authorizationCode.redirectURIPath");
        assert_eq!(validate(&path, "/callback/x").unwrap(), "/callback/x");
        for bad in ["callback", "/a?b=c", "/a#b", "/a b", "/a/../b", "/%2e"] {
            assert!(validate(&path, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_service_has_its_own_redirect_path_by_default() {
        let path = |name: &str| {
            resolve(&format!("service.{name}.authentication.authorizationCode.redirectURIPath"))
                .unwrap()
                .default_value()
                .unwrap()
        };
        assert_eq!(path("pingone"), "/callback", "what signetd registers for signet-cli");
        assert_eq!(path("okta"), "/callback/okta");
        assert_eq!(path("corp-sso"), "/callback/corp-sso");
    }

    #[test]
    fn every_key_has_a_description_and_valid_default() {
        for (i, d) in KEYS.iter().enumerate() {
            assert!(!d.description.is_empty(), "{}", d.key);
            if d.default.is_some() {
                let key = Key { canonical: d.key.replace("<name>", "okta-dev"), def_index: i };
                let v = key.default_value().unwrap();
                assert!(!v.contains('<'), "{}: {v}", d.key);
                assert!(validate(&key, &v).is_ok(), "{}", d.key);
            }
        }
    }
}
