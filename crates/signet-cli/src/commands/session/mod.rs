//! `signet session …`: key-bound session tokens (seed 004). A session is a
//! sign-on whose tokens are bound to a P-256 key kept beside them (DPoP,
//! RFC 9449), in `$XDG_STATE_HOME/signet/sessions/<profile>/`; the files'
//! format is `signet_client`'s, so programs load the same session.
//!
//! Unlike OCI's session tokens, a refresh gives a full new lifetime (up to
//! 24 hours after the sign-on), an export encrypts every secret, terminate
//! revokes at the server first, and nothing prompts without a terminal.

mod archive;
mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use signet_client::{ProofKey, Session, SessionFile};
use signet_proto::oauth::IntrospectionResponse;

use crate::cli::SessionCommand;
use crate::commands::Ctx;
use crate::config::settings::Settings;
use crate::exit::ExitCode;
use crate::output::safe;
use crate::services::{ADMIN_SERVICE, AdminAccess, AdminApi, Auth, Service};
use crate::signon::{Provider, auth_code, device_code, now, unreachable};
use crate::token_store::Cached;

/// The session cannot be used any more (exit code 4): it expired, was
/// revoked, or reached its limit.
#[derive(Debug, thiserror::Error)]
#[error("{message}\nhint: {hint}")]
pub struct Ended {
    pub message: String,
    pub hint: String,
}

/// A session's signer, or why there is none, in words for people.
pub(crate) fn signer(session: &Session) -> anyhow::Result<signet_client::Signer> {
    session.signer().map_err(|e| match e {
        signet_client::Error::Expired(at) => {
            ended(format!("the session expired at {}", when(at)), "signet session refresh")
        }
        other => other.into(),
    })
}

fn ended(message: impl Into<String>, hint: &str) -> anyhow::Error {
    Ended { message: message.into(), hint: hint.to_owned() }.into()
}

const SIGN_ON_AGAIN: &str = "signet session authenticate signs on again";

pub async fn run(ctx: &Ctx, c: SessionCommand) -> anyhow::Result<ExitCode> {
    match c {
        SessionCommand::Authenticate {
            service,
            session_expiration_in_minutes,
            public_key_file_path,
            private_key_file_path,
            no_browser,
        } => {
            let a = Authenticate {
                service: service.as_deref(),
                minutes: session_expiration_in_minutes,
                public_key: public_key_file_path.as_deref(),
                private_key: private_key_file_path.as_deref(),
                no_browser,
            };
            authenticate(ctx, a).await
        }
        SessionCommand::Validate => validate(ctx).await,
        SessionCommand::Refresh => refresh(ctx).await,
        SessionCommand::Terminate => terminate(ctx).await,
        SessionCommand::Export { output_file, passphrase_file, insecure_unencrypted, force } => {
            archive::export(ctx, &output_file, passphrase_file.as_deref(), insecure_unencrypted, force)
        }
        SessionCommand::Import { session_archive, passphrase_file, insecure_unencrypted, force, accept_settings } => {
            let o = archive::ImportOptions {
                passphrase_file: passphrase_file.as_deref(),
                insecure: insecure_unencrypted,
                force,
                accept_settings,
            };
            archive::import(ctx, &session_archive, &o)
        }
    }
}

struct Authenticate<'a> {
    service: Option<&'a str>,
    minutes: u32,
    public_key: Option<&'a Path>,
    private_key: Option<&'a Path>,
    no_browser: bool,
}

/// The service a session signs on to: the one named, else the one the
/// admin API takes its tokens from, else the profile's only service.
fn service_for(settings: &Settings, named: Option<&str>) -> anyhow::Result<Service> {
    let name = match named {
        Some(n) => n.to_owned(),
        None => match AdminApi::resolve(settings)? {
            Some(AdminApi { access: AdminAccess::OAuth { service }, .. }) => service,
            _ => {
                let names: Vec<String> = settings.services().into_iter().filter(|n| n != ADMIN_SERVICE).collect();
                match names.as_slice() {
                    [one] => one.clone(),
                    [] => bail!(
                        "profile {} configures no service to sign on to\nhint: signet config set \"service.pingone.endpoint.baseURL=…\" (see the README's tour)",
                        settings.profile
                    ),
                    _ => {
                        bail!("profile {} configures several services\nhint: name one with --service", settings.profile)
                    }
                }
            }
        },
    };
    Service::resolve(settings, &name)
}

