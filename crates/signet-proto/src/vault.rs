//! The Vault-compatible login MFA API's bodies (`/v1/identity/mfa/…`), as
//! the CLI reads them: Vault's envelope, its refusals, its `LIST` answer,
//! and the views of a method and of a login enforcement.
//!
//! A method's settings differ by type, so they stay a map beside the three
//! fields every method has. Readers ignore fields they do not know, as they
//! must with a real Vault.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every answer: `data`, and the `warnings` Vault adds beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub data: Option<T>,
    /// `null` when there are none, as Vault sends it.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// A refusal: `{"errors": ["…"]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Errors {
    pub errors: Vec<String>,
}

/// A `LIST`'s `data`: the keys in order, and what each names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyList<T> {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub key_info: BTreeMap<String, T>,
}

impl<T> KeyList<T> {
    /// The items in the order of `keys`; a key without info is skipped.
    pub fn into_items(mut self) -> Vec<T> {
        self.keys.iter().filter_map(|k| self.key_info.remove(k)).collect()
    }
}

/// What a method's creation answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedMethod {
    pub method_id: String,
}

/// An MFA method: its id, type and name, then its type's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub settings: BTreeMap<String, Value>,
}

/// A login enforcement: which methods a sign-on must pass, and the sign-ons
/// it applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnforcementView {
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub mfa_method_ids: Vec<String>,
    #[serde(default)]
    pub auth_method_types: Vec<String>,
    #[serde(default)]
    pub auth_method_accessors: Vec<String>,
    #[serde(default)]
    pub identity_group_ids: Vec<String>,
    #[serde(default)]
    pub identity_entity_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_envelope_reads_vaults_null_warnings() {
        let e: Envelope<Value> =
            serde_json::from_value(json!({"data": {"a": 1}, "warnings": null, "auth": null})).unwrap();
        assert_eq!((e.data, e.warnings), (Some(json!({"a": 1})), None));
        let e: Envelope<Value> = serde_json::from_value(json!({"data": null, "warnings": ["w"]})).unwrap();
        assert_eq!((e.data, e.warnings), (None, Some(vec!["w".to_owned()])));
    }

    #[test]
    fn a_list_keeps_the_order_of_its_keys() {
        let list: KeyList<Value> =
            serde_json::from_value(json!({"keys": ["b", "a", "gone"], "key_info": {"a": 1, "b": 2}})).unwrap();
        assert_eq!(list.into_items(), [json!(2), json!(1)]);
    }

    #[test]
    fn a_method_keeps_its_type_settings_beside_its_identity() {
        let m: MethodView =
            serde_json::from_value(json!({"id": "m1", "type": "totp", "name": "", "issuer": "signet", "period": 30}))
                .unwrap();
        assert_eq!((m.id.as_str(), m.kind.as_str()), ("m1", "totp"));
        assert_eq!(m.settings.keys().collect::<Vec<_>>(), ["issuer", "period"]);
    }
}
