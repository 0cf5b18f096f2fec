//! `signet request METHOD PATH_OR_URL [--data JSON|@file]`: one authenticated
//! call to the admin API (`service.pingfederate.*`).
//!
//! A path is relative to the admin API. Credentials are attached only to the
//! admin API's own origin or the issuer of the service whose token it uses;
//! any other origin is refused unless `--trust-host` names its host, so a
//! mistyped or hostile URL never receives them.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde::de::DeserializeOwned;
use signet_client::admin::{self, AdminError, Credentials, Page, Refusal, Versioned};

use crate::commands::Ctx;
use crate::config::settings::Settings;
use crate::exit::ExitCode;
use crate::output::safe;
use crate::services::{ADMIN_SERVICE, AdminAccess, AdminApi, Service};
use crate::session;
use crate::token_store::Store;

pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub data: Option<&'a str>,
    pub trust_host: Option<&'a str>,
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// The body to send: JSON given inline or `@file`; checked before anything is sent.
fn body(data: Option<&str>) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(data) = data else { return Ok(None) };
    let text = match data.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(Path::new(path)).with_context(|| format!("reading --data file {path}"))?
        }
        None => data.to_owned(),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow!("--data is not JSON: {e}\nhint: give a JSON document, or @file with one"))
}

/// The admin API with its credentials, ready to call: the typed client of
/// `signet_client`, built from the profile's settings, and errors in words
/// for people.
pub struct AdminClient {
    api: admin::AdminClient,
    pub base: url::Url,
    /// The username of `basicAuth` credentials: the caller, when it is an admin account.
    pub basic_user: Option<String>,
    /// The `WWW-Authenticate` scheme of what is sent, and the setting that chose it.
    sends: Sends,
}

