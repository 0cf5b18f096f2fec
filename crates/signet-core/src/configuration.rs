//! The whole configuration as one document (format 1): every object the
//! admin API manages, which `/bulk` exports and imports as JSON and
//! `/configArchive` carries encrypted.
//!
//! Runtime state (grant families, refresh tokens, codes, sessions, sign-on
//! flows, device authorizations, revocations) and the audit trail are not
//! configuration and are never in it.
//!
//! Secrets are never in it in plain except inside an archive: a password is
//! its argon2id PHC string, a client secret its SHA-256, and a TOTP secret,
//! a signing key or a certificate's key is `{"sealed": base64}`, sealed under
//! the exporting server's key-encryption key (settings keep their own
//! `{"sealed", "purpose"}` objects). An archive holds them as
//! `{"plain": base64}` (`{"plain", "purpose"}` in settings), and the
//! importing server seals them under its own key.
//!
//! `validate` checks what the store's schema and signet's rules need before
//! anything is written, naming the offending field by its path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use signet_proto::roles::Role;

use crate::claims::{ClaimEngine, ClaimMapping};
use crate::clock::UnixTime;
use crate::model::{
    ADMINISTRATORS, Account, AppKind, Application, CLI_GRANT_TYPES, CLI_REDIRECT_URI, Environment, GrantType,
    certificate_key_purpose, signing_key_purpose, totp_purpose,
};
use crate::policy::check_role_set;
use crate::secret::Secret;

/// The document format this build reads and writes.
pub const FORMAT: u32 = 1;

/// Every section is required: the document replaces everything, so a
/// section left out by mistake would delete what it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    pub format: u32,
    pub environments: Vec<EnvironmentEntry>,
    pub applications: Vec<ApplicationEntry>,
    /// Admin accounts and end users alike.
    pub accounts: Vec<AccountEntry>,
    pub claim_mappings: Vec<ClaimMappingEntry>,
    pub certificates: Vec<CertificateEntry>,
    pub signing_keys: Vec<SigningKeyEntry>,
    /// Server-wide settings by key, as stored.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Login MFA. Documents exported before signet had it lack the section,
    /// and importing one leaves the MFA configuration as it is; present,
    /// even empty, it replaces it like every other section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaSection>,
    /// External OpenID providers; absent in older documents, which then
    /// leave them as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_providers: Option<Vec<IdentityProviderEntry>>,
    /// Accounts linked to people at upstream issuers; absent, they are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_links: Option<Vec<FederatedLinkEntry>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedLinkEntry {
    pub issuer: String,
    pub subject: String,
    pub account_id: String,
    pub provider_id: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderEntry {
    pub id: String,
    pub environment_id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Protected,
    pub scopes: Vec<String>,
    pub jit: bool,
    pub mfa: crate::federation::ProviderMfa,
    pub created_at: UnixTime,
}

