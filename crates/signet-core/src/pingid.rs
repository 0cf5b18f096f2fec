//! PingID's third-party settings file, as Vault's Login MFA API takes it
//! (`settings_file_base64`) and parses it, rule for rule:
//!
//! - an empty value fails with "settings_file_base64 is empty";
//! - standard base64 with padding, CR and LF inside it ignored;
//! - split on `\n` only; lines that start with `#` or are blank are skipped;
//! - each line splits on its first `=`; a line with none is an error naming it;
//! - keys are case-sensitive and not trimmed; only the seven below are
//!   known, and any other is an error naming it;
//! - `use_signature` is a Go boolean, and empty means false;
//! - a repeated key keeps its last value; no key is required.

use base64::Engine;

use crate::secret::Secret;

/// What a PingID settings file holds. The token and the base64 key are
/// secrets; `Debug` never shows them.
#[derive(Clone, Default)]
pub struct PingIdSettings {
    pub use_base64_key: Secret<String>,
    pub use_signature: bool,
    pub token: Secret<String>,
    pub idp_url: String,
    pub org_alias: String,
    pub admin_url: String,
    pub authenticator_url: String,
}

impl std::fmt::Debug for PingIdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PingIdSettings")
            .field("use_signature", &self.use_signature)
            .field("idp_url", &self.idp_url)
            .field("org_alias", &self.org_alias)
            .field("admin_url", &self.admin_url)
            .field("authenticator_url", &self.authenticator_url)
            .finish_non_exhaustive()
    }
}

/// Why a settings file was refused; the message is Vault's where Vault has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsFileError {
    #[error("settings_file_base64 is empty")]
    Empty,
    #[error("settings_file_base64 is not valid base64: {0}")]
    Base64(String),
    #[error("settings_file_base64 does not decode to UTF-8 text")]
    NotText,
    #[error("pingid settings file contains a non-empty non-comment line that is not in key=value format: {0:?}")]
    NotKeyValue(String),
    #[error("unknown key {0:?} in pingid settings file")]
    UnknownKey(String),
    #[error("use_signature in pingid settings file is not a boolean: {0:?}")]
    NotBool(String),
}

/// Go's `strconv.ParseBool`, with an empty value meaning false.
pub(crate) fn go_bool(v: &str) -> Option<bool> {
    match v {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        _ => None,
    }
}

/// Parses `settings_file_base64`. The error never holds a value of a
/// secret key: lines are quoted only when they have no `=` at all.
pub fn parse_settings_file(encoded: &str) -> Result<PingIdSettings, SettingsFileError> {
    if encoded.is_empty() {
        return Err(SettingsFileError::Empty);
    }
    let compact: String = encoded.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| SettingsFileError::Base64(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| SettingsFileError::NotText)?;
    let mut s = PingIdSettings::default();
    for line in text.split('\n') {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(SettingsFileError::NotKeyValue(line.to_owned()));
        };
        match key {
            "use_base64_key" => s.use_base64_key = Secret::new(value.to_owned()),
            "use_signature" => {
                s.use_signature = go_bool(value).ok_or_else(|| SettingsFileError::NotBool(value.to_owned()))?;
            }
            "token" => s.token = Secret::new(value.to_owned()),
            "idp_url" => s.idp_url = value.to_owned(),
            "org_alias" => s.org_alias = value.to_owned(),
            "admin_url" => s.admin_url = value.to_owned(),
            "authenticator_url" => s.authenticator_url = value.to_owned(),
            other => return Err(SettingsFileError::UnknownKey(other.to_owned())),
        }
    }
    Ok(s)
}

