//! `/environments/{env}/applications[/{id}]`: an environment's OAuth clients.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::roles::Role;

/// What an application is. One enum for the API, the configuration
/// document and the domain (`signet_core::model` re-exports it): the names
/// are the same everywhere they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Public, PKCE S256 required, loopback redirect on any port, device code allowed.
    Native,
    /// Confidential, client credentials.
    Worker,
    /// Confidential, authorization code.
    Web,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Native => "native",
            AppKind::Worker => "worker",
            AppKind::Web => "web",
        }
    }
    pub fn parse(s: &str) -> Option<AppKind> {
        [AppKind::Native, AppKind::Worker, AppKind::Web].into_iter().find(|k| k.as_str() == s)
    }
    /// A public client (RFC 6749 §2.1): it holds no secret.
    pub fn is_public(self) -> bool {
        self == AppKind::Native
    }
}

/// A grant an application may use, as OAuth names it. One enum for the API,
/// the configuration document and the domain (`signet_core::model`
/// re-exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantType {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693: a key-bound session minted without a browser (issue 6).
    /// Never configured, so an application that names it is refused: an
    /// application that can sign a person on, or a worker, may exchange
    /// what it holds.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
    pub fn parse(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
    /// The short label used in metrics.
    pub fn label(self) -> &'static str {
        match self {
            GrantType::DeviceCode => "device_code",
            GrantType::TokenExchange => "token_exchange",
            other => other.as_str(),
        }
    }
}

/// An application as the API shows it: never its secret or the secret's hash.
// No Debug: it holds a secret.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    /// native (public, PKCE), worker (client credentials) or web (confidential, code).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: AppKind,
    pub redirect_uris: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: BTreeSet<String>,
    // Names, not `Role`s: a reader older than the server still reads an
    // application with a role it does not know.
    pub roles: Vec<String>,
    pub has_secret: bool,
    /// Whether authorization requests must carry a PKCE challenge.
    pub pkce_required: bool,
    pub created_at: i64,
    /// Only in the answer that made it: store it now, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

// No Debug: its items may hold a secret.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationPage {
    pub items: Vec<ApplicationView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: AppKind,
    /// Exact URIs. A native application's are loopback IP literals
    /// (`http://127.0.0.1/…`, `http://[::1]/…`, any port) or a private-use
    /// scheme such as `com.example.app:/callback`; a web application's are
    /// https (http only on a loopback IP literal); a worker has none.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub grant_types: BTreeSet<GrantType>,
    #[serde(default)]
    pub scopes: BTreeSet<String>,
    /// Admin roles of a worker (UserAdmin only).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: BTreeSet<Role>,
    /// PKCE on every authorization request (RFC 9700 §2.1.1); true unless
    /// a confidential application opts out explicitly. A native one cannot.
    #[serde(default = "super::yes")]
    pub pkce_required: bool,
}
