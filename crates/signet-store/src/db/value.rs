//! What a statement binds and what a row returns, the same on both backends.

use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use signet_core::id::{AccountId, ClientId, EnvironmentId, MethodId};

use crate::{Result, StoreError};

/// The column types the schema uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int,
    Text,
    Blob,
}

/// A bound parameter or a column value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// PostgreSQL types its parameters, so a NULL carries the type it stands for.
    Null(Kind),
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// What `Query::bind` accepts.
pub(crate) trait Bind {
    const KIND: Kind;
    fn value(self) -> Value;
}

impl Bind for i64 {
    const KIND: Kind = Kind::Int;
    fn value(self) -> Value {
        Value::Int(self)
    }
}

impl Bind for bool {
    const KIND: Kind = Kind::Int;
    fn value(self) -> Value {
        Value::Int(i64::from(self))
    }
}

impl Bind for String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self)
    }
}

impl Bind for &str {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Bind for &String {
    const KIND: Kind = Kind::Text;
    fn value(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Bind for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self)
    }
}

impl Bind for &[u8] {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Bind for &Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn value(self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: Bind> Bind for Option<T> {
    const KIND: Kind = T::KIND;
    fn value(self) -> Value {
        match self {
            Some(v) => v.value(),
            None => Value::Null(T::KIND),
        }
    }
}

/// What `Row::try_get` returns.
pub(crate) trait Decode: Sized {
    const WANT: &'static str;
    fn decode(v: &Value) -> Option<Self>;
}

impl Decode for i64 {
    const WANT: &'static str = "an integer";
    fn decode(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl Decode for bool {
    const WANT: &'static str = "a flag";
    fn decode(v: &Value) -> Option<bool> {
        i64::decode(v).map(|i| i != 0)
    }
}

impl Decode for String {
    const WANT: &'static str = "text";
    fn decode(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Decode for Vec<u8> {
    const WANT: &'static str = "a blob";
    fn decode(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    const WANT: &'static str = T::WANT;
    fn decode(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null(_) => Some(None),
            v => T::decode(v).map(Some),
        }
    }
}

/// A typed id binds and reads as the text it is.
macro_rules! text_id {
    ($($id:ty),*) => {$(
        impl Bind for $id {
            const KIND: Kind = Kind::Text;
            fn value(self) -> Value {
                Value::Text(self.into_string())
            }
        }

        impl Bind for &$id {
            const KIND: Kind = Kind::Text;
            fn value(self) -> Value {
                Value::Text(self.as_str().to_owned())
            }
        }

        impl Decode for $id {
            const WANT: &'static str = "text";
            fn decode(v: &Value) -> Option<$id> {
                String::decode(v).map(<$id>::from)
            }
        }
    )*};
}

text_id!(AccountId, ClientId, EnvironmentId, MethodId);

/// One result row, its values looked up by column name.
#[derive(Debug)]
pub(crate) struct Row {
    pub(super) names: Arc<[String]>,
    pub(super) values: Vec<Value>,
}

impl Row {
    pub(crate) fn try_get<T: Decode>(&self, name: &str) -> Result<T> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| StoreError::Misuse(format!("no column {name} in the result")))?;
        T::decode(&self.values[i]).ok_or_else(|| StoreError::Corrupt(format!("column {name} is not {}", T::WANT)))
    }
}

/// How many rows a statement changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done(pub(super) u64);

impl Done {
    pub(crate) fn rows_affected(self) -> u64 {
        self.0
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null(_) => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}
