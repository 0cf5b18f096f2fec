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

/// The admin API with its credentials, ready to call.
pub struct AdminClient {
    client: reqwest::Client,
    pub base: url::Url,
    authorization: Option<String>,
    /// Origins credentials may go to.
    trusted: Vec<String>,
    /// The username of `basicAuth` credentials: the caller, when it is an admin account.
    pub basic_user: Option<String>,
    /// With `--auth security_token`: signs each request with the session's key.
    signer: Option<signet_client::Signer>,
    /// The `WWW-Authenticate` scheme of what is sent, and the setting that chose it.
    sends: Sends,
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
        let session =
            if settings.security_token { Some(signet_client::Session::load(&settings.profile)?) } else { None };
        let oauth_service = match &admin.access {
            AdminAccess::OAuth { service } if session.is_none() => Some(Service::resolve(settings, service)?),
            _ => None,
        };
        if let Some(s) = &session
            && let Ok(issuer) = url::Url::parse(&s.file.issuer)
        {
            trusted.push(origin(&issuer));
        }
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
        let mut basic_user = None;
        let signer = session.as_ref().map(crate::commands::session::signer).transpose()?;
        match &admin.access {
            _ if signer.is_some() => {}
            AdminAccess::Basic => {
                let user = need(settings, &k("authentication.basicAuth.username"))?;
                let password = need(settings, &k("authentication.basicAuth.password"))?;
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                authorization = Some(format!("Basic {pair}"));
                basic_user = Some(user);
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
        let sends = match &admin.access {
            _ if signer.is_some() => Sends { scheme: "DPoP", setting: "--auth security_token".into() },
            access => Sends {
                scheme: match access {
                    AdminAccess::Basic => "Basic",
                    AdminAccess::ClientCertificate => "TLS-Client-Certificate",
                    AdminAccess::OAuth { .. } => "Bearer",
                },
                setting: format!("service.{ADMIN_SERVICE}.authentication.type={}", access.scheme()),
            },
        };
        Ok(AdminClient { client, base, authorization, trusted, basic_user, signer, sends })
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

    /// The access token sent as `Bearer`, when the admin API is reached with
    /// a sign-on's token (`authentication.type=oauth`).
    pub fn bearer(&self) -> Option<&str> {
        self.authorization.as_deref()?.strip_prefix("Bearer ")
    }

    /// Whether requests are signed with a session's key (`--auth security_token`).
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Sends `req`, signed with the session's key when there is one.
    pub async fn dispatch(&self, req: reqwest::RequestBuilder, url: &url::Url) -> anyhow::Result<reqwest::Response> {
        let unreachable = |e: reqwest::Error| crate::signon::unreachable(&e, url.as_str(), ADMIN_SERVICE);
        match &self.signer {
            Some(signer) => signer.send(&self.client, req.build().map_err(unreachable)?).await.map_err(|e| match e {
                signet_client::Error::Http(e) => unreachable(e),
                other => other.into(),
            }),
            None => req.send().await.map_err(unreachable),
        }
    }

    /// The HTTP client with the admin API's TLS settings, and no credentials.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    /// A URL under the admin API from path segments, each percent-encoded,
    /// so a username or id can never step outside its resource.
    pub fn at(&self, segments: &[&str], query: Option<&str>) -> anyhow::Result<url::Url> {
        under(&self.base, segments, query)
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
        let mut req = self.client.request(method.clone(), url.clone()).header("accept", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a);
        }
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        if let Some(p) = payload {
            req = req.json(p);
        }
        let res = self.dispatch(req, &url).await?;
        let status = res.status();
        let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let challenges: Vec<String> = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenge_schemes)
            .collect();
        let text =
            crate::http::text(res).await.map_err(|e| crate::signon::unreachable(&e, url.as_str(), ADMIN_SERVICE))?;
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let field = |k: &str| json.as_ref().and_then(|j| j.get(k)?.as_str().map(str::to_owned));
            let (code, message) = match (field("error"), field("message")) {
                (Some(code), Some(message)) => (Some(code), message),
                _ => (None, text.lines().next().unwrap_or_default().to_owned()),
            };
            let path = url.path().to_owned();
            let accepts = Some(challenges).filter(|c| status == reqwest::StatusCode::UNAUTHORIZED && !c.is_empty());
            let sent = Some(self.sends.clone());
            return Err(ApiError { method, path, status: status.as_u16(), code, message, accepts, sent }.into());
        }
        Ok(Answer { status: status.as_u16(), json, text, etag })
    }

    /// Every page of a list (`--all`), or the one page asked for: the API's
    /// page shape, `{"items", "next_cursor"}`, with all items when `all`.
    pub async fn list(&self, segments: &[&str], limit: u32, all: bool) -> anyhow::Result<serde_json::Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &limit.to_string());
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
            let url = self.at(segments, Some(&query.finish()))?;
            let page = self.send(Method::GET, url, None).await?.json.unwrap_or_default();
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            let next = page["next_cursor"].as_str().map(str::to_owned);
            // A cursor that does not move would loop for ever.
            if !all || next.is_none() || next == cursor {
                return Ok(serde_json::json!({"items": items, "next_cursor": if all { None } else { next }}));
            }
            cursor = next;
        }
    }
}