/// The HTTP client for the admin API: its timeouts, and the CA files the profile names.
fn http_client(settings: &Settings) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")));
    if let Some(files) = settings.checked(&key("caCertificatePemFiles"))? {
        for path in files.split(',') {
            let pem = std::fs::read(path).with_context(|| format!("reading CA file {path}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
            if certs.is_empty() {
                bail!(
                    "{path} holds no PEM certificate\nhint: caCertificatePemFiles takes PEM files of CA certificates"
                );
            }
            for cert in certs {
                client = client.add_root_certificate(cert);
            }
        }
    }
    Ok(client)
}

/// `service.pingfederate.<suffix>`.
fn key(suffix: &str) -> String {
    format!("service.{ADMIN_SERVICE}.{suffix}")
}

/// The credentials `access` names, and the basicAuth username when it is
/// basicAuth. A client certificate goes into `client`, not a header.
async fn credentials(
    settings: &Settings,
    access: &AdminAccess,
    oauth_service: Option<&Service>,
    client: &mut reqwest::ClientBuilder,
) -> anyhow::Result<(Credentials, Option<String>)> {
    Ok(match access {
        AdminAccess::Basic => {
            let user = need(settings, &key("authentication.basicAuth.username"))?;
            let password = need(settings, &key("authentication.basicAuth.password"))?;
            (Credentials::basic(&user, &password), Some(user))
        }
        AdminAccess::ClientCertificate => {
            let cert = need(settings, &key("authentication.clientCertificate.certFile"))?;
            let key = need(settings, &key("authentication.clientCertificate.keyFile"))?;
            let mut pem = std::fs::read(&cert).with_context(|| format!("reading client certificate {cert}"))?;
            pem.extend(std::fs::read(&key).with_context(|| format!("reading client key {key}"))?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| anyhow!("the client certificate and key are not usable: {e}"))?;
            *client = std::mem::take(client).identity(identity);
            (Credentials::None, None)
        }
        AdminAccess::OAuth { .. } => {
            let service = oauth_service.ok_or_else(|| anyhow!("no OAuth service"))?;
            let store = Store::open(&settings.value("auth.storage.type").unwrap_or_else(|| "secure_local".into()))?;
            let tokens = session::fresh(settings, service, &store).await?;
            (Credentials::bearer(&tokens.access_token), None)
        }
    })
}

/// What a request carries, for the hint of a 401.
fn sends(access: &AdminAccess, signs: bool) -> Sends {
    if signs {
        return Sends { scheme: "DPoP", setting: "--auth security_token".into() };
    }
    Sends {
        scheme: match access {
            AdminAccess::Basic => "Basic",
            AdminAccess::ClientCertificate => "TLS-Client-Certificate",
            AdminAccess::OAuth { .. } => "Bearer",
        },
        setting: format!("service.{ADMIN_SERVICE}.authentication.type={}", access.scheme()),
    }
}

impl AdminClient {
    pub async fn connect(settings: &Settings) -> anyhow::Result<AdminClient> {
        let admin = AdminApi::resolve(settings)?.ok_or_else(|| {
            anyhow!(
                "profile {} configures no admin API\nhint: signet config set \"service.{ADMIN_SERVICE}.httpsHost=https://…\"",
                settings.profile
            )
        })?;
        let base = url::Url::parse(&admin.base).context("the admin API's httpsHost")?;
        let session =
            if settings.security_token { Some(signet_client::Session::load(&settings.profile)?) } else { None };
        let oauth_service = match &admin.access {
            AdminAccess::OAuth { service } if session.is_none() => Some(Service::resolve(settings, service)?),
            _ => None,
        };
        // Credentials also go to the issuer of the token they carry.
        let issuers: Vec<url::Url> = (session.iter().map(|s| s.file.issuer.as_str()))
            .chain(oauth_service.iter().map(|s| s.issuer.as_str()))
            .filter_map(|i| url::Url::parse(i).ok())
            .collect();
        let mut client = http_client(settings)?;
        let signer = session.as_ref().map(crate::commands::session::signer).transpose()?;
        let sends = sends(&admin.access, signer.is_some());
        let (credentials, basic_user) = match signer {
            Some(signer) => (Credentials::Signer(signer), None),
            None => credentials(settings, &admin.access, oauth_service.as_ref(), &mut client).await?,
        };
        let client = client.build().context("building the HTTP client")?;
        let mut api = admin::AdminClient::new(client, base.clone(), credentials);
        for issuer in &issuers {
            api.trust(issuer);
        }
        Ok(AdminClient { api, base, basic_user, sends })
    }

    /// The typed client, for calls whose errors the caller looks at (a 412).
    pub fn api(&self) -> &admin::AdminClient {
        &self.api
    }

    /// An error of the typed client in words for people: a refusal as an
    /// [`ApiError`], a transport failure with a hint.
    pub fn explain(&self, e: AdminError) -> anyhow::Error {
        match e {
            AdminError::Refused(r) | AdminError::Changed(r) => ApiError::new(*r, &self.sends).into(),
            AdminError::Transport { url, source } => crate::signon::unreachable(&source, &url, ADMIN_SERVICE),
            AdminError::TooLarge(t) => anyhow!("{t}"),
            AdminError::Session(e) => e.into(),
            other => other.into(),
        }
    }

    /// A path under the admin API, or a URL that must be on a trusted origin
    /// (or on the host `trust_host` names).
    pub fn url(&self, target: &str, trust_host: Option<&str>) -> anyhow::Result<url::Url> {
        let url = if target.starts_with('/') {
            url::Url::parse(&format!("{}{}", self.base.as_str().trim_end_matches('/'), target))
                .with_context(|| format!("{target} is not a path"))?
        } else {
            url::Url::parse(target).map_err(|e| anyhow!("{target} is neither a path nor a URL: {e}"))?
        };
        let host_trusted = trust_host.is_some_and(|h| url.host_str().is_some_and(|u| u.eq_ignore_ascii_case(h)));
        // Credentials never cross a network in the clear to a host trusted by name.
        let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        if host_trusted && url.scheme() != "https" && !loopback && !self.api.trusts(&url) {
            bail!("{url} is plain http; signet sends credentials to a trusted host only over https");
        }
        if !self.api.trusts(&url) && !host_trusted {
            bail!(
                "{} is not the admin API's origin ({}); signet does not send credentials there\nhint: use a path such as /accounts, or --trust-host {} if you mean it",
                origin(&url),
                origin(&self.base),
                url.host_str().unwrap_or("HOST")
            );
        }
        Ok(url)
    }

    /// Trusts `url`'s origin with the credentials: a host `--trust-host` names.
    pub fn trust(&mut self, url: &url::Url) {
        self.api.trust(url);
    }

    /// The access token sent as `Bearer`, when the admin API is reached with
    /// a sign-on's token (`authentication.type=oauth`).
    pub fn bearer(&self) -> Option<&str> {
        match self.api.credentials() {
            Credentials::Authorization(a) => a.strip_prefix("Bearer "),
            _ => None,
        }
    }

    /// Whether requests are signed with a session's key (`--auth security_token`).
    pub fn signs(&self) -> bool {
        matches!(self.api.credentials(), Credentials::Signer(_))
    }

    /// Sends `req`, signed with the session's key when there is one.
    pub async fn dispatch(&self, req: reqwest::RequestBuilder, url: &url::Url) -> anyhow::Result<reqwest::Response> {
        let req = req.build().map_err(|e| crate::signon::unreachable(&e, url.as_str(), ADMIN_SERVICE))?;
        self.api.dispatch(req).await.map_err(|e| self.explain(e))
    }

    /// The HTTP client with the admin API's TLS settings, and no credentials.
    pub fn http(&self) -> &reqwest::Client {
        self.api.http()
    }

    /// A URL under the admin API from path segments, each percent-encoded,
    /// so a username or id can never step outside its resource.
    pub fn at(&self, segments: &[&str], query: Option<&str>) -> anyhow::Result<url::Url> {
        Ok(self.api.at(segments, query)?)
    }

    /// Sends one request; a refusal is an [`ApiError`]: one line with a hint.
    /// The answer's JSON, or `None` for an empty body.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        payload: Option<&serde_json::Value>,
    ) -> anyhow::Result<Answer> {
        self.send_with(method, url, payload, None).await
    }

    /// `send` with any serializable body, and `If-Match` when given, so a
    /// write applies only to the version that was read (RFC 9110 §13.1.1).
    pub async fn send_with<T: serde::Serialize + ?Sized>(
        &self,
        method: Method,
        url: url::Url,
        payload: Option<&T>,
        if_match: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let reply = self.api.execute(method, url, payload, if_match).await.map_err(|e| self.explain(e))?;
        let json = serde_json::from_str(&reply.text).ok();
        Ok(Answer { status: reply.status, json, text: reply.text, etag: reply.etag })
    }

    /// Every page of a list (`--all`), or the one page asked for: the API's
    /// page shape, `{"items", "next_cursor"}`, with all items when `all`.
    pub async fn list(&self, segments: &[&str], limit: u32, all: bool) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::to_value(self.pages::<serde_json::Value>(segments, limit, all).await?)?)
    }

    /// [`AdminClient::list`], typed.
    pub async fn pages<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        limit: u32,
        all: bool,
    ) -> anyhow::Result<Page<T>> {
        self.api.list(segments, limit, all).await.map_err(|e| self.explain(e))
    }

    /// One resource, with its version.
    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> anyhow::Result<Versioned<T>> {
        self.api.get(segments).await.map_err(|e| self.explain(e))
    }

    /// A new resource in a collection.
    pub async fn create<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> anyhow::Result<T> {
        Ok(self.api.create(segments, body).await.map_err(|e| self.explain(e))?.value)
    }

    /// A `POST` to an action, and its answer (`()` for none).
    pub async fn post<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        self.api.post(segments, body).await.map_err(|e| self.explain(e))
    }
}

