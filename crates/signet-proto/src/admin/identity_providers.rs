//! `/environments/{env}/identity-providers[/{id}]` and their links: the
//! external OpenID providers people of an environment may sign on through.

use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Just-in-time creation of end-user accounts.
    pub jit: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub mfa: ProviderMfa,
    /// Where the provider sends people back: register it with the provider
    /// as this client's redirect URI.
    pub redirect_uri: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderPage {
    pub items: Vec<ProviderView>,
    pub next_cursor: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

/// A provider as an administrator writes it.
// No Debug derive: it holds a secret.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProviderBody {
    /// Shown on the sign-on pages: "Continue with ⟨name⟩".
    pub name: String,
    /// Its discovery document must be at `{issuer}/.well-known/openid-configuration` and name this issuer.
    pub issuer: String,
    pub client_id: String,
    /// Write-only. Required when creating; when updating, left out keeps the stored one.
    pub client_secret: Option<String>,
    /// Default `openid profile email`; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Create end-user accounts on first sign-on (off by default). Never admin accounts, never by email.
    #[serde(default)]
    pub jit: bool,
    /// `{"trusted", "trusted_for_admins", "values": ["mfa", "otp", "hwk"]}`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub mfa: ProviderMfa,
}

impl std::fmt::Debug for ProviderBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderBody").field("name", &self.name).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkView {
    /// The provider's issuer when the link was made: links are keyed by issuer and subject.
    pub issuer: String,
    pub subject: String,
    pub account_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkPage {
    pub items: Vec<LinkView>,
    pub next_cursor: Option<String>,
}

/// Links an account of the provider's environment to a person at its issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub account_id: String,
    /// The upstream `sub`.
    pub subject: String,
}
