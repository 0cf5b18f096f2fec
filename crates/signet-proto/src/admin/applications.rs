//! `/environments/{env}/applications[/{id}]`: an environment's OAuth clients.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::roles::Role;

/// What an application is, as the API names it.
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
}

/// A grant an application may use, as OAuth names it.
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
    /// RFC 8693; never configured, so an application that names it is refused.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
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
