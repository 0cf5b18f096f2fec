//! A write of a method: its create or update body, read with Vault's rules
//! and messages for each method type.

use serde_json::{Map, Value};

use super::{
    Algorithm, DEFAULT_MAX_VALIDATION_ATTEMPTS, Duo, FieldError, Fields, MethodType, Okta, PingId, Secrets, Settings,
    Totp, UsernameFormat, template::FormatError,
};
use crate::pingid;

/// A write of a method: what the request body says, checked.
#[derive(Debug, Clone)]
pub struct MethodWrite {
    /// `None`: the body did not name it (an update keeps the old one).
    pub name: Option<String>,
    pub username_format: Option<UsernameFormat>,
    pub settings: Settings,
    pub secrets: Secrets,
    /// Body fields this type does not take, for Vault's warning.
    pub ignored: Vec<String>,
}

/// Why a method's body is refused; its message is what Vault answers.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    UsernameFormat(#[from] FormatError),
    #[error(transparent)]
    PingIdSettings(#[from] pingid::SettingsFileError),
    #[error("error parsing given base_url: {0}")]
    OktaUrl(#[source] url::ParseError),
    #[error("api_hostname is not a host name: {0}")]
    DuoHost(#[source] url::ParseError),
    /// A value the method's rules refuse.
    #[error("{0}")]
    Refused(&'static str),
}

/// The message, as an edge answers it.
impl From<MethodError> for String {
    fn from(e: MethodError) -> String {
        e.to_string()
    }
}

use MethodError::Refused;

const TOTP_FIELDS: &[&str] =
    &["issuer", "period", "key_size", "qr_size", "algorithm", "digits", "skew", "max_validation_attempts"];
const PINGID_FIELDS: &[&str] = &["settings_file_base64"];
const OKTA_FIELDS: &[&str] = &["org_name", "api_token", "base_url", "production", "primary_email"];
const DUO_FIELDS: &[&str] = &["secret_key", "integration_key", "api_hostname", "push_info", "use_passcode"];

/// Reads a create or update body for `kind`. Every field the type takes is
/// read; absent ones take Vault's defaults (an update replaces the whole
/// method), except `method_name` and `username_format`.
pub fn parse_method(kind: MethodType, body: &Map<String, Value>) -> Result<MethodWrite, MethodError> {
    let f = Fields(body);
    let name = f.string("method_name")?.filter(|n| !n.is_empty());
    if let Some(n) = &name
        && (n.len() > 256 || n.chars().any(crate::text::is_forbidden))
    {
        return Err(Refused(
            "method_name must be at most 256 characters, without control characters or bidirectional text controls",
        ));
    }
    let username_format = match f.string("username_format")? {
        Some(s) => Some(UsernameFormat::parse(&s)?),
        None => None,
    };
    let mut secrets = Secrets::default();
    let (settings, fields) = match kind {
        MethodType::Totp => (Settings::Totp(totp(&f)?), TOTP_FIELDS),
        MethodType::Pingid => (Settings::Pingid(ping_id(&f, &mut secrets)?), PINGID_FIELDS),
        MethodType::Okta => (Settings::Okta(okta(&f, &mut secrets)?), OKTA_FIELDS),
        MethodType::Duo => (Settings::Duo(duo(&f, &mut secrets)?), DUO_FIELDS),
    };
    let known = |k: &str| k == "method_name" || k == "username_format" || fields.contains(&k);
    let ignored = body.keys().filter(|k| !known(k)).cloned().collect();
    Ok(MethodWrite { name, username_format, settings, secrets, ignored })
}

fn totp(f: &Fields<'_>) -> Result<Totp, MethodError> {
    let algorithm = match f.string("algorithm")?.as_deref().unwrap_or("SHA1") {
        "SHA1" => Algorithm::SHA1,
        "SHA256" => Algorithm::SHA256,
        "SHA512" => Algorithm::SHA512,
        _ => return Err(Refused("unrecognized algorithm")),
    };
    let digits = f.int("digits")?.unwrap_or(6);
    if digits != 6 && digits != 8 {
        return Err(Refused("digits can only be 6 or 8"));
    }
    let period = f.int("period")?.unwrap_or(30);
    if period <= 0 {
        return Err(Refused("period must be greater than zero"));
    }
    if period > 300 {
        return Err(Refused("period must be at most 300 seconds"));
    }
    let skew = f.int("skew")?.unwrap_or(1);
    if skew != 0 && skew != 1 {
        return Err(Refused("skew must be 0 or 1"));
    }
    let key_size = f.int("key_size")?.unwrap_or(20);
    if key_size <= 0 {
        return Err(Refused("key_size must be greater than zero"));
    }
    if !(16..=128).contains(&key_size) {
        return Err(Refused("key_size must be between 16 and 128 bytes (RFC 4226 asks for at least 128 bits)"));
    }
    let issuer = f.string("issuer")?.unwrap_or_default();
    if issuer.is_empty() {
        return Err(Refused("issuer must be set"));
    }
    if issuer.contains(':') || issuer.len() > 256 {
        return Err(Refused("issuer must be at most 256 characters and must not contain ':'"));
    }
    let qr_size = f.int("qr_size")?.unwrap_or(200);
    if !(0..=2048).contains(&qr_size) {
        return Err(Refused("qr_size must be between 0 and 2048"));
    }
    let max = f.int("max_validation_attempts")?.unwrap_or(0);
    if max < 0 {
        return Err(Refused("max_validation_attempts must be greater than zero"));
    }
    Ok(Totp {
        issuer,
        period: period as u32,
        key_size: key_size as u32,
        qr_size: qr_size as u32,
        algorithm,
        digits: digits as u32,
        skew: skew as u32,
        max_validation_attempts: if max == 0 { DEFAULT_MAX_VALIDATION_ATTEMPTS } else { max.min(100) as u32 },
    })
}

fn ping_id(f: &Fields<'_>, secrets: &mut Secrets) -> Result<PingId, MethodError> {
    let file = f.string("settings_file_base64")?.unwrap_or_default();
    let s = pingid::parse_settings_file(&file)?;
    secrets.0.insert("token".into(), s.token.expose().clone());
    secrets.0.insert("use_base64_key".into(), s.use_base64_key.expose().clone());
    Ok(PingId {
        use_signature: s.use_signature,
        idp_url: s.idp_url.clone(),
        org_alias: s.org_alias.clone(),
        admin_url: s.admin_url.clone(),
        authenticator_url: s.authenticator_url.clone(),
    })
}

fn okta(f: &Fields<'_>, secrets: &mut Secrets) -> Result<Okta, MethodError> {
    let org_name = f.string("org_name")?.unwrap_or_default();
    if org_name.is_empty() {
        return Err(Refused("org_name must be set"));
    }
    if org_name.len() > 63 || !org_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Refused("org_name must be a host name label (letters, digits and '-')"));
    }
    let token = f.string("api_token")?.unwrap_or_default();
    if token.is_empty() {
        return Err(Refused("api_token must be set"));
    }
    secrets.0.insert("api_token".into(), token);
    let production = f.bool("production")?.unwrap_or(true);
    let base_url = f.string("base_url")?.unwrap_or_default();
    let o = Okta { org_name, base_url, production, primary_email: f.bool("primary_email")?.unwrap_or(false) };
    url::Url::parse(&o.org_url()).map_err(MethodError::OktaUrl)?;
    Ok(o)
}

fn duo(f: &Fields<'_>, secrets: &mut Secrets) -> Result<Duo, MethodError> {
    let secret_key = f.string("secret_key")?.unwrap_or_default();
    if secret_key.is_empty() {
        return Err(Refused("secret_key is empty"));
    }
    let integration_key = f.string("integration_key")?.unwrap_or_default();
    if integration_key.is_empty() {
        return Err(Refused("integration_key is empty"));
    }
    let api_hostname = f.string("api_hostname")?.unwrap_or_default();
    if api_hostname.is_empty() {
        return Err(Refused("api_hostname is empty"));
    }
    secrets.0.insert("secret_key".into(), secret_key);
    secrets.0.insert("integration_key".into(), integration_key);
    let d = Duo {
        api_hostname,
        push_info: f.string("push_info")?.unwrap_or_default(),
        use_passcode: f.bool("use_passcode")?.unwrap_or(false),
    };
    url::Url::parse(&d.api_url()).map_err(MethodError::DuoHost)?;
    Ok(d)
}
