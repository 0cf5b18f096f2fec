//! RFC 8628 §6.1 user codes: 8 characters from a 20-letter consonant alphabet
//! (no vowels, so no words; no look-alike digits), shown as `XXXX-XXXX`.
//! 20^8 ≈ 2^34.6 codes; with failed guesses rate-limited that is ample.

use crate::crypto::{CryptoError, random_bytes};

pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// A new code in its canonical form (8 letters, no hyphen).
pub fn generate() -> Result<String, CryptoError> {
    let mut out = String::with_capacity(8);
    while out.len() < 8 {
        for b in random_bytes::<16>()? {
            // 240 = 12 × 20: reject the tail so every letter is equally likely.
            if b < 240 && out.len() < 8 {
                out.push(ALPHABET[(b % 20) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// Accepts lower case, a hyphen and spaces; `None` when it cannot be a code.
pub fn normalize(input: &str) -> Option<String> {
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == 8 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

pub fn display(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_and_normalize() {
        let c = generate().unwrap();
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| ALPHABET.contains(&b)));
        let shown = display(&c);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize(&shown.to_lowercase()).as_deref(), Some(c.as_str()));
        assert_eq!(normalize("bcdf ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize("ABCD-EFGH"), None, "vowels are not in the alphabet");
        assert_eq!(normalize("BCDFGHJ"), None);
    }
}
