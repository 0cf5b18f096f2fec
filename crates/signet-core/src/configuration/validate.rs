//! The rules a document must meet before anything of it is written.

use std::collections::{BTreeSet, HashMap, HashSet};

use signet_proto::roles::Role;

use super::{AccountEntry, ApplicationEntry, Configuration, FORMAT, MfaSection};
use crate::claims::{ClaimEngine, ClaimMapping};
use crate::model::{ADMINISTRATORS, AppKind, CLI_GRANT_TYPES, CLI_REDIRECT_URI, GrantType};
use crate::policy::check_role_set;

/// Why a document cannot be imported: the field, by path, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

fn invalid<T>(path: impl Into<String>, message: impl std::fmt::Display) -> Result<T, Invalid> {
    Err(Invalid { path: path.into(), message: message.to_string() })
}

/// Fails on the second of two entries with the same key.
fn unique<'a, T>(
    items: &'a [T],
    section: &str,
    field: &str,
    key: impl Fn(&'a T) -> String,
) -> Result<HashSet<String>, Invalid> {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        if !seen.insert(k.clone()) {
            return invalid(format!("{section}[{i}].{field}"), format!("{k:?} appears twice"));
        }
    }
    Ok(seen)
}

fn text(path: String, value: &str, max: usize) -> Result<(), Invalid> {
    crate::text::check_name(value, max).or_else(|why| invalid(path, why))
}

/// The document's environments, which every reference must name.
struct Environments<'a> {
    ids: HashSet<String>,
    /// The id of the Administrators environment.
    administrators: &'a str,
}

impl Environments<'_> {
    fn check(&self, path: String, id: &str) -> Result<(), Invalid> {
        match self.ids.contains(id) {
            true => Ok(()),
            false => invalid(path, format!("no environment {id:?} in the document")),
        }
    }
}

impl Configuration {
    /// Checks the document whole before anything is written: its format,
    /// unique ids and names, that every reference names an object in the
    /// document, the Administrators environment, role sets, and that an
    /// active UserAdmin remains, without whom nobody could manage admin
    /// accounts. Signing keys are checked by `check_signing_keys` when the
    /// document's keys are to be installed.
    pub fn validate(&self, engine: &ClaimEngine) -> Result<(), Invalid> {
        if self.format != FORMAT {
            return invalid("format", format!("this server reads format {FORMAT}, not {}", self.format));
        }
        let environments = self.check_environments()?;
        self.check_applications(&environments)?;
        self.check_accounts(&environments)?;
        self.check_claim_mappings(&environments, engine)?;
        unique(&self.certificates, "certificates", "id", |c| c.id.clone())?;
        unique(&self.certificates, "certificates", "name", |c| c.name.clone())?;
        unique(&self.certificates, "certificates", "sha256", |c| c.sha256.clone())?;
        for (i, c) in self.certificates.iter().enumerate() {
            text(format!("certificates[{i}].name"), &c.name, 128)?;
        }
        unique(&self.signing_keys, "signing_keys", "kid", |k| k.kid.clone())?;
        for (i, k) in self.signing_keys.iter().enumerate() {
            environments.check(format!("signing_keys[{i}].environment_id"), &k.environment_id)?;
            if !k.public_jwk.is_object() {
                return invalid(format!("signing_keys[{i}].public_jwk"), "not a JSON object");
            }
        }
        if self.settings.keys().any(String::is_empty) {
            return invalid("settings", "a setting with an empty key");
        }
        if let Some(mfa) = &self.mfa {
            let accounts: HashSet<&str> = self.accounts.iter().map(|a| a.id.as_str()).collect();
            mfa.validate(&environments.ids, &accounts)?;
        }
        self.check_federation(&environments)
    }

