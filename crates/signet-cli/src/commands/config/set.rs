//! `signet config set "KEY=VALUE"`, `signet config set KEY --stdin` and
//! `signet config unset KEY`.
//!
//! A value given as an argument is seen by every process listing and kept
//! in shell history, so secrets (a worker's client secret, a basicAuth
//! password) may come from stdin instead (`--stdin`, one line, as
//! `--password-stdin` reads passwords), or from a prompt without echo when
//! `KEY` is given alone on a terminal.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use serde_json::json;

use crate::commands::Ctx;
use crate::config::{ConfigFile, keys};
use crate::exit::ExitCode;
use crate::output::mask;
use crate::secret;

pub fn set(ctx: &Ctx, assignment: &str, stdin: bool) -> anyhow::Result<ExitCode> {
    let (typed, given) = match assignment.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (assignment, None),
    };
    let key = keys::resolve(typed)?;
    let what = format!("value of {key}");
    let value = match given {
        Some(_) if stdin => bail!(
            "the value is given both after = and on stdin\nhint: signet config set {key} --stdin, with the value on stdin"
        ),
        Some(v) => {
            if key.def().secret {
                eprintln!(
                    "note: a secret given as an argument is seen by ps and kept in shell history; signet config set {key} --stdin reads it from stdin"
                );
            }
            zeroize::Zeroizing::new(v.to_owned())
        }
        None if stdin => zeroize::Zeroizing::new(secret::read_stdin_line(&what, "--stdin")?.expose().to_owned()),
        None if std::io::stdin().is_terminal() => zeroize::Zeroizing::new(secret::prompt(&what)?.expose().to_owned()),
        None => bail!(
            "expected KEY=VALUE, got {:?}\nhint: signet config set \"auth.storage.type=file\", or signet config set KEY --stdin with the value on stdin",
            crate::output::safe(assignment)
        ),
    };
    let value = keys::validate(&key, &value).map_err(anyhow::Error::msg)?;
    let settings = ctx.settings()?;
    let profile = settings.profile.clone();
    ConfigFile::update(&ctx.path()?, |f| {
        f.require_profile(&profile)?;
        f.set(&profile, &key, value.clone())
    })
    .with_context(|| format!("setting {key}"))?;
    let shown = if key.def().secret { mask(&value) } else { value };
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": profile, "key": key.canonical, "value": shown}))?;
    } else {
        ctx.out.line(&format!("{key} = {shown} (profile {profile})"))?;
    }
    Ok(ExitCode::Ok)
}

pub fn unset(ctx: &Ctx, typed: &str) -> anyhow::Result<ExitCode> {
    let key = keys::resolve(typed)?;
    let settings = ctx.settings()?;
    let profile = settings.profile.clone();
    let removed = ConfigFile::update(&ctx.path()?, |f| {
        f.require_profile(&profile)?;
        Ok(f.unset(&profile, &key))
    })?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": profile, "key": key.canonical, "removed": removed}))?;
    } else if removed {
        ctx.out.line(&format!("{key} removed from profile {profile}"))?;
    } else {
        ctx.out.line(&format!("{key} was not set in profile {profile}"))?;
    }
    Ok(ExitCode::Ok)
}
