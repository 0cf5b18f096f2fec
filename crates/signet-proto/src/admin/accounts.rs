//! `/accounts[/{username}]`: the admin accounts of the Administrators environment.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::roles::Role;

/// An admin account as the API shows it: never its password or secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub username: String,
    pub active: bool,
    // Names, not `Role`s: a reader older than the server still reads an
    // account with a role it does not know.
    /// UserAdmin, Admin, ExpressionAdmin, CryptoAdmin.
    pub roles: Vec<String>,
    pub auditor: bool,
    pub mfa_enrolled: bool,
    pub locked: bool,
    pub password_change_required: bool,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountPage {
    pub items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

// No Debug: it holds a secret.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccount<'a> {
    pub username: Cow<'a, str>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub password: Cow<'a, str>,
    #[serde(default = "super::yes")]
    pub active: bool,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: BTreeSet<Role>,
    #[serde(default)]
    pub auditor: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// Optional; if given it must be the account's own (usernames do not change).
    pub username: Option<String>,
    pub active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: BTreeSet<Role>,
    pub auditor: bool,
}

// No Debug: it holds a secret.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange<'a> {
    /// Required to change one's own password, so that a stolen token or
    /// session cannot turn itself into the account's password.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub current_password: Option<Cow<'a, str>>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub password: Cow<'a, str>,
    /// For a reset by a UserAdmin: whether the person must replace it at the
    /// next sign-on (default yes). One's own new password never must.
    pub must_change: Option<bool>,
}

/// What an unlock found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unlocked {
    /// Whether the account was locked (its failure counts are cleared either way).
    pub was_locked: bool,
}
