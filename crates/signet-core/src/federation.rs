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

impl ProviderMfa {
    /// Whether an answer with these `amr` and `acr` values shows a second
    /// factor this provider is trusted for, for an administrator or not.
    pub fn second_factor(&self, admin: bool, amr: &[String], acr: Option<&str>) -> bool {
        let trusted = if admin { self.trusted_for_admins } else { self.trusted };
        let shown = |v: &str| self.values.iter().any(|t| t == v);
        trusted && (amr.iter().any(|a| shown(a)) || acr.is_some_and(shown))
    }
}

/// The sealing purpose of a provider's client secret.
pub fn secret_purpose(provider_id: &str) -> String {
    format!("identity-provider:{provider_id}")
}

const MAX_SCOPES: usize = 32;

/// Checks what an administrator wrote, naming the field. The issuer's form
/// only: whether it can be fetched, and what its discovery says, the server checks.
pub fn check(p: &Provider) -> Result<(), ProviderError> {
    let printable = |s: &str, max: usize| {
        !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(crate::text::is_forbidden)
    };
    if !printable(&p.name, 100) {
        return Err(ProviderError::Name);
    }
    if !printable(&p.client_id, 256) {
        return Err(ProviderError::ClientId);
    }
    let issuer = url::Url::parse(&p.issuer).map_err(ProviderError::IssuerNotUrl)?;
    if issuer.query().is_some() || issuer.fragment().is_some() || !issuer.username().is_empty() {
        return Err(ProviderError::IssuerParts);
    }
    if !p.scopes.iter().any(|s| s == "openid") {
        return Err(ProviderError::NoOpenid);
    }
    let token =
        |s: &str| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if p.scopes.len() > MAX_SCOPES || !p.scopes.iter().all(|s| token(s)) {
        return Err(ProviderError::Scopes);
    }
    if (p.mfa.trusted || p.mfa.trusted_for_admins) && p.mfa.values.is_empty() {
        return Err(ProviderError::NoMfaValues);
    }
    if p.mfa.trusted_for_admins && !p.mfa.trusted {
        return Err(ProviderError::AdminTrustAlone);
    }
    if p.mfa.values.len() > MAX_SCOPES || !p.mfa.values.iter().all(|v| token(v)) {
        return Err(ProviderError::MfaValues);
    }
    Ok(())
}

/// What is wrong with a provider as an administrator wrote it, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("name: 1 to 100 printable characters, without bidirectional text controls")]
    Name,
    #[error("client_id: 1 to 256 printable characters")]
    ClientId,
    // The parser's words are the message, so they are not a `source` too.
    #[error("issuer: not a URL: {0}")]
    IssuerNotUrl(url::ParseError),
    #[error("issuer: an issuer has no query, fragment or user info (OpenID Discovery §2)")]
    IssuerParts,
    #[error("scopes: must include openid")]
    NoOpenid,
    #[error("scopes: at most {} scope tokens (RFC 6749 §3.3)", MAX_SCOPES)]
    Scopes,
    #[error("mfa.values: name the amr or acr values that show a second factor (for example mfa, otp, hwk)")]
    NoMfaValues,
    #[error("mfa.trusted_for_admins: needs mfa.trusted")]
    AdminTrustAlone,
    #[error("mfa.values: at most {} values without spaces", MAX_SCOPES)]
    MfaValues,
}

/// Whom a verified ID token says signed on at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub subject: String,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub email: Option<String>,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

impl Upstream {
    /// How to name the person to themselves.
    pub fn display(&self) -> &str {
        self.preferred_username.as_deref().or(self.email.as_deref()).or(self.name.as_deref()).unwrap_or(&self.subject)
    }

    /// The username of an end-user account made just in time: the
    /// provider's `email`, when the provider says it verified it and it is a
    /// valid username. Never `preferred_username`, which any person at the
    /// provider may set to anything. Only ever a name for a *new* account:
    /// an existing account of that name is never taken over (nothing links
    /// by email).
    pub fn username(&self) -> Option<&str> {
        self.email.as_deref().filter(|u| crate::model::valid_username(u))
    }
}

/// What was wrong with an ID token (OpenID Connect Core §3.1.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenFault {
    Missing,
    Signature(crate::token::SignatureFault),
    Issuer,
    Audience,
    AuthorizedParty,
    Expired,
    IssuedAt,
    Nonce,
    Subject,
}

