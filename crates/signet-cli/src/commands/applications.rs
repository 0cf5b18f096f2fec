//! `signet applications list|get|create|rotate-secret ENV …`: an
//! environment's OAuth clients, through the admin API.
//!
//! The API shows a client secret once, in the answer that made it, and keeps
//! only its hash; so does signet: printed once, to stdout, never logged.

use anyhow::Context;
use reqwest::Method;
use signet_proto::admin::applications::{self as wire, ApplicationPage, ApplicationView, NewApplication};

use crate::cli::{AppKind, ApplicationsCommand, GrantType, PageArgs};
use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;
use crate::output::{list as names, utc, yes};

pub async fn run(ctx: &Ctx, cmd: ApplicationsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApplicationsCommand::List { env, page } => list(ctx, &env, page).await,
        ApplicationsCommand::Get { env, id } => get(ctx, &env, &id).await,
        ApplicationsCommand::Create { env, name, kind, grants, redirect_uris, scopes, roles } => {
            let new = NewApplication {
                name,
                kind: wire_kind(kind),
                grant_types: grant_types(kind, &grants).into_iter().collect(),
                redirect_uris,
                scopes: scopes.iter().flat_map(|s| s.split_whitespace()).map(str::to_owned).collect(),
                roles: roles.into_iter().collect(),
                pkce_required: true,
            };
            create(ctx, &env, &new).await
        }
        ApplicationsCommand::RotateSecret { env, id } => rotate_secret(ctx, &env, &id).await,
    }
}

async fn connect(ctx: &Ctx) -> anyhow::Result<AdminClient> {
    AdminClient::connect(&ctx.settings()?).await
}

fn wire_kind(k: AppKind) -> wire::AppKind {
    match k {
        AppKind::Native => wire::AppKind::Native,
        AppKind::Worker => wire::AppKind::Worker,
        AppKind::Web => wire::AppKind::Web,
    }
}

/// The grants asked for; by default the one grant the kind is for.
fn grant_types(kind: AppKind, grants: &[GrantType]) -> Vec<wire::GrantType> {
    let default = [if kind == AppKind::Worker { GrantType::ClientCredentials } else { GrantType::AuthorizationCode }];
    let grants = if grants.is_empty() { &default[..] } else { grants };
    grants
        .iter()
        .map(|g| match g {
            GrantType::AuthorizationCode => wire::GrantType::AuthorizationCode,
            GrantType::RefreshToken => wire::GrantType::RefreshToken,
            GrantType::ClientCredentials => wire::GrantType::ClientCredentials,
            GrantType::DeviceCode => wire::GrantType::DeviceCode,
        })
        .collect()
}

/// An answer of the admin API about applications.
fn read<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> anyhow::Result<T> {
    serde_json::from_value(json).context("the admin API's answer is not an application signet can read")
}

/// An application's grants as `a,b`; `-` when it has none.
fn grants(a: &ApplicationView) -> String {
    names(&a.grant_types.iter().map(|g| g.as_str().to_owned()).collect::<Vec<_>>())
}

async fn list(ctx: &Ctx, env: &str, page: PageArgs) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let found = admin.list(&["environments", env, "applications"], page.limit, page.all).await?;
    if ctx.out.json() {
        ctx.out.print_json(&found)?;
        return Ok(ExitCode::Ok);
    }
    let page: ApplicationPage = read(found)?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|a| {
            let kind = a.kind.as_str().to_owned();
            vec![a.id.clone(), kind, grants(a), names(&a.roles), yes(a.has_secret), a.name.clone()]
        })
        .collect();
    ctx.out.table(&["ID", "KIND", "GRANTS", "ROLES", "SECRET", "NAME"], &rows)?;
    if page.next_cursor.is_some() {
        ctx.out.line("more applications: --all lists every page")?;
    }
    Ok(ExitCode::Ok)
}

/// One application, for people; its secret too, when the answer carries it.
fn show(ctx: &Ctx, a: serde_json::Value) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(&a)?;
        return Ok(ExitCode::Ok);
    }
    let a: ApplicationView = read(a)?;
    ctx.out.fields(&[
        ("id", a.id.clone()),
        ("name", a.name.clone()),
        ("kind", a.kind.as_str().to_owned()),
        ("grants", grants(&a)),
        ("redirect uris", names(&a.redirect_uris)),
        ("scopes", names(&a.scopes.iter().cloned().collect::<Vec<_>>())),
        ("roles", names(&a.roles)),
        ("has secret", yes(a.has_secret)),
        ("created (UTC)", utc(a.created_at)),
    ])?;
    if let Some(secret) = &a.client_secret {
        ctx.out.line("")?;
        ctx.out.line(&format!("client secret: {secret}"))?;
        ctx.out.line("store it now: it will not be shown again (the server keeps only its hash)")?;
    }
    Ok(ExitCode::Ok)
}

async fn get(ctx: &Ctx, env: &str, id: &str) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications", id], None)?;
    show(ctx, admin.send(Method::GET, url, None).await?.json.unwrap_or_default())
}

async fn create(ctx: &Ctx, env: &str, new: &NewApplication) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications"], None)?;
    show(ctx, admin.send_with(Method::POST, url, Some(new), None).await?.json.unwrap_or_default())
}

async fn rotate_secret(ctx: &Ctx, env: &str, id: &str) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let url = admin.at(&["environments", env, "applications", id, "secret"], None)?;
    let rotated = admin.send(Method::POST, url, None).await?.json.unwrap_or_default();
    if !ctx.out.json() {
        ctx.out.line("the previous secret no longer works")?;
    }
    show(ctx, rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_default_to_the_one_the_kind_is_for() {
        let named = |kind, grants: &[GrantType]| -> Vec<&str> {
            grant_types(kind, grants).into_iter().map(wire::GrantType::as_str).collect()
        };
        assert_eq!(named(AppKind::Worker, &[]), ["client_credentials"]);
        assert_eq!(named(AppKind::Web, &[]), ["authorization_code"]);
        assert_eq!(
            named(AppKind::Native, &[GrantType::DeviceCode, GrantType::RefreshToken]),
            ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
        );
    }
}
