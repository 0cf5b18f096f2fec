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
//!
//! This module holds the document's types; `validate` its rules, `secrets`
//! the sealed or plain secrets inside it, `convert` the mapping to and from
//! the model's types.

mod b64;
mod convert;
mod secrets;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use signet_proto::roles::Role;

use crate::clock::UnixTime;
use crate::id::{ClientId, EnvironmentId};
use crate::model::{AppKind, GrantType};

pub use secrets::Protected;
pub use validate::Invalid;

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
    pub id: EnvironmentId,
    pub name: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationEntry {
    pub id: ClientId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub kind: AppKind,
    /// Base64 of the client secret's SHA-256; null for a public application.
    #[serde(with = "b64::option")]
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

#[cfg(test)]
mod tests;
