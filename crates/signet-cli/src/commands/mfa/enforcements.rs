//! `signet mfa enforcement create|read|delete|list`: Vault's
//! `identity/mfa/login-enforcement/{name}`.

use serde_json::{Map, Value, json};

use signet_proto::vault::EnforcementView;

use super::client::{VaultClient, view};
use super::{listed, text};
use crate::commands::Ctx;
use crate::exit::ExitCode;

/// The sign-ons an enforcement applies to; an empty list is not sent, so a
/// replacement keeps the one it had, as Vault does.
pub struct Targets {
    pub types: Vec<String>,
    pub accessors: Vec<String>,
    pub groups: Vec<String>,
    pub entities: Vec<String>,
}

fn body(method_ids: &[String], t: &Targets) -> Value {
    let mut b = Map::new();
    b.insert("mfa_method_ids".into(), json!(method_ids));
    for (key, list) in [
        ("auth_method_types", &t.types),
        ("auth_method_accessors", &t.accessors),
        ("identity_group_ids", &t.groups),
        ("identity_entity_ids", &t.entities),
    ] {
        if !list.is_empty() {
            b.insert(key.into(), json!(list));
        }
    }
    Value::Object(b)
}

async fn connect(ctx: &Ctx) -> anyhow::Result<VaultClient> {
    VaultClient::connect(&ctx.settings()?).await
}

pub async fn create(ctx: &Ctx, name: &str, method_ids: &[String], targets: &Targets) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    let path = ["login-enforcement", name];
    vault.call("POST", &path, Some(&body(method_ids, targets))).await?;
    let e = vault.read(&path).await?;
    if !ctx.out.json() {
        ctx.out.line(&format!("wrote enforcement {name}"))?;
    }
    show(ctx, &e)
}

pub async fn read(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    show(ctx, &vault.read(&["login-enforcement", name]).await?)
}

pub async fn delete(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    vault.call("DELETE", &["login-enforcement", name], None::<&()>).await?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({"name": name, "deleted": true}))?;
    } else {
        ctx.out.line(&format!("deleted enforcement {name}"))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let vault = connect(ctx).await?;
    let all = vault.list(&["login-enforcement"]).await?;
    if ctx.out.json() {
        ctx.out.print_json(&Value::Array(all))?;
        return Ok(ExitCode::Ok);
    }
    if all.is_empty() {
        ctx.out.line("no login enforcements")?;
        return Ok(ExitCode::Ok);
    }
    let rows = all
        .iter()
        .map(|e| {
            let e: EnforcementView = view(e, "a login enforcement")?;
            Ok(vec![text(&e.name), listed(&e.mfa_method_ids), applies_to(&e)])
        })
        .collect::<anyhow::Result<Vec<Vec<String>>>>()?;
    ctx.out.table(&["NAME", "METHODS", "APPLIES TO"], &rows)?;
    Ok(ExitCode::Ok)
}

/// The targets, in the words of the flags that set them.
fn applies_to(e: &EnforcementView) -> String {
    let parts: Vec<String> = [
        ("types", &e.auth_method_types),
        ("environments", &e.auth_method_accessors),
        ("groups", &e.identity_group_ids),
        ("accounts", &e.identity_entity_ids),
    ]
    .iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(label, list)| format!("{label} {}", listed(list)))
    .collect();
    if parts.is_empty() { "-".into() } else { parts.join("; ") }
}

fn show(ctx: &Ctx, raw: &Value) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(raw)?;
        return Ok(ExitCode::Ok);
    }
    let e: EnforcementView = view(raw, "a login enforcement")?;
    ctx.out.fields(&[
        ("name", text(&e.name)),
        ("id", text(&e.id)),
        ("methods", listed(&e.mfa_method_ids)),
        ("auth method types", listed(&e.auth_method_types)),
        ("environments", listed(&e.auth_method_accessors)),
        ("groups", listed(&e.identity_group_ids)),
        ("accounts", listed(&e.identity_entity_ids)),
    ])?;
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_not_given_are_not_sent() {
        let t = Targets { types: vec!["password".into()], accessors: vec![], groups: vec![], entities: vec![] };
        assert_eq!(body(&["m".into()], &t), json!({"mfa_method_ids": ["m"], "auth_method_types": ["password"]}));
        let e = json!({"name": "e", "auth_method_types": ["password"], "identity_group_ids": ["Admin", "Auditor"], "identity_entity_ids": []});
        assert_eq!(applies_to(&view(&e, "an enforcement").unwrap()), "types password; groups Admin,Auditor");
    }
}