pub fn under(base: &url::Url, segments: &[&str], query: Option<&str>) -> anyhow::Result<url::Url> {
    // URL parsers resolve `.` and `..` (and `%2E%2E`) away: such a name
    // would address another resource, so it is refused.
    if let Some(dots) = segments.iter().find(|s| matches!(**s, "." | "..")) {
        bail!("{dots:?} cannot be named in a URL path, so the admin API cannot be asked about it");
    }
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().map_err(|()| anyhow!("the admin API's URL cannot hold a path"))?;
        path.pop_if_empty();
        path.extend(segments);
    }
    url.set_query(query);
    Ok(url)
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

/// The auth-schemes of a `WWW-Authenticate` value (RFC 9110 §11.6.1): a
/// list of challenges, each a scheme then `name=value` parameters (or a
/// token68), all comma-separated. Commas inside quoted strings are not
/// separators.
pub fn challenge_schemes(header: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut part, mut quoted, mut escaped) = (String::new(), false, false);
    for c in header.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    // A part that starts with a token and then a space, or is a lone token
    // with no `=`, starts a challenge; any other part is a parameter.
    let token =
        |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    parts
        .iter()
        .map(|p| p.trim())
        .filter_map(|p| match p.split_once(' ') {
            Some((first, _)) if token(first) => Some(first.to_owned()),
            None if token(p) => Some(p.to_owned()),
            _ => None,
        })
        .fold(Vec::new(), |mut all, s| {
            if !all.iter().any(|a: &String| a.eq_ignore_ascii_case(&s)) {
                all.push(s);
            }
            all
        })
}

impl ApiError {
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
    /// The version the answer shows, to send back as `If-Match`.
    pub etag: Option<String>,
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
        None => ctx.out.block(&answer.text)?,
    }
    Ok(ExitCode::Ok)
}

fn need(settings: &Settings, key: &str) -> anyhow::Result<String> {
    settings.checked(key)?.ok_or_else(|| anyhow!("{key} is not set\nhint: signet config set \"{key}=…\""))
}

#[cfg(test)]
mod tests {
    use super::{ApiError, Sends, challenge_schemes, forbidden_hint, under};

    #[test]
    fn challenges_are_split_outside_quotes() {
        let signetd = r#"Basic realm="signetd", Bearer realm="signetd", error="invalid_token", DPoP realm="signetd", algs="ES256 EdDSA", error="invalid_token""#;
        assert_eq!(challenge_schemes(signetd), ["Basic", "Bearer", "DPoP"]);
        let tricky = r#"Basic realm="a, Bearer b=\"c, d\"", TLS-Client-Certificate realm="x""#;
        assert_eq!(challenge_schemes(tricky), ["Basic", "TLS-Client-Certificate"]);
        assert_eq!(challenge_schemes("Negotiate, Basic realm=x"), ["Negotiate", "Basic"]);
        assert_eq!(challenge_schemes("Newauth abc=="), ["Newauth"]);
        assert!(challenge_schemes("").is_empty());
    }

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
    fn path_segments_stay_segments() {
        let base = url::Url::parse("http://127.0.0.1:1/admin-api/v1").unwrap();
        let at = |segments: &[&str]| under(&base, segments, None).unwrap().to_string();
        assert_eq!(at(&["accounts", "ada@example.org"]), "http://127.0.0.1:1/admin-api/v1/accounts/ada@example.org");
        assert_eq!(at(&["accounts", "../settings"]), "http://127.0.0.1:1/admin-api/v1/accounts/..%2Fsettings");
        assert_eq!(at(&["accounts", "a..b"]), "http://127.0.0.1:1/admin-api/v1/accounts/a..b");
        for dots in [".", ".."] {
            assert!(under(&base, &["accounts", dots, "password"], None).is_err(), "{dots}");
        }
        let slash = url::Url::parse("http://127.0.0.1:1/admin-api/v1/").unwrap();
        assert_eq!(
            under(&slash, &["keys"], Some("limit=1")).unwrap().as_str(),
            "http://127.0.0.1:1/admin-api/v1/keys?limit=1"
        );
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