/// The fuzz target's body (`fuzz/fuzz_targets/settings_file.rs`, and
/// `pingid/fuzz_tests.rs` through proptest in CI): any input, as the value
/// itself and as the base64 of a file, parses or fails cleanly, and what
/// parses keeps only what the file said.
pub fn fuzz_check(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let _ = parse_settings_file(&raw);
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    match parse_settings_file(&encoded) {
        Ok(s) => {
            let text = String::from_utf8_lossy(data);
            for value in [s.idp_url.as_str(), &s.org_alias, &s.admin_url, &s.authenticator_url, s.token.expose()] {
                assert!(value.is_empty() || text.contains(value), "a value the file did not hold");
            }
        }
        Err(e) => {
            assert!(!matches!(e, SettingsFileError::Empty | SettingsFileError::Base64(_)) || data.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// Vault's CRUD fixture: two comment lines and all seven keys.
    const FIXTURE: &str = "#Auto-Generated from PingOne, downloaded by id=[SSO]\n\
        #2022-01-01 00:00:00\n\
        use_base64_key=bXktc2VjcmV0LWtleQ==\n\
        use_signature=true\n\
        token=12345678\n\
        idp_url=https://idpxnyl3m.pingidentity.com/pingid\n\
        org_alias=181459b0-9fb1-4938-8c86-473f0b3ebbd6\n\
        admin_url=https://idpxnyl3m.pingidentity.com/pingid\n\
        authenticator_url=https://authenticator.pingone.com/pingid/ppm";

    #[test]
    fn vaults_fixture_parses_with_every_key() {
        let s = parse_settings_file(&b64(FIXTURE)).unwrap();
        assert_eq!(s.use_base64_key.expose(), "bXktc2VjcmV0LWtleQ==", "the value keeps its own '=' signs");
        assert!(s.use_signature);
        assert_eq!(s.token.expose(), "12345678");
        assert_eq!(s.idp_url, "https://idpxnyl3m.pingidentity.com/pingid");
        assert_eq!(s.org_alias, "181459b0-9fb1-4938-8c86-473f0b3ebbd6");
        assert_eq!(s.admin_url, "https://idpxnyl3m.pingidentity.com/pingid");
        assert_eq!(s.authenticator_url, "https://authenticator.pingone.com/pingid/ppm");
        let debug = format!("{s:?}");
        assert!(!debug.contains("12345678") && !debug.contains("bXktc2Vj"), "{debug}");
    }

    #[test]
    fn an_empty_value_is_refused_with_vaults_message() {
        assert_eq!(parse_settings_file("").unwrap_err().to_string(), "settings_file_base64 is empty");
    }

    #[test]
    fn base64_is_standard_with_padding_and_line_breaks_are_ignored() {
        let encoded = b64("token=abc\n");
        let wrapped = format!("{}\r\n{}\n", &encoded[..4], &encoded[4..]);
        assert_eq!(parse_settings_file(&wrapped).unwrap().token.expose(), "abc");
        let unpadded = encoded.trim_end_matches('=');
        assert_ne!(unpadded, encoded, "the fixture needs padding");
        assert!(matches!(parse_settings_file(unpadded), Err(SettingsFileError::Base64(_))));
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode("token=??>>\n");
        assert!(matches!(parse_settings_file(&url_safe), Err(SettingsFileError::Base64(_))));
        assert!(matches!(parse_settings_file("not base64 at all!"), Err(SettingsFileError::Base64(_))));
    }

    #[test]
    fn lines_split_on_newline_only() {
        // A CR stays part of the value: only \n ends a line.
        let s = parse_settings_file(&b64("idp_url=https://a\r\norg_alias=x")).unwrap();
        assert_eq!(s.idp_url, "https://a\r");
        assert_eq!(s.org_alias, "x");
        // A CR alone does not split: the line's first '=' takes the rest.
        let s = parse_settings_file(&b64("org_alias=a\rtoken=b")).unwrap();
        assert_eq!(s.org_alias, "a\rtoken=b");
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let s = parse_settings_file(&b64("# a comment=with equals\n\n   \n\t\n#\norg_alias=x\n")).unwrap();
        assert_eq!(s.org_alias, "x");
        // Only a leading '#' makes a comment.
        assert_eq!(
            parse_settings_file(&b64(" # not a comment")).unwrap_err(),
            SettingsFileError::NotKeyValue(" # not a comment".into())
        );
    }

    #[test]
    fn a_line_without_equals_is_an_error_naming_it() {
        let e = parse_settings_file(&b64("org_alias=x\njust some words\n")).unwrap_err();
        assert_eq!(e, SettingsFileError::NotKeyValue("just some words".into()));
        assert!(e.to_string().contains("\"just some words\""), "{e}");
    }

    #[test]
    fn a_line_splits_on_its_first_equals() {
        let s = parse_settings_file(&b64("token=a=b==")).unwrap();
        assert_eq!(s.token.expose(), "a=b==");
        let s = parse_settings_file(&b64("org_alias=")).unwrap();
        assert_eq!(s.org_alias, "", "an empty value is a value");
    }

    #[test]
    fn keys_are_case_sensitive_and_not_trimmed() {
        assert_eq!(parse_settings_file(&b64("Token=x")).unwrap_err(), SettingsFileError::UnknownKey("Token".into()));
        assert_eq!(parse_settings_file(&b64(" token=x")).unwrap_err(), SettingsFileError::UnknownKey(" token".into()));
        assert_eq!(parse_settings_file(&b64("token =x")).unwrap_err(), SettingsFileError::UnknownKey("token ".into()));
        // Values are not trimmed either.
        assert_eq!(parse_settings_file(&b64("org_alias= x ")).unwrap().org_alias, " x ");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let e = parse_settings_file(&b64("token=x\ncolour=blue\n")).unwrap_err();
        assert_eq!(e.to_string(), "unknown key \"colour\" in pingid settings file");
    }

    #[test]
    fn use_signature_is_a_go_boolean_and_empty_is_false() {
        for (v, want) in [
            ("1", true),
            ("t", true),
            ("T", true),
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("0", false),
            ("f", false),
            ("F", false),
            ("false", false),
            ("FALSE", false),
            ("False", false),
            ("", false),
        ] {
            let s = parse_settings_file(&b64(&format!("use_signature={v}"))).unwrap();
            assert_eq!(s.use_signature, want, "{v:?}");
        }
        for bad in ["yes", "tRUE", " true", "2", "on"] {
            assert_eq!(
                parse_settings_file(&b64(&format!("use_signature={bad}"))).unwrap_err(),
                SettingsFileError::NotBool(bad.into())
            );
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let s =
            parse_settings_file(&b64("token=first\nuse_signature=true\ntoken=second\nuse_signature=false")).unwrap();
        assert_eq!(s.token.expose(), "second");
        assert!(!s.use_signature);
    }

    #[test]
    fn no_key_is_required() {
        let s = parse_settings_file(&b64("# nothing but a comment\n")).unwrap();
        assert!(!s.use_signature && s.token.expose().is_empty() && s.idp_url.is_empty());
        assert!(parse_settings_file(&b64("\n")).is_ok());
    }

    #[test]
    fn a_file_that_is_not_text_is_refused() {
        let bytes = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'=', 0x80]);
        assert_eq!(parse_settings_file(&bytes).unwrap_err(), SettingsFileError::NotText);
    }
}

#[cfg(test)]
mod fuzz_tests;
