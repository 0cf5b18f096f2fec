//! Values crossing the sandbox's edge: an account's facts go in as Rhai
//! values, and a claim comes out as JSON. Both directions are bounded in
//! depth, so neither recursion can run away on a pathological value.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

use super::{ClaimError, ClaimInput};

/// Deepest nesting of arrays and maps in an attribute or a result.
pub const MAX_VALUE_DEPTH: usize = 16;

/// `user`, `client` and `scope`, as [`ClaimInput`] documents them.
pub(super) fn input_values(input: &ClaimInput) -> Result<(Dynamic, Dynamic, Dynamic), ClaimError> {
    let mut attributes = Map::new();
    for (key, value) in &input.user.attributes {
        attributes.insert(key.as_str().into(), from_json(value, 1)?);
    }
    let mut user = Map::new();
    user.insert("id".into(), input.user.id.clone().into());
    user.insert("username".into(), input.user.username.clone().into());
    user.insert("email".into(), input.user.email.clone().map_or(Dynamic::UNIT, Dynamic::from));
    user.insert("attributes".into(), attributes.into());
    let mut client = Map::new();
    client.insert("id".into(), input.client.id.clone().into());
    let scope: Array = input.scope.iter().map(|s| Dynamic::from(s.clone())).collect();
    Ok((user.into(), client.into(), scope.into()))
}

/// `depth` is the nesting level an array or map found here would have.
fn from_json(value: &Value, depth: usize) -> Result<Dynamic, ClaimError> {
    let nested = |depth: usize| if depth > MAX_VALUE_DEPTH { Err(ClaimError::InputTooDeep) } else { Ok(depth + 1) };
    Ok(match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            // Past i64, or fractional: as close as a float gets.
            None => n.as_f64().map_or(Dynamic::UNIT, Dynamic::from_float),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(items) => {
            let next = nested(depth)?;
            items.iter().map(|item| from_json(item, next)).collect::<Result<Array, _>>()?.into()
        }
        Value::Object(entries) => {
            let next = nested(depth)?;
            let mut map = Map::new();
            for (key, item) in entries {
                map.insert(key.as_str().into(), from_json(item, next)?);
            }
            map.into()
        }
    })
}

/// The claim an expression's result stands for; `None` for `()`.
pub(super) fn to_json(result: Dynamic) -> Result<Option<Value>, ClaimError> {
    if result.is_unit() { Ok(None) } else { into_json(result, 1).map(Some) }
}

fn into_json(value: Dynamic, depth: usize) -> Result<Value, ClaimError> {
    let nested = |depth: usize| if depth > MAX_VALUE_DEPTH { Err(ClaimError::ResultTooDeep) } else { Ok(depth + 1) };
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return Number::from_f64(f).map(Value::Number).ok_or(ClaimError::NotFinite);
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    let value = match value.try_cast_result::<rhai::ImmutableString>() {
        Ok(s) => return Ok(Value::String(s.into())),
        Err(value) => value,
    };
    let value = match value.try_cast_result::<Array>() {
        Ok(items) => {
            let next = nested(depth)?;
            return items.into_iter().map(|item| into_json(item, next)).collect::<Result<_, _>>().map(Value::Array);
        }
        Err(value) => value,
    };
    let value = match value.try_cast_result::<Map>() {
        Ok(entries) => {
            let next = nested(depth)?;
            let mut object = serde_json::Map::new();
            for (key, item) in entries {
                object.insert(key.into(), into_json(item, next)?);
            }
            return Ok(Value::Object(object));
        }
        Err(value) => value,
    };
    Err(ClaimError::UnsupportedResult(value.type_name().to_owned()))
}