impl IdTokenFault {
    /// A short code for the audit trail.
    pub fn code(self) -> &'static str {
        use crate::token::SignatureFault as S;
        match self {
            IdTokenFault::Missing => "id_token_missing",
            IdTokenFault::Signature(S::Malformed) => "id_token_malformed",
            IdTokenFault::Signature(S::Algorithm) => "id_token_algorithm",
            IdTokenFault::Signature(S::UnknownKey) => "id_token_unknown_kid",
            IdTokenFault::Signature(S::Signature) => "id_token_signature",
            IdTokenFault::Issuer => "id_token_wrong_iss",
            IdTokenFault::Audience => "id_token_wrong_aud",
            IdTokenFault::AuthorizedParty => "id_token_wrong_azp",
            IdTokenFault::Expired => "id_token_expired",
            IdTokenFault::IssuedAt => "id_token_iat",
            IdTokenFault::Nonce => "id_token_wrong_nonce",
            IdTokenFault::Subject => "id_token_sub",
        }
    }
}

/// How long after its `iat` an ID token is still taken, whatever its `exp`.
const MAX_ID_TOKEN_AGE: UnixTime = 600;

/// Checks a signature-verified ID token's claims: `iss` is the provider's
/// issuer exactly, `aud` holds `client_id`, `azp` (required when there are
/// several audiences) is `client_id`, `exp` and `iat` fit `now`, `nonce` is
/// the one sent, and `sub` is a subject signetd can key a link by.
pub fn check_id_token(
    claims: &serde_json::Map<String, serde_json::Value>,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: UnixTime,
) -> Result<Upstream, IdTokenFault> {
    use crate::token::EXTERNAL_LEEWAY;
    use serde_json::Value;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        return Err(IdTokenFault::Issuer);
    }
    if !crate::token::audience_contains(claims, client_id) {
        return Err(IdTokenFault::Audience);
    }
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match text("azp") {
        Some(azp) if azp != client_id => return Err(IdTokenFault::AuthorizedParty),
        None if several => return Err(IdTokenFault::AuthorizedParty),
        _ => {}
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    // Saturating: a provider's numbers are not trusted to stay in range.
    if number("exp").is_none_or(|exp| exp.saturating_add(EXTERNAL_LEEWAY) <= now) {
        return Err(IdTokenFault::Expired);
    }
    if number("iat")
        .is_none_or(|iat| iat.saturating_sub(EXTERNAL_LEEWAY) > now || iat.saturating_add(MAX_ID_TOKEN_AGE) < now)
    {
        return Err(IdTokenFault::IssuedAt);
    }
    let nonce_ok = text("nonce").is_some_and(|n| crate::crypto::constant_time_eq(n.as_bytes(), nonce.as_bytes()));
    if nonce.is_empty() || !nonce_ok {
        return Err(IdTokenFault::Nonce);
    }
    let subject = text("sub").filter(|s| valid_subject(s)).ok_or(IdTokenFault::Subject)?;
    let amr = match claims.get("amr") {
        Some(Value::Array(all)) => {
            all.iter().filter_map(Value::as_str).filter(|a| value(a)).map(str::to_owned).collect()
        }
        _ => vec![],
    };
    let short =
        |name: &str| text(name).filter(|v| v.len() <= 256 && !v.chars().any(char::is_control)).map(str::to_owned);
    Ok(Upstream {
        subject: subject.to_owned(),
        amr,
        acr: text("acr").filter(|a| value(a)).map(str::to_owned),
        // Only an address the provider says it verified names a new account.
        email: short("email").filter(|_| claims.get("email_verified") == Some(&Value::Bool(true))),
        preferred_username: short("preferred_username"),
        name: short("name"),
    })
}

