//! External OpenID providers people of an environment may sign on through
//! (issue 7, seed 000): what an administrator configures for each, and the
//! rules it must satisfy. The client secret is kept apart, sealed, and never
//! shown.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// What a provider's record says, besides its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub environment_id: String,
    /// Shown on the sign-on pages: "Continue with ⟨name⟩".
    pub name: String,
    /// Read through discovery (`{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Just-in-time creation of end-user accounts; off by default. Admin
    /// accounts are never made this way, and nothing links by email.
    pub jit: bool,
    pub mfa: ProviderMfa,
    pub version: i64,
    pub created_at: UnixTime,
}

/// Whether the provider's own MFA counts as a second factor, and which
/// `amr` or `acr` values show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderMfa {
    #[serde(default)]
    pub trusted: bool,
    /// For administrators too: a UserAdmin decision, since admin accounts are theirs.
    #[serde(default)]
    pub trusted_for_admins: bool,
    #[serde(default)]
    pub values: Vec<String>,
}

/// The sealing purpose of a provider's client secret.
pub fn secret_purpose(provider_id: &str) -> String {
    format!("identity-provider:{provider_id}")
}

const MAX_SCOPES: usize = 32;

/// Checks what an administrator wrote, naming the field. The issuer's form
/// only: whether it can be fetched, and what its discovery says, the server checks.
pub fn check(p: &Provider) -> Result<(), String> {
    let printable =
        |s: &str, max: usize| !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control);
    if !printable(&p.name, 100) {
        return Err("name: 1 to 100 printable characters".into());
    }
    if !printable(&p.client_id, 256) {
        return Err("client_id: 1 to 256 printable characters".into());
    }
    let issuer = url::Url::parse(&p.issuer).map_err(|e| format!("issuer: not a URL: {e}"))?;
    if issuer.query().is_some() || issuer.fragment().is_some() || !issuer.username().is_empty() {
        return Err("issuer: an issuer has no query, fragment or user info (OpenID Discovery §2)".into());
    }
    if !p.scopes.iter().any(|s| s == "openid") {
        return Err("scopes: must include openid".into());
    }
    let token =
        |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if p.scopes.len() > MAX_SCOPES || !p.scopes.iter().all(|s| token(s)) {
        return Err(format!("scopes: at most {MAX_SCOPES} scope tokens (RFC 6749 §3.3)"));
    }
    if (p.mfa.trusted || p.mfa.trusted_for_admins) && p.mfa.values.is_empty() {
        return Err(
            "mfa.values: name the amr or acr values that show a second factor (for example mfa, otp, hwk)".into()
        );
    }
    if p.mfa.trusted_for_admins && !p.mfa.trusted {
        return Err("mfa.trusted_for_admins: needs mfa.trusted".into());
    }
    if p.mfa.values.len() > MAX_SCOPES || !p.mfa.values.iter().all(|v| token(v)) {
        return Err(format!("mfa.values: at most {MAX_SCOPES} values without spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            id: "p".into(),
            environment_id: "e".into(),
            name: "Acme SSO".into(),
            issuer: "https://sso.acme.test".into(),
            client_id: "signet".into(),
            scopes: vec!["openid".into(), "profile".into()],
            jit: false,
            mfa: ProviderMfa::default(),
            version: 1,
            created_at: 0,
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(check(&provider()), Ok(()));
        type Change = fn(&mut Provider);
        let cases: [(Change, &str); 7] = [
            (|p| p.name = " ".into(), "name"),
            (|p| p.client_id = "a\nb".into(), "client_id"),
            (|p| p.issuer = "sso.acme.test".into(), "issuer"),
            (|p| p.issuer = "https://sso.acme.test/?tenant=1".into(), "issuer"),
            (|p| p.scopes = vec!["profile".into()], "scopes"),
            (|p| p.mfa.trusted = true, "mfa.values"),
            (
                |p| p.mfa = ProviderMfa { trusted: false, trusted_for_admins: true, values: vec!["mfa".into()] },
                "mfa.trusted_for_admins",
            ),
        ];
        for (change, field) in cases {
            let mut p = provider();
            change(&mut p);
            let err = check(&p).unwrap_err();
            assert!(err.starts_with(field), "{field}: {err}");
        }
    }
}
