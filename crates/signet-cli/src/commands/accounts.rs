//! `signet accounts list|get|create|update|set-password`: the admin accounts
//! of the Administrators environment, through the admin API.
//!
//! Passwords are never arguments (see `secret`). `update` reads the account,
//! then writes with `If-Match` set to the ETag it read (RFC 9110 §13.1.1), so
//! a change someone made in between is refused with 412 instead of being
//! silently overwritten by a role set computed from stale state.

use std::borrow::Cow;

use anyhow::{Context, bail};
use serde_json::json;
use signet_client::admin::{AdminError, Page};
use signet_proto::admin::accounts::{AccountUpdate, AccountView, NewAccount, PasswordChange};
use signet_proto::roles::Role;

use crate::cli::{AccountsCommand, PageArgs};
use crate::commands::Ctx;
use crate::commands::request::{AdminClient, ApiError};
use crate::exit::ExitCode;
use crate::output::{list as names, utc, yes};
use crate::secret::{self, Password, Source};

/// The collection, under the admin API.
const ACCOUNTS: &str = "accounts";

pub async fn run(ctx: &Ctx, cmd: AccountsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AccountsCommand::List { page } => list(ctx, page).await,
        AccountsCommand::Get { username } => get(ctx, &username).await,
        AccountsCommand::Create { username, roles, auditor, password_stdin } => {
            create(ctx, &username, &roles, auditor, password_stdin).await
        }
        AccountsCommand::Update { username, roles, no_roles, active, auditor } => {
            let roles = if no_roles { Some(Vec::new()) } else { (!roles.is_empty()).then_some(roles) };
            update(ctx, &username, &Change { roles, active, auditor }).await
        }
        AccountsCommand::SetPassword { username, password_stdin } => set_password(ctx, &username, password_stdin).await,
    }
}

async fn connect(ctx: &Ctx) -> anyhow::Result<AdminClient> {
    AdminClient::connect(&ctx.settings()?).await
}

async fn list(ctx: &Ctx, page: PageArgs) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let page: Page<AccountView> = admin.pages(&[ACCOUNTS], page.limit, page.all).await?;
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::to_value(&page)?)?;
        return Ok(ExitCode::Ok);
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|a| {
            let flags = [a.active, a.auditor, a.mfa_enrolled, a.locked].map(yes);
            let [active, auditor, mfa, locked] = flags;
            vec![a.username.clone(), active, names(&a.roles), auditor, mfa, locked, utc(a.created_at)]
        })
        .collect();
    ctx.out.table(&["USERNAME", "ACTIVE", "ROLES", "AUDITOR", "MFA", "LOCKED", "CREATED (UTC)"], &rows)?;
    if page.next_cursor.is_some() {
        ctx.out.line("more accounts: --all lists every page")?;
    }
    Ok(ExitCode::Ok)
}

/// One account, for people.
fn describe(ctx: &Ctx, a: &AccountView) -> anyhow::Result<()> {
    ctx.out.fields(&[
        ("username", a.username.clone()),
        ("active", yes(a.active)),
        ("roles", names(&a.roles)),
        ("auditor", yes(a.auditor)),
        ("mfa enrolled", yes(a.mfa_enrolled)),
        ("locked", yes(a.locked)),
        ("must change password", yes(a.password_change_required)),
        ("created (UTC)", utc(a.created_at)),
    ])
}

/// The answer: as JSON for `-O json`, described for people.
fn show(ctx: &Ctx, a: &AccountView) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::to_value(a)?)?
    } else {
        describe(ctx, a)?
    }
    Ok(ExitCode::Ok)
}

async fn get(ctx: &Ctx, username: &str) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    show(ctx, &admin.get::<AccountView>(&[ACCOUNTS, username]).await?.value)
}

async fn create(
    ctx: &Ctx,
    username: &str,
    roles: &[Role],
    auditor: bool,
    password_stdin: bool,
) -> anyhow::Result<ExitCode> {
    // The password first: a missing one fails before anything is sent.
    let password = secret::new_password(Source::choose(password_stdin)?, &format!("password for {username}"))?;
    let admin = connect(ctx).await?;
    // Borrowed, so the password is not copied into a value that outlives the request.
    let body = NewAccount {
        username: Cow::Borrowed(username),
        password: Cow::Borrowed(password.expose()),
        active: true,
        roles: roles.iter().copied().collect(),
        auditor,
    };
    let made: AccountView = admin.create(&[ACCOUNTS], &body).await?;
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::to_value(&made)?)?;
    } else {
        describe(ctx, &made)?;
        ctx.out.line(&format!("created {username}; the password must be replaced at the first sign-on"))?;
    }
    Ok(ExitCode::Ok)
}

/// What `update` changes; `None` keeps the value read.
#[derive(Debug, Default)]
pub struct Change {
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
    pub auditor: Option<bool>,
}

