//! `/bulk` and `/configArchive`: what importing a whole configuration did.
//! The document itself is `signet_core::configuration`'s.

use serde::{Deserialize, Serialize};

/// What an import wrote, and the runtime state it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Imported {
    pub environments: usize,
    pub applications: usize,
    pub accounts: usize,
    pub claim_mappings: usize,
    pub certificates: usize,
    /// Keys installed (an archive) or made for environments new to this server (`/bulk`).
    pub signing_keys: usize,
    pub settings: usize,
    /// Grant families revoked: their refresh and access tokens stopped working.
    pub grants_revoked: u64,
    /// Browser sessions ended.
    pub sessions_ended: u64,
}
