//! `signet config set "KEY=VALUE"` and `signet config unset KEY`.

use anyhow::{Context, anyhow};
use serde_json::json;

use crate::commands::Ctx;
use crate::config::{ConfigFile, keys};
use crate::exit::ExitCode;
use crate::output::mask;

pub fn set(ctx: &Ctx, assignment: &str) -> anyhow::Result<ExitCode> {
    let (typed, value) = assignment.split_once('=').ok_or_else(|| {
        anyhow!("expected KEY=VALUE, got {assignment:?}\nhint: signet config set \"auth.storage.type=file\"")
    })?;
    let key = keys::resolve(typed)?;
    let value = keys::validate(&key, value).map_err(anyhow::Error::msg)?;
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
