//! `signet mfa method|enforcement …`: login MFA methods and enforcements,
//! through signetd's Vault-compatible API (`/v1/identity/mfa/`). `-O json`
//! prints the answer's `data`, or a list's items as an array.

mod client;
mod enforcements;
mod methods;

use serde_json::Value;

use crate::cli::mfa::{EnforcementCommand, MethodCommand, MfaCommand};
use crate::commands::Ctx;
use crate::exit::ExitCode;

pub async fn run(ctx: &Ctx, cmd: MfaCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        MfaCommand::Method(c) => match c {
            MethodCommand::Create(new) => methods::create(ctx, new).await,
            MethodCommand::Update(changed) => methods::update(ctx, changed).await,
            MethodCommand::Read { first, id } => methods::read(ctx, &first, id.as_deref()).await,
            MethodCommand::Delete { kind, id } => methods::delete(ctx, kind, &id).await,
            MethodCommand::List { kind } => methods::list(ctx, kind).await,
        },
        MfaCommand::Enforcement(c) => match c {
            EnforcementCommand::Create { name, method_ids, auth_method_types, accessors, groups, entities } => {
                let types = auth_method_types.iter().map(|t| t.as_str().to_owned()).collect();
                let targets = enforcements::Targets { types, accessors, groups, entities };
                enforcements::create(ctx, &name, &method_ids, &targets).await
            }
            EnforcementCommand::Read { name } => enforcements::read(ctx, &name).await,
            EnforcementCommand::Delete { name } => enforcements::delete(ctx, &name).await,
            EnforcementCommand::List => enforcements::list(ctx).await,
        },
    }
}

/// A text field for people: `-` when empty.
fn text(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_owned() }
}

/// A list for people: comma-separated, `-` when empty.
fn listed(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(",") }
}

/// A field of an answer, for people: `-` when empty, yes/no for booleans,
/// lists joined with commas.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(",")
        }
        _ => "-".into(),
    }
}