async fn authenticate(ctx: &Ctx, a: Authenticate<'_>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let dir = signet_client::dir_for(&settings.profile)?;
    let service = service_for(&settings, a.service)?;
    // Before the provider is asked anything: a session that cannot be kept
    // would be thrown away after the person typed a password.
    crate::token_store::check_session_dir(&dir)?;
    let (key, private_key_file) = match a.public_key {
        Some(public) => {
            let (key, private) = own_key(public, a.private_key)?;
            (Arc::new(key), Some(private))
        }
        None => (Arc::new(ProofKey::generate()?), None),
    };
    let previous = match dir.join(signet_client::SESSION_FILE).exists() {
        true => Session::load_from(&dir).ok(),
        false => None,
    };
    let file = if a.no_browser {
        token::mint(&settings, &service, previous.as_ref(), &key, a.minutes).await?
    } else {
        service.check_own_redirect_path(&settings)?;
        signed_on(&service, &key, a.minutes).await?
    };
    let session = Session::new(dir, SessionFile { private_key_file, ..file }, key);
    let lock = writer_lock(&settings.profile)?;
    session.save()?;
    drop(lock);
    // The session replaced is ended, unless the new one was minted from it:
    // ending a session ends what was minted from it.
    let unrelated = |old: &Session| old.file.issuer == service.issuer && (!session.file.minted || is_worker(&service));
    if let Some(old) = previous.filter(unrelated) {
        if let Err(e) = revoke(&service, &old).await {
            eprintln!(
                "warning: the session this one replaced was not revoked ({}); it ends by itself",
                safe(&format!("{e:#}"))
            );
        }
    } else if session.file.minted && !is_worker(&service) {
        eprintln!(
            "note: the session it was minted from stays valid at the server until it ends; terminating this one does not end it"
        );
    }
    let how = if session.file.minted { "minted by token exchange" } else { "signed on" };
    report(ctx, &settings, &session, Some(&format!("Session for {} {how}", service.name)))?;
    Ok(ExitCode::Ok)
}

/// The person's own key pair: the public key given, and its private key
/// (named, or found beside it), which must be the public key's pair.
fn own_key(public: &Path, private: Option<&Path>) -> anyhow::Result<(ProofKey, PathBuf)> {
    let pem = std::fs::read_to_string(public).with_context(|| format!("reading {}", public.display()))?;
    let der = signet_client::public_key_der(&pem).map_err(|_| {
        anyhow!(
            "{} is not a PEM public key\nhint: openssl ec -in KEY.pem -pubout -out KEY_public.pem",
            public.display()
        )
    })?;
    let private = match private {
        Some(p) => p.to_owned(),
        None => beside(public).ok_or_else(|| {
            anyhow!("no private key found beside {}\nhint: name it with --private-key-file-path", public.display())
        })?,
    };
    let key = ProofKey::from_pem(&signet_client::read_private(&private)?, None)
        .with_context(|| format!("reading the private key {}", private.display()))?;
    if key.public_spki_der() != der {
        bail!("{} is not the private key of {}", private.display(), public.display());
    }
    let private = std::fs::canonicalize(&private).with_context(|| format!("resolving {}", private.display()))?;
    // signet replaces and removes what is in its session directories.
    let sessions = signet_client::sessions_dir()?;
    if private.starts_with(std::fs::canonicalize(&sessions).unwrap_or(sessions)) {
        bail!(
            "{} is inside signet's session directories, which signet replaces as sessions change\nhint: keep your own key pair elsewhere",
            private.display()
        );
    }
    Ok((key, private))
}

/// Where a public key's private key usually is: `KEY_public.pem` → `KEY.pem`
/// (OCI's naming), `KEY.pub` → `KEY` (OpenSSH's), `public.pem` → `private.pem`.
fn beside(public: &Path) -> Option<PathBuf> {
    let name = public.file_name()?.to_str()?;
    let candidates = [
        name.strip_suffix("_public.pem").map(|b| format!("{b}.pem")),
        name.strip_suffix(".pub").map(str::to_owned),
        name.strip_suffix("public.pem").map(|b| format!("{b}private.pem")),
    ];
    candidates.into_iter().flatten().map(|n| public.with_file_name(n)).find(|p| p.is_file())
}

