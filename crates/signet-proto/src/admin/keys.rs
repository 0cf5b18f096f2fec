//! `/environments/{env}/keys`: an environment's signing keys, public parts only.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyView {
    pub kid: String,
    /// The public JWK, as /jwks publishes it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub public_jwk: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
    /// When it stopped signing (or will, for the active key when the next
    /// one is already published); null for the active key otherwise.
    pub retired_at: Option<i64>,
    /// When it starts signing, for a key published ahead of its use by a
    /// scheduled rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activates_at: Option<i64>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub items: Vec<KeyView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}
