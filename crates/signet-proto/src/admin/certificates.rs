//! `/certificates[/{id}]`: certificates CryptoAdmins import, export and
//! delete, among them the CA certificates trusted for the mutual-TLS scheme.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateView {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
    pub trusted_for_mtls: bool,
    /// Whether a private key was imported with it (it is never shown).
    pub has_private_key: bool,
    /// The certificate itself, on a single read (export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificatePage {
    pub items: Vec<CertificateView>,
    pub next_cursor: Option<String>,
}

// No Debug: it may hold a private key.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCertificate<'a> {
    pub name: String,
    /// One PEM certificate.
    pub pem: String,
    /// Trust it as a CA for the mutual-TLS scheme; it must be a CA certificate.
    #[serde(default)]
    pub trusted_for_mtls: bool,
    /// Its PKCS#8 (or SEC1, PKCS#1) PEM private key, when it has one; write-only.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub private_key_pem: Option<Cow<'a, str>>,
}