/// A browser sign-on (or the device flow, when the service uses it) with
/// a proof of `key` on the token request.
async fn signed_on(service: &Service, key: &Arc<ProofKey>, minutes: u32) -> anyhow::Result<SessionFile> {
    let auth = crate::session::auth_of(service)?;
    let mut p = Provider::discover(service).await?;
    p.dpop = Some(Arc::clone(key));
    p.session_minutes = Some(minutes);
    let timeout = Duration::from_secs(service.login_timeout_secs);
    let cached = match auth {
        Auth::AuthorizationCode { client_id, port, path, scopes } => {
            let o = auth_code::Options {
                port: *port,
                path: path.clone(),
                scopes: scopes.clone(),
                timeout,
                open_browser: true,
            };
            auth_code::sign_on(&p, client_id, &o).await?
        }
        Auth::DeviceCode { client_id, scopes } => device_code::sign_on(&p, client_id, scopes, timeout).await?,
        Auth::Worker { .. } => bail!(
            "service {} signs on as a worker application, which has no browser sign-on\nhint: signet session authenticate --no-browser mints a worker's session",
            service.name
        ),
    };
    session_file(service, key, &cached, false)
}

pub(super) fn session_file(service: &Service, key: &ProofKey, t: &Cached, minted: bool) -> anyhow::Result<SessionFile> {
    bound(t.token_type.as_deref())?;
    Ok(SessionFile {
        service: service.name.clone(),
        issuer: service.issuer.clone(),
        client_id: t.client_id.clone(),
        access_token: t.access_token.clone(),
        refresh_token: t.refresh_token.clone(),
        expires_at: t.expires_at.unwrap_or_else(|| now() + 300),
        jkt: key.thumbprint().to_owned(),
        private_key_file: None,
        minted,
        subject: t.subject.clone(),
    })
}

/// A provider that ignores the proof hands out Bearer tokens: those would
/// work for anyone who copies them, so they are not kept as a session.
fn bound(token_type: Option<&str>) -> anyhow::Result<()> {
    match token_type {
        Some(t) if t.eq_ignore_ascii_case("DPoP") => Ok(()),
        other => bail!(
            "the provider answered token_type {}, so the tokens are not bound to the key; no session was kept\nhint: the provider must support DPoP (RFC 9449)",
            other.unwrap_or("(none)")
        ),
    }
}

/// One writer at a time for a profile's session. The lock lives beside the
/// session's directory, so removing the session does not remove it.
pub(super) fn writer_lock(profile: &str) -> anyhow::Result<std::fs::File> {
    let parent = crate::token_store::private_state_dir("sessions")?;
    crate::config::lock_file(&parent.join(format!(".{profile}.lock")))
}

pub(super) fn is_worker(service: &Service) -> bool {
    matches!(service.auth, Some(Auth::Worker { .. }))
}

/// The worker's secret, when the session was minted by the worker the service names.
fn worker_secret<'a>(service: &'a Service, session: &Session) -> Option<&'a str> {
    match &service.auth {
        Some(Auth::Worker { client_id, client_secret, .. }) if *client_id == session.file.client_id => {
            Some(client_secret)
        }
        _ => None,
    }
}

/// Revokes a session's tokens at the provider, as the client they were issued to.
async fn revoke(service: &Service, s: &Session) -> anyhow::Result<()> {
    let cached = Cached {
        issuer: s.file.issuer.clone(),
        client_id: s.file.client_id.clone(),
        grant: String::new(),
        access_token: s.file.access_token.clone(),
        refresh_token: s.file.refresh_token.clone(),
        id_token: None,
        expires_at: Some(s.file.expires_at),
        scope: None,
        subject: None,
        token_type: None,
    };
    crate::session::revoke(service, &s.file.client_id, worker_secret(service, s), &cached).await
}

/// The session of the chosen profile, and its service as configured now.
fn load(settings: &Settings) -> anyhow::Result<(Session, Service)> {
    let session = Session::load(&settings.profile)?;
    let service = Service::resolve(settings, &session.file.service)?;
    if service.issuer != session.file.issuer {
        bail!(
            "the session was made with issuer {}, but service {} now names {}\nhint: {SIGN_ON_AGAIN}",
            session.file.issuer,
            service.name,
            service.issuer
        );
    }
    Ok((session, service))
}

