//! `signet config list-keys`: every key, its variable and its meaning.

use serde_json::json;

use crate::commands::Ctx;
use crate::config::keys::{KEYS, env_var};
use crate::exit::ExitCode;

pub fn list_keys(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        let keys: Vec<_> = KEYS
            .iter()
            .map(|k| {
                json!({
                    "key": k.key,
                    "env": env_var(k.key),
                    "description": k.description,
                    "secret": k.secret,
                    "default": k.default,
                })
            })
            .collect();
        ctx.out.print_json(&json!(keys))?;
        return Ok(ExitCode::Ok);
    }
    let rows: Vec<Vec<String>> =
        KEYS.iter().map(|k| vec![k.key.to_owned(), env_var(k.key), k.description.to_owned()]).collect();
    ctx.out.table(&["KEY", "ENVIRONMENT VARIABLE", "DESCRIPTION"], &rows)?;
    ctx.out.line("")?;
    ctx.out.line("<name> is a connector: pingone, or any name given an issuer.")?;
    Ok(ExitCode::Ok)
}
