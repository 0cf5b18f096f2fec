//! `signet request METHOD PATH_OR_URL [--data JSON|@file]`: one authenticated
//! call to the admin API (`service.pingfederate.*`).
//!
//! A path is relative to the admin API. Credentials are attached only to the
//! admin API's own origin or the issuer of the service whose token it uses;
//! any other origin is refused unless `--trust-host` names its host, so a
//! mistyped or hostile URL never receives them.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use reqwest::Method;

use crate::commands::Ctx;
use crate::config::settings::Settings;
use crate::exit::ExitCode;
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

/// The admin API with its credentials, ready to call.
pub struct AdminClient {
    client: reqwest::Client,
    pub base: url::Url,
    authorization: Option<String>,
    /// Origins credentials may go to.
    trusted: Vec<String>,
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
        let mut trusted = vec![origin(&base)];
        let oauth_service = match &admin.access {
            AdminAccess::OAuth { service } => Some(Service::resolve(settings, service)?),
            _ => None,
        };
        if let Some(s) = &oauth_service
            && let Ok(issuer) = url::Url::parse(&s.issuer)
        {
            trusted.push(origin(&issuer));
        }
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")));
        let k = |suffix: &str| format!("service.{ADMIN_SERVICE}.{suffix}");
        if let Some(files) = settings.checked(&k("caCertificatePemFiles"))? {
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
        let mut authorization = None;
        match &admin.access {
            AdminAccess::Basic => {
                let user = need(settings, &k("authentication.basicAuth.username"))?;
                let password = need(settings, &k("authentication.basicAuth.password"))?;
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                authorization = Some(format!("Basic {pair}"));
            }
            AdminAccess::ClientCertificate => {
                let cert = need(settings, &k("authentication.clientCertificate.certFile"))?;
                let key = need(settings, &k("authentication.clientCertificate.keyFile"))?;
                let mut pem = std::fs::read(&cert).with_context(|| format!("reading client certificate {cert}"))?;
                pem.extend(std::fs::read(&key).with_context(|| format!("reading client key {key}"))?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| anyhow!("the client certificate and key are not usable: {e}"))?;
                client = client.identity(identity);
            }
            AdminAccess::OAuth { .. } => {
                let service = oauth_service.as_ref().ok_or_else(|| anyhow!("no OAuth service"))?;
                let store = Store::open(&settings.value("auth.storage.type").unwrap_or_else(|| "secure_local".into()))?;
                let tokens = session::fresh(settings, service, &store).await?;
                authorization = Some(format!("Bearer {}", tokens.access_token));
            }
        }
        let client = client.build().context("building the HTTP client")?;
        Ok(AdminClient { client, base, authorization, trusted })
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
        if host_trusted && url.scheme() != "https" && !loopback && !self.trusted.contains(&origin(&url)) {
            bail!("{url} is plain http; signet sends credentials to a trusted host only over https");
        }
        if !self.trusted.contains(&origin(&url)) && !host_trusted {
            bail!(
                "{} is not the admin API's origin ({}); signet does not send credentials there\nhint: use a path such as /accounts, or --trust-host {} if you mean it",
                origin(&url),
                origin(&self.base),
                url.host_str().unwrap_or("HOST")
            );
        }
        Ok(url)
    }

    /// Sends one request; a refusal is an error of one line with a hint.
    /// The answer's JSON, or `None` for an empty body.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        payload: Option<&serde_json::Value>,
    ) -> anyhow::Result<Answer> {
        let mut req = self.client.request(method.clone(), url.clone()).header("accept", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a);
        }
        if let Some(p) = payload {
            req = req.json(p);
        }
        let res = req.send().await.map_err(|e| crate::signon::unreachable(&e, url.as_str(), ADMIN_SERVICE))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let message = json
                .as_ref()
                .and_then(|j| Some(format!("{}: {}", j.get("error")?.as_str()?, j.get("message")?.as_str()?)))
                .unwrap_or_else(|| text.lines().next().unwrap_or_default().to_owned());
            let hint = match status.as_u16() {
                401 => "\nhint: check the admin API credentials (signet config view-profile), or sign on again",
                403 => "\nhint: an administrator holding the named role must do this, or grant it",
                412 => "\nhint: read the resource again and reapply the change",
                _ => "",
            };
            bail!("{method} {} answered {}: {message}{hint}", url.path(), status.as_u16());
        }
        Ok(Answer { status: status.as_u16(), json, text })
    }
}

pub struct Answer {
    pub status: u16,
    pub json: Option<serde_json::Value>,
    pub text: String,
}

pub async fn run(ctx: &Ctx, r: Request<'_>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(m))
        .ok_or_else(|| anyhow!("{:?} is not a method signet sends\nhint: GET, POST, PUT, PATCH or DELETE", r.method))?;
    let payload = body(r.data)?;
    let admin = AdminClient::connect(&settings).await?;
    let url = admin.url(r.target, r.trust_host)?;
    let answer = admin.send(method.clone(), url.clone(), payload.as_ref()).await?;
    match answer.json {
        Some(j) => ctx.out.print_json(&j)?,
        None if answer.text.is_empty() => {
            if !ctx.out.json() {
                ctx.out.line(&format!("{method} {}: {}", url.path(), answer.status))?;
            }
        }
        None => ctx.out.line(&answer.text)?,
    }
    Ok(ExitCode::Ok)
}

fn need(settings: &Settings, key: &str) -> anyhow::Result<String> {
    settings.checked(key)?.ok_or_else(|| anyhow!("{key} is not set\nhint: signet config set \"{key}=…\""))
}
