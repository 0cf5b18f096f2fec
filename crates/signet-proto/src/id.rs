//! Typed ids: an account's id, an environment's, an application's (its
//! OAuth `client_id`) and an MFA method's are each their own type, so one
//! cannot be passed where another is expected.
//!
//! Each is a plain string on the wire and in the audit trail
//! (`#[serde(transparent)]`): the trail is hash-chained, so the bytes of an
//! event must not change with the type that carries them. Ids are not
//! secrets, so `Debug` and `Display` print them. There is no
//! `Deref<Target = str>`: a typed id is read as text only where that is
//! asked for (`as_str`), which keeps two kinds from mixing silently.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type! {
    /// An account's id (a UUID, or a seeded one such as the first administrator's).
    AccountId
}

id_type! {
    /// An environment's id.
    EnvironmentId
}

id_type! {
    /// An application's id, which is also its OAuth `client_id`.
    ClientId
}

id_type! {
    /// An MFA method's id.
    MethodId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_string_on_the_wire() {
        let id = AccountId::new("0d6c0c0e-1b7e-4a51-9a4e-5f0b1b4c9a01");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"0d6c0c0e-1b7e-4a51-9a4e-5f0b1b4c9a01\"");
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
    }

    #[test]
    fn an_id_prints_as_its_text() {
        let id = ClientId::new("signet-cli");
        assert_eq!(id.to_string(), "signet-cli");
        assert_eq!(format!("{id:?}"), "\"signet-cli\"");
        assert_eq!(id, "signet-cli");
        assert_eq!(id.as_str(), "signet-cli");
        assert_eq!(id.into_string(), "signet-cli");
    }
}
