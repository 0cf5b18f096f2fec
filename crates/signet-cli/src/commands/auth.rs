//! `signet auth login|status|logout|token` and `signet pingone auth …`
//! (seed 000): every configured service in turn, or the one named.

use serde::Serialize;
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

/// One row of `auth status`: a service, or the admin API.
#[derive(Debug, Serialize)]
struct Row {
    service: String,
    issuer: Option<String>,
    grant: Option<&'static str>,
    client_id: Option<String>,
    status: String,
    storage_error: Option<String>,
    storage_hint: Option<String>,
    subject: Option<String>,
    expires_at: Option<i64>,
    refreshable: bool,
    scopes: Vec<String>,
    /// Only on the admin API's row.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    admin: Option<AdminColumns>,
}

/// What the admin API's row says beside a service's.
#[derive(Debug, Serialize)]
struct AdminColumns {
    url: String,
    scheme: &'static str,
    /// The service whose token it uses (`authentication.type=oauth`).
    via: Option<String>,
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
    let mut rows: Vec<Row> = services.iter().map(|s| service_row(&settings, s, &store, &store_error)).collect();
    if only.is_none()
        && let Some(admin) = AdminApi::resolve(&settings)?
    {
        rows.push(admin_row(&admin, &rows));
    }
    // Every service signed on, and the admin API too when it uses one's token.
    let all_ok = rows.iter().all(|r| r.status == State::Authenticated.as_str() || r.status == STATIC);
    if ctx.out.json() {
        let (error, hint) = store_error.map_or((None, None), |(e, h)| (Some(e), h));
        ctx.out.print_json(&json!({
            "profile": settings.profile,
            "storage": storage,
            "storage_error": error,
            "storage_hint": hint,
            "services": serde_json::to_value(&rows)?,
        }))?;
    } else if rows.is_empty() {
        ctx.out.line(&format!("profile {} configures no service", settings.profile))?;
    } else {
        print_status_table(ctx, &rows)?;
        ctx.out.line(&format!("tokens kept in: {storage}"))?;
        // Why the storage is unavailable, once for each reason, with its fix.
        let mut shown = Vec::new();
        for r in &rows {
            let Some(error) = r.storage_error.as_deref() else { continue };
            if shown.contains(&error) {
                continue;
            }
            shown.push(error);
            ctx.out.line(error)?;
            if let Some(hint) = &r.storage_hint {
                ctx.out.line(&format!("hint: {hint}"))?;
            }
        }
    }
    Ok(if all_ok { ExitCode::Ok } else { ExitCode::AuthRequired })
}

/// A service's row, from the token cache alone (no network call).
fn service_row(
    settings: &Settings,
    service: &Service,
    store: &anyhow::Result<Store>,
    store_error: &Option<(String, Option<String>)>,
) -> Row {
    let (state, cached) = match store {
        Ok(store) => session::state(settings, service, store).map_err(|e| explain(&e)),
        Err(_) if service.auth.is_none() => Ok((State::NotConfigured, None)),
        Err(_) => Err(store_error.clone().unwrap_or_default()),
    }
    .map_or_else(|e| (Err(e), None), |(state, cached)| (Ok(state), cached));
    let scopes: Vec<String> = cached
        .as_ref()
        .and_then(|t| t.scope.clone())
        .map(|s| s.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    let (storage_error, storage_hint) = match &state {
        Err((error, hint)) => (Some(error.clone()), hint.clone()),
        Ok(_) => (None, None),
    };
    Row {
        service: service.name.clone(),
        issuer: Some(service.issuer.clone()),
        grant: service.auth.as_ref().map(|a| a.grant().as_str()),
        client_id: service.auth.as_ref().map(|a| a.client_id().to_owned()),
        status: state.map_or(STORAGE_UNAVAILABLE, State::as_str).to_owned(),
        storage_error,
        storage_hint,
        subject: cached.as_ref().and_then(|t| t.subject.clone()),
        expires_at: cached.as_ref().and_then(|t| t.expires_at),
        refreshable: cached.as_ref().is_some_and(|t| t.refresh_token.is_some()),
        scopes,
        admin: None,
    }
}

/// The admin API's row. Static credentials have nothing to sign on to and
/// never ask for one; an oauth admin API is as signed on as the service
/// whose token it uses.
fn admin_row(admin: &AdminApi, rows: &[Row]) -> Row {
    let via = match &admin.access {
        AdminAccess::OAuth { service } => Some(service.clone()),
        _ => None,
    };
    let through = via.as_ref().and_then(|v| rows.iter().find(|r| r.service == *v));
    let status = match (&admin.access, through) {
        (AdminAccess::OAuth { .. }, Some(r)) => r.status.clone(),
        (AdminAccess::OAuth { .. }, None) => State::NotConfigured.as_str().to_owned(),
        _ => STATIC.to_owned(),
    };
    Row {
        service: ADMIN_SERVICE.to_owned(),
        issuer: None,
        grant: None,
        client_id: None,
        status,
        storage_error: through.and_then(|r| r.storage_error.clone()),
        storage_hint: through.and_then(|r| r.storage_hint.clone()),
        subject: None,
        expires_at: None,
        refreshable: false,
        scopes: Vec::new(),
        admin: Some(AdminColumns { url: admin.base.clone(), scheme: admin.access.scheme(), via }),
    }
}

/// `auth status`'s status of a service whose tokens the storage cannot keep or read.
const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
/// `auth status`'s status of an admin API reached with static credentials.
const STATIC: &str = "static";

/// An error as `auth status` reports it: one line, and its first hint.
fn explain(e: &anyhow::Error) -> (String, Option<String>) {
    let (message, hints) = crate::output::explain(e);
    (message, hints.into_iter().next())
}

fn print_status_table(ctx: &Ctx, rows: &[Row]) -> anyhow::Result<()> {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let expires = r.expires_at.map(|e| describe_expiry(e - crate::signon::now())).unwrap_or_default();
            let status = match &r.admin {
                Some(AdminColumns { via: Some(via), .. }) => format!("{} (via {via})", r.status.replace('_', " ")),
                Some(AdminColumns { scheme, .. }) if r.status == STATIC => format!("static ({scheme})"),
                _ => r.status.replace('_', " "),
            };
            let subject = r.subject.clone().unwrap_or_default();
            vec![r.service.clone(), status, subject, expires, r.scopes.join(" ")]
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
