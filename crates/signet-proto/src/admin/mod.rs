//! The admin API's bodies (`/admin-api/v1`, seed 003): what signetd sends
//! and takes, and what `signet` and the tests read, so that a field renamed
//! on one side breaks the other at compile time. With the `openapi` feature
//! they also describe themselves for signetd's OpenAPI document.
//!
//! Bodies that carry a secret (a password, a private key) have no `Debug`
//! and borrow it where they can, so it is not copied into a value that
//! outlives the request.

pub mod accounts;
pub mod applications;
pub mod audit;
pub mod bulk;
pub mod certificates;
pub mod config_archive;
pub mod environments;
pub mod identity_providers;
pub mod keys;

use serde::{Deserialize, Serialize};

/// Every error the admin API answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable code: invalid_request, unauthorized, forbidden, not_found, conflict, precondition_failed, …
    pub error: String,
    /// What went wrong, for a person: the field, the missing role, …
    pub message: String,
}

pub(crate) fn yes() -> bool {
    true
}
