//! The admin API's authentication settings (seed 003): which schemes protect
//! it, and for the directory-backed ones, how to reach the directory and how
//! what it says about a person maps to admin roles.
//!
//! They live in the store, so every instance reads the same ones, unless
//! signetd's config file sets them (`[admin_api.authentication]`); then the
//! file is the one place to change them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use signet_core::audit::ActorScheme;
use signet_core::crypto::Kek;
use signet_core::policy::{Principal, check_role_set};
use signet_proto::roles::Role;

use crate::ldap::LdapSettings;
use crate::mtls::MtlsSettings;
use crate::radius::RadiusSettings;

/// Where the settings are kept (the store's settings).
pub const SETTINGS_KEY: &str = "admin_api.authentication";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// HTTP Basic against signetd's own admin accounts.
    Native,
    /// HTTP Basic checked by binding to an LDAP directory.
    Ldap,
    /// HTTP Basic checked by a RADIUS server (PAP), a one-time password
    /// appended to the password if the server wants one.
    Radius,
    /// Bearer access tokens with the admin API audience.
    Oauth,
    /// A client certificate on the TLS connection, from a trusted CA.
    Mtls,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Native => "native",
            Scheme::Ldap => "ldap",
            Scheme::Radius => "radius",
            Scheme::Oauth => "oauth",
            Scheme::Mtls => "mtls",
        }
    }

    /// Basic credentials are tried against each Basic scheme, in the order listed.
    pub fn takes_basic(self) -> bool {
        matches!(self, Scheme::Native | Scheme::Ldap | Scheme::Radius)
    }
}

/// The scheme a caller signed on with, as the audit trail records it.
impl From<Scheme> for ActorScheme {
    fn from(s: Scheme) -> ActorScheme {
        match s {
            Scheme::Native => ActorScheme::Native,
            Scheme::Ldap => ActorScheme::Ldap,
            Scheme::Radius => ActorScheme::Radius,
            Scheme::Oauth => ActorScheme::Oauth,
            Scheme::Mtls => ActorScheme::Mtls,
        }
    }
}

/// The admin API's authentication settings.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The schemes in force. A new installation starts with
    /// `["native","oauth"]`; native may stay beside any other.
    pub schemes: Vec<Scheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<RadiusScheme>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MtlsSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OauthScheme>,
}

/// OAuth beyond signetd's own environments: external issuers whose access
/// tokens are verified through their JWKS, with a claim mapped to roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OauthScheme {
    #[serde(default)]
    pub issuers: Vec<ExternalIssuer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// Compared exactly with the token's `iss`.
    pub issuer: String,
    /// Where its keys are; discovered from `{issuer}/.well-known/openid-configuration` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The audience the token must carry.
    pub audience: String,
    /// The claim naming the person or service (`sub` by default).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim whose values map to roles: a space-separated string (as
    /// `scope`) or an array of strings (as `groups`).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    #[serde(default)]
    pub roles: Vec<RoleGrant>,
}

fn default_username_claim() -> String {
    "sub".into()
}

fn default_roles_claim() -> String {
    "scope".into()
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings { schemes: vec![Scheme::Native], ldap: None, radius: None, mtls: None, oauth: None }
    }
}

impl AuthSettings {
    /// What a new installation's bootstrap writes: native Basic, and beside
    /// it the admin-audience access tokens of its own environments
    /// (PingFederate's `OAuth2,native`), so a person who signed on with
    /// `signet auth login` can make a change at once. The default above,
    /// native alone, stays what a store without the setting means: a store
    /// bootstrapped before had that, and its upgrade writes it down.
    pub fn new_installation() -> AuthSettings {
        AuthSettings { schemes: vec![Scheme::Native, Scheme::Oauth], ..AuthSettings::default() }
    }
}

/// LDAP: where the directory is, and which of its groups grant which roles.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapScheme {
    pub connection: LdapSettings,
    /// Group DN (compared case-insensitively) to roles.
    #[serde(default)]
    pub roles: Vec<RoleGrant>,
}

/// RADIUS: the servers, and which values of a reply attribute grant which roles.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RadiusScheme {
    #[schema(value_type = Object)]
    pub connection: RadiusSettings,
    /// The Access-Accept attribute whose values are matched: `Class`,
    /// `Filter-Id`, `Reply-Message`, or an attribute number.
    #[serde(default = "default_role_attribute")]
    pub role_attribute: String,
    /// Attribute value (compared exactly) to roles.
    #[serde(default)]
    pub roles: Vec<RoleGrant>,
}

