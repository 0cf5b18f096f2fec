//! Login enforcements: which sign-ons must pass one of a set of MFA
//! methods. An enforcement matches a sign-on when any of its targets does:
//!
//! - `auth_method_types`: the sign-on kind (`password`, `federated`, `ldap`, `radius`);
//! - `auth_method_accessors`: the environment signed on to;
//! - `identity_entity_ids`: the account;
//! - `identity_group_ids`: a group the account is in. signetd's groups are
//!   the admin roles (`UserAdmin`, `Admin`, `ExpressionAdmin`,
//!   `CryptoAdmin`) and `Auditor`, so an enforcement can ask more of the
//!   people who hold a given power.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{FieldError, Fields, NAMESPACE_ID, NAMESPACE_PATH};

/// How a person signed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignOnKind {
    Password,
    Federated,
    Ldap,
    Radius,
}

impl SignOnKind {
    pub const ALL: [SignOnKind; 4] =
        [SignOnKind::Password, SignOnKind::Federated, SignOnKind::Ldap, SignOnKind::Radius];

    pub fn as_str(self) -> &'static str {
        match self {
            SignOnKind::Password => "password",
            SignOnKind::Federated => "federated",
            SignOnKind::Ldap => "ldap",
            SignOnKind::Radius => "radius",
        }
    }

    pub fn parse(s: &str) -> Option<SignOnKind> {
        SignOnKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Vault's message for an enforcement without targets.
pub const NO_TARGET: &str =
    "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified";

/// The groups there are: the role names, and Auditor.
pub const GROUPS: [&str; 5] = ["UserAdmin", "Admin", "ExpressionAdmin", "CryptoAdmin", "Auditor"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforcement {
    pub name: String,
    pub id: String,
    pub mfa_method_ids: Vec<String>,
    pub auth_method_accessors: Vec<String>,
    pub auth_method_types: Vec<String>,
    pub identity_group_ids: Vec<String>,
    pub identity_entity_ids: Vec<String>,
}

/// A sign-on, as enforcement sees it.
pub struct SignOn<'a> {
    pub account_id: &'a str,
    pub environment_id: &'a str,
    pub kind: SignOnKind,
    pub groups: &'a [String],
}

impl Enforcement {
    /// Whether any target is set: an enforcement without one would match nothing.
    pub fn has_target(&self) -> bool {
        !(self.auth_method_accessors.is_empty()
            && self.auth_method_types.is_empty()
            && self.identity_group_ids.is_empty()
            && self.identity_entity_ids.is_empty())
    }

    /// Whether it can apply to an administrator's sign-on: a group (they
    /// are all admin roles or Auditor), a sign-on kind (every kind happens in
    /// the Administrators environment, or is a directory sign-on to the admin
    /// API), the Administrators environment, or an admin account. Such an
    /// enforcement protects administrators, so only UserAdmin changes it.
    pub fn reaches_administrators(&self, administrators: &str, admin_accounts: &dyn Fn(&str) -> bool) -> bool {
        !self.identity_group_ids.is_empty()
            || !self.auth_method_types.is_empty()
            || self.auth_method_accessors.iter().any(|a| a == administrators)
            || self.identity_entity_ids.iter().any(|e| admin_accounts(e))
    }

    pub fn matches(&self, s: &SignOn<'_>) -> bool {
        self.identity_entity_ids.iter().any(|e| e == s.account_id)
            || self.identity_group_ids.iter().any(|g| s.groups.contains(g))
            || self.auth_method_accessors.iter().any(|a| a == s.environment_id)
            || self.auth_method_types.iter().any(|t| t == s.kind.as_str())
    }

    pub fn to_vault(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id,
            "namespace_id": NAMESPACE_ID,
            "namespace_path": NAMESPACE_PATH,
            "mfa_method_ids": self.mfa_method_ids,
            "auth_method_accessors": self.auth_method_accessors,
            "auth_method_types": self.auth_method_types,
            "identity_group_ids": self.identity_group_ids,
            "identity_entity_ids": self.identity_entity_ids,
        })
    }
}

/// A write's body, read. What the ids name is checked against the store by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnforcementInput {
    pub mfa_method_ids: Vec<String>,
    pub auth_method_accessors: Option<Vec<String>>,
    pub auth_method_types: Option<Vec<String>>,
    pub identity_group_ids: Option<Vec<String>>,
    pub identity_entity_ids: Option<Vec<String>>,
}

const MAX_IDS: usize = 256;

/// Why an enforcement's body is refused; its message is what Vault answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("each list takes at most {} ids of at most 256 characters", MAX_IDS)]
    TooManyIds,
    /// A value Vault's rules refuse.
    #[error("{0}")]
    Refused(&'static str),
}

/// The message, as an edge answers it.
impl From<InputError> for String {
    fn from(e: InputError) -> String {
        e.to_string()
    }
}