/// The `PUT` body: the account as read, with the change applied. The API
/// replaces the whole state, so every field comes from the same read.
fn apply(read: &AccountView, change: &Change) -> anyhow::Result<AccountUpdate> {
    let roles = match &change.roles {
        Some(r) => r.iter().copied().collect(),
        None => read
            .roles
            .iter()
            .map(|name| {
                Role::parse(name).with_context(|| {
                    format!("the account holds a role this signet does not know ({})\nhint: give --role for every role it should keep, or update signet", name.escape_debug())
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    Ok(AccountUpdate {
        username: None,
        active: change.active.unwrap_or(read.active),
        roles,
        auditor: change.auditor.unwrap_or(read.auditor),
    })
}

fn status_of(e: &anyhow::Error) -> Option<(u16, &str)> {
    e.downcast_ref::<ApiError>().map(|a| (a.status, a.message.as_str()))
}

async fn update(ctx: &Ctx, username: &str, change: &Change) -> anyhow::Result<ExitCode> {
    let admin = connect(ctx).await?;
    let read = admin.get::<AccountView>(&[ACCOUNTS, username]).await?;
    // Without a version to match, a write could undo someone else's change.
    let Some(etag) = read.etag else {
        bail!("the admin API sent no ETag for {username}, so signet cannot write only to what it read");
    };
    let body = apply(&read.value, change)?;
    let written = match admin.api().update::<_, AccountView>(&[ACCOUNTS, username], &body, &etag).await {
        Ok(a) => a.value,
        Err(AdminError::Changed(_)) => bail!(
            "{username} changed after signet read it, so nothing was written (412 precondition_failed)\nhint: check it with signet accounts get {username}, then re-run the command"
        ),
        Err(e) => return Err(admin.explain(e)),
    };
    show(ctx, &written)
}

async fn post_password(
    admin: &AdminClient,
    username: &str,
    current: Option<&Password>,
    new: &Password,
) -> anyhow::Result<()> {
    let body = PasswordChange {
        current_password: current.map(|p| Cow::Borrowed(p.expose())),
        password: Cow::Borrowed(new.expose()),
        must_change: None,
    };
    admin.post(&[ACCOUNTS, username, "password"], Some(&body)).await
}

/// The API asks for the current password only when the account is the caller's own.
fn needs_current(e: &anyhow::Error) -> bool {
    status_of(e).is_some_and(|(s, m)| s == 400 && m.starts_with("current_password:"))
}

async fn set_password(ctx: &Ctx, username: &str, password_stdin: bool) -> anyhow::Result<ExitCode> {
    let source = Source::choose(password_stdin)?;
    let admin = connect(ctx).await?;
    // With basicAuth the caller is known; with a token it shows when the API asks.
    let own = admin.basic_user.as_deref() == Some(username);
    let (mut current, new) = match source {
        Source::Stdin => {
            let mut lines = secret::read_stdin(2)?.into_iter();
            match (lines.next(), lines.next()) {
                (Some(current), Some(new)) => (Some(current), new),
                (Some(new), None) => (None, new),
                _ => bail!("stdin held no password"),
            }
        }
        Source::Prompt => {
            let current = if own { Some(secret::prompt(&format!("current password for {username}"))?) } else { None };
            (current, secret::prompt_new(&format!("new password for {username}"))?)
        }
    };
    let mut sent = post_password(&admin, username, current.as_ref(), &new).await;
    if let Err(e) = &sent
        && current.is_none()
        && needs_current(e)
    {
        if source == Source::Stdin {
            bail!(
                "{username} is your own account: changing its password needs the current one\nhint: give the current password on stdin's first line and the new one on the second"
            );
        }
        current = Some(secret::prompt(&format!("current password for {username}"))?);
        sent = post_password(&admin, username, current.as_ref(), &new).await;
    }
    sent?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({"username": username, "password_changed": true}))?;
        return Ok(ExitCode::Ok);
    }
    ctx.out.line(&format!("password of {username} changed; its sessions and tokens have ended"))?;
    if own {
        ctx.out.line("the admin API's basicAuth password in this profile is now out of date")?;
    } else if current.is_none() {
        ctx.out.line(&format!("{username} must replace it at the next sign-on"))?;
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> AccountView {
        serde_json::from_value(
            json!({"username": "ada", "active": true, "roles": ["Admin", "CryptoAdmin"], "auditor": false,
            "mfa_enrolled": true, "locked": false, "password_change_required": false, "created_at": 1}),
        )
        .unwrap()
    }

    #[test]
    fn update_keeps_what_it_is_not_told_to_change() {
        let body = apply(&ada(), &Change { active: Some(false), ..Change::default() }).unwrap();
        assert_eq!((body.active, body.auditor, body.username), (false, false, None));
        assert_eq!(body.roles, [Role::Admin, Role::CryptoAdmin].into_iter().collect());
    }

    #[test]
    fn update_replaces_the_role_set_and_can_empty_it() {
        let body = apply(&ada(), &Change { roles: Some(vec![Role::ExpressionAdmin]), ..Change::default() }).unwrap();
        assert_eq!(body.roles, [Role::ExpressionAdmin].into_iter().collect());
        let body = apply(&ada(), &Change { roles: Some(vec![]), auditor: Some(true), ..Change::default() }).unwrap();
        assert!(body.roles.is_empty() && body.active && body.auditor);
    }

    #[test]
    fn update_keeps_no_role_it_cannot_name() {
        let mut read = ada();
        read.roles.push("Overlord".into());
        let refused = apply(&read, &Change::default()).unwrap_err();
        assert!(format!("{refused:#}").contains("does not know (Overlord)"), "{refused:#}");
        assert!(apply(&read, &Change { roles: Some(vec![Role::Admin]), ..Change::default() }).is_ok());
    }

    #[test]
    fn update_refuses_an_account_it_cannot_read() {
        assert!(serde_json::from_value::<AccountView>(json!({"username": "ada"})).is_err());
    }
}
