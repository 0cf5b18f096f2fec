//! Scope strings (RFC 6749 §3.3): space-separated, no duplicates kept, and
//! only what the application is allowed.

use std::collections::BTreeSet;

/// Parses a scope parameter. `None` when it holds characters RFC 6749 §3.3 forbids.
pub fn parse(raw: &str) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        if !s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
            return None;
        }
        out.insert(s.to_owned());
    }
    Some(out)
}

pub fn join(scopes: &BTreeSet<String>) -> String {
    scopes.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// The requested scopes if all are allowed; the allowed set if none was asked for.
pub fn narrow(requested: Option<&str>, allowed: &BTreeSet<String>) -> Result<BTreeSet<String>, ScopeError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(raw) => {
            let asked = parse(raw).ok_or(ScopeError::Malformed)?;
            match asked.iter().find(|s| !allowed.contains(*s)) {
                Some(bad) => Err(ScopeError::NotAllowed(bad.clone())),
                None => Ok(asked),
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScopeError {
    Malformed,
    NotAllowed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrows_to_what_is_allowed() {
        let allowed = parse("openid profile offline_access").unwrap_or_default();
        assert_eq!(join(&narrow(Some("openid  profile"), &allowed).unwrap_or_default()), "openid profile");
        assert_eq!(narrow(Some("openid admin"), &allowed), Err(ScopeError::NotAllowed("admin".into())));
        assert_eq!(narrow(Some("a\"b"), &allowed), Err(ScopeError::Malformed));
        assert_eq!(narrow(None, &allowed).map(|s| s.len()), Ok(3));
    }
}
