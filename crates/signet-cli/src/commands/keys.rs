//! `signet keys list|rotate ENV`: an environment's signing keys, through the
//! admin API. Only public parts exist there; a rotated-out key stays
//! published until the tokens it signed expire.

use reqwest::Method;

use crate::cli::KeysCommand;
use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;
use crate::output::{text, when, yes_no};

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::List { env } => list(ctx, &env).await,
        KeysCommand::Rotate { env } => rotate(ctx, &env).await,
    }
}

fn table(ctx: &Ctx, keys: &serde_json::Value) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = keys["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|k| {
            vec![
                text(&k["kid"]),
                yes_no(&k["active"]),
                text(&k["public_jwk"]["alg"]),
                when(&k["created_at"]),
                when(&k["retired_at"]),
            ]
        })
        .collect();
    ctx.out.table(&["KID", "ACTIVE", "ALG", "CREATED (UTC)", "RETIRED (UTC)"], &rows)
}

async fn list(ctx: &Ctx, env: &str) -> anyhow::Result<ExitCode> {
    let admin = AdminClient::connect(&ctx.settings()?).await?;
    let url = admin.at(&["environments", env, "keys"], None)?;
    let keys = admin.send(Method::GET, url, None).await?.json.unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&keys)?
    } else {
        table(ctx, &keys)?
    }
    Ok(ExitCode::Ok)
}

async fn rotate(ctx: &Ctx, env: &str) -> anyhow::Result<ExitCode> {
    let admin = AdminClient::connect(&ctx.settings()?).await?;
    let url = admin.at(&["environments", env, "keys"], None)?;
    let keys = admin.send(Method::POST, url, None).await?.json.unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&keys)?;
        return Ok(ExitCode::Ok);
    }
    let active = keys["items"].as_array().and_then(|ks| ks.iter().find(|k| k["active"] == true));
    if let Some(k) = active {
        ctx.out.line(&format!(
            "{} signs from now on; earlier keys stay published until their tokens expire",
            text(&k["kid"])
        ))?;
    }
    table(ctx, &keys)?;
    Ok(ExitCode::Ok)
}
