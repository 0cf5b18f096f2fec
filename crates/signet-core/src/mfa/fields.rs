//! Body fields read the way Vault's field schema reads them: numbers and
//! booleans may also come as strings.

use serde_json::{Map, Value};

use crate::pingid;

/// A field of the wrong type: `{key}: expected {what}`, in Vault's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: expected {expected}")]
pub struct FieldError {
    pub key: String,
    /// What the field should have been: "a string", "an integer", ….
    pub expected: &'static str,
}

impl FieldError {
    fn new(key: &str, expected: &'static str) -> FieldError {
        FieldError { key: key.to_owned(), expected }
    }
}

/// The message, as an edge answers it.
impl From<FieldError> for String {
    fn from(e: FieldError) -> String {
        e.to_string()
    }
}

/// Reads fields the way Vault's field schema does: numbers and booleans
/// may also come as strings.
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    pub fn string(&self, key: &str) -> Result<Option<String>, FieldError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(FieldError::new(key, "a string")),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, FieldError> {
        let bad = || FieldError::new(key, "an integer");
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, FieldError> {
        let bad = || FieldError::new(key, "a boolean");
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => pingid::go_bool(s).map(Some).ok_or_else(bad),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// A list of strings: a JSON array, or one comma-separated string, as Vault takes `TypeCommaStringSlice`.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, FieldError> {
        let bad = || FieldError::new(key, "a list of strings");
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                Ok(Some(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(|s| s.trim().to_owned()).ok_or_else(bad))
                .filter(|s| s.as_ref().map_or(true, |s| !s.is_empty()))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad()),
        }
    }
}