    fn check_environments(&self) -> Result<Environments<'_>, Invalid> {
        let ids = unique(&self.environments, "environments", "id", |e| e.id.to_string())?;
        unique(&self.environments, "environments", "name", |e| e.name.clone())?;
        for (i, e) in self.environments.iter().enumerate() {
            if uuid::Uuid::try_parse(e.id.as_str()).is_err() {
                return invalid(format!("environments[{i}].id"), "not a UUID");
            }
            text(format!("environments[{i}].name"), &e.name, 64)?;
        }
        let Some(administrators) = self.environments.iter().find(|e| e.name == ADMINISTRATORS) else {
            return invalid("environments", format!("the {ADMINISTRATORS} environment is missing"));
        };
        Ok(Environments { ids, administrators: administrators.id.as_str() })
    }

    fn check_applications(&self, environments: &Environments<'_>) -> Result<(), Invalid> {
        unique(&self.applications, "applications", "id", |a| a.id.to_string())?;
        for (i, a) in self.applications.iter().enumerate() {
            let at = |field: &str| format!("applications[{i}].{field}");
            if a.id.as_str().is_empty() || a.id.as_str().len() > 128 {
                return invalid(at("id"), "1 to 128 characters");
            }
            environments.check(at("environment_id"), a.environment_id.as_str())?;
            text(at("name"), &a.name, 100)?;
            check_application(a, &at)?;
        }
        Ok(())
    }

    /// The accounts, after the applications: an application's id must not be a person's.
    fn check_accounts(&self, environments: &Environments<'_>) -> Result<(), Invalid> {
        unique(&self.accounts, "accounts", "id", |a| a.id.clone())?;
        // In any case: `Alice` beside `alice` reads as one person everywhere.
        unique(&self.accounts, "accounts", "username", |a| {
            format!("{}/{}", a.environment_id, a.username.to_ascii_lowercase())
        })?;
        for (i, a) in self.accounts.iter().enumerate() {
            let at = |field: &str| format!("accounts[{i}].{field}");
            if a.id.is_empty() || a.id.len() > 128 {
                return invalid(at("id"), "1 to 128 characters");
            }
            environments.check(at("environment_id"), &a.environment_id)?;
            text(at("username"), &a.username, 256)?;
            check_account(a, environments.administrators, &at)?;
        }
        // RFC 9700 §4.15: a token's `sub` names a person or, for client
        // credentials, an application; signetd's APIs look for a person first.
        // One id naming both would let a worker act as that person.
        let people: HashSet<&str> = self.accounts.iter().map(|a| a.id.as_str()).collect();
        if let Some(i) = self.applications.iter().position(|a| people.contains(a.id.as_str())) {
            return invalid(
                format!("applications[{i}].id"),
                "an account has this id: an application and a person never share one",
            );
        }
        let user_admin = |a: &AccountEntry| {
            a.admin && a.active && a.environment_id == environments.administrators && a.roles.contains(&Role::UserAdmin)
        };
        if !self.accounts.iter().any(user_admin) {
            return invalid(
                "accounts",
                "no active admin account holds UserAdmin: nobody could manage admin accounts afterwards",
            );
        }
        Ok(())
    }

    fn check_claim_mappings(&self, environments: &Environments<'_>, engine: &ClaimEngine) -> Result<(), Invalid> {
        unique(&self.claim_mappings, "claim_mappings", "id", |m| m.id.clone())?;
        unique(&self.claim_mappings, "claim_mappings", "claim", |m| format!("{}/{}", m.environment_id, m.claim))?;
        for (i, m) in self.claim_mappings.iter().enumerate() {
            environments.check(format!("claim_mappings[{i}].environment_id"), &m.environment_id)?;
            let mapping = ClaimMapping { claim: m.claim.clone(), expression: m.expression.clone() };
            if let Err(e) = engine.compile_mapping(&mapping) {
                return invalid(format!("claim_mappings[{i}]"), e.to_string());
            }
        }
        Ok(())
    }

    /// Federated links, then identity providers: both sections may be absent.
    fn check_federation(&self, environments: &Environments<'_>) -> Result<(), Invalid> {
        if let Some(links) = &self.federated_links {
            unique(links, "federated_links", "subject", |l| format!("{} {}", l.issuer, l.subject))?;
            for (i, l) in links.iter().enumerate() {
                if !self.accounts.iter().any(|a| a.id == l.account_id) {
                    return invalid(
                        format!("federated_links[{i}].account_id"),
                        format!("no account {:?} in the document", l.account_id),
                    );
                }
                if l.subject.is_empty() || l.subject.len() > 255 || l.issuer.is_empty() {
                    return invalid(format!("federated_links[{i}]"), "an issuer and a subject of 1 to 255 characters");
                }
            }
        }
        if let Some(providers) = &self.identity_providers {
            unique(providers, "identity_providers", "id", |p| p.id.clone())?;
            unique(providers, "identity_providers", "name", |p| format!("{}/{}", p.environment_id, p.name))?;
            for (i, p) in providers.iter().enumerate() {
                environments.check(format!("identity_providers[{i}].environment_id"), &p.environment_id)?;
                if let Err(e) = crate::federation::check(&p.provider()) {
                    return invalid(format!("identity_providers[{i}]"), e);
                }
            }
        }
        Ok(())
    }

    /// When the document's signing keys are to be installed (an archive):
    /// each carries its private part, and each environment has exactly one
    /// key that signs.
    pub fn check_signing_keys(&self) -> Result<(), Invalid> {
        let mut active: HashMap<&str, usize> = HashMap::new();
        for (i, k) in self.signing_keys.iter().enumerate() {
            if k.private_key.is_none() {
                return invalid(format!("signing_keys[{i}].private_key"), "missing");
            }
            if k.retired_at.is_none() {
                *active.entry(k.environment_id.as_str()).or_default() += 1;
            }
        }
        for e in &self.environments {
            match active.get(e.id.as_str()).copied().unwrap_or(0) {
                1 => {}
                n => {
                    return invalid(
                        "signing_keys",
                        format!("environment {:?} has {n} active signing keys; it needs exactly one", e.name),
                    );
                }
            }
        }
        Ok(())
    }
}