fn default_role_attribute() -> String {
    "Class".into()
}

/// What a directory value (a group DN, an attribute value, a scope) grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    pub value: String,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub roles: BTreeSet<Role>,
    /// The Auditor account type, which holds no role.
    #[serde(default)]
    pub auditor: bool,
}

impl AuthSettings {
    /// Checks the settings as a person wrote them and seals their secrets;
    /// the error names the field.
    pub fn check(&mut self, kek: &Kek, serving_https: bool) -> Result<(), String> {
        if self.schemes.is_empty() {
            return Err("schemes: at least one scheme".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.schemes.iter().find(|s| !seen.insert(**s)) {
            return Err(format!("schemes: {} is listed twice", dup.as_str()));
        }
        match (&mut self.ldap, self.schemes.contains(&Scheme::Ldap)) {
            (None, true) => return Err("ldap: the ldap scheme needs its settings".into()),
            (Some(ldap), _) => {
                ldap.connection.check(kek)?;
                check_grants("ldap.roles", &ldap.roles)?;
            }
            (None, false) => {}
        }
        match (&mut self.radius, self.schemes.contains(&Scheme::Radius)) {
            (None, true) => return Err("radius: the radius scheme needs its settings".into()),
            (Some(radius), _) => {
                radius.connection.validate().map_err(|e| format!("radius.connection: {e}"))?;
                if crate::radius::attribute_by_name(&radius.role_attribute).is_none() {
                    return Err(format!(
                        "radius.role_attribute: {:?} is not Class, Filter-Id, Reply-Message or a number 1 to 255",
                        radius.role_attribute
                    ));
                }
                check_grants("radius.roles", &radius.roles)?;
                radius.connection.seal(kek).map_err(|e| format!("radius.connection: {e}"))?;
            }
            (None, false) => {}
        }
        if self.schemes.contains(&Scheme::Mtls) && !serving_https {
            return Err("schemes: mtls needs signetd to serve HTTPS itself (--tls-cert and --tls-key)".into());
        }
        if let Some(mtls) = &self.mtls {
            mtls.check()?;
        }
        for (i, ext) in self.oauth.iter().flat_map(|o| o.issuers.iter()).enumerate() {
            let field = format!("oauth.issuers[{i}]");
            for (name, url) in [("issuer", Some(&ext.issuer)), ("jwks_uri", ext.jwks_uri.as_ref())] {
                if let Some(url) = url {
                    let u = url::Url::parse(url).map_err(|e| format!("{field}.{name}: {e}"))?;
                    if !matches!(u.scheme(), "https" | "http") {
                        return Err(format!("{field}.{name}: not an http(s) URL"));
                    }
                }
            }
            if ext.audience.trim().is_empty() {
                return Err(format!("{field}.audience: empty"));
            }
            check_grants(&format!("{field}.roles"), &ext.roles)?;
        }
        Ok(())
    }
}

fn check_grants(field: &str, grants: &[RoleGrant]) -> Result<(), String> {
    for (i, g) in grants.iter().enumerate() {
        if g.value.trim().is_empty() {
            return Err(format!("{field}[{i}].value: empty"));
        }
        if g.roles.is_empty() && !g.auditor {
            return Err(format!("{field}[{i}]: grants nothing; give roles or auditor"));
        }
        check_role_set(&g.roles, g.auditor).map_err(|e| format!("{field}[{i}]: {e}"))?;
    }
    Ok(())
}

/// The principal that what a directory says grants: the union of every
/// matching grant. A union that is not a valid combination (an Auditor
/// with roles, UserAdmin without Admin and ExpressionAdmin) is refused
/// rather than trimmed, since trimming would guess what was meant; the
/// error is for the person signing on.
pub fn principal_from<'a>(
    grants: &[RoleGrant],
    values: impl IntoIterator<Item = &'a str>,
    same: fn(&str, &str) -> bool,
) -> Result<Principal, String> {
    let values: Vec<&str> = values.into_iter().collect();
    let mut roles = BTreeSet::new();
    let mut auditor = false;
    for g in grants.iter().filter(|g| values.iter().any(|v| same(v, &g.value))) {
        roles.extend(g.roles.iter().copied());
        auditor |= g.auditor;
    }
    check_role_set(&roles, auditor).map_err(|e| {
        format!(
            "the roles your directory entries map to are not a valid combination ({e}); an administrator must fix the role mapping"
        )
    })?;
    Ok(Principal { roles, auditor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(value: &str, roles: &[Role], auditor: bool) -> RoleGrant {
        RoleGrant { value: value.into(), roles: roles.iter().copied().collect(), auditor }
    }

    #[test]
    fn the_trail_names_each_scheme_as_the_settings_do() {
        for s in [Scheme::Native, Scheme::Ldap, Scheme::Radius, Scheme::Oauth, Scheme::Mtls] {
            let recorded = ActorScheme::from(s);
            assert_eq!(recorded.to_string(), s.as_str());
            assert_eq!(ActorScheme::from(s.as_str().to_owned()), recorded, "read back as itself");
        }
    }

    #[test]
    fn grants_add_up_and_an_invalid_union_is_refused() {
        let grants = [
            grant("cn=ops", &[Role::Admin], false),
            grant("cn=expr", &[Role::ExpressionAdmin], false),
            grant("cn=audit", &[], true),
        ];
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let p = principal_from(&grants, ["CN=ops", "cn=expr", "cn=other"], same).unwrap();
        assert_eq!(p.roles, [Role::Admin, Role::ExpressionAdmin].into_iter().collect());
        assert!(!p.auditor);
        assert!(principal_from(&grants, ["cn=ops", "cn=audit"], same).is_err());
        let none = principal_from(&grants, ["cn=other"], same).unwrap();
        assert!(none.roles.is_empty() && !none.auditor);
    }

    #[test]
    fn settings_name_what_is_wrong() {
        let kek = Kek::from_bytes(&[1; 32]).unwrap();
        let check = |json: serde_json::Value| serde_json::from_value::<AuthSettings>(json).unwrap().check(&kek, true);
        assert_eq!(check(serde_json::json!({"schemes": []})), Err("schemes: at least one scheme".into()));
        assert_eq!(
            check(serde_json::json!({"schemes": ["ldap"]})),
            Err("ldap: the ldap scheme needs its settings".into())
        );
        let ldap = |conn: serde_json::Value, roles: serde_json::Value| {
            check(serde_json::json!({"schemes": ["ldap"], "ldap": {"connection": conn, "roles": roles}}))
        };
        let ok_conn = serde_json::json!({"url": "ldap://127.0.0.1:389", "dn_template": "uid={username},dc=x"});
        assert_eq!(ldap(ok_conn.clone(), serde_json::json!([])), Ok(()));
        assert!(
            ldap(serde_json::json!({"url": "http://x", "dn_template": "uid={username}"}), serde_json::json!([]))
                .unwrap_err()
                .starts_with("ldap.url")
        );
        assert!(
            ldap(serde_json::json!({"url": "ldap://x", "dn_template": "uid=alice"}), serde_json::json!([]))
                .unwrap_err()
                .starts_with("ldap.dn_template")
        );
        assert!(
            ldap(serde_json::json!({"url": "ldap://x"}), serde_json::json!([]))
                .unwrap_err()
                .contains("either dn_template or search")
        );
        let bad = ldap(ok_conn.clone(), serde_json::json!([{"value": "cn=a", "roles": ["UserAdmin"]}])).unwrap_err();
        assert!(bad.starts_with("ldap.roles[0]: UserAdmin"), "{bad}");
        let bad =
            ldap(ok_conn, serde_json::json!([{"value": "cn=a", "roles": ["Admin"], "auditor": true}])).unwrap_err();
        assert!(bad.contains("Auditor"), "{bad}");
        assert!(serde_json::from_value::<AuthSettings>(serde_json::json!({"schemes": ["kerberos"]})).is_err());
    }

    #[test]
    fn a_bind_password_is_sealed_when_checked() {
        let kek = Kek::from_bytes(&[1; 32]).unwrap();
        let mut s: AuthSettings =
            serde_json::from_value(serde_json::json!({"schemes": ["ldap"], "ldap": {"connection": {
            "url": "ldap://127.0.0.1", "search": {"base_dn": "dc=x", "filter": "(uid={username})",
            "bind_dn": "cn=svc,dc=x", "bind_password": "svcpw"}}}}))
            .unwrap();
        s.check(&kek, true).unwrap();
        let shown = serde_json::to_string(&s).unwrap();
        assert!(shown.contains("\"sealed\"") && !shown.contains("svcpw"), "{shown}");
    }
}
