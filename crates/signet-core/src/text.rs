//! What a name shown to people may hold. Names of applications,
//! environments, providers and methods reach sign-on pages, consent screens,
//! terminals and the audit trail, so a name may not carry control characters
//! (Unicode Cc: terminal escapes, NUL, line breaks) or the bidirectional
//! embedding, override and isolate controls (U+202A–202E, U+2066–2069),
//! which reorder what a person reads ("Trojan Source", CVE-2021-42574).

/// Whether `c` may not appear in a name.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Text someone else chose (a username typed at a directory), fit to be
/// recorded and shown: each forbidden character becomes U+FFFD, at most
/// `max` characters are kept.
pub fn printable(value: &str, max: usize) -> String {
    value.chars().take(max).map(|c| if is_forbidden(c) { '\u{FFFD}' } else { c }).collect()
}

/// The rule a name broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("1 to {max} characters, not all blank")]
    Length { max: usize },
    #[error("no control characters or bidirectional text controls (U+202A–202E, U+2066–2069)")]
    Forbidden,
}

/// A name: 1 to `max` characters, not blank, none forbidden; the error says which rule it broke.
pub fn check_name(value: &str, max: usize) -> Result<(), NameError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(NameError::Length { max });
    }
    if value.chars().any(is_forbidden) {
        return Err(NameError::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_controls_and_bidi_overrides() {
        assert!(check_name("Customers", 64).is_ok());
        assert!(check_name("Kunden – Zürich 東京", 64).is_ok());
        for bad in
            ["", "   ", "a\u{0}b", "a\nb", "a\u{1b}[2Jb", "a\u{7f}", "a\u{202E}gpj.exe", "a\u{2066}b", "a\u{2069}"]
        {
            assert!(check_name(bad, 64).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(65), 64).is_err());
        assert!(check_name(&"é".repeat(64), 64).is_ok(), "characters, not bytes");
    }

    #[test]
    fn name_refusals_keep_their_words() {
        assert_eq!(check_name(" ", 64).unwrap_err().to_string(), "1 to 64 characters, not all blank");
        assert_eq!(
            check_name("a\u{202E}b", 64).unwrap_err().to_string(),
            "no control characters or bidirectional text controls (U+202A–202E, U+2066–2069)"
        );
    }

    #[test]
    fn foreign_text_is_made_printable() {
        assert_eq!(printable("ceo\u{1b}[2J\u{202E}300", 64), "ceo\u{FFFD}[2J\u{FFFD}300");
        assert_eq!(printable("alice", 3), "ali");
    }
}