async fn validate(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let (session, service) = load(&settings)?;
    let verdict = ask_server(&session, &service).await;
    if let Err(e) = &verdict
        && ctx.out.json()
        && let Some(end) = e.downcast_ref::<Ended>()
    {
        ctx.out.print_json(&json!({"profile": settings.profile, "valid": false, "reason": end.message}))?;
    }
    verdict?;
    report(ctx, &settings, &session, None)?;
    Ok(ExitCode::Ok)
}

/// Whether the server still takes the session. A person's session asks
/// userinfo, with a proof (the CLI is a public client, so it cannot
/// introspect); a worker's session has no person to ask about, so the worker
/// introspects its token with its own credentials.
async fn ask_server(session: &Session, service: &Service) -> anyhow::Result<()> {
    if session.expired() {
        let hint = if session.file.refresh_token.is_some() { "signet session refresh" } else { SIGN_ON_AGAIN };
        return Err(ended(format!("the session expired at {}", when(session.file.expires_at)), hint));
    }
    let p = Provider::discover(service).await?;
    if let Some(secret) = worker_secret(service, session) {
        return introspected(&p, session, secret).await;
    }
    let url = p.metadata.userinfo_endpoint.clone().ok_or_else(|| {
        anyhow!("the provider of service {} has no userinfo endpoint, so the session cannot be checked", service.name)
    })?;
    let req = p.http.get(&url).header("accept", "application/json").build()?;
    let res = signer(session)?.send(&p.http, req).await.map_err(|e| match e {
        signet_client::Error::Http(e) => unreachable(&e, &url, &service.name),
        other => other.into(),
    })?;
    let status = res.status().as_u16();
    // RFC 6750 §3 / RFC 9449 §7.1: the challenge says which it is.
    let challenge: String = res
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    match status {
        200 => Ok(()),
        401 if challenge.contains("invalid_dpop_proof") => bail!(
            "the server refused the session's proof, not the session: is this machine's clock right? (proofs carry the time)\nhint: check the clock (timedatectl), then run this again"
        ),
        401 => Err(ended(
            "the server no longer accepts the session: it expired, was revoked, or its account was deactivated",
            SIGN_ON_AGAIN,
        )),
        403 => bail!(
            "the server will not show this session's user information (no openid scope?), so it cannot be checked"
        ),
        s => bail!("{url} answered {s}"),
    }
}

/// RFC 7662 with the worker's own credentials: active, and bound to this key.
async fn introspected(p: &Provider, session: &Session, secret: &str) -> anyhow::Result<()> {
    let url = p.metadata.introspection_endpoint.clone().ok_or_else(|| {
        anyhow!(
            "the provider of service {} has no introspection endpoint, so the session cannot be checked",
            p.service.name
        )
    })?;
    let res = p
        .http
        .post(&url)
        .basic_auth(&session.file.client_id, Some(secret))
        .form(&[("token", session.file.access_token.as_str())])
        .send()
        .await
        .map_err(|e| unreachable(&e, &url, &p.service.name))?;
    if !res.status().is_success() {
        bail!("{url} answered {}", res.status());
    }
    let bytes = crate::http::body(res).await.map_err(|e| unreachable(&e, &url, &p.service.name))?;
    // JSON that is not an introspection answer says no more than an inactive token.
    let answer = match serde_json::from_slice::<IntrospectionResponse>(&bytes) {
        Err(e) if e.is_syntax() || e.is_eof() => bail!("{url} answered with something that is not JSON: {e}"),
        answer => answer.unwrap_or_default(),
    };
    match (answer.active, answer.cnf) {
        (true, Some(cnf)) if cnf.jkt == session.file.jkt => Ok(()),
        (true, _) => bail!("the server says the session's token is not bound to its key; it is not used"),
        _ => Err(ended("the server no longer accepts the session: it expired or was revoked", SIGN_ON_AGAIN)),
    }
}

/// `<local time> (<UTC>)`, or the UTC time alone where local time is UTC,
/// so one time is never printed twice.
pub(crate) fn when(unix: i64) -> String {
    when_in(unix, &chrono::Local)
}

fn when_in<Tz: chrono::TimeZone>(unix: i64, local: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::{Offset, TimeZone, Utc};
    let Some(utc) = Utc.timestamp_opt(unix, 0).single() else { return unix.to_string() };
    let there = utc.with_timezone(local);
    let utc_text = utc.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if there.offset().fix().local_minus_utc() == 0 {
        return utc_text;
    }
    format!("{} ({utc_text})", there.format("%Y-%m-%d %H:%M:%S %:z"))
}

