//! Signing on with the `oauth2` crate over reqwest: discovery, the three
//! grants, refresh and revocation, and the error messages people see.

pub mod auth_code;
pub mod client_credentials;
pub mod device_code;
mod loopback;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use base64::Engine;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet, ErrorResponse,
    ExtraTokenFields, RequestTokenError, RevocationUrl, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use signet_client::ProofKey;

use crate::output::safe;
use crate::services::{Grant, Service};
use crate::token_store::Cached;

/// The token request parameter that chooses a session's access token
/// lifetime at signetd (5 to 60 minutes).
pub const SESSION_MINUTES: &str = "session_expiration_in_minutes";

/// The OpenID Connect `id_token` beside the OAuth fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

pub type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;

pub type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery tells us; only the fields signet uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// RFC 9207 §3: the provider puts `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// signetd's extension, in its Administrators environment: the admin
    /// API its access tokens are for. Its presence says the provider is signetd.
    #[serde(default)]
    pub signet_admin_api: Option<String>,
}

/// A provider's refusal (RFC 6749 §5.2), read from any provider: its code
/// is kept as sent, not only the codes signetd knows
/// (`signet_proto::oauth::ErrorBody`). Each field is `None` when absent.
#[derive(Debug, Default, Deserialize)]
pub struct OAuthRefusal {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl OAuthRefusal {
    /// The refusal in an answer's body; all `None` when it holds none.
    pub fn read(body: &[u8]) -> OAuthRefusal {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    #[error(transparent)]
    Http(#[from] http::Error),
    /// The answer could not be read whole: too large (see `crate::http`), or cut off.
    #[error(transparent)]
    Read(#[from] crate::http::ReadError),
}

/// A connection to one service's provider.
pub struct Provider {
    pub service: Service,
    pub http: reqwest::Client,
    pub metadata: Metadata,
    /// For a session: the key every token request proves (RFC 9449 §5).
    pub dpop: Option<Arc<ProofKey>>,
    /// For a session: its access tokens' lifetime, asked for at sign-on.
    pub session_minutes: Option<u32>,
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn http_client(service: &Service) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")));
    for path in &service.ca_files {
        let pem = std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
        if certs.is_empty() {
            return Err(anyhow!(
                "{} holds no PEM certificate\nhint: caCertificatePemFiles takes PEM files of CA certificates",
                path.display()
            ));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().context("building the HTTP client")
}

/// Turns a transport failure into one line with a hint.
pub fn unreachable(e: &(dyn std::error::Error + 'static), url: &str, service: &str) -> anyhow::Error {
    if let Some(t) = crate::http::too_large(e) {
        return anyhow!("{t}");
    }
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    let tls = ["certificate", "tls", "handshake", "corrupt message", "alert"];
    if url.starts_with("https://") && tls.iter().any(|t| lower.contains(t)) {
        anyhow!(
            "TLS to {url} failed: {chain}\nhint: if the provider uses a private CA, signet config set \"service.{service}.caCertificatePemFiles=/path/to/ca.pem\""
        )
    } else {
        anyhow!("cannot reach {url}: {chain}\nhint: check the service's issuer or baseURL, and HTTPS_PROXY/NO_PROXY")
    }
}

impl Provider {
    /// Reads the provider's discovery document.
    pub async fn discover(service: &Service) -> anyhow::Result<Provider> {
        let http = http_client(service)?;
        let url = format!("{}/.well-known/openid-configuration", service.issuer);
        let res = http.get(&url).send().await.map_err(|e| unreachable(&e, &url, &service.name))?;
        if !res.status().is_success() {
            return Err(anyhow!(
                "{url} answered {}\nhint: check the service's issuer (or environmentID and baseURL)",
                res.status()
            ));
        }
        let body = crate::http::body(res).await.map_err(|e| unreachable(&e, &url, &service.name))?;
        let metadata: Metadata =
            serde_json::from_slice(&body).map_err(|e| anyhow!("the discovery document at {url} is malformed: {e}"))?;
        if metadata.issuer != service.issuer {
            return Err(anyhow!(
                "the discovery document at {url} names issuer {:?}, not {:?} (OpenID Connect Discovery §4.3)",
                metadata.issuer,
                service.issuer
            ));
        }
        Ok(Provider { service: service.clone(), http, metadata, dpop: None, session_minutes: None })
    }

    /// The service as messages name it, with the server actually reached
    /// when that is signetd behind a connector: `pingone (signetd at http://127.0.0.1:8080)`.
    pub fn reached(&self) -> String {
        match (&self.metadata.signet_admin_api, url::Url::parse(&self.service.issuer)) {
            (Some(_), Ok(issuer)) => {
                format!("{} (signetd at {})", self.service.name, safe(&issuer.origin().ascii_serialization()))
            }
            _ => self.service.name.clone(),
        }
    }

    pub fn client(&self, client_id: &str, secret: Option<&str>) -> anyhow::Result<OAuthClient> {
        let m = &self.metadata;
        fn bad(what: &'static str) -> impl Fn(oauth2::url::ParseError) -> anyhow::Error {
            move |e| anyhow!("the provider's {what} is not a URL: {e}")
        }
        let client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_auth_uri_option(
                m.authorization_endpoint
                    .clone()
                    .map(AuthUrl::new)
                    .transpose()
                    .map_err(bad("authorization_endpoint"))?,
            )
            .set_device_authorization_url_option(
                m.device_authorization_endpoint
                    .clone()
                    .map(DeviceAuthorizationUrl::new)
                    .transpose()
                    .map_err(bad("device_authorization_endpoint"))?,
            )
            .set_revocation_url_option(
                m.revocation_endpoint
                    .clone()
                    .map(RevocationUrl::new)
                    .transpose()
                    .map_err(bad("revocation_endpoint"))?,
            )
            .set_token_uri_option(Some(TokenUrl::new(m.token_endpoint.clone()).map_err(bad("token_endpoint"))?));
        Ok(match secret {
            Some(s) => client.set_client_secret(ClientSecret::new(s.to_owned())),
            None => client,
        })
    }

    /// The function `oauth2` sends its requests through. For a session,
    /// requests to the token endpoint carry a proof of its key.
    pub fn sender(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send>>
    + use<> {
        let http = self.http.clone();
        let dpop = self.dpop.clone();
        let token_endpoint = self.metadata.token_endpoint.clone();
        move |req: oauth2::HttpRequest| {
            let http = http.clone();
            let key = dpop.clone().filter(|_| req.uri().to_string() == token_endpoint);
            Box::pin(async move {
                let (parts, body) = req.into_parts();
                let url = parts.uri.to_string();
                let res = match key {
                    Some(k) => send_with_proof(&http, &k, &url, parts.headers, |_| body.clone()).await?,
                    None => http.request(parts.method, url).headers(parts.headers).body(body).send().await?,
                };
                let mut out = http::Response::builder().status(res.status());
                for (k, v) in res.headers() {
                    out = out.header(k, v);
                }
                Ok(out.body(crate::http::body(res).await?)?)
            })
        }
    }

    /// Explains a failed token request in one line.
    pub fn explain<T: ErrorResponse + 'static>(&self, what: &str, e: RequestTokenError<HttpError, T>) -> anyhow::Error {
        match e {
            RequestTokenError::ServerResponse(r) => {
                let r = serde_json::to_value(&r).and_then(serde_json::from_value).unwrap_or_default();
                let OAuthRefusal { error, error_description } = r;
                let code = safe(error.as_deref().unwrap_or("error")).into_owned();
                match error_description.as_deref().map(safe) {
                    Some(d) => anyhow!("{what} refused by the provider: {code}: {d}"),
                    None => anyhow!("{what} refused by the provider: {code}"),
                }
            }
            RequestTokenError::Request(e) => unreachable(&e, &self.metadata.token_endpoint, &self.service.name),
            RequestTokenError::Parse(e, _) => anyhow!("{what}: the provider's answer is not valid: {e}"),
            RequestTokenError::Other(s) => anyhow!("{what}: {s}"),
        }
    }

    /// Tokens as they are cached, with the subject read from the ID token
    /// (or a JWT access token): it came straight from the token endpoint over
    /// TLS, so it is shown, not trusted for anything (OIDC Core §3.1.3.7).
    pub fn cache(&self, client_id: &str, grant: Grant, t: &Tokens, previous: Option<&Cached>) -> Cached {
        let id_token = t.extra_fields().id_token.clone().or_else(|| previous.and_then(|p| p.id_token.clone()));
        let subject = id_token
            .as_deref()
            .and_then(jwt_subject)
            .or_else(|| jwt_subject(t.access_token().secret()))
            .or_else(|| previous.and_then(|p| p.subject.clone()));
        Cached {
            issuer: self.service.issuer.clone(),
            client_id: client_id.to_owned(),
            grant: grant.as_str().to_owned(),
            access_token: t.access_token().secret().clone(),
            refresh_token: t
                .refresh_token()
                .map(|r| r.secret().clone())
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token,
            expires_at: t.expires_in().map(|d| now() + d.as_secs() as i64),
            scope: t
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" "))
                .or_else(|| previous.and_then(|p| p.scope.clone())),
            subject,
            token_type: Some(t.token_type().as_ref().to_owned()),
        }
    }
}

/// POSTs `body(nonce)` to a token endpoint with a DPoP proof of `key`. A
/// server that asks for a nonce (`use_dpop_nonce` with `DPoP-Nonce`, RFC 9449
/// §8) gets the request once more, its proof and body made with the nonce
/// (the body may hold proofs of its own, as a token exchange's does).
pub async fn send_with_proof(
    http: &reqwest::Client,
    key: &ProofKey,
    url: &str,
    headers: http::HeaderMap,
    body: impl Fn(Option<&str>) -> Vec<u8>,
) -> Result<reqwest::Response, HttpError> {
    let send = |nonce: Option<&str>| {
        http.post(url)
            .headers(headers.clone())
            .header("dpop", key.proof("POST", url, None, nonce))
            .body(body(nonce))
            .send()
    };
    let res = send(None).await?;
    let nonce = res.headers().get("dpop-nonce").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match nonce {
        Some(n) if res.status() == reqwest::StatusCode::BAD_REQUEST => {
            // The body says why; only a nonce challenge is worth a second try.
            let status = res.status();
            let headers = res.headers().clone();
            let bytes = crate::http::body(res).await?;
            if OAuthRefusal::read(&bytes).error.as_deref() == Some("use_dpop_nonce") {
                return Ok(send(Some(&n)).await?);
            }
            Ok(rebuilt(status, &headers, bytes))
        }
        _ => Ok(res),
    }
}

/// A response whose body was read, whole again.
fn rebuilt(status: reqwest::StatusCode, headers: &http::HeaderMap, body: Vec<u8>) -> reqwest::Response {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(body).map(reqwest::Response::from).unwrap_or_else(|_| http::Response::new(Vec::new()).into())
}

/// A string claim of a compact JWT, read without verifying it.
pub fn jwt_claim(jwt: &str, claim: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(v.get(claim)?.as_str()?.to_owned())
}

/// Who a token speaks for, as a person reads it: the username if the token
/// carries one, else the subject.
pub fn jwt_subject(jwt: &str) -> Option<String> {
    jwt_claim(jwt, "username").or_else(|| jwt_claim(jwt, "preferred_username")).or_else(|| jwt_claim(jwt, "sub"))
}
