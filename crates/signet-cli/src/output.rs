//! Output for people (aligned text, colour only on a terminal) and for
//! scripts (`-O json`, stable shapes documented in the README).

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

    pub fn print_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
        Ok(())
    }

    pub fn line(&self, text: &str) -> anyhow::Result<()> {
        writeln!(std::io::stdout().lock(), "{text}")?;
        Ok(())
    }

    pub fn bold(&self, text: &str) -> String {
        if self.color { format!("\x1b[1m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// Columns padded to the widest cell; the last column is not padded.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
        let cols = header.len();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for r in rows {
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
            writeln!(out, "{}", fmt_row(r.clone()))?;
        }
        Ok(())
    }
}

/// How a secret is shown unless `--unmask` is given.
pub fn mask(value: &str) -> String {
    if value.is_empty() { String::new() } else { "********".into() }
}