impl MfaSection {
    /// The rules the Vault-compatible API applies to each write, and that
    /// every reference names an object in the document.
    fn validate(&self, environments: &HashSet<String>, accounts: &HashSet<&str>) -> Result<(), Invalid> {
        use crate::mfa::enforcement::{GROUPS, SignOnKind, valid_name};
        let ids = unique(&self.methods, "mfa.methods", "id", |m| m.id.clone())?;
        let mut names = HashSet::new();
        for (i, m) in self.methods.iter().enumerate() {
            let at = |field: &str| format!("mfa.methods[{i}].{field}");
            if !crate::mfa::is_method_id(&m.id) {
                return invalid(at("id"), "not a lower-case UUID");
            }
            if !m.name.is_empty() && !names.insert(m.name.as_str()) {
                return invalid(at("name"), format!("{:?} appears twice", m.name));
            }
            let format = crate::mfa::UsernameFormat::parse(&m.username_format)
                .or_else(|e| invalid(at("username_format"), e.to_string()))?;
            if let Some(env) = format.environments().find(|e| !environments.contains(*e)) {
                return invalid(at("username_format"), format!("no environment {env:?} in the document"));
            }
        }
        unique(&self.enforcements, "mfa.enforcements", "name", |e| e.name.clone())?;
        unique(&self.enforcements, "mfa.enforcements", "id", |e| e.id.clone())?;
        for (i, e) in self.enforcements.iter().enumerate() {
            let at = |field: &str| format!("mfa.enforcements[{i}].{field}");
            if !valid_name(&e.name) {
                return invalid(at("name"), "1 to 128 letters, digits, '-', '_' or '.'");
            }
            if e.mfa_method_ids.is_empty() {
                return invalid(at("mfa_method_ids"), "missing method ids");
            }
            if let Some(id) = e.mfa_method_ids.iter().find(|id| !ids.contains(*id)) {
                return invalid(at("mfa_method_ids"), format!("no method {id:?} in the document"));
            }
            // The store keeps one row per enforcement and method (the Vault API drops repeats).
            let mut named = HashSet::new();
            if let Some(id) = e.mfa_method_ids.iter().find(|id| !named.insert(id.as_str())) {
                return invalid(at("mfa_method_ids"), format!("{id:?} appears twice"));
            }
            let targets =
                [&e.auth_method_accessors, &e.auth_method_types, &e.identity_group_ids, &e.identity_entity_ids];
            if targets.iter().all(|t| t.is_empty()) {
                return invalid(at("mfa_method_ids"), "an enforcement needs at least one target");
            }
            if let Some(env) = e.auth_method_accessors.iter().find(|a| !environments.contains(*a)) {
                return invalid(at("auth_method_accessors"), format!("no environment {env:?} in the document"));
            }
            if let Some(t) = e.auth_method_types.iter().find(|t| SignOnKind::parse(t).is_none()) {
                return invalid(at("auth_method_types"), format!("{t:?} is not a sign-on kind"));
            }
            if let Some(g) = e.identity_group_ids.iter().find(|g| !GROUPS.contains(&g.as_str())) {
                return invalid(at("identity_group_ids"), format!("{g:?} is not a group"));
            }
            if let Some(a) = e.identity_entity_ids.iter().find(|a| !accounts.contains(a.as_str())) {
                return invalid(at("identity_entity_ids"), format!("no account {a:?} in the document"));
            }
        }
        unique(&self.totp_enrolments, "mfa.totp_enrolments", "account_id", |t| {
            format!("{}/{}", t.method_id, t.account_id)
        })?;
        for (i, t) in self.totp_enrolments.iter().enumerate() {
            let at = |field: &str| format!("mfa.totp_enrolments[{i}].{field}");
            match self.methods.iter().find(|m| m.id == t.method_id) {
                Some(m) if matches!(m.settings, crate::mfa::Settings::Totp(_)) => {}
                Some(_) => return invalid(at("method_id"), "not a TOTP method"),
                None => return invalid(at("method_id"), format!("no method {:?} in the document", t.method_id)),
            }
            if !accounts.contains(t.account_id.as_str()) {
                return invalid(at("account_id"), format!("no account {:?} in the document", t.account_id));
            }
        }
        Ok(())
    }
}

