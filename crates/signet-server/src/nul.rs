//! NUL characters at the edge. PostgreSQL's text cannot hold one and SQLite's
//! can, so a NUL that reached the store would make the backends differ (and
//! the store refuses it, `StoreError::Unstorable`). Nothing signet keeps has
//! a use for one, so every way in refuses it first, in its protocol's words:
//! the request line (`crate::app`), form fields in `oauth::form`, JSON bodies through
//! `json_has_nul`, Basic credentials where they are decoded.

pub const MESSAGE: &str = "text may not contain a NUL character (U+0000)";

/// Whether a JSON document has a string holding NUL: JSON cannot carry one
/// raw, only as the escape `\u0000`, which this finds without mistaking an
/// escaped backslash followed by `u0000` for it.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0 => return true,
            b'\\' => {
                if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    false
}

/// Whether a request target holds an encoded NUL (`%00`) in its path or query.
pub fn target_has_nul(target: &str) -> bool {
    target.contains("%00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_escapes_and_nothing_else() {
        assert!(json_has_nul(br#"{"name":"a\u0000b"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(b"{\"a\":\"\x00\"}"));
        assert!(!json_has_nul(br#"{"name":"a\\u0000b"}"#), "an escaped backslash, then text");
        assert!(!json_has_nul(br#"{"name":"\u0001"}"#));
        assert!(!json_has_nul(br#"{"name":"\\\\"}"#));
        assert!(json_has_nul(br#"{"name":"\\\u0000"}"#), "a backslash, then a NUL");
    }
}
