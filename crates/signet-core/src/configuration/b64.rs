//! Bytes in the document as base64 text, for `#[serde(with)]`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::secret::Secret;

pub mod bytes {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(|_| serde::de::Error::custom("not base64"))
    }
}

pub mod option {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => STANDARD.decode(text).map(Some).map_err(|_| serde::de::Error::custom("not base64")),
        }
    }
}

pub mod secret {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Secret<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Secret::new(STANDARD.encode(v.expose()));
        s.serialize_str(text.expose())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret<Vec<u8>>, D::Error> {
        let text = Secret::new(String::deserialize(d)?);
        STANDARD.decode(text.expose()).map(Secret::new).map_err(|_| serde::de::Error::custom("not base64"))
    }
}
