//! Login MFA methods and enforcements, as Vault's Login MFA API describes
//! them (seed 002): what each method type takes, what a read shows, and the
//! rules for writing them. Secrets of a method (PingID's token and key,
//! Okta's API token, Duo's keys) are kept apart from what is shown, so the
//! store seals them and no read can return them.

pub mod enforcement;
mod fields;
pub mod template;
mod write;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::id::MethodId;

pub use crate::totp::Algorithm;
pub use enforcement::{Enforcement, EnforcementInput, InputError, SignOn, SignOnKind};
pub use fields::{FieldError, Fields};
pub use template::{FormatError, RenderError, UsernameFormat};
pub use write::{MethodError, MethodWrite, parse_method};

/// The four method types, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodType {
    Totp,
    Pingid,
    Okta,
    Duo,
}

impl MethodType {
    pub const ALL: [MethodType; 4] = [MethodType::Totp, MethodType::Pingid, MethodType::Okta, MethodType::Duo];

    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Totp => "totp",
            MethodType::Pingid => "pingid",
            MethodType::Okta => "okta",
            MethodType::Duo => "duo",
        }
    }

    pub fn parse(s: &str) -> Option<MethodType> {
        MethodType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// How the sign-on pages name it.
    pub fn label(self) -> &'static str {
        match self {
            MethodType::Totp => "Authenticator app",
            MethodType::Pingid => "PingID",
            MethodType::Okta => "Okta Verify",
            MethodType::Duo => "Duo",
        }
    }
}

/// Vault's TOTP method fields and their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    pub issuer: String,
    pub period: u32,
    pub key_size: u32,
    pub qr_size: u32,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub skew: u32,
    pub max_validation_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingId {
    pub use_signature: bool,
    pub idp_url: String,
    pub org_alias: String,
    pub admin_url: String,
    pub authenticator_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Okta {
    pub org_name: String,
    /// Empty when the legacy `production` flag chose the domain.
    pub base_url: String,
    pub production: bool,
    pub primary_email: bool,
}

impl Okta {
    /// The organisation's URL, as Vault builds it: `https://{org_name}.{base_url}`.
    /// A base URL with a scheme is used as it is (a signet extension, for
    /// an Okta-compatible service at its own address).
    pub fn org_url(&self) -> String {
        let base = match (self.base_url.as_str(), self.production) {
            ("", true) => "okta.com",
            ("", false) => "oktapreview.com",
            (b, _) => b,
        };
        if base.starts_with("https://") || base.starts_with("http://") {
            base.trim_end_matches('/').to_owned()
        } else {
            format!("https://{}.{base}", self.org_name)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duo {
    pub api_hostname: String,
    pub push_info: String,
    pub use_passcode: bool,
}

impl Duo {
    /// `https://{api_hostname}`; a hostname with a scheme is used as it is.
    pub fn api_url(&self) -> String {
        let h = self.api_hostname.trim_end_matches('/');
        if h.starts_with("https://") || h.starts_with("http://") { h.to_owned() } else { format!("https://{h}") }
    }
}

/// What a method shows; its secrets are in `Secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Settings {
    Totp(Totp),
    Pingid(PingId),
    Okta(Okta),
    Duo(Duo),
}

impl Totp {
    pub fn params(&self) -> crate::totp::Params {
        crate::totp::Params { algorithm: self.algorithm, digits: self.digits, period: self.period, skew: self.skew }
    }
}

impl Settings {
    pub fn method_type(&self) -> MethodType {
        match self {
            Settings::Totp(_) => MethodType::Totp,
            Settings::Pingid(_) => MethodType::Pingid,
            Settings::Okta(_) => MethodType::Okta,
            Settings::Duo(_) => MethodType::Duo,
        }
    }
}

/// A method's secrets, sealed at rest. `Debug` names the keys only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets(pub std::collections::BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or_default()
    }
}

/// A method as stored: what it shows, and its sealed secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    pub id: MethodId,
    pub name: String,
    pub username_format: String,
    pub settings: Settings,
    pub sealed_secrets: Vec<u8>,
    pub version: i64,
    pub created_at: i64,
}

impl Method {
    pub fn method_type(&self) -> MethodType {
        self.settings.method_type()
    }

    /// The read answer's `data`, as Vault shapes it for each type. Never a secret.
    pub fn to_vault(&self) -> Value {
        let mut data = match &self.settings {
            Settings::Totp(t) => json!({
                "issuer": t.issuer,
                "period": t.period,
                "digits": t.digits,
                "skew": t.skew,
                "key_size": t.key_size,
                "qr_size": t.qr_size,
                "algorithm": t.algorithm.as_str(),
                "max_validation_attempts": t.max_validation_attempts,
            }),
            Settings::Pingid(p) => json!({
                "use_signature": p.use_signature,
                "idp_url": p.idp_url,
                "org_alias": p.org_alias,
                "admin_url": p.admin_url,
                "authenticator_url": p.authenticator_url,
            }),
            Settings::Okta(o) => {
                let mut v = json!({
                    "org_name": o.org_name,
                    "mount_accessor": "",
                    "username_format": self.username_format,
                    "primary_email": o.primary_email,
                });
                if o.base_url.is_empty() {
                    v["production"] = json!(o.production);
                } else {
                    v["base_url"] = json!(o.base_url);
                }
                v
            }
            Settings::Duo(d) => json!({
                "api_hostname": d.api_hostname,
                "pushinfo": d.push_info,
                "mount_accessor": "",
                "username_format": self.username_format,
                "use_passcode": d.use_passcode,
            }),
        };
        data["type"] = json!(self.method_type().as_str());
        data["id"] = json!(self.id);
        data["name"] = json!(self.name);
        data["namespace_id"] = json!(NAMESPACE_ID);
        data["namespace_path"] = json!(NAMESPACE_PATH);
        data
    }
}

