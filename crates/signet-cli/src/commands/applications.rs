//! `signet applications list|get|create|rotate-secret ENV …`: an
//! environment's OAuth clients, through the admin API.
//!
//! The API shows a client secret once, in the answer that made it, and keeps
//! only its hash; so does signet: printed once, to stdout, never logged.

use reqwest::Method;
use signet_proto::roles::Role;

use crate::cli::{AppKind, ApplicationsCommand, GrantType, PageArgs};
use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;
use crate::output::{joined, text, when, yes_no};

pub async fn run(ctx: &Ctx, cmd: ApplicationsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApplicationsCommand::List { env, page } => list(ctx, &env, page).await,
        ApplicationsCommand::Get { env, id } => get(ctx, &env, &id).await,
        ApplicationsCommand::Create { env, name, kind, grants, redirect_uris, scopes, roles } => {
            let new = NewApplication {
                name: &name,
                kind: kind_name(kind),
                grant_types: grant_names(kind, &grants),
                redirect_uris: &redirect_uris,
                scopes: scopes.iter().flat_map(|s| s.split_whitespace()).collect(),
                roles: &roles,
            };
            create(ctx, &env, &new).await
        }
        ApplicationsCommand::RotateSecret { env, id } => rotate_secret(ctx, &env, &id).await,
    }
}

async fn connect(ctx: &Ctx) -> anyhow::Result<AdminClient> {
    AdminClient::connect(&ctx.settings()?).await
}

fn kind_name(k: AppKind) -> &'static str {
    match k {
        AppKind::Native => "native",
        AppKind::Worker => "worker",
        AppKind::Web => "web",
    }
}

/// The grants as the API names them; by default the one grant the kind is for.
fn grant_names(kind: AppKind, grants: &[GrantType]) -> Vec<&'static str> {
    let default = [if kind == AppKind::Worker { GrantType::ClientCredentials } else { GrantType::AuthorizationCode }];
    let grants = if grants.is_empty() { &default[..] } else { grants };
    grants
        .iter()
        .map(|g| match g {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        })
        .collect()
}

async fn list(ctx: &Ctx, env: &str, page: PageArgs) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let found = admin.list(&["environments", env, "applications"], page.limit, page.all).await?;
    if ctx.out.json() {
        ctx.out.print_json(&found)?;
        return Ok(ExitCode::Ok);
    }
    let rows: Vec<Vec<String>> = found["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            vec![
                text(&a["id"]),
                text(&a["kind"]),
                joined(&a["grant_types"]),
                joined(&a["roles"]),
                yes_no(&a["has_secret"]),
                text(&a["name"]),
            ]
        })
        .collect();
    ctx.out.table(&["ID", "KIND", "GRANTS", "ROLES", "SECRET", "NAME"], &rows)?;
    if found["next_cursor"].is_string() {
        ctx.out.line("more applications: --all lists every page")?;
    }
    Ok(ExitCode::Ok)
}

/// One application, for people; its secret too, when the answer carries it.
fn show(ctx: &Ctx, a: &serde_json::Value) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(a)?;
        return Ok(ExitCode::Ok);
    }
    ctx.out.fields(&[
        ("id", text(&a["id"])),
        ("name", text(&a["name"])),
        ("kind", text(&a["kind"])),
        ("grants", joined(&a["grant_types"])),
        ("redirect uris", joined(&a["redirect_uris"])),
        ("scopes", joined(&a["scopes"])),
        ("roles", joined(&a["roles"])),
        ("has secret", yes_no(&a["has_secret"])),
        ("created (UTC)", when(&a["created_at"])),
    ])?;
    if let Some(secret) = a["client_secret"].as_str() {
        ctx.out.line("")?;
        ctx.out.line(&format!("client secret: {secret}"))?;
        ctx.out.line("store it now: it will not be shown again (the server keeps only its hash)")?;
    }
    Ok(ExitCode::Ok)
}

async fn get(ctx: &Ctx, env: &str, id: &str) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications", id], None)?;
    show(ctx, &admin.send(Method::GET, url, None).await?.json.unwrap_or_default())
}

/// The body of `POST /environments/{env}/applications`.
#[derive(serde::Serialize)]
struct NewApplication<'a> {
    name: &'a str,
    kind: &'static str,
    grant_types: Vec<&'static str>,
    redirect_uris: &'a [String],
    scopes: Vec<&'a str>,
    roles: &'a [Role],
}

async fn create(ctx: &Ctx, env: &str, new: &NewApplication<'_>) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications"], None)?;
    show(ctx, &admin.send_with(Method::POST, url, Some(new), None).await?.json.unwrap_or_default())
}

async fn rotate_secret(ctx: &Ctx, env: &str, id: &str) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications", id, "secret"], None)?;
    let rotated = admin.send(Method::POST, url, None).await?.json.unwrap_or_default();
    if !ctx.out.json() {
        ctx.out.line("the previous secret no longer works")?;
    }
    show(ctx, &rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_default_to_the_one_the_kind_is_for() {
        assert_eq!(grant_names(AppKind::Worker, &[]), ["client_credentials"]);
        assert_eq!(grant_names(AppKind::Web, &[]), ["authorization_code"]);
        assert_eq!(
            grant_names(AppKind::Native, &[GrantType::DeviceCode, GrantType::RefreshToken]),
            ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
        );
    }
}
