//! Profiles: list, add, delete, activate and view.

use serde_json::json;

use crate::commands::Ctx;
use crate::config::ConfigFile;
use crate::config::keys::{self, KEYS};
use crate::exit::ExitCode;
use crate::output::mask;

pub fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let file = ConfigFile::load(&ctx.path()?)?;
    let active = file.active_profile().to_owned();
    let profiles = file.profiles();
    if ctx.out.json() {
        let list: Vec<_> = profiles
            .iter()
            .map(|p| json!({"name": p, "active": *p == active, "description": file.description(p)}))
            .collect();
        ctx.out.print_json(&json!(list))?;
    } else {
        let rows: Vec<Vec<String>> = profiles
            .iter()
            .map(|p| {
                let marker = if *p == active { "*" } else { "" };
                vec![marker.to_owned(), p.clone(), file.description(p).unwrap_or_default().to_owned()]
            })
            .collect();
        ctx.out.table(&["", "PROFILE", "DESCRIPTION"], &rows)?;
    }
    Ok(ExitCode::Ok)
}

pub fn add(ctx: &Ctx, name: &str, description: Option<&str>, set_active: bool) -> anyhow::Result<ExitCode> {
    ConfigFile::update(&ctx.path()?, |f| {
        f.add_profile(name, description)?;
        if set_active {
            f.set_active(name)?;
        }
        Ok(())
    })?;
    done(ctx, json!({"profile": name, "added": true, "active": set_active}), &format!("profile {name} added"))
}

pub fn delete(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    ConfigFile::update(&ctx.path()?, |f| f.delete_profile(name))?;
    done(ctx, json!({"profile": name, "deleted": true}), &format!("profile {name} deleted"))
}

pub fn set_active(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    ConfigFile::update(&ctx.path()?, |f| f.set_active(name))?;
    done(ctx, json!({"profile": name, "active": true}), &format!("profile {name} is now active"))
}

fn done(ctx: &Ctx, json: serde_json::Value, text: &str) -> anyhow::Result<ExitCode> {
    if ctx.out.json() {
        ctx.out.print_json(&json)?
    } else {
        ctx.out.line(text)?
    }
    Ok(ExitCode::Ok)
}

pub fn view(ctx: &Ctx, name: Option<&str>, unmask: bool) -> anyhow::Result<ExitCode> {
    let file = ConfigFile::load(&ctx.path()?)?;
    let profile = match name {
        Some(n) => n.to_owned(),
        None => ctx.settings()?.profile,
    };
    file.require_profile(&profile)?;
    let mut rows = Vec::new();
    let mut services: Vec<String> = vec!["pingone".into()];
    if let Some(t) = file.profile_table(&profile).and_then(|t| t.get("service")).and_then(|s| s.as_table()) {
        services.extend(t.keys().filter(|k| *k != "pingone").cloned());
    }
    for (i, def) in KEYS.iter().enumerate() {
        let names: Vec<String> = if def.key.contains("<name>") {
            services.iter().map(|s| def.key.replace("<name>", s)).collect()
        } else {
            vec![def.key.to_owned()]
        };
        for k in names {
            let Ok(key) = keys::resolve(&k) else { continue };
            // A connector's own definition (pingone's) is listed once, under itself.
            if key.def_index != i {
                continue;
            }
            if let Some(v) = file.get(&profile, &key) {
                let shown = if def.secret && !unmask { mask(&v) } else { v };
                rows.push((key.canonical, shown));
            }
        }
    }
    if ctx.out.json() {
        let settings: serde_json::Map<String, serde_json::Value> =
            rows.into_iter().map(|(k, v)| (k, json!(v))).collect();
        ctx.out.print_json(&json!({
            "profile": profile,
            "active": file.active_profile() == profile,
            "description": file.description(&profile),
            "settings": settings,
        }))?;
    } else {
        ctx.out
            .line(&format!("profile {profile}{}", if file.active_profile() == profile { " (active)" } else { "" }))?;
        if let Some(d) = file.description(&profile) {
            ctx.out.line(&format!("description: {d}"))?;
        }
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![k, v]).collect();
        ctx.out.table(&["KEY", "VALUE"], &rows)?;
    }
    Ok(ExitCode::Ok)
}