/// signetd has one namespace, Vault's root.
pub const NAMESPACE_ID: &str = "root";
pub const NAMESPACE_PATH: &str = "root";

/// Vault's default for `max_validation_attempts`.
pub const DEFAULT_MAX_VALIDATION_ATTEMPTS: u32 = 5;

/// Whether `id` is a method id as Vault routes them: a lower-case UUID.
pub fn is_method_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// The sealing purpose (AAD) of a method's secrets.
pub fn secrets_purpose(method_id: &str) -> String {
    format!("mfa-method:{method_id}")
}

/// The sealing purpose of one person's TOTP secret for one method.
pub fn enrolment_purpose(method_id: &str, account_id: &str) -> String {
    format!("mfa-totp:{method_id}:{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn totp_defaults_are_vaults() {
        let w = parse_method(MethodType::Totp, &body(json!({"issuer": "signet"}))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            w.settings,
            Settings::Totp(Totp {
                issuer: "signet".into(),
                period: 30,
                key_size: 20,
                qr_size: 200,
                algorithm: Algorithm::SHA1,
                digits: 6,
                skew: 1,
                max_validation_attempts: 5,
            })
        );
        assert!(w.name.is_none() && w.username_format.is_none());
    }

    #[test]
    fn totp_fields_are_checked_with_vaults_messages() {
        let cases = [
            (json!({}), "issuer must be set"),
            (json!({"issuer": "x", "digits": 7}), "digits can only be 6 or 8"),
            (json!({"issuer": "x", "skew": 2}), "skew must be 0 or 1"),
            (json!({"issuer": "x", "period": 0}), "period must be greater than zero"),
            (json!({"issuer": "x", "algorithm": "MD5"}), "unrecognized algorithm"),
            (
                json!({"issuer": "x", "max_validation_attempts": -1}),
                "max_validation_attempts must be greater than zero",
            ),
            (json!({"issuer": "x", "period": "soon"}), "period: expected an integer"),
            (json!({"issuer": ["x"]}), "issuer: expected a string"),
        ];
        for (b, want) in cases {
            assert_eq!(
                parse_method(MethodType::Totp, &body(b.clone())).err().map(|e| e.to_string()).as_deref(),
                Some(want),
                "{b}"
            );
        }
        // Strings for numbers, as Vault's field schema takes them.
        let w = parse_method(MethodType::Totp, &body(json!({"issuer": "x", "digits": "8", "algorithm": "SHA512"})))
            .unwrap_or_else(|e| panic!("{e}"));
        let Settings::Totp(t) = w.settings else { panic!("not totp") };
        assert_eq!((t.digits, t.algorithm), (8, Algorithm::SHA512));
    }

    #[test]
    fn secrets_are_never_in_what_a_read_shows() {
        let file = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "use_base64_key=c2VjcmV0\ntoken=tok-123\nidp_url=https://idp.example/pingid\norg_alias=org\n",
        );
        let w = parse_method(MethodType::Pingid, &body(json!({"settings_file_base64": file})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.secrets.get("token"), "tok-123");
        let m = Method {
            id: "f8381105-67f0-4105-8662-4b07ae5c1233".into(),
            name: String::new(),
            username_format: String::new(),
            settings: w.settings,
            sealed_secrets: vec![],
            version: 1,
            created_at: 0,
        };
        let shown = m.to_vault().to_string();
        assert!(!shown.contains("tok-123") && !shown.contains("c2VjcmV0") && !shown.contains("token"));
        assert!(!format!("{:?}", w.secrets).contains("tok-123"));
        for key in ["use_signature", "idp_url", "org_alias", "admin_url", "authenticator_url", "type", "id", "name"] {
            assert!(m.to_vault().get(key).is_some(), "{key}");
        }
        assert_eq!(m.to_vault()["namespace_path"], "root");
    }

    #[test]
    fn okta_and_duo_require_their_keys() {
        assert_eq!(
            parse_method(MethodType::Okta, &body(json!({}))).err().map(|e| e.to_string()).as_deref(),
            Some("org_name must be set")
        );
        assert_eq!(
            parse_method(MethodType::Okta, &body(json!({"org_name": "acme"}))).err().map(|e| e.to_string()).as_deref(),
            Some("api_token must be set")
        );
        assert_eq!(
            parse_method(MethodType::Duo, &body(json!({}))).err().map(|e| e.to_string()).as_deref(),
            Some("secret_key is empty")
        );
        let w = parse_method(MethodType::Okta, &body(json!({"org_name": "acme", "api_token": "t", "surplus": 1})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.ignored, vec!["surplus".to_string()]);
        let steered = json!({"org_name": "evil.test/x?", "api_token": "t"});
        assert!(parse_method(MethodType::Okta, &body(steered)).unwrap_err().to_string().contains("host name label"));
        let Settings::Okta(o) = w.settings else { panic!("not okta") };
        assert_eq!(o.org_url(), "https://acme.okta.com");
    }

    #[test]
    fn method_ids_are_lower_case_uuids() {
        assert!(is_method_id("f8381105-67f0-4105-8662-4b07ae5c1233"));
        assert!(!is_method_id("F8381105-67F0-4105-8662-4B07AE5C1233"));
        assert!(!is_method_id("f8381105-67f0-4105-8662-4b07ae5c123"));
        assert!(!is_method_id("f8381105x67f0-4105-8662-4b07ae5c1233"));
        assert!(!is_method_id("../../etc/passwd"));
    }
}
