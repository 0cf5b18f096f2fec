//! `signet keys list|rotate ENV`: an environment's signing keys, through the
//! admin API. Only public parts exist there; a rotated-out key stays
//! published until the tokens it signed expire.

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
    let keys = admin.get::<KeyList>(&["environments", env, "keys"]).await?.value;
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::to_value(&keys)?)?
    } else {
        table(ctx, &keys)?
    }
    Ok(ExitCode::Ok)
}

async fn rotate(ctx: &Ctx, env: &str) -> anyhow::Result<ExitCode> {
    let admin = AdminClient::connect(&ctx.settings()?).await?;
    let keys: KeyList = admin.post::<(), _>(&["environments", env, "keys"], None).await?;
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::to_value(&keys)?)?;
        return Ok(ExitCode::Ok);
    }
    if let Some(k) = keys.items.iter().find(|k| k.active) {
        ctx.out.line(&format!("{} signs from now on; earlier keys stay published until their tokens expire", k.kid))?;
    }
    table(ctx, &keys)?;
    Ok(ExitCode::Ok)
}