impl EnforcementInput {
    /// Reads a body with Vault's rules and messages.
    pub fn parse(body: &Map<String, Value>) -> Result<EnforcementInput, InputError> {
        let f = Fields(body);
        let Some(mfa_method_ids) = f.strings("mfa_method_ids")?.filter(|ids| !ids.is_empty()) else {
            return Err(InputError::Refused("missing method ids"));
        };
        let input = EnforcementInput {
            mfa_method_ids,
            auth_method_accessors: f.strings("auth_method_accessors")?,
            auth_method_types: f.strings("auth_method_types")?,
            identity_group_ids: f.strings("identity_group_ids")?,
            identity_entity_ids: f.strings("identity_entity_ids")?,
        };
        let lists = [
            &Some(input.mfa_method_ids.clone()),
            &input.auth_method_accessors,
            &input.auth_method_types,
            &input.identity_group_ids,
            &input.identity_entity_ids,
        ];
        if lists.iter().any(|l| l.as_ref().is_some_and(|l| l.len() > MAX_IDS || l.iter().any(|s| s.len() > 256))) {
            return Err(InputError::TooManyIds);
        }
        if input.auth_method_accessors.is_none()
            && input.auth_method_types.is_none()
            && input.identity_group_ids.is_none()
            && input.identity_entity_ids.is_none()
        {
            return Err(InputError::Refused(NO_TARGET));
        }
        if input.auth_method_types.iter().flatten().any(|t| SignOnKind::parse(t).is_none()) {
            return Err(InputError::Refused("one of the auth method types provided is invalid"));
        }
        if input.identity_group_ids.iter().flatten().any(|g| !GROUPS.contains(&g.as_str())) {
            return Err(InputError::Refused("one of the provided group ids doesn't exist"));
        }
        Ok(input)
    }

    /// The enforcement this write makes of `old` (if any): the lists it
    /// gives replace the old ones, and those it leaves out stay, as in Vault.
    pub fn apply(self, name: &str, id: String, old: Option<&Enforcement>) -> Enforcement {
        let keep = |new: Option<Vec<String>>, old: Option<&Vec<String>>| {
            let mut v = new.or_else(|| old.cloned()).unwrap_or_default();
            let mut seen = std::collections::HashSet::new();
            v.retain(|s| seen.insert(s.clone()));
            v
        };
        Enforcement {
            name: name.to_owned(),
            id: old.map_or(id, |o| o.id.clone()),
            mfa_method_ids: keep(Some(self.mfa_method_ids), None),
            auth_method_accessors: keep(self.auth_method_accessors, old.map(|o| &o.auth_method_accessors)),
            auth_method_types: keep(self.auth_method_types, old.map(|o| &o.auth_method_types)),
            identity_group_ids: keep(self.identity_group_ids, old.map(|o| &o.identity_group_ids)),
            identity_entity_ids: keep(self.identity_entity_ids, old.map(|o| &o.identity_entity_ids)),
        }
    }
}

/// Whether `name` can be an enforcement's name (a path segment).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<EnforcementInput, String> {
        EnforcementInput::parse(v.as_object().unwrap_or(&Map::new())).map_err(String::from)
    }

    #[test]
    fn vaults_rules_for_a_body() {
        assert_eq!(parse(json!({"auth_method_types": ["password"]})).err().as_deref(), Some("missing method ids"));
        assert_eq!(
            parse(json!({"mfa_method_ids": ["m"]})).err().as_deref(),
            Some(
                "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified"
            )
        );
        assert_eq!(
            parse(json!({"mfa_method_ids": ["m"], "auth_method_types": ["userpass"]})).err().as_deref(),
            Some("one of the auth method types provided is invalid")
        );
        assert_eq!(
            parse(json!({"mfa_method_ids": ["m"], "identity_group_ids": ["devs"]})).err().as_deref(),
            Some("one of the provided group ids doesn't exist")
        );
        // A comma-separated string is a list, as Vault reads it.
        let i = parse(json!({"mfa_method_ids": "a, b", "auth_method_types": "ldap"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.mfa_method_ids, vec!["a", "b"]);
    }

    #[test]
    fn any_target_matches_and_omitted_lists_stay_on_update() {
        let first = parse(json!({"mfa_method_ids": ["m"], "identity_entity_ids": ["acc"]}))
            .unwrap_or_else(|e| panic!("{e}"))
            .apply("e", "id-1".into(), None);
        let groups = vec!["CryptoAdmin".to_string()];
        let s = SignOn { account_id: "acc", environment_id: "env", kind: SignOnKind::Ldap, groups: &[] };
        assert!(first.matches(&s));
        assert!(!first.matches(&SignOn { account_id: "other", ..s }));
        let second = parse(json!({"mfa_method_ids": ["m", "m"], "identity_group_ids": ["CryptoAdmin"]}))
            .unwrap_or_else(|e| panic!("{e}"))
            .apply("e", "id-2".into(), Some(&first));
        assert_eq!((second.id.as_str(), second.mfa_method_ids.len()), ("id-1", 1));
        assert_eq!(second.identity_entity_ids, vec!["acc"]);
        let admin = SignOn { account_id: "x", environment_id: "env", kind: SignOnKind::Password, groups: &groups };
        assert!(second.matches(&admin));
        let by_env = Enforcement { auth_method_accessors: vec!["env".into()], ..Default::default() };
        assert!(by_env.matches(&admin));
        let by_kind = Enforcement { auth_method_types: vec!["radius".into()], ..Default::default() };
        assert!(!by_kind.matches(&admin));
    }

    #[test]
    fn what_reaches_administrators() {
        let admins = |id: &str| id == "root";
        let e = |f: fn(&mut Enforcement)| {
            let mut e = Enforcement::default();
            f(&mut e);
            e.reaches_administrators("admins-env", &admins)
        };
        assert!(e(|e| e.identity_group_ids = vec!["Auditor".into()]));
        assert!(e(|e| e.auth_method_types = vec!["password".into()]));
        assert!(e(|e| e.auth_method_accessors = vec!["admins-env".into()]));
        assert!(e(|e| e.identity_entity_ids = vec!["end-user".into(), "root".into()]));
        assert!(!e(|e| e.auth_method_accessors = vec!["customers".into()]));
        assert!(!e(|e| e.identity_entity_ids = vec!["end-user".into()]));
    }
}
