//! Admin role names as they appear on the wire (seed 003).

use serde::{Deserialize, Serialize};

/// An administrative role. Auditor is an account type, not a role (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    UserAdmin,
    Admin,
    ExpressionAdmin,
    CryptoAdmin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::UserAdmin, Role::Admin, Role::ExpressionAdmin, Role::CryptoAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::UserAdmin => "UserAdmin",
            Role::Admin => "Admin",
            Role::ExpressionAdmin => "ExpressionAdmin",
            Role::CryptoAdmin => "CryptoAdmin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}