pub fn under(base: &url::Url, segments: &[&str], query: Option<&str>) -> anyhow::Result<url::Url> {
    Ok(admin::under(base, segments, query)?)
}

/// A refusal by the admin API, as one line (`{"error", "message"}` when it
/// sent one) and a `hint:` where there is a fix.
#[derive(Debug)]
pub struct ApiError {
    pub method: Method,
    pub path: String,
    pub status: u16,
    /// The API's stable code (`forbidden`, `precondition_failed`, …).
    pub code: Option<String>,
    pub message: String,
    /// On a 401: the schemes its `WWW-Authenticate` offers.
    pub accepts: Option<Vec<String>>,
    /// What the request carried.
    pub sent: Option<Sends>,
}

/// The credentials a request carries: their `WWW-Authenticate` scheme,
/// and the setting that chose them.
#[derive(Debug, Clone)]
pub struct Sends {
    pub scheme: &'static str,
    pub setting: String,
}

impl ApiError {
    /// A refusal, with what the request carried for the hint of a 401.
    fn new(r: Refusal, sent: &Sends) -> ApiError {
        let accepts = Some(r.challenges).filter(|c| r.status == 401 && !c.is_empty());
        ApiError {
            method: r.method,
            path: r.path,
            status: r.status,
            code: r.code,
            message: r.message,
            accepts,
            sent: Some(sent.clone()),
        }
    }

    fn hint(&self) -> Option<String> {
        // A 401 whose challenges do not name what was sent: no credentials
        // of this kind would do, so say which kinds would.
        if self.status == 401
            && let (Some(accepts), Some(sent)) = (&self.accepts, &self.sent)
            && !accepts.iter().any(|a| a.eq_ignore_ascii_case(sent.scheme))
        {
            let accepts = accepts.iter().map(|a| safe(a).into_owned()).collect::<Vec<_>>().join(", ");
            return Some(format!(
                "the admin API accepts {accepts}, and this profile sends {} ({}); an administrator adds a scheme with PUT /settings/authentication, or set service.{ADMIN_SERVICE}.authentication.type to one it accepts",
                sent.scheme, sent.setting
            ));
        }
        Some(match self.status {
            401 => "check the admin API credentials (signet config view-profile), or sign on again (signet auth login)"
                .into(),
            403 => return forbidden_hint(&self.message),
            404 if self.message == "no such environment" => {
                "environments are named by id: signet request GET /environments lists them".into()
            }
            412 => "read the resource again and reapply the change".into(),
            _ => return None,
        })
    }
}

