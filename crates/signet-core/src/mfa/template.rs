//! `username_format`: how the name an MFA service knows a person by is made
//! from their account, in Vault's identity template syntax. Only these
//! placeholders exist; anything else is refused when the method is written:
//!
//! - `{{identity.entity.name}}`, `{{identity.entity.id}}`;
//! - `{{identity.entity.metadata.KEY}}`: the account attribute KEY;
//! - `{{identity.entity.aliases.<accessor>.name}}`: the account's name as that
//!   accessor signs it on. The accessor is an environment id, or a Vault
//!   mount accessor `auth_<type>_<hex>` standing for a sign-on kind
//!   (`userpass` password, `ldap`, `radius`, `oidc` or `jwt` federated).

use serde_json::{Map, Value};

use super::enforcement::SignOnKind;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    EntityName,
    EntityId,
    Metadata(String),
    Alias(Accessor),
}

/// What an alias placeholder names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accessor {
    Environment(String),
    Kind(SignOnKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameFormat {
    source: String,
    parts: Vec<Part>,
}

/// The account a name is made for, as it signs on.
pub struct Entity<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub environment_id: &'a str,
    pub kind: SignOnKind,
    pub metadata: &'a Map<String, Value>,
}

const MAX_LEN: usize = 1024;

/// Why a `username_format` is refused when a method is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("username_format must be at most {} characters", MAX_LEN)]
    TooLong,
    #[error("username_format has a \"{{{{\" without its \"}}}}\"")]
    Unclosed,
    #[error("username_format has a \"}}}}\" without its \"{{{{\"")]
    Unopened,
    /// The placeholder, without its braces.
    #[error("username_format: unsupported placeholder {{{{{0}}}}}")]
    Unsupported(String),
}

/// Why no name can be made for an account: it lacks what the format asks for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the account has no attribute {0:?} for the MFA user name")]
    NoAttribute(String),
    #[error("the MFA user name names a sign-on the account did not use")]
    OtherSignOn,
}

impl UsernameFormat {
    pub fn parse(source: &str) -> Result<UsernameFormat, FormatError> {
        if source.len() > MAX_LEN {
            return Err(FormatError::TooLong);
        }
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(FormatError::Unclosed);
            };
            parts.push(placeholder(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(FormatError::Unopened);
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(UsernameFormat { source: source.to_owned(), parts })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The environments its alias placeholders name, which must exist.
    pub fn environments(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Alias(Accessor::Environment(e)) => Some(e.as_str()),
            _ => None,
        })
    }

    /// The name for `entity`; an empty format is the account's name, as
    /// Vault uses the entity's. Fails when the account lacks what the
    /// format asks for, so no one is asked about under a wrong name.
    pub fn render(&self, entity: &Entity<'_>) -> Result<String, RenderError> {
        if self.parts.is_empty() {
            return Ok(entity.name.to_owned());
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::EntityName => out.push_str(entity.name),
                Part::EntityId => out.push_str(entity.id),
                Part::Metadata(key) => match entity.metadata.get(key) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                    _ => return Err(RenderError::NoAttribute(key.clone())),
                },
                Part::Alias(Accessor::Environment(env)) if env == entity.environment_id => out.push_str(entity.name),
                Part::Alias(Accessor::Kind(kind)) if *kind == entity.kind => out.push_str(entity.name),
                Part::Alias(_) => {
                    return Err(RenderError::OtherSignOn);
                }
            }
        }
        Ok(out)
    }
}

fn placeholder(inner: &str) -> Result<Part, FormatError> {
    let refuse = || FormatError::Unsupported(inner.to_owned());
    let Some(path) = inner.strip_prefix("identity.entity.") else { return Err(refuse()) };
    match path {
        "name" => return Ok(Part::EntityName),
        "id" => return Ok(Part::EntityId),
        _ => {}
    }
    if let Some(key) = path.strip_prefix("metadata.") {
        if key.is_empty() || key.contains(['{', '}']) {
            return Err(refuse());
        }
        return Ok(Part::Metadata(key.to_owned()));
    }
    if let Some(alias) = path.strip_prefix("aliases.").and_then(|a| a.strip_suffix(".name")) {
        return accessor(alias).map(Part::Alias).ok_or_else(refuse);
    }
    Err(refuse())
}

/// An environment id, or a Vault mount accessor of a known type.
pub fn accessor(s: &str) -> Option<Accessor> {
    if let Some(rest) = s.strip_prefix("auth_") {
        let (kind, hex) = rest.rsplit_once('_')?;
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let kind = match kind {
            "userpass" => SignOnKind::Password,
            "ldap" => SignOnKind::Ldap,
            "radius" => SignOnKind::Radius,
            "oidc" | "jwt" => SignOnKind::Federated,
            _ => return None,
        };
        return Some(Accessor::Kind(kind));
    }
    let valid =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| Accessor::Environment(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity<'a>(metadata: &'a Map<String, Value>) -> Entity<'a> {
        Entity { id: "acc-1", name: "ada", environment_id: "acme", kind: SignOnKind::Password, metadata }
    }

    #[test]
    fn the_seeds_sample_is_accepted_and_fills_from_a_password_sign_on() {
        let f = UsernameFormat::parse("{{identity.entity.aliases.auth_userpass_1793464a.name}}")
            .unwrap_or_else(|e| panic!("{e}"));
        let m = Map::new();
        assert_eq!(f.render(&entity(&m)).as_deref(), Ok("ada"));
        let ldap = Entity { kind: SignOnKind::Ldap, ..entity(&m) };
        assert!(f.render(&ldap).is_err());
    }

    #[test]
    fn every_placeholder_fills() {
        let mut m = Map::new();
        m.insert("email".into(), Value::String("ada@example.com".into()));
        let f = UsernameFormat::parse(
            "{{identity.entity.name}}/{{ identity.entity.id }}/{{identity.entity.metadata.email}}/{{identity.entity.aliases.acme.name}}@x",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.render(&entity(&m)).as_deref(), Ok("ada/acc-1/ada@example.com/ada@x"));
        assert_eq!(f.environments().collect::<Vec<_>>(), vec!["acme"]);
        let other = Entity { environment_id: "other", ..entity(&m) };
        assert!(f.render(&other).is_err());
        let none = Map::new();
        assert!(f.render(&entity(&none)).is_err(), "a missing attribute is not silently empty");
        assert_eq!(UsernameFormat::parse("").unwrap().render(&entity(&none)).as_deref(), Ok("ada"));
    }

    #[test]
    fn anything_else_is_refused_when_written() {
        for bad in [
            "{{identity.entity.email}}",
            "{{identity.groups.names}}",
            "{{entity.name}}",
            "{{identity.entity.aliases.auth_github_1234.name}}",
            "{{identity.entity.aliases.auth_userpass_xyz.name}}",
            "{{identity.entity.aliases.a/b.name}}",
            "{{identity.entity.metadata.}}",
            "{{identity.entity.name",
            "name}}",
        ] {
            assert!(UsernameFormat::parse(bad).is_err(), "{bad}");
        }
    }
}