impl IdentityProviderEntry {
    pub fn provider(&self) -> crate::federation::Provider {
        crate::federation::Provider {
            id: self.id.clone(),
            environment_id: self.environment_id.clone(),
            name: self.name.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            jit: self.jit,
            mfa: self.mfa.clone(),
            version: 1,
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSection {
    pub methods: Vec<MfaMethodEntry>,
    pub enforcements: Vec<crate::mfa::Enforcement>,
    /// People's enrolments in TOTP methods, with their sealed secrets.
    pub totp_enrolments: Vec<TotpEnrolmentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaMethodEntry {
    pub id: String,
    pub name: String,
    pub username_format: String,
    pub settings: crate::mfa::Settings,
    /// The method's secrets (a JSON object), sealed or, in an archive, plain.
    pub secrets: Protected,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrolmentEntry {
    pub method_id: String,
    pub account_id: String,
    /// The method's parameters when the person enrolled.
    pub params: crate::totp::Params,
    pub secret: Protected,
    pub last_step: i64,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentEntry {
    /// A UUID: it is part of the environment's issuer URL.
    pub id: String,
    pub name: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationEntry {
    pub id: String,
    pub environment_id: String,
    pub name: String,
    pub kind: AppKind,
    /// Base64 of the client secret's SHA-256; null for a public application.
    #[serde(with = "b64_option")]
    pub secret_hash: Option<Vec<u8>>,
    pub redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: BTreeSet<String>,
    pub roles: BTreeSet<Role>,
    pub admin_api: bool,
    pub created_at: UnixTime,
    /// Absent in documents older than the setting: required, the default.
    #[serde(default = "required")]
    pub pkce_required: bool,
}

fn required() -> bool {
    true
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub id: String,
    pub environment_id: String,
    pub username: String,
    /// The argon2id PHC string.
    pub password_hash: Option<String>,
    pub active: bool,
    pub admin: bool,
    pub roles: BTreeSet<Role>,
    pub auditor: bool,
    pub totp: Option<Protected>,
    pub totp_confirmed: bool,
    pub totp_last_step: i64,
    pub failed_attempts: i64,
    pub locked_until: UnixTime,
    pub password_change_required: bool,
    pub created_at: UnixTime,
    /// What claim-mapping expressions read; absent when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Leaves out the password hash, like `Account`'s.
impl std::fmt::Debug for AccountEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountEntry")
            .field("id", &self.id)
            .field("environment_id", &self.environment_id)
            .field("username", &self.username)
            .field("active", &self.active)
            .field("admin", &self.admin)
            .field("roles", &self.roles)
            .field("auditor", &self.auditor)
            .field("totp_confirmed", &self.totp_confirmed)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingEntry {
    pub id: String,
    pub environment_id: String,
    pub claim: String,
    pub expression: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    pub id: String,
    pub name: String,
    pub pem: String,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub trusted_for_mtls: bool,
    pub private_key: Option<Protected>,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyEntry {
    pub kid: String,
    pub environment_id: String,
    pub public_jwk: serde_json::Value,
    /// The PKCS#8 private key: absent from `/bulk`, which shows public parts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Protected>,
    pub created_at: UnixTime,
    /// Null for the key that signs.
    pub retired_at: Option<UnixTime>,
}

/// A secret in the document: sealed under a server's key-encryption key, or
/// in plain inside an encrypted archive.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Protected {
    Sealed(#[serde(with = "b64")] Vec<u8>),
    Plain(#[serde(with = "b64_secret")] Secret<Vec<u8>>),
}

impl std::fmt::Debug for Protected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protected::Sealed(_) => "[sealed]",
            Protected::Plain(_) => "[redacted]",
        })
    }
}

impl PartialEq for Protected {
    fn eq(&self, other: &Protected) -> bool {
        match (self, other) {
            (Protected::Sealed(a), Protected::Sealed(b)) => a == b,
            (Protected::Plain(a), Protected::Plain(b)) => crate::crypto::constant_time_eq(a.expose(), b.expose()),
            _ => false,
        }
    }
}

impl Eq for Protected {}

impl Protected {
    pub fn sealed(&self) -> Option<&[u8]> {
        match self {
            Protected::Sealed(b) => Some(b),
            Protected::Plain(_) => None,
        }
    }
}

/// Why a document cannot be imported: the field, by path, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

fn invalid<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid { path: path.into(), message: message.into() })
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
        let environments = unique(&self.environments, "environments", "id", |e| e.id.clone())?;
        unique(&self.environments, "environments", "name", |e| e.name.clone())?;
        for (i, e) in self.environments.iter().enumerate() {
            if uuid::Uuid::try_parse(&e.id).is_err() {
                return invalid(format!("environments[{i}].id"), "not a UUID");
            }
            text(format!("environments[{i}].name"), &e.name, 64)?;
        }
        let Some(administrators) = self.environments.iter().find(|e| e.name == ADMINISTRATORS) else {
            return invalid("environments", format!("the {ADMINISTRATORS} environment is missing"));
        };
        let in_document = |path: String, id: &str| match environments.contains(id) {
            true => Ok(()),
            false => invalid(path, format!("no environment {id:?} in the document")),
        };

        unique(&self.applications, "applications", "id", |a| a.id.clone())?;
        for (i, a) in self.applications.iter().enumerate() {
            let at = |field: &str| format!("applications[{i}].{field}");
            if a.id.is_empty() || a.id.len() > 128 {
                return invalid(at("id"), "1 to 128 characters");
            }
            in_document(at("environment_id"), &a.environment_id)?;
            text(at("name"), &a.name, 100)?;
            check_application(a, &at)?;
        }

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
            in_document(at("environment_id"), &a.environment_id)?;
            text(at("username"), &a.username, 256)?;
            check_account(a, &administrators.id, &at)?;
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
            a.admin && a.active && a.environment_id == administrators.id && a.roles.contains(&Role::UserAdmin)
        };
        if !self.accounts.iter().any(user_admin) {
            return invalid(
                "accounts",
                "no active admin account holds UserAdmin: nobody could manage admin accounts afterwards",
            );
        }

        unique(&self.claim_mappings, "claim_mappings", "id", |m| m.id.clone())?;
        unique(&self.claim_mappings, "claim_mappings", "claim", |m| format!("{}/{}", m.environment_id, m.claim))?;
        for (i, m) in self.claim_mappings.iter().enumerate() {
            in_document(format!("claim_mappings[{i}].environment_id"), &m.environment_id)?;
            let mapping = ClaimMapping { claim: m.claim.clone(), expression: m.expression.clone() };
            if let Err(e) = engine.compile_mapping(&mapping) {
                return invalid(format!("claim_mappings[{i}]"), e.to_string());
            }
        }

        unique(&self.certificates, "certificates", "id", |c| c.id.clone())?;
        unique(&self.certificates, "certificates", "name", |c| c.name.clone())?;
        unique(&self.certificates, "certificates", "sha256", |c| c.sha256.clone())?;
        for (i, c) in self.certificates.iter().enumerate() {
            text(format!("certificates[{i}].name"), &c.name, 128)?;
        }

        unique(&self.signing_keys, "signing_keys", "kid", |k| k.kid.clone())?;
        for (i, k) in self.signing_keys.iter().enumerate() {
            in_document(format!("signing_keys[{i}].environment_id"), &k.environment_id)?;
            if !k.public_jwk.is_object() {
                return invalid(format!("signing_keys[{i}].public_jwk"), "not a JSON object");
            }
        }
        for key in self.settings.keys() {
            if key.is_empty() {
                return invalid("settings", "a setting with an empty key");
            }
        }
        if let Some(mfa) = &self.mfa {
            let accounts: HashSet<&str> = self.accounts.iter().map(|a| a.id.as_str()).collect();
            mfa.validate(&environments, &accounts)?;
        }
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
                in_document(format!("identity_providers[{i}].environment_id"), &p.environment_id)?;
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

    /// Replaces every secret by what `f` makes of it, given the purpose it
    /// is bound to (its AAD when sealed): opening them for an archive,
    /// sealing them from one, or checking them. Stops at the first error,
    /// with the path of the secret.
    pub fn map_secrets<E>(
        &mut self,
        mut f: impl FnMut(&str, &Protected) -> Result<Protected, E>,
    ) -> Result<(), (String, E)> {
        for (i, a) in self.accounts.iter_mut().enumerate() {
            if let Some(p) = &a.totp {
                a.totp = Some(f(&totp_purpose(&a.id), p).map_err(|e| (format!("accounts[{i}].totp"), e))?);
            }
        }
        for (i, c) in self.certificates.iter_mut().enumerate() {
            if let Some(p) = &c.private_key {
                let path = format!("certificates[{i}].private_key");
                c.private_key = Some(f(&certificate_key_purpose(&c.id), p).map_err(|e| (path, e))?);
            }
        }
        for (i, k) in self.signing_keys.iter_mut().enumerate() {
            if let Some(p) = &k.private_key {
                let path = format!("signing_keys[{i}].private_key");
                k.private_key = Some(f(&signing_key_purpose(&k.kid), p).map_err(|e| (path, e))?);
            }
        }
        for (key, value) in self.settings.iter_mut() {
            map_setting_secrets(value, &format!("settings.{key}"), &mut f)?;
        }
        for (i, p) in self.identity_providers.iter_mut().flatten().enumerate() {
            let path = format!("identity_providers[{i}].client_secret");
            p.client_secret = f(&crate::federation::secret_purpose(&p.id), &p.client_secret).map_err(|e| (path, e))?;
        }
        if let Some(mfa) = &mut self.mfa {
            for (i, m) in mfa.methods.iter_mut().enumerate() {
                let path = format!("mfa.methods[{i}].secrets");
                m.secrets = f(&crate::mfa::secrets_purpose(&m.id), &m.secrets).map_err(|e| (path, e))?;
            }
            for (i, t) in mfa.totp_enrolments.iter_mut().enumerate() {
                let path = format!("mfa.totp_enrolments[{i}].secret");
                let purpose = crate::mfa::enrolment_purpose(&t.method_id, &t.account_id);
                t.secret = f(&purpose, &t.secret).map_err(|e| (path, e))?;
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
            let format =
                crate::mfa::UsernameFormat::parse(&m.username_format).or_else(|e| invalid(at("username_format"), e))?;
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

/// A secret inside a setting: `{"sealed"|"plain": base64, "purpose": …}`.
fn map_setting_secrets<E>(
    v: &mut serde_json::Value,
    path: &str,
    f: &mut impl FnMut(&str, &Protected) -> Result<Protected, E>,
) -> Result<(), (String, E)> {
    match v {
        serde_json::Value::Object(map) => {
            if let Some((purpose, protected)) = setting_secret(map) {
                let (field, blob) = match f(&purpose, &protected).map_err(|e| (path.to_owned(), e))? {
                    Protected::Sealed(b) => ("sealed", STANDARD.encode(b)),
                    Protected::Plain(p) => ("plain", STANDARD.encode(p.expose())),
                };
                map.clear();
                map.insert(field.into(), blob.into());
                map.insert("purpose".into(), purpose.into());
                return Ok(());
            }
            for (k, x) in map.iter_mut() {
                map_setting_secrets(x, &format!("{path}.{k}"), f)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter_mut().enumerate() {
                map_setting_secrets(x, &format!("{path}[{i}]"), f)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn setting_secret(map: &serde_json::Map<String, serde_json::Value>) -> Option<(String, Protected)> {
    if map.len() != 2 {
        return None;
    }
    let purpose = map.get("purpose")?.as_str()?.to_owned();
    if let Some(sealed) = map.get("sealed").and_then(|s| s.as_str()) {
        return Some((purpose, Protected::Sealed(STANDARD.decode(sealed).ok()?)));
    }
    let plain = map.get("plain")?.as_str()?;
    Some((purpose, Protected::Plain(Secret::new(STANDARD.decode(plain).ok()?))))
}

impl From<&Environment> for EnvironmentEntry {
    fn from(e: &Environment) -> EnvironmentEntry {
        EnvironmentEntry { id: e.id.clone(), name: e.name.clone(), created_at: e.created_at }
    }
}

impl From<&EnvironmentEntry> for Environment {
    fn from(e: &EnvironmentEntry) -> Environment {
        Environment { id: e.id.clone(), name: e.name.clone(), created_at: e.created_at }
    }
}

impl From<&Application> for ApplicationEntry {
    fn from(a: &Application) -> ApplicationEntry {
        ApplicationEntry {
            id: a.id.clone(),
            environment_id: a.environment_id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            secret_hash: a.secret_hash.clone(),
            redirect_uris: a.redirect_uris.clone(),
            grant_types: a.grant_types.clone(),
            scopes: a.scopes.clone(),
            roles: a.roles.clone(),
            admin_api: a.admin_api,
            created_at: a.created_at,
            pkce_required: a.pkce_required,
        }
    }
}

impl From<&ApplicationEntry> for Application {
    fn from(a: &ApplicationEntry) -> Application {
        Application {
            id: a.id.clone(),
            environment_id: a.environment_id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            secret_hash: a.secret_hash.clone(),
            redirect_uris: a.redirect_uris.clone(),
            grant_types: a.grant_types.clone(),
            scopes: a.scopes.clone(),
            roles: a.roles.clone(),
            admin_api: a.admin_api,
            pkce_required: a.pkce_required,
            created_at: a.created_at,
        }
    }
}

impl AccountEntry {
    pub fn from_account(a: &Account, attributes: Option<serde_json::Map<String, serde_json::Value>>) -> AccountEntry {
        AccountEntry {
            id: a.id.clone(),
            environment_id: a.environment_id.clone(),
            username: a.username.clone(),
            password_hash: a.password_hash.clone(),
            active: a.active,
            admin: a.admin,
            roles: a.roles.clone(),
            auditor: a.auditor,
            totp: a.totp_sealed.clone().map(Protected::Sealed),
            totp_confirmed: a.totp_confirmed,
            totp_last_step: a.totp_last_step,
            failed_attempts: a.failed_attempts,
            locked_until: a.locked_until,
            password_change_required: a.password_change_required,
            created_at: a.created_at,
            attributes,
        }
    }

    /// The account as stored; `None` when its TOTP secret is not sealed.
    pub fn to_account(&self) -> Option<Account> {
        let totp_sealed = match &self.totp {
            None => None,
            Some(p) => Some(p.sealed()?.to_vec()),
        };
        Some(Account {
            id: self.id.clone(),
            environment_id: self.environment_id.clone(),
            username: self.username.clone(),
            password_hash: self.password_hash.clone(),
            active: self.active,
            admin: self.admin,
            roles: self.roles.clone(),
            auditor: self.auditor,
            totp_sealed,
            totp_confirmed: self.totp_confirmed,
            totp_last_step: self.totp_last_step,
            failed_attempts: self.failed_attempts,
            password_change_required: self.password_change_required,
            locked_until: self.locked_until,
            created_at: self.created_at,
        })
    }
}

mod b64 {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(|_| serde::de::Error::custom("not base64"))
    }
}

mod b64_option {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => STANDARD.decode(text).map(Some).map_err(|_| serde::de::Error::custom("not base64")),
        }
    }
}

mod b64_secret {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Secret<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Secret::new(STANDARD.encode(v.expose()));
        s.serialize_str(text.expose())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret<Vec<u8>>, D::Error> {
        let text = Secret::new(String::deserialize(d)?);
        STANDARD.decode(text.expose()).map(Secret::new).map_err(|_| serde::de::Error::custom("not base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMINS: &str = "00000000-0000-4000-8000-000000000001";

    fn document() -> Configuration {
        let admin = AccountEntry {
            id: "a1".into(),
            environment_id: ADMINS.into(),
            username: "administrator".into(),
            password_hash: Some(crate::password::DUMMY_HASH.into()),
            active: true,
            admin: true,
            roles: Role::ALL.into_iter().collect(),
            auditor: false,
            totp: Some(Protected::Sealed(vec![1, 2, 3])),
            totp_confirmed: true,
            totp_last_step: 0,
            failed_attempts: 0,
            locked_until: 0,
            password_change_required: false,
            created_at: 1,
            attributes: None,
        };
        Configuration {
            format: FORMAT,
            environments: vec![EnvironmentEntry { id: ADMINS.into(), name: ADMINISTRATORS.into(), created_at: 1 }],
            applications: vec![],
            accounts: vec![admin],
            claim_mappings: vec![],
            certificates: vec![],
            signing_keys: vec![SigningKeyEntry {
                kid: "k1".into(),
                environment_id: ADMINS.into(),
                public_jwk: serde_json::json!({"kty": "EC"}),
                private_key: Some(Protected::Sealed(vec![4])),
                created_at: 1,
                retired_at: None,
            }],
            settings: BTreeMap::from([(
                "ldap".to_owned(),
                serde_json::json!({"bind": {"sealed": "AAE=", "purpose": "ldap.bind_password"}}),
            )]),
            mfa: Some(MfaSection {
                methods: vec![MfaMethodEntry {
                    id: METHOD.into(),
                    name: "app".into(),
                    username_format: "{{identity.entity.name}}".into(),
                    settings: crate::mfa::Settings::Totp(crate::mfa::Totp {
                        issuer: "Acme".into(),
                        period: 30,
                        key_size: 20,
                        qr_size: 200,
                        algorithm: crate::mfa::Algorithm::SHA1,
                        digits: 6,
                        skew: 1,
                        max_validation_attempts: 5,
                    }),
                    secrets: Protected::Sealed(vec![5]),
                    created_at: 1,
                }],
                enforcements: vec![crate::mfa::Enforcement {
                    name: "admins".into(),
                    id: "e1".into(),
                    mfa_method_ids: vec![METHOD.into()],
                    identity_entity_ids: vec!["a1".into()],
                    ..Default::default()
                }],
                totp_enrolments: vec![TotpEnrolmentEntry {
                    method_id: METHOD.into(),
                    account_id: "a1".into(),
                    params: crate::totp::Params {
                        algorithm: crate::mfa::Algorithm::SHA1,
                        digits: 6,
                        period: 30,
                        skew: 1,
                    },
                    secret: Protected::Sealed(vec![6]),
                    last_step: 3,
                    created_at: 1,
                }],
            }),
            identity_providers: Some(vec![IdentityProviderEntry {
                id: "idp1".into(),
                environment_id: ADMINS.into(),
                name: "Acme SSO".into(),
                issuer: "https://sso.acme.test".into(),
                client_id: "signet".into(),
                client_secret: Protected::Sealed(vec![7]),
                scopes: vec!["openid".into()],
                jit: false,
                mfa: Default::default(),
                created_at: 1,
            }]),
            federated_links: Some(vec![FederatedLinkEntry {
                issuer: "https://sso.acme.test".into(),
                subject: "s1".into(),
                account_id: "a1".into(),
                provider_id: "idp1".into(),
                created_at: 1,
            }]),
        }
    }

    const METHOD: &str = "00000000-0000-4000-8000-00000000000a";

    fn refused(doc: &Configuration) -> Invalid {
        doc.validate(&ClaimEngine::new()).unwrap_err()
    }

    #[test]
    fn a_valid_document_passes_and_round_trips_through_json() {
        let doc = document();
        doc.validate(&ClaimEngine::new()).unwrap();
        doc.check_signing_keys().unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains(r#""totp":{"sealed":"AQID"}"#), "{text}");
        assert_eq!(serde_json::from_str::<Configuration>(&text).unwrap(), doc);
    }

    #[test]
    fn unknown_fields_and_missing_sections_are_refused() {
        let mut v = serde_json::to_value(document()).unwrap();
        v["accounts"][0]["is_root"] = true.into();
        assert!(serde_json::from_value::<Configuration>(v).unwrap_err().to_string().contains("is_root"));
        let mut v = serde_json::to_value(document()).unwrap();
        v.as_object_mut().unwrap().remove("accounts");
        assert!(serde_json::from_value::<Configuration>(v).is_err());
    }

    #[test]
    fn an_application_cannot_take_a_persons_id() {
        let mut doc = document();
        doc.applications.push(ApplicationEntry {
            id: "a1".into(),
            environment_id: ADMINS.into(),
            name: "deployer".into(),
            kind: AppKind::Worker,
            secret_hash: Some(vec![0; 32]),
            redirect_uris: vec![],
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            scopes: BTreeSet::new(),
            roles: [Role::Admin].into_iter().collect(),
            admin_api: false,
            created_at: 1,
            pkce_required: true,
        });
        assert_eq!(refused(&doc).path, "applications[0].id");
        doc.applications[0].id = "w1".into();
        doc.validate(&ClaimEngine::new()).unwrap();
    }

    #[test]
    fn broken_references_and_rules_name_the_field() {
        let mut doc = document();
        doc.format = 2;
        assert_eq!(refused(&doc).path, "format");

        let mut doc = document();
        doc.accounts[0].environment_id = "elsewhere".into();
        assert_eq!(refused(&doc).path, "accounts[0].environment_id");

        let mut doc = document();
        doc.accounts.push(AccountEntry { id: "a2".into(), ..doc.accounts[0].clone() });
        assert_eq!(refused(&doc).path, "accounts[1].username");

        let mut doc = document();
        doc.environments[0].name = "Admins".into();
        assert!(refused(&doc).message.contains("Administrators"));

        let mut doc = document();
        doc.accounts[0].roles = [Role::UserAdmin].into_iter().collect();
        assert_eq!(refused(&doc).path, "accounts[0].roles");

        let mut doc = document();
        doc.accounts[0].active = false;
        assert!(refused(&doc).message.contains("UserAdmin"));

        let mut doc = document();
        doc.environments[0].id = "not-a-uuid".into();
        assert_eq!(refused(&doc).path, "environments[0].id");

        let mut doc = document();
        doc.claim_mappings.push(ClaimMappingEntry {
            id: "m".into(),
            environment_id: ADMINS.into(),
            claim: "sub".into(),
            expression: "1".into(),
            created_at: 1,
        });
        assert_eq!(refused(&doc).path, "claim_mappings[0]");

        let mut doc = document();
        doc.mfa.as_mut().unwrap().enforcements[0].mfa_method_ids = vec!["gone".into()];
        assert_eq!(refused(&doc).path, "mfa.enforcements[0].mfa_method_ids");

        let mut doc = document();
        let enforcement = &mut doc.mfa.as_mut().unwrap().enforcements[0];
        enforcement.mfa_method_ids.push(enforcement.mfa_method_ids[0].clone());
        assert_eq!(refused(&doc).path, "mfa.enforcements[0].mfa_method_ids", "a method named twice");

        let mut doc = document();
        doc.mfa.as_mut().unwrap().enforcements[0].identity_entity_ids = vec!["nobody".into()];
        assert_eq!(refused(&doc).path, "mfa.enforcements[0].identity_entity_ids");

        let mut doc = document();
        doc.mfa.as_mut().unwrap().totp_enrolments[0].account_id = "nobody".into();
        assert_eq!(refused(&doc).path, "mfa.totp_enrolments[0].account_id");

        let mut doc = document();
        doc.mfa.as_mut().unwrap().methods[0].username_format = "{{identity.entity.email}}".into();
        assert_eq!(refused(&doc).path, "mfa.methods[0].username_format");

        let mut doc = document();
        doc.mfa.as_mut().unwrap().methods[0].id = METHOD.to_uppercase();
        assert_eq!(refused(&doc).path, "mfa.methods[0].id");

        let mut doc = document();
        doc.federated_links.as_mut().unwrap()[0].account_id = "nobody".into();
        assert_eq!(refused(&doc).path, "federated_links[0].account_id");

        let mut doc = document();
        doc.identity_providers.as_mut().unwrap()[0].environment_id = "elsewhere".into();
        assert_eq!(refused(&doc).path, "identity_providers[0].environment_id");

        let mut doc = document();
        doc.identity_providers.as_mut().unwrap()[0].scopes = vec!["profile".into()];
        assert_eq!(refused(&doc).path, "identity_providers[0]");

        // A document from before MFA existed still imports.
        let mut v = serde_json::to_value(document()).unwrap();
        v.as_object_mut().unwrap().remove("mfa");
        let old: Configuration = serde_json::from_value(v).unwrap();
        assert_eq!(old.mfa, None);
        old.validate(&ClaimEngine::new()).unwrap();

        let mut doc = document();
        doc.signing_keys[0].retired_at = Some(5);
        doc.validate(&ClaimEngine::new()).unwrap();
        assert!(doc.check_signing_keys().unwrap_err().message.contains("0 active"));
    }

    #[test]
    fn every_secret_is_mapped_with_its_purpose_and_path() {
        let mut doc = document();
        let mut seen = Vec::new();
        doc.map_secrets(|purpose, p| {
            seen.push(purpose.to_owned());
            let plain = p.sealed().unwrap().to_vec();
            Ok::<_, ()>(Protected::Plain(Secret::new(plain)))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "totp:a1".to_owned(),
                "signing-key:k1".into(),
                "ldap.bind_password".into(),
                crate::federation::secret_purpose("idp1"),
                crate::mfa::secrets_purpose(METHOD),
                crate::mfa::enrolment_purpose(METHOD, "a1"),
            ]
        );
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains(r#"{"plain":"AAE=","purpose":"ldap.bind_password"}"#), "{text}");
        assert!(format!("{doc:?}").contains("[redacted]"));
        let back: Configuration = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        let err = doc.map_secrets(|purpose, _| if purpose.starts_with("signing") { Err("no") } else { Ok(p0()) });
        assert_eq!(err, Err(("signing_keys[0].private_key".to_owned(), "no")));
    }

    fn p0() -> Protected {
        Protected::Sealed(vec![0])
    }
}
