//! `signet auth login|status|logout|token` and `signet pingone auth …`
//! (seed 000): every configured service in turn, or the one named.

use serde_json::json;

use crate::commands::{Ctx, admin_target};
use crate::config::settings::Settings;
use crate::exit::ExitCode;
use crate::output::safe;
use crate::services::{ADMIN_SERVICE, AdminAccess, AdminApi, Service};
use crate::session::{self, LoggedOut, State};
use crate::token_store::Store;

fn storage_kind(settings: &Settings) -> String {
    settings.value("auth.storage.type").unwrap_or_else(|| "secure_local".into())
}

fn store(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&storage_kind(settings))
}

/// The services a command acts on: the one named, or every configured one.
/// Empty when the profile configures only an admin API with static
/// credentials, which has nothing to sign on to.
fn services(settings: &Settings, only: Option<&str>) -> anyhow::Result<Vec<Service>> {
    let names = match only {
        Some(n) => vec![n.to_owned()],
        None => settings.services(),
    };
    if names.is_empty() && AdminApi::resolve(settings)?.is_some_and(|a| !matches!(a.access, AdminAccess::OAuth { .. }))
    {
        return Ok(Vec::new());
    }
    if names.is_empty() {
        anyhow::bail!(
            "profile {} configures no service\nhint: signet config set \"service.pingone.authentication.type=device_code\" (see signet config list-keys)",
            settings.profile
        );
    }
    names.iter().map(|n| Service::resolve(settings, n)).collect()
}