/// What to do about a 403: name the missing role when the API names one.
fn forbidden_hint(message: &str) -> Option<String> {
    if let Some(roles) = message.strip_prefix("this needs the ") {
        let (roles, them) = match roles.strip_suffix(" roles") {
            Some(r) => (r, "them"),
            None => (roles.trim_end_matches(" role"), "it"),
        };
        return Some(format!(
            "sign on as an account or worker holding {roles}, or have a UserAdmin grant {them} (signet accounts update NAME --role …)"
        ));
    }
    if message.starts_with("your password was set by someone else") {
        return Some("replace it first: signet accounts set-password YOUR_USERNAME".into());
    }
    if message.starts_with("an Auditor may only read") {
        return Some("an Auditor account cannot hold roles; use another account for changes".into());
    }
    None
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} answered {}: ", self.method, safe(&self.path), self.status)?;
        match &self.code {
            Some(code) => write!(f, "{}: {}", safe(code), safe(&self.message))?,
            None => f.write_str(&safe(&self.message))?,
        }
        match self.hint() {
            Some(h) => write!(f, "\nhint: {h}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

pub struct Answer {
    pub status: u16,
    pub json: Option<serde_json::Value>,
    pub text: String,
    /// The version the answer shows, to send back as `If-Match`. (The typed
    /// calls carry it in `Versioned`; this is for the commands still on `send`.)
    #[allow(dead_code)]
    pub etag: Option<String>,
}

pub async fn run(ctx: &Ctx, r: Request<'_>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(m))
        .ok_or_else(|| anyhow!("{:?} is not a method signet sends\nhint: GET, POST, PUT, PATCH or DELETE", r.method))?;
    let payload = body(r.data)?;
    let mut admin = AdminClient::connect(&settings).await?;
    let url = admin.url(r.target, r.trust_host)?;
    admin.trust(&url);
    let answer = admin.send(method.clone(), url.clone(), payload.as_ref()).await?;
    match answer.json {
        Some(j) => ctx.out.print_json(&j)?,
        None if answer.text.is_empty() => {
            if !ctx.out.json() {
                ctx.out.line(&format!("{method} {}: {}", url.path(), answer.status))?;
            }
        }
        None => ctx.out.block(&answer.text)?,
    }
    Ok(ExitCode::Ok)
}

fn need(settings: &Settings, key: &str) -> anyhow::Result<String> {
    settings.checked(key)?.ok_or_else(|| anyhow!("{key} is not set\nhint: signet config set \"{key}=…\""))
}

#[cfg(test)]
mod tests {
    use super::{ApiError, Sends, forbidden_hint};

    #[test]
    fn a_401_names_the_schemes_the_server_takes_when_the_profile_sends_another() {
        let refused = |accepts: &[&str], scheme: &'static str| {
            ApiError {
                method: reqwest::Method::GET,
                path: "/admin-api/v1/accounts".into(),
                status: 401,
                code: Some("unauthorized".into()),
                message: "authentication is required".into(),
                accepts: Some(accepts.iter().map(|s| s.to_string()).collect()),
                sent: Some(Sends { scheme, setting: "service.pingfederate.authentication.type=oauth".into() }),
            }
            .to_string()
        };
        let basic_only = refused(&["Basic"], "Bearer");
        assert!(basic_only.contains("hint: the admin API accepts Basic, and this profile sends Bearer (service.pingfederate.authentication.type=oauth)"), "{basic_only}");
        assert!(basic_only.contains("PUT /settings/authentication"), "{basic_only}");
        let taken = refused(&["Basic", "Bearer", "DPoP"], "Bearer");
        assert!(taken.contains("hint: check the admin API credentials"), "{taken}");
    }

    #[test]
    fn a_403_hint_names_the_missing_roles() {
        let one = forbidden_hint("this needs the UserAdmin role").unwrap();
        assert!(one.starts_with("sign on as an account or worker holding UserAdmin, or have a UserAdmin grant it"));
        let two = forbidden_hint("this needs the Admin, CryptoAdmin roles").unwrap();
        assert!(two.contains("holding Admin, CryptoAdmin, or have a UserAdmin grant them"), "{two}");
        assert_eq!(forbidden_hint("current_password is not this account's password"), None);
    }
}