/// An `amr` or `acr` value signetd keeps: short, printable, no spaces.
fn value(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A `sub` a link can be keyed by: 1 to 255 ASCII characters, none of them
/// control characters (OpenID Connect Core §2).
pub fn valid_subject(s: &str) -> bool {
    (1..=255).contains(&s.len()) && s.bytes().all(|b| (0x20..0x7f).contains(&b))
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

    fn claims(
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(mut c) = serde_json::json!({
            "iss": "https://sso.acme.test", "aud": "signet", "sub": "u-1", "exp": 1_000, "iat": 900,
            "nonce": "n-1", "amr": ["pwd", "otp"], "acr": "urn:acme:mfa", "email": "ada@acme.test",
            "email_verified": true, "preferred_username": "root",
        }) else {
            unreachable!()
        };
        change(&mut c);
        c
    }

    #[test]
    fn id_tokens_are_held_to_core_3_1_3_7() {
        let check = |c| check_id_token(&c, "https://sso.acme.test", "signet", "n-1", 950);
        let up = check(claims(|_| {})).unwrap();
        assert_eq!((up.subject.as_str(), up.amr.len(), up.acr.as_deref()), ("u-1", 2, Some("urn:acme:mfa")));
        assert_eq!(up.username(), Some("ada@acme.test"));
        type Change = fn(&mut serde_json::Map<String, serde_json::Value>);
        let cases: [(Change, IdTokenFault); 10] = [
            (|c| drop(c.insert("iss".into(), "https://sso.acme.test/".into())), IdTokenFault::Issuer),
            (|c| drop(c.insert("aud".into(), "other".into())), IdTokenFault::Audience),
            (|c| drop(c.insert("aud".into(), serde_json::json!(["signet", "other"]))), IdTokenFault::AuthorizedParty),
            (|c| drop(c.insert("azp".into(), "other".into())), IdTokenFault::AuthorizedParty),
            (|c| drop(c.insert("exp".into(), 880.into())), IdTokenFault::Expired),
            (|c| drop(c.remove("exp")), IdTokenFault::Expired),
            (|c| drop(c.insert("iat".into(), 100.into())), IdTokenFault::IssuedAt),
            (|c| drop(c.insert("nonce".into(), "n-2".into())), IdTokenFault::Nonce),
            (|c| drop(c.remove("nonce")), IdTokenFault::Nonce),
            (|c| drop(c.insert("sub".into(), "é".into())), IdTokenFault::Subject),
        ];
        for (change, fault) in cases {
            assert_eq!(check(claims(change)), Err(fault), "{}", fault.code());
        }
        let several = claims(|c| {
            c.insert("aud".into(), serde_json::json!(["signet", "other"]));
            c.insert("azp".into(), "signet".into());
        });
        assert!(check(several).is_ok());
        for unverified in [serde_json::json!(false), serde_json::json!("true")] {
            let up = check(claims(|c| drop(c.insert("email_verified".into(), unverified)))).unwrap();
            assert_eq!(up.username(), None, "an address not verified names no account");
        }
        let up = check(claims(|c| drop(c.remove("email_verified")))).unwrap();
        assert_eq!((up.username(), up.display()), (None, "root"), "preferred_username is shown, never a name");
        assert!(check_id_token(&claims(|_| {}), "https://sso.acme.test", "signet", "", 950).is_err(), "no nonce sent");
        for extreme in [i64::MIN, i64::MAX] {
            let c = claims(|c| drop(c.insert("iat".into(), extreme.into())));
            assert_eq!(check(c), Err(IdTokenFault::IssuedAt), "{extreme}");
            let c = claims(|c| drop(c.insert("exp".into(), extreme.into())));
            assert!(check(c).is_ok() == (extreme == i64::MAX), "{extreme}");
        }
    }

    #[test]
    fn a_second_factor_counts_where_it_is_trusted() {
        let amr = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mfa =
            ProviderMfa { trusted: true, trusted_for_admins: false, values: vec!["otp".into(), "urn:acme:mfa".into()] };
        assert!(mfa.second_factor(false, &amr(&["pwd", "otp"]), None));
        assert!(mfa.second_factor(false, &amr(&["pwd"]), Some("urn:acme:mfa")));
        assert!(!mfa.second_factor(false, &amr(&["pwd"]), Some("urn:acme:pwd")));
        assert!(!mfa.second_factor(true, &amr(&["pwd", "otp"]), None), "not trusted for administrators");
        let admins = ProviderMfa { trusted_for_admins: true, ..mfa.clone() };
        assert!(admins.second_factor(true, &amr(&["otp"]), None));
        assert!(!ProviderMfa::default().second_factor(false, &amr(&["otp"]), None));
    }

    /// The messages reach the admin API's error bodies: they keep their words.
    #[test]
    fn refusals_keep_their_words() {
        type Change = fn(&mut Provider);
        let cases: [(Change, &str); 9] = [
            (|p| p.name = " ".into(), "name: 1 to 100 printable characters, without bidirectional text controls"),
            (|p| p.client_id = "a\nb".into(), "client_id: 1 to 256 printable characters"),
            (|p| p.issuer = "sso.acme.test".into(), "issuer: not a URL: relative URL without a base"),
            (
                |p| p.issuer = "https://sso.acme.test/?tenant=1".into(),
                "issuer: an issuer has no query, fragment or user info (OpenID Discovery §2)",
            ),
            (|p| p.scopes = vec!["profile".into()], "scopes: must include openid"),
            (|p| p.scopes.push("a b".into()), "scopes: at most 32 scope tokens (RFC 6749 §3.3)"),
            (
                |p| p.mfa.trusted = true,
                "mfa.values: name the amr or acr values that show a second factor (for example mfa, otp, hwk)",
            ),
            (
                |p| p.mfa = ProviderMfa { trusted: false, trusted_for_admins: true, values: vec!["mfa".into()] },
                "mfa.trusted_for_admins: needs mfa.trusted",
            ),
            (|p| p.mfa.values = vec!["a b".into()], "mfa.values: at most 32 values without spaces"),
        ];
        for (change, words) in cases {
            let mut p = provider();
            change(&mut p);
            assert_eq!(check(&p).unwrap_err().to_string(), words);
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
            let err = check(&p).unwrap_err().to_string();
            assert!(err.starts_with(field), "{field}: {err}");
        }
    }
}
