//! Which claim names an expression may set.
//!
//! Two kinds are refused, compared case-insensitively since relying parties
//! do not agree on case. Protocol claims (RFC 7519 §4.1, RFC 9068 §2.2, OIDC
//! Core §2, RFC 7800 for `cnf`, RFC 8693 §4 for `act`/`may_act`, RFC 9396 for
//! `authorization_details`) and the ones signet sets itself: overriding them
//! would let an expression change who a token is for, how long it lives or
//! how it was obtained; and OIDC's standard claims about the person (§5.1,
//! `email`, `email_verified`, `name`…) and the identifiers relying parties
//! key accounts on (`upn`, `oid`…), which would let one person pass for another. And names that grant authority: a relying party may
//! read `roles`, `groups` or `permissions` (or `realm_access.roles`,
//! `cognito:groups`, `is_admin`) as grants, so any name with such a word as
//! one of its `.`, `:`, `_` or `-` separated parts is refused, as is anything
//! starting with `signet`.

use super::ClaimError;

/// Longest claim name accepted, in characters.
pub const MAX_CLAIM_NAME_CHARS: usize = 64;

/// Claims of the protocols signet speaks, and the ones it sets itself.
const RESERVED: &[&str] = &[
    // RFC 7519 §4.1
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    // RFC 9068 §2.2, RFC 8693 §4.2
    "client_id",
    "scope",
    "scp",
    "scopes",
    // OIDC Core §2 and §3.1.3.6
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    // OIDC Front-/Back-Channel Logout
    "sid",
    // RFC 7800 proof of possession
    "cnf",
    // RFC 8693 §4.1, §4.4: delegation
    "act",
    "may_act",
    // RFC 9396
    "authorization_details",
    // JOSE header name, sometimes echoed in claims
    "typ",
    // Set by signet's token issuance (token.rs)
    "gid",
    "username",
    "preferred_username",
    // OIDC Core §5.1, the standard claims about the person: a relying party
    // takes a verified email or a name as the person's identity, so a mapping
    // setting them could make one person pass for another (issue 15).
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    // Identifiers relying parties key accounts on at the common providers
    // (Microsoft Entra `upn`, `oid`, `tid`; SCIM-style `uid`, `emails`).
    "upn",
    "oid",
    "tid",
    "uid",
    "emails",
    "unique_name",
];

/// Words that grant authority wherever they appear as a part of a name, with
/// what they are called in the error.
const GRANTING: &[(&str, &str)] = &[
    ("role", "roles"),
    ("roles", "roles"),
    ("group", "groups"),
    ("groups", "groups"),
    ("permission", "permissions"),
    ("permissions", "permissions"),
    ("entitlement", "entitlements"),
    ("entitlements", "entitlements"),
    ("admin", "administrator rights"),
    ("admins", "administrator rights"),
    ("administrator", "administrator rights"),
    ("auditor", "the Auditor role"),
    ("auditors", "the Auditor role"),
];

/// Whether a mapping may set this claim.
pub fn validate_claim_name(name: &str) -> Result<(), ClaimError> {
    if name.is_empty() {
        return Err(ClaimError::EmptyName);
    }
    if name.chars().count() > MAX_CLAIM_NAME_CHARS {
        return Err(ClaimError::NameTooLong);
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')) {
        return Err(ClaimError::NameCharacters(name.to_owned()));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) {
        return Err(ClaimError::ReservedName(name.to_owned()));
    }
    if lower.starts_with("signet") {
        return Err(ClaimError::ReservedName(name.to_owned()));
    }
    for part in lower.split(['.', ':', '_', '-']) {
        if let Some((_, what)) = GRANTING.iter().find(|(word, _)| *word == part) {
            return Err(ClaimError::GrantingName { name: name.to_owned(), what });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_claim_is_refused_in_any_case() {
        // From the issue, written out by hand, plus the claims signet's own tokens carry.
        let reserved = [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "amr",
            "acr",
            "auth_time",
            "cnf",
            "sid",
            "gid",
            "azp",
            "nonce",
            "username",
            "preferred_username",
            "act",
            "may_act",
            "scp",
        ];
        for name in reserved {
            for variant in [name.to_owned(), name.to_uppercase(), capitalise(name)] {
                assert_eq!(validate_claim_name(&variant), Err(ClaimError::ReservedName(variant.clone())));
            }
        }
        assert_eq!(
            validate_claim_name("Sub").unwrap_err().to_string(),
            "`Sub` is reserved for signet and the protocols it speaks; an expression cannot set it"
        );
        for name in ["signet", "signet_roles", "SignetTenant", "signet.x", "signet:admin"] {
            assert!(validate_claim_name(name).is_err(), "{name}");
        }
    }

    /// An attack found it (issue 15): a mapping set `email` and
    /// `email_verified` on an administrator's ID token.
    #[test]
    fn oidc_standard_claims_about_the_person_are_refused() {
        for name in [
            "email",
            "Email_Verified",
            "name",
            "given_name",
            "phone_number",
            "address",
            "updated_at",
            "upn",
            "oid",
            "tid",
        ] {
            assert!(matches!(validate_claim_name(name), Err(ClaimError::ReservedName(_))), "{name}");
        }
    }

    #[test]
    fn names_that_grant_roles_are_refused_anywhere_in_the_name() {
        for name in [
            "roles",
            "role",
            "groups",
            "group",
            "auditor",
            "admin",
            "permissions",
            "entitlements",
            "Roles",
            "ADMIN",
            "realm_access.roles",
            "cognito:groups",
            "is_admin",
            "app-role",
            "x.Permissions",
            "user_entitlement",
            "administrator",
            "auditors",
        ] {
            let got = validate_claim_name(name);
            assert!(matches!(got, Err(ClaimError::GrantingName { .. })), "{name}: {got:?}");
        }
        assert_eq!(
            validate_claim_name("realm_access.roles").unwrap_err().to_string(),
            "`realm_access.roles` names roles; an expression cannot grant them"
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        assert_eq!(validate_claim_name(""), Err(ClaimError::EmptyName));
        assert_eq!(validate_claim_name(&"a".repeat(MAX_CLAIM_NAME_CHARS)), Ok(()));
        assert_eq!(validate_claim_name(&"a".repeat(MAX_CLAIM_NAME_CHARS + 1)), Err(ClaimError::NameTooLong));
        for name in ["a b", "https://example.com/claim", "dépt", "a$", "a\"b", "a\nb", "a\0", "é".repeat(10).as_str()]
        {
            assert_eq!(validate_claim_name(name), Err(ClaimError::NameCharacters(name.to_owned())), "{name:?}");
        }
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "department",
            "work_email",
            "employee_number",
            "x-tenant",
            "org.unit",
            "ns:team",
            "parole",
            "controller",
            "groupware_id2",
        ] {
            assert_eq!(validate_claim_name(name), Ok(()), "{name}");
        }
    }

    fn capitalise(name: &str) -> String {
        let mut chars = name.chars();
        chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
    }
}
