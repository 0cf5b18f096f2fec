//! Passwords the person types or pipes in. Never a command-line argument: an
//! argument sits in the shell's history and in every process listing
//! (`/proc/*/cmdline`). They come from stdin with `--password-stdin`, or from
//! a prompt without echo when stdin is a terminal; otherwise it is an error.
//! Other secrets (an MFA provider's API token or key) are read the same
//! way, or from a file.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use zeroize::Zeroizing;

/// A password: `Debug` prints `[redacted]`, there is no `Display`, and it is
/// zeroized on drop.
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Where passwords come from for this command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Stdin,
    Prompt,
}

impl Source {
    /// `--password-stdin`, or a prompt when there is a terminal to ask on.
    pub fn choose(password_stdin: bool) -> anyhow::Result<Source> {
        if password_stdin {
            Ok(Source::Stdin)
        } else if std::io::stdin().is_terminal() {
            Ok(Source::Prompt)
        } else {
            bail!(
                "no password: stdin is not a terminal to ask on, and signet takes no password as an argument\nhint: pipe it in with --password-stdin"
            )
        }
    }
}

/// Every line of stdin (`\n` or `\r\n`), one password each, at most `max`.
pub fn read_stdin(max: usize) -> anyhow::Result<Vec<Password>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut text).context("reading the password from stdin")?;
    lines(&text, max)
}

fn lines(text: &str, max: usize) -> anyhow::Result<Vec<Password>> {
    let found: Vec<Password> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| Password(Zeroizing::new(l.to_owned())))
        .collect();
    if found.is_empty() {
        bail!("stdin held no password\nhint: pipe the password in, one line, with --password-stdin");
    }
    if found.len() > max {
        bail!("stdin held {} lines, more than the {max} this command reads\nhint: one password a line", found.len());
    }
    Ok(found)
}

/// Asks on the terminal, without echo.
pub fn prompt(label: &str) -> anyhow::Result<Password> {
    let p = Zeroizing::new(rpassword::prompt_password(format!("{label}: ")).context("reading the password")?);
    if p.is_empty() {
        bail!("no password given");
    }
    Ok(Password(p))
}

/// Asks twice on the terminal, so a typo is not what gets set.
pub fn prompt_new(label: &str) -> anyhow::Result<Password> {
    let first = prompt(label)?;
    let again = prompt("again")?;
    if first.expose() != again.expose() {
        bail!("the two passwords differ; nothing was sent");
    }
    Ok(first)
}

/// A new password from `source`: stdin's single line, or asked twice.
pub fn new_password(source: Source, label: &str) -> anyhow::Result<Password> {
    match source {
        Source::Stdin => read_stdin(1)?.pop().context("stdin held no password"),
        Source::Prompt => prompt_new(label),
    }
}

/// No API token or key comes near this; a bigger file is the wrong file.
const MAX_SECRET: u64 = 4096;

/// A secret that is not a password (an MFA provider's API token or key):
/// the one line of `file`, of stdin when `file` is `-`, or asked for without
/// echo when neither is given and stdin is a terminal. `flag` names the
/// file option in the errors, which never hold the secret.
pub fn read_secret(file: Option<&std::path::Path>, what: &str, flag: &str) -> anyhow::Result<Password> {
    let (mut reader, from): (Box<dyn Read>, String) = match file {
        Some(p) if p.as_os_str() == "-" => (Box::new(std::io::stdin()), "stdin".into()),
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| {
                format!(
                    "reading the {what} from {}\nhint: {flag} takes a file holding the {what}, or - for stdin",
                    p.display()
                )
            })?;
            (Box::new(f), p.display().to_string())
        }
        None if std::io::stdin().is_terminal() => return prompt(what),
        None => bail!(
            "no {what}: stdin is not a terminal to ask on, and signet takes no secret as an argument\nhint: give it with {flag} FILE, or pipe it in with {flag} -"
        ),
    };
    let mut text = Zeroizing::new(String::new());
    reader
        .by_ref()
        .take(MAX_SECRET + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading the {what} from {from}"))?;
    if text.len() as u64 > MAX_SECRET {
        bail!(
            "{from} holds more than {MAX_SECRET} bytes, more than a {what} is\nhint: {flag} takes a file holding the {what} alone"
        );
    }
    one_line(&text, what, &from, flag)
}

/// One line of stdin holding a value (a setting's, with `signet config set
/// KEY --stdin`): at most 4 KiB, exactly one line that is not blank.
pub fn read_stdin_line(what: &str, flag: &str) -> anyhow::Result<Password> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .take(MAX_SECRET + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading the {what} from stdin"))?;
    if text.len() as u64 > MAX_SECRET {
        bail!("stdin holds more than {MAX_SECRET} bytes, more than a setting is\nhint: {flag} reads one line");
    }
    let mut found = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.trim().is_empty());
    match (found.next(), found.next()) {
        (Some(line), None) => Ok(Password(Zeroizing::new(line.trim().to_owned()))),
        (None, _) => bail!("stdin holds no {what}\nhint: {flag} reads the value from stdin, on one line"),
        (Some(_), Some(_)) => {
            bail!("stdin holds more than one line\nhint: {flag} reads the value from stdin, on one line")
        }
    }
}

fn one_line(text: &str, what: &str, from: &str, flag: &str) -> anyhow::Result<Password> {
    let mut found = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.trim().is_empty());
    let Some(first) = found.next() else {
        bail!("{from} holds no {what}\nhint: {flag} takes a file holding the {what} on one line");
    };
    if found.next().is_some() {
        bail!("{from} holds more than one line\nhint: {flag} takes a file holding the {what} on one line");
    }
    Ok(Password(Zeroizing::new(first.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_are_passwords_without_their_line_ends() {
        let got = lines("old one\r\nnew one\n", 2).unwrap();
        assert_eq!(got.iter().map(Password::expose).collect::<Vec<_>>(), ["old one", "new one"]);
        assert_eq!(lines("no newline", 1).unwrap()[0].expose(), "no newline");
        // Spaces belong to the password.
        assert_eq!(lines(" padded \n", 1).unwrap()[0].expose(), " padded ");
    }

    #[test]
    fn stdin_with_nothing_or_too_much_is_refused() {
        assert!(lines("", 1).unwrap_err().to_string().contains("hint:"));
        assert!(lines("\n\n", 1).is_err());
        assert!(lines("a\nb\n", 1).unwrap_err().to_string().contains("more than the 1"));
    }

    #[test]
    fn a_secret_file_holds_one_line_and_errors_never_quote_it() {
        assert_eq!(one_line("tok-123\r\n", "API token", "f", "--api-token-file").unwrap().expose(), "tok-123");
        let two = one_line("tok-123\nmore\n", "API token", "f", "--api-token-file").unwrap_err().to_string();
        assert!(two.contains("more than one line") && !two.contains("tok-123"), "{two}");
        assert!(one_line("\n \n", "API token", "f", "--api-token-file").unwrap_err().to_string().contains("holds no"));
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let p = Password(Zeroizing::new("hunter2".into()));
        assert_eq!(format!("{p:?}"), "[redacted]");
    }
}
