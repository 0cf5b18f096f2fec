//! Output for people (aligned text, colour only on a terminal) and for
//! scripts (`-O json`, stable shapes documented in the README).

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use crate::cli::Format;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub color: bool,
}

impl Output {
    pub fn new(format: Format, no_color: bool) -> Output {
        let color = !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Output { format, color }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// JSON for scripts. serde_json escapes C0 controls; DEL, the C1
    /// controls and the bidi controls are escaped here too (`\u009b`), which
    /// JSON reads back as the same string, so nothing in it acts on a terminal.
    pub fn print_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        writeln!(std::io::stdout().lock(), "{}", json_escaped(&text))?;
        Ok(())
    }

    /// One line for people. It may quote what a server sent (a subject, a
    /// name), so any control character in it but a tab is shown escaped
    /// (see [`safe`]), a line break included: it stays one line.
    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        writeln!(std::io::stdout().lock(), "{}", safe_keeping_tabs(text))?;
        Ok(())
    }

    /// A block of text, such as a server's answer that is not JSON: its
    /// lines stay lines; any other control character is shown escaped.
    pub fn block(&self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for l in text.lines() {
            writeln!(out, "{}", safe_keeping_tabs(l))?;
        }
        Ok(())
    }

    pub fn bold(&self, text: &str) -> String {
        if self.color { format!("\x1b[1m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// Columns padded to the widest cell; the last column is not padded.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        let cols = header.len();
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| safe(c).into_owned()).collect()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = std::io::stdout().lock();
        let fmt_row = |cells: Vec<String>| {
            let mut line = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 < cols {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                } else {
                    line.push_str(c);
                }
            }
            line.trim_end().to_owned()
        };
        writeln!(out, "{}", self.bold(&fmt_row(header.iter().map(|h| h.to_string()).collect())))?;
        for r in rows {
            writeln!(out, "{}", fmt_row(r))?;
        }
        Ok(())
    }
}

impl Output {
    /// `name  value` lines, the names padded to the longest.
    pub fn fields(&self, pairs: &[(&str, String)]) -> anyhow::Result<()> {
        let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for (k, v) in pairs {
            writeln!(out, "{}", format!("{k:<width$}  {}", safe(v)).trim_end())?;
        }
        Ok(())
    }
}

/// An error for people: its cause chain joined by `: ` (each cause's first
/// line, once), and the `hint:` lines of every cause. Only a cause's own
/// lines that start with `hint: ` become hints; text a server sent is
/// escaped where it is quoted, so it cannot add lines.
pub fn explain(e: &anyhow::Error) -> (String, Vec<String>) {
    let mut message: Vec<String> = Vec::new();
    let mut hints = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let mut lines = text.lines();
        if let Some(first) = lines.next()
            && !message.iter().any(|m| m.contains(first))
        {
            message.push(first.to_owned());
        }
        hints.extend(lines.filter_map(|l| l.strip_prefix("hint: ").map(str::to_owned)));
    }
    (message.join(": "), hints)
}

/// Text from outside signet (a provider's `user_code` or `error_description`,
/// a token's subject, the admin API's answers, an archive's settings) as it
/// may reach a terminal: control characters (C0, DEL, C1: escape sequences,
/// carriage returns, bells) and the bidirectional controls (U+202A-202E,
/// U+2066-2069) are shown escaped (`\u{1b}`), so such text cannot move the
/// cursor, redraw the screen, set the window title, write the clipboard (OSC
/// 52), reorder what is shown, or start a line of its own that passes for
/// signet's (a `hint:`).
pub fn safe(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// [`safe`], but tabs pass: they only move to the next tab stop.
fn safe_keeping_tabs(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, tabs: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && !(tabs && c == '\t')) || is_bidi_control(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON with the characters [`safe`] escapes, and serde_json
/// does not, written as `\uXXXX`: they only occur inside strings, where that
/// escape means the same character.
fn json_escaped(json: &str) -> Cow<'_, str> {
    // Line breaks between members are the pretty printer's own.
    let unsafe_char = |c: char| (c.is_control() && c != '\n') || is_bidi_control(c);
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The bidirectional embeddings, overrides and isolates (Unicode TR9),
/// which reorder the text around them ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A JSON string as text; anything else as nothing.
pub fn text(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A flag as yes or no.
pub fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// Names as `a,b,c`; `-` when there are none.
pub fn list(names: &[String]) -> String {
    if names.is_empty() { "-".into() } else { names.join(",") }
}

/// How a secret is shown unless `--unmask` is given.
pub fn mask(value: &str) -> String {
    if value.is_empty() { String::new() } else { "********".into() }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), without a date library.
pub fn utc(ts: i64) -> String {
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_and_bidi_controls_are_shown_escaped() {
        use super::safe;
        assert!(matches!(safe("ada@example.org"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(safe("\x1b]0;owned\x07"), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(safe("a\nhint: b\r"), "a\\nhint: b\\r");
        assert_eq!(safe("\u{9b}2J\u{7f}"), "\\u{9b}2J\\u{7f}");
        assert_eq!(safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        // Letters of any script pass.
        assert_eq!(safe("Zoë 日本"), "Zoë 日本");
    }

    #[test]
    fn json_output_escapes_what_serde_json_leaves_and_reads_back_the_same() {
        let v = serde_json::json!({"name": "a\u{9b}2J\u{7f}\u{202e}b\u{1b}", "n": 1});
        let text = super::json_escaped(&serde_json::to_string_pretty(&v).unwrap()).into_owned();
        assert!(!text.contains(['\u{9b}', '\u{7f}', '\u{202e}', '\u{1b}']), "{text:?}");
        assert!(text.contains("\\u009b"), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
    }

    #[test]
    fn utc_matches_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_795_487_358), "2026-11-24 02:29:18");
    }
}
