//! `signet keys list|rotate ENV`: an environment's signing keys, through the
//! admin API. Only public parts exist there; a rotated-out key stays
//! published until the tokens it signed expire.

use anyhow::Context;
use reqwest::Method;
use signet_proto::admin::keys::KeyList;

use crate::cli::KeysCommand;
use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;
use crate::output::{text, utc, yes};

pub async fn run(ctx: &Ctx, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::List { env } => list(ctx, &env).await,
        KeysCommand::Rotate { env } => rotate(ctx, &env).await,
    }
}

/// The keys as the admin API sent them.
fn read(json: serde_json::Value) -> anyhow::Result<KeyList> {
    serde_json::from_value(json).context("the admin API's answer is not a list of keys signet can read")
}

fn table(ctx: &Ctx, keys: &KeyList) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = keys
        .items
        .iter()
        .map(|k| {
            let alg = k.public_jwk.get("alg").map(text).unwrap_or_default();
            let retired = k.retired_at.map_or_else(|| "-".into(), utc);
            vec![k.kid.clone(), yes(k.active), alg, utc(k.created_at), retired]
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
        table(ctx, &read(keys)?)?
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
    let keys = read(keys)?;
    if let Some(k) = keys.items.iter().find(|k| k.active) {
        ctx.out.line(&format!("{} signs from now on; earlier keys stay published until their tokens expire", k.kid))?;
    }
    table(ctx, &keys)?;
    Ok(ExitCode::Ok)
}
