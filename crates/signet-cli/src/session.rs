//! A service's sign-on as the commands use it: log in by the configured
//! grant, hand out a fresh access token (refreshing under a lock so two
//! processes never spend one refresh token), and log out (revoke, then forget).

use std::time::Duration;

use anyhow::anyhow;
use oauth2::{RefreshToken, StandardRevocableToken};

use crate::config::settings::Settings;
use crate::output::safe;
use crate::services::{Auth, Service};
use crate::signon::{Provider, auth_code, client_credentials, device_code, now};
use crate::token_store::{CacheKey, Cached, Store};

/// Seconds before expiry at which a token is refreshed rather than used.
const MARGIN: i64 = 60;

/// The service has no usable token: `signet auth login` is needed (exit code 4).
#[derive(Debug, thiserror::Error)]
#[error("not signed in to {service}\nhint: signet auth login --service {service}")]
pub struct NotSignedIn {
    pub service: String,
}

pub fn key(settings: &Settings, service: &Service, auth: &Auth) -> CacheKey {
    CacheKey::new(&settings.profile, service, auth.client_id(), auth.grant())
}

pub fn auth_of(service: &Service) -> anyhow::Result<&Auth> {
    service.auth.as_ref().ok_or_else(|| {
        anyhow!(
            "service {} has no authentication type\nhint: signet config set \"service.{}.authentication.type=device_code\"",
            service.name,
            service.name
        )
    })
}

pub fn is_live(t: &Cached) -> bool {
    t.expires_at.is_none_or(|e| e > now() + MARGIN)
}

/// A sign-on that just happened: its tokens, and what discovery said of
/// the server that issued them.
pub struct SignedOn {
    pub tokens: Cached,
    /// The service as messages name it (`Provider::reached`).
    pub reached: String,
    /// The admin API signetd says these tokens are for, if it is signetd.
    pub admin_api: Option<String>,
}

pub async fn login(
    settings: &Settings,
    service: &Service,
    store: &Store,
    open_browser: bool,
) -> anyhow::Result<SignedOn> {
    let auth = auth_of(service)?;
    service.check_own_redirect_path(settings)?;
    // Before the provider is asked anything: tokens that cannot be kept
    // would be thrown away after the person typed a password.
    store.check()?;
    let p = Provider::discover(service).await?;
    let timeout = Duration::from_secs(service.login_timeout_secs);
    let tokens = match auth {
        Auth::Worker { client_id, client_secret, scopes } => {
            client_credentials::sign_on(&p, client_id, client_secret, scopes.as_deref()).await?
        }
        Auth::DeviceCode { client_id, scopes } => device_code::sign_on(&p, client_id, scopes, timeout).await?,
        Auth::AuthorizationCode { client_id, port, path, scopes } => {
            let o =
                auth_code::Options { port: *port, path: path.clone(), scopes: scopes.clone(), timeout, open_browser };
            auth_code::sign_on(&p, client_id, &o).await?
        }
    };
    store.save(&key(settings, service, auth), &tokens)?;
    Ok(SignedOn { tokens, reached: p.reached(), admin_api: p.metadata.signet_admin_api })
}

/// A live access token: the cached one, a refreshed one, or (for workers)
/// a new one; otherwise `NotSignedIn`.
pub async fn fresh(settings: &Settings, service: &Service, store: &Store) -> anyhow::Result<Cached> {
    let auth = auth_of(service)?;
    let key = key(settings, service, auth);
    if let Some(t) = store.load(&key)?.filter(is_live) {
        return Ok(t);
    }
    if let Auth::Worker { .. } = auth {
        return Ok(login(settings, service, store, false).await?.tokens);
    }
    let _lock = store.refresh_lock(&key)?;
    // Another process may have refreshed while this one waited for the lock.
    let cached = store.load(&key)?;
    if let Some(t) = cached.as_ref().filter(|t| is_live(t)) {
        return Ok(t.clone());
    }
    let Some(refresh) = cached.as_ref().and_then(|t| t.refresh_token.clone()) else {
        return Err(NotSignedIn { service: service.name.clone() }.into());
    };
    // A refresh spends the refresh token: tokens the store then cannot keep
    // would leave the person signed out.
    store.check()?;
    let p = Provider::discover(service).await?;
    let client = p.client(auth.client_id(), None)?;
    let result = client.exchange_refresh_token(&RefreshToken::new(refresh))?.request_async(&p.sender()).await;
    match result {
        Ok(t) => {
            let cached = p.cache(auth.client_id(), auth.grant(), &t, cached.as_ref());
            store.save(&key, &cached)?;
            Ok(cached)
        }
        Err(oauth2::RequestTokenError::ServerResponse(r)) if r.error().as_ref() == "invalid_grant" => {
            store.delete(&key)?;
            Err(NotSignedIn { service: service.name.clone() }.into())
        }
        Err(e) => Err(p.explain("refresh", e)),
    }
}