/// The rules the admin API applies when an application is made.
fn check_application(a: &ApplicationEntry, at: &dyn Fn(&str) -> String) -> Result<(), Invalid> {
    let allowed: &[GrantType] = match a.kind {
        AppKind::Worker => &[GrantType::ClientCredentials],
        AppKind::Native => &[GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode],
        AppKind::Web => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
    };
    if let Some(g) = a.grant_types.iter().find(|g| !allowed.contains(g)) {
        return invalid(at("grant_types"), format!("a {} application cannot use {}", a.kind.as_str(), g.as_str()));
    }
    match (&a.secret_hash, a.kind.is_public()) {
        (Some(_), true) => return invalid(at("secret_hash"), "a public application has no secret"),
        (None, false) => return invalid(at("secret_hash"), "a confidential application needs one"),
        (Some(h), false) if h.len() != 32 => return invalid(at("secret_hash"), "not a SHA-256"),
        _ => {}
    }
    if !a.roles.is_empty() && a.kind != AppKind::Worker {
        return invalid(at("roles"), "only a worker application holds admin roles");
    }
    if a.kind.is_public() && !a.pkce_required {
        return invalid(at("pkce_required"), "a public application always uses PKCE");
    }
    for (j, uri) in a.redirect_uris.iter().enumerate() {
        crate::redirect::check(uri, a.kind).or_else(|why| invalid(at(&format!("redirect_uris[{j}]")), why))?;
    }
    if a.admin_api {
        let fixed = a.kind == AppKind::Native
            && a.redirect_uris == [CLI_REDIRECT_URI]
            && a.grant_types.iter().copied().eq(CLI_GRANT_TYPES.into_iter().collect::<BTreeSet<_>>());
        if !fixed {
            return invalid(
                at("admin_api"),
                format!(
                    "an application with the admin API's audience is the CLI's: native, redirecting only to \
                     {CLI_REDIRECT_URI}, with the authorization code, refresh token and device code grants"
                ),
            );
        }
    }
    check_role_set(&a.roles, false).or_else(|e| invalid(at("roles"), e))
}

fn check_account(a: &AccountEntry, administrators: &str, at: &dyn Fn(&str) -> String) -> Result<(), Invalid> {
    if a.admin && a.environment_id != administrators {
        return invalid(at("admin"), format!("admin accounts live in the {ADMINISTRATORS} environment"));
    }
    if !a.admin && (a.auditor || !a.roles.is_empty()) {
        return invalid(at("roles"), "only an admin account holds roles or is an Auditor");
    }
    check_role_set(&a.roles, a.auditor).or_else(|e| invalid(at("roles"), e))?;
    if let Some(phc) = &a.password_hash
        && argon2::PasswordHash::new(phc).is_err()
    {
        return invalid(at("password_hash"), "not a PHC string");
    }
    if a.totp_confirmed && a.totp.is_none() {
        return invalid(at("totp"), "an account whose TOTP enrolment is confirmed needs its secret");
    }
    Ok(())
}
