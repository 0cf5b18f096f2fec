//! `/configArchive`: the whole configuration, private keys included, in an
//! archive encrypted under a passphrase the caller chooses.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

// No Debug: it holds a secret.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportRequest<'a> {
    /// What the archive's key is derived from (argon2id): 12 to 1024
    /// characters. Keep it: without it the archive cannot be opened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, min_length = 12, max_length = 1024))]
    pub passphrase: Cow<'a, str>,
}
