//! `signet config get KEY`: the value in effect, and where it comes from.

use serde_json::json;

use crate::commands::Ctx;
use crate::config::keys;
use crate::exit::ExitCode;
use crate::output::mask;

pub fn get(ctx: &Ctx, typed: &str, unmask: bool) -> anyhow::Result<ExitCode> {
    let key = keys::resolve(typed)?;
    let settings = ctx.settings()?;
    let resolved = settings.resolve(&key);
    let shown = resolved.as_ref().map(|r| if key.def().secret && !unmask { mask(&r.value) } else { r.value.clone() });
    if ctx.out.json() {
        ctx.out.print_json(&json!({
            "profile": settings.profile,
            "key": key.canonical,
            "value": shown,
            "source": resolved.as_ref().map(|r| r.source.label()),
        }))?;
    } else if let Some(v) = shown {
        ctx.out.line(&v)?;
    }
    Ok(ExitCode::Ok)
}