/// The session's state; `headline` says what just happened, if anything.
fn report(ctx: &Ctx, settings: &Settings, s: &Session, headline: Option<&str>) -> anyhow::Result<()> {
    if ctx.out.json() {
        let utc = chrono::DateTime::from_timestamp(s.file.expires_at, 0).map(|t| t.to_rfc3339());
        ctx.out.print_json(&json!({
            "profile": settings.profile,
            "service": s.file.service,
            "valid": true,
            "subject": s.file.subject,
            "expires_at": s.file.expires_at,
            "expires_at_utc": utc,
            "jkt": s.file.jkt,
            "minted": s.file.minted,
            "refreshable": s.file.refresh_token.is_some(),
            "directory": s.dir,
        }))
    } else {
        let who = s.file.subject.as_deref().map(|w| format!(" as {w}")).unwrap_or_default();
        let line = match headline {
            None => format!("Session is valid until {}", when(s.file.expires_at)),
            Some(h) => format!("{h}{who}; valid until {}", when(s.file.expires_at)),
        };
        ctx.out.line(&line)
    }
}

async fn refresh(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    // Two refreshes at once would spend one refresh token twice, and the
    // server would take that for theft and end the session: the second
    // waits, then reads what the first wrote.
    load(&settings)?;
    let lock = writer_lock(&settings.profile)?;
    let (mut session, service) = load(&settings)?;
    let Some(refresh) = session.file.refresh_token.clone() else {
        return Err(ended(
            "this session has no refresh token: a session minted from worker credentials is minted again, not refreshed",
            "signet session authenticate --no-browser",
        ));
    };
    // A refresh spends the refresh token: the session must be kept after it.
    crate::token_store::check_session_dir(&session.dir)?;
    let p = Provider::discover(&service).await?;
    let basic = worker_secret(&service, &session).map(|s| (session.file.client_id.clone(), s.to_owned()));
    let mut form = vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh.clone())];
    if basic.is_none() {
        form.push(("client_id", session.file.client_id.clone()));
    }
    let t = match token::token_request(&p, session.key(), |_| form.clone(), basic.as_ref()).await {
        Ok(t) => t,
        Err(token::TokenFailure::Refused { code, description }) if code == "invalid_grant" => {
            let why =
                description.map_or_else(|| "the refresh token is no longer valid".into(), |d| safe(&d).into_owned());
            return Err(ended(
                format!("the session cannot be refreshed: {why}"),
                "signet session authenticate signs on again; a session lasts at most 24 hours after its sign-on",
            ));
        }
        Err(e) => return Err(e.explain("refresh")),
    };
    let file = &session.file;
    let cached = token::cached(t, &file.issuer, &file.client_id, Some(&refresh), file.subject.clone());
    bound(cached.token_type.as_deref())?;
    session.file.access_token = cached.access_token;
    session.file.refresh_token = cached.refresh_token;
    session.file.expires_at = cached.expires_at.unwrap_or_else(|| now() + 300);
    session.save()?;
    drop(lock);
    report(ctx, &settings, &session, Some("Session refreshed"))?;
    Ok(ExitCode::Ok)
}

async fn terminate(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    load(&settings)?;
    let _lock = writer_lock(&settings.profile)?;
    let (session, service) = load(&settings)?;
    if let Err(e) = revoke(&service, &session).await {
        return Err(e.context(format!(
            "the session was not revoked, so its files are kept\nhint: run this again when the provider can be reached; rm -r {} forgets it without revoking it",
            session.dir.display()
        )));
    }
    session.remove()?;
    if ctx.out.json() {
        ctx.out.print_json(&json!({"profile": settings.profile, "result": "revoked"}))?;
    } else {
        ctx.out.line(&format!("Session of profile {} revoked at {} and removed", settings.profile, service.name))?;
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::when_in;

    #[test]
    fn a_time_is_printed_once_where_local_time_is_utc() {
        let utc = chrono::FixedOffset::east_opt(0).unwrap();
        assert_eq!(when_in(1_700_000_000, &utc), "2023-11-14 22:13:20 UTC");
        let paris = chrono::FixedOffset::east_opt(3600).unwrap();
        assert_eq!(when_in(1_700_000_000, &paris), "2023-11-14 23:13:20 +01:00 (2023-11-14 22:13:20 UTC)");
    }
}