pub enum LoggedOut {
    Revoked,
    /// Removed locally; the provider could not be told.
    LocalOnly(String),
    NotSignedIn,
}

/// Revokes the refresh and access tokens at the provider (RFC 7009), then
/// forgets them, even if the provider cannot be reached.
pub async fn logout(settings: &Settings, service: &Service, store: &Store) -> anyhow::Result<LoggedOut> {
    let auth = auth_of(service)?;
    let key = key(settings, service, auth);
    let Some(cached) = store.load(&key)? else { return Ok(LoggedOut::NotSignedIn) };
    let secret = match auth {
        Auth::Worker { client_secret, .. } => Some(client_secret.as_str()),
        _ => None,
    };
    let revoked = revoke(service, auth.client_id(), secret, &cached).await;
    store.delete(&key)?;
    Ok(match revoked {
        Ok(()) => LoggedOut::Revoked,
        Err(e) => LoggedOut::LocalOnly(format!("{e:#}").lines().next().unwrap_or_default().to_owned()),
    })
}

/// Revokes `cached`'s tokens as the client `client_id` (with its secret,
/// for a confidential one): a provider ignores another client's tokens.
pub async fn revoke(service: &Service, client_id: &str, secret: Option<&str>, cached: &Cached) -> anyhow::Result<()> {
    let p = Provider::discover(service).await?;
    let Some(endpoint) = p.metadata.revocation_endpoint.clone() else {
        anyhow::bail!("the provider offers no revocation endpoint; the tokens stay valid there until they expire");
    };
    let mut tokens = Vec::new();
    if let Some(r) = &cached.refresh_token {
        tokens.push(StandardRevocableToken::RefreshToken(RefreshToken::new(r.clone())));
    }
    tokens.push(StandardRevocableToken::AccessToken(oauth2::AccessToken::new(cached.access_token.clone())));
    let url = url::Url::parse(&endpoint)?;
    for t in tokens {
        if url.scheme() == "https" {
            let client = p.client(client_id, secret)?;
            let req = client.revoke_token(t).map_err(|e| anyhow!("{e}"))?;
            req.request_async(&p.sender()).await.map_err(|e| p.explain("revocation", e))?;
        } else if is_loopback(&url) {
            revoke_plain(&p, &endpoint, client_id, secret, &t).await?;
        } else {
            anyhow::bail!("refusing to send tokens to the plain-http revocation endpoint {endpoint}");
        }
    }
    Ok(())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// RFC 7009 §2.1 over plain http, for a provider on loopback (a local
/// signetd, a test peer): the `oauth2` crate insists on https there, as it
/// should for anything that leaves the machine.
async fn revoke_plain(
    p: &Provider,
    endpoint: &str,
    client_id: &str,
    secret: Option<&str>,
    t: &StandardRevocableToken,
) -> anyhow::Result<()> {
    let (token, hint) = match t {
        StandardRevocableToken::AccessToken(a) => (a.secret().as_str(), "access_token"),
        StandardRevocableToken::RefreshToken(r) => (r.secret().as_str(), "refresh_token"),
        _ => anyhow::bail!("unsupported token type for revocation"),
    };
    let mut form = vec![("token", token), ("token_type_hint", hint)];
    let mut req = p.http.post(endpoint);
    match secret {
        Some(s) => {
            let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(client_id), Some(enc(s)));
        }
        None => form.push(("client_id", client_id)),
    }
    let res = req.form(&form).send().await.map_err(|e| crate::signon::unreachable(&e, endpoint, &p.service.name))?;
    if res.status().is_success() {
        return Ok(());
    }
    let status = res.status();
    let bytes = crate::http::body(res).await.map_err(|e| crate::signon::unreachable(&e, endpoint, &p.service.name))?;
    let refusal = crate::signon::OAuthRefusal::read(&bytes);
    let code = safe(refusal.error.as_deref().unwrap_or("error"));
    let description = refusal.error_description.map(|d| format!(": {}", safe(&d))).unwrap_or_default();
    anyhow::bail!("revocation refused by the provider ({status}): {code}{description}")
}

/// What `auth status` reports for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Authenticated,
    Expired,
    NotSignedIn,
    NotConfigured,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Authenticated => "authenticated",
            State::Expired => "expired",
            State::NotSignedIn => "not_signed_in",
            State::NotConfigured => "not_configured",
        }
    }
}

/// The state from the cache alone: `auth status` makes no network call.
pub fn state(settings: &Settings, service: &Service, store: &Store) -> anyhow::Result<(State, Option<Cached>)> {
    let Some(auth) = &service.auth else { return Ok((State::NotConfigured, None)) };
    let cached = store.load(&key(settings, service, auth))?;
    let state = match &cached {
        None => State::NotSignedIn,
        Some(t) if t.expires_at.is_none_or(|e| e > now()) => State::Authenticated,
        // An expired token that can be refreshed still counts as signed in.
        Some(t) if t.refresh_token.is_some() => State::Authenticated,
        Some(_) => State::Expired,
    };
    Ok((state, cached))
}