pub async fn login(ctx: &Ctx, only: Option<&str>, open_browser: bool) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let store = store(&settings)?;
    let mut results = Vec::new();
    for service in services(&settings, only)? {
        let signed = session::login(&settings, &service, &store, open_browser).await?;
        let t = &signed.tokens;
        let pointed = match &signed.admin_api {
            Some(api) => Some(admin_target::point(&ctx.path()?, &settings, &service.name, &service.issuer, api)?),
            None => None,
        };
        if !ctx.out.json() {
            let who = t.subject.as_deref().map(|s| format!(" as {s}")).unwrap_or_default();
            ctx.out.line(&format!("signed on to {}{who}", signed.reached))?;
            if let (Some(p), Some(api)) = (&pointed, &signed.admin_api) {
                match p {
                    admin_target::Pointed::Hint(h) => eprintln!("hint: {h}"),
                    _ => {
                        if let Some(line) = admin_target::describe(p, &settings.profile, api) {
                            ctx.out.line(&line)?;
                        }
                    }
                }
            }
        }
        results.push(json!({
            "service": service.name,
            "subject": t.subject,
            "expires_at": t.expires_at,
            "admin_api": pointed.as_ref().map(admin_target::Pointed::to_json),
        }));
    }
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": settings.profile, "services": results}))?;
    } else if results.is_empty() {
        ctx.out.line(&format!("nothing to sign on to: {ADMIN_SERVICE} uses static credentials"))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn status(ctx: &Ctx, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let names = match only {
        Some(n) => vec![n.to_owned()],
        None => settings.services(),
    };
    let services: Vec<Service> = names.iter().map(|n| Service::resolve(&settings, n)).collect::<Result<_, _>>()?;
    // The storage checked as a sign-on checks it, so `storage_unavailable`
    // here is exactly what would stop `auth login`.
    let kind = storage_kind(&settings);
    let opened = Store::open(&kind);
    let storage = opened.as_ref().map_or(kind, Store::describe);
    let store = match opened {
        Ok(s) if services.iter().all(|s| s.auth.is_none()) => Ok(s),
        Ok(s) => s.check().map(|()| s).map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    let store_error = store.as_ref().err().map(explain);
    let mut all_ok = true;
    let mut rows = Vec::new();
    for service in &services {
        let (state, cached) = match &store {
            Ok(store) => session::state(&settings, service, store).map_err(|e| explain(&e)),
            Err(_) if service.auth.is_none() => Ok((State::NotConfigured, None)),
            Err(_) => Err(store_error.clone().unwrap_or_default()),
        }
        .map_or_else(|e| (Err(e), None), |(state, cached)| (Ok(state), cached));
        if !matches!(state, Ok(State::Authenticated)) {
            all_ok = false;
        }
        let scopes: Vec<String> = cached
            .as_ref()
            .and_then(|t| t.scope.clone())
            .map(|s| s.split(' ').map(str::to_owned).collect())
            .unwrap_or_default();
        let (error, hint) = match &state {
            Err((error, hint)) => (Some(error.clone()), hint.clone()),
            Ok(_) => (None, None),
        };
        rows.push(json!({
            "service": service.name,
            "issuer": service.issuer,
            "grant": service.auth.as_ref().map(|a| a.grant().as_str()),
            "client_id": service.auth.as_ref().map(|a| a.client_id().to_owned()),
            "status": state.map_or(STORAGE_UNAVAILABLE, State::as_str),
            "storage_error": error,
            "storage_hint": hint,
            "subject": cached.as_ref().and_then(|t| t.subject.clone()),
            "expires_at": cached.as_ref().and_then(|t| t.expires_at),
            "refreshable": cached.as_ref().is_some_and(|t| t.refresh_token.is_some()),
            "scopes": scopes,
        }));
    }
    if only.is_none()
        && let Some(admin) = AdminApi::resolve(&settings)?
    {
        // Static credentials have nothing to sign on to and never ask for one;
        // an oauth admin API is as signed on as the service whose token it uses.
        let via = match &admin.access {
            AdminAccess::OAuth { service } => rows.iter().find(|r| r["service"] == service.as_str()),
            _ => None,
        };
        let status = match &admin.access {
            AdminAccess::OAuth { .. } => {
                let status = via.map(|r| r["status"].clone()).unwrap_or_else(|| State::NotConfigured.as_str().into());
                if status != State::Authenticated.as_str() {
                    all_ok = false;
                }
                status
            }
            _ => "static".into(),
        };
        let (error, hint) = via.map(|r| (r["storage_error"].clone(), r["storage_hint"].clone())).unwrap_or_default();
        rows.push(json!({
            "service": ADMIN_SERVICE,
            "issuer": null,
            "url": admin.base,
            "grant": null,
            "client_id": null,
            "status": status,
            "storage_error": error,
            "storage_hint": hint,
            "scheme": admin.access.scheme(),
            "via": match &admin.access { AdminAccess::OAuth { service } => Some(service.clone()), _ => None },
            "subject": null,
            "expires_at": null,
            "refreshable": false,
            "scopes": [],
        }));
    }
    if ctx.out.json() {
        let (error, hint) = store_error.map_or((None, None), |(e, h)| (Some(e), h));
        ctx.out.print_json(&json!({
            "profile": settings.profile,
            "storage": storage,
            "storage_error": error,
            "storage_hint": hint,
            "services": rows,
        }))?;
    } else if rows.is_empty() {
        ctx.out.line(&format!("profile {} configures no service", settings.profile))?;
    } else {
        print_status_table(ctx, &rows)?;
        ctx.out.line(&format!("tokens kept in: {storage}"))?;
        // Why the storage is unavailable, once for each reason, with its fix.
        let mut shown = Vec::new();
        for r in &rows {
            let Some(error) = r["storage_error"].as_str() else { continue };
            if shown.contains(&error) {
                continue;
            }
            shown.push(error);
            ctx.out.line(error)?;
            if let Some(hint) = r["storage_hint"].as_str() {
                ctx.out.line(&format!("hint: {hint}"))?;
            }
        }
    }
    Ok(if all_ok { ExitCode::Ok } else { ExitCode::AuthRequired })
}

/// `auth status`'s status of a service whose tokens the storage cannot keep or read.
const STORAGE_UNAVAILABLE: &str = "storage_unavailable";

/// An error as `auth status` reports it: one line, and its first hint.
fn explain(e: &anyhow::Error) -> (String, Option<String>) {
    let (message, hints) = crate::output::explain(e);
    (message, hints.into_iter().next())
}

fn print_status_table(ctx: &Ctx, rows: &[serde_json::Value]) -> anyhow::Result<()> {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            let expires =
                r["expires_at"].as_i64().map(|e| describe_expiry(e - crate::signon::now())).unwrap_or_default();
            let scopes = r["scopes"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let status = match r["via"].as_str() {
                Some(via) => format!("{} (via {via})", s("status").replace('_', " ")),
                None if s("status") == "static" => format!("static ({})", s("scheme")),
                None => s("status").replace('_', " "),
            };
            vec![s("service"), status, s("subject"), expires, scopes]
        })
        .collect();
    ctx.out.table(&["SERVICE", "STATUS", "SUBJECT", "EXPIRES", "SCOPES"], &table)
}

fn describe_expiry(seconds: i64) -> String {
    match seconds {
        s if s <= 0 => "expired".into(),
        s if s < 120 => format!("in {s}s"),
        s if s < 7200 => format!("in {}m", s / 60),
        s => format!("in {}h", s / 3600),
    }
}

pub async fn logout(ctx: &Ctx, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let store = store(&settings)?;
    let mut results = Vec::new();
    for service in services(&settings, only)? {
        if service.auth.is_none() {
            continue;
        }
        let outcome = session::logout(&settings, &service, &store).await?;
        let (status, text) = match &outcome {
            LoggedOut::Revoked => ("revoked", format!("signed off {}: tokens revoked and removed", service.name)),
            LoggedOut::LocalOnly(why) => {
                eprintln!("warning: {}: tokens removed locally, but not revoked: {}", service.name, safe(why));
                ("removed_locally", format!("signed off {} (local only)", service.name))
            }
            LoggedOut::NotSignedIn => ("not_signed_in", format!("{} was not signed in", service.name)),
        };
        if !ctx.out.json() {
            ctx.out.line(&text)?;
        }
        results.push(json!({"service": service.name, "result": status}));
    }
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": settings.profile, "services": results}))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn token(ctx: &Ctx, only: Option<&str>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let store = store(&settings)?;
    let name = match only {
        Some(n) => n.to_owned(),
        None => match settings.services().as_slice() {
            [one] => one.clone(),
            [] => anyhow::bail!("profile {} configures no service", settings.profile),
            _ => {
                anyhow::bail!("profile {} configures several services\nhint: name one with --service", settings.profile)
            }
        },
    };
    let service = Service::resolve(&settings, &name)?;
    // A session's token: asked for, or the only sign-on this service has.
    let regular = if settings.security_token { None } else { Some(session::fresh(&settings, &service, &store).await) };
    let session_token = match regular {
        None => Some(key_bound(&settings, &name)?),
        Some(Err(e)) if e.downcast_ref::<session::NotSignedIn>().is_some() => match key_bound(&settings, &name) {
            Ok(t) => Some(t),
            Err(_) => return Err(e),
        },
        Some(Err(e)) => return Err(e),
        Some(Ok(t)) => {
            print_token(ctx, &name, &t.access_token, t.expires_at)?;
            None
        }
    };
    if let Some((token, expires_at)) = session_token {
        eprintln!(
            "note: this token is bound to the session's key (DPoP): it is refused unless each request also carries a proof signed by that key, as signet request --auth security_token sends"
        );
        print_token(ctx, &name, &token, Some(expires_at))?;
    }
    Ok(ExitCode::Ok)
}

/// The access token of the profile's session, when it signs on to `service`.
fn key_bound(settings: &Settings, service: &str) -> anyhow::Result<(String, i64)> {
    let s = signet_client::Session::load(&settings.profile)?;
    if s.file.service != service {
        anyhow::bail!("the session of profile {} is for service {}, not {service}", settings.profile, s.file.service);
    }
    crate::commands::session::signer(&s)?;
    Ok((s.file.access_token.clone(), s.file.expires_at))
}

fn print_token(ctx: &Ctx, name: &str, token: &str, expires_at: Option<i64>) -> anyhow::Result<()> {
    if ctx.out.json() {
        ctx.out.print_json(&json!({"service": name, "access_token": token, "expires_at": expires_at}))?;
    } else {
        ctx.out.line(token)?;
    }
    Ok(())
}
