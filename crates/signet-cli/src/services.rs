//! Connectors: `pingone` (region hosts, or a base URL such as signetd's) and
//! any generic OpenID provider named by its issuer. Each resolves to an
//! issuer and a way of signing on. The admin API (`pingfederate`, with
//! pingcli's keys) is reached with static credentials or with another
//! service's sign-on, so it has nothing of its own to sign on to.

use std::path::PathBuf;

use anyhow::{anyhow, bail};

use crate::config::settings::Settings;

/// PingOne's public authentication hosts by region code.
pub fn region_host(code: &str) -> Option<&'static str> {
    Some(match code {
        "NA" => "https://auth.pingone.com",
        "EU" => "https://auth.pingone.eu",
        "AP" => "https://auth.pingone.asia",
        "CA" => "https://auth.pingone.ca",
        "AU" => "https://auth.pingone.com.au",
        "SG" => "https://auth.pingone.sg",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    ClientCredentials,
    AuthorizationCode,
    DeviceCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::AuthorizationCode => "authorization_code",
            Grant::DeviceCode => "device_code",
        }
    }
}

/// How a service signs on. The worker's secret is the only secret here.
#[derive(Clone)]
pub enum Auth {
    Worker { client_id: String, client_secret: String, scopes: Option<String> },
    AuthorizationCode { client_id: String, port: u16, path: String, scopes: String },
    DeviceCode { client_id: String, scopes: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Worker { client_id, .. } => write!(f, "Worker({client_id})"),
            Auth::AuthorizationCode { client_id, .. } => write!(f, "AuthorizationCode({client_id})"),
            Auth::DeviceCode { client_id, .. } => write!(f, "DeviceCode({client_id})"),
        }
    }
}

impl Auth {
    pub fn grant(&self) -> Grant {
        match self {
            Auth::Worker { .. } => Grant::ClientCredentials,
            Auth::AuthorizationCode { .. } => Grant::AuthorizationCode,
            Auth::DeviceCode { .. } => Grant::DeviceCode,
        }
    }
    pub fn client_id(&self) -> &str {
        match self {
            Auth::Worker { client_id, .. }
            | Auth::AuthorizationCode { client_id, .. }
            | Auth::DeviceCode { client_id, .. } => client_id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub issuer: String,
    /// `None`: configured, but with no way to sign on yet.
    pub auth: Option<Auth>,
    pub ca_files: Vec<PathBuf>,
    pub login_timeout_secs: u64,
}

fn need(settings: &Settings, key: &str) -> anyhow::Result<String> {
    settings.checked(key)?.ok_or_else(|| anyhow!("{key} is not set\nhint: signet config set \"{key}=…\""))
}

impl Service {
    pub fn resolve(settings: &Settings, name: &str) -> anyhow::Result<Service> {
        if name == ADMIN_SERVICE {
            let scheme = AdminApi::resolve(settings)?.map(|a| a.access.scheme()).unwrap_or("nothing yet");
            bail!(
                "{ADMIN_SERVICE} (the admin API) uses {scheme}; it has nothing to sign on to\nhint: with authentication.type=oauth, sign on to the service it names"
            );
        }
        let k = |suffix: &str| format!("service.{name}.{suffix}");
        let issuer = if name == "pingone" {
            let env = need(settings, "service.pingone.endpoint.environmentID")?;
            let base = match settings.checked("service.pingone.endpoint.baseURL")? {
                Some(b) => b,
                None => {
                    let region = need(settings, "service.pingone.regionCode")?;
                    region_host(&region).ok_or_else(|| anyhow!("unknown region {region}"))?.to_owned()
                }
            };
            format!("{base}/{env}/as")
        } else {
            match settings.checked(&k("issuer"))? {
                Some(i) => i,
                None => bail!(
                    "there is no service {name:?} in profile {}\nhint: signet config set \"service.{name}.issuer=https://…\"",
                    settings.profile
                ),
            }
        };
        let auth = match settings.checked(&k("authentication.type"))?.as_deref() {
            None => None,
            Some("worker" | "client_credentials") => Some(Auth::Worker {
                client_id: need(settings, &k("authentication.worker.clientID"))?,
                client_secret: need(settings, &k("authentication.worker.clientSecret"))?,
                scopes: settings.checked(&k("authentication.worker.scopes"))?,
            }),
            Some("authorization_code") => Some(Auth::AuthorizationCode {
                client_id: need(settings, &k("authentication.authorizationCode.clientID"))?,
                port: need(settings, &k("authentication.authorizationCode.redirectURIPort"))?.parse()?,
                path: need(settings, &k("authentication.authorizationCode.redirectURIPath"))?,
                scopes: need(settings, &k("authentication.authorizationCode.scopes"))?,
            }),
            Some("device_code") => Some(Auth::DeviceCode {
                client_id: need(settings, &k("authentication.deviceCode.clientID"))?,
                scopes: need(settings, &k("authentication.deviceCode.scopes"))?,
            }),
            Some(other) => bail!("unknown authentication type {other:?}"),
        };
        let ca_files = settings
            .checked(&k("caCertificatePemFiles"))?
            .map(|v| v.split(',').map(PathBuf::from).collect())
            .unwrap_or_default();
        let login_timeout_secs = need(settings, "auth.loginTimeoutSeconds")?.parse()?;
        Ok(Service { name: name.to_owned(), issuer, auth, ca_files, login_timeout_secs })
    }
}

impl Service {
    /// Refuses to start this service's browser sign-on while another
    /// service of the profile takes its browser sign-ons on the same
    /// redirect path. The path is what tells one provider's answer from
    /// another's: with one path for two providers, a provider that sends
    /// the person on to the other one (a mix-up, RFC 9700 §4.4) would get
    /// back that provider's code, and this flow's PKCE verifier with it.
    pub fn check_own_redirect_path(&self, settings: &Settings) -> anyhow::Result<()> {
        let Some(Auth::AuthorizationCode { path, .. }) = &self.auth else { return Ok(()) };
        for other in settings.services() {
            let k = |suffix: &str| format!("service.{other}.authentication.{suffix}");
            if other == self.name || settings.checked(&k("type"))?.as_deref() != Some("authorization_code") {
                continue;
            }
            if settings.checked(&k("authorizationCode.redirectURIPath"))?.as_deref() == Some(path.as_str()) {
                // pingone keeps /callback, which signetd registers; the other one moves.
                let moves = if self.name == "pingone" { &other } else { &self.name };
                bail!(
                    "services {} and {other} both take browser sign-ons at http://127.0.0.1{path}, so either provider could be handed the other's sign-on (a mix-up, RFC 9700 §4.4)\nhint: give each its own path: signet config set \"service.{moves}.authentication.authorizationCode.redirectURIPath=/callback/{moves}\", and register http://127.0.0.1/callback/{moves} (any port) at that provider",
                    self.name
                );
            }
        }
        Ok(())
    }
}

/// The admin API's connector, named as pingcli names it.
pub use crate::config::keys::ADMIN_SERVICE;

/// How the admin API is reached. The credentials themselves stay in the
/// settings until a request needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAccess {
    Basic,
    ClientCertificate,
    /// The access token of another service's sign-on.
    OAuth {
        service: String,
    },
}

impl AdminAccess {
    pub fn scheme(&self) -> &'static str {
        match self {
            AdminAccess::Basic => "basicAuth",
            AdminAccess::ClientCertificate => "clientCertificate",
            AdminAccess::OAuth { .. } => "oauth",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdminApi {
    /// `httpsHost` joined with `adminAPIPath`.
    pub base: String,
    pub access: AdminAccess,
}

impl AdminApi {
    /// `None` when the profile does not configure the admin API. Every key the
    /// chosen scheme needs must be set and valid.
    pub fn resolve(settings: &Settings) -> anyhow::Result<Option<AdminApi>> {
        if !settings.configures(ADMIN_SERVICE) {
            return Ok(None);
        }
        let k = |suffix: &str| format!("service.{ADMIN_SERVICE}.{suffix}");
        let host = need(settings, &k("httpsHost"))?;
        let path = need(settings, &k("adminAPIPath"))?;
        let base = format!("{}/{}", host.trim_end_matches('/'), path.trim_start_matches('/'));
        let access = match need(settings, &k("authentication.type"))?.as_str() {
            "basicAuth" => {
                need(settings, &k("authentication.basicAuth.username"))?;
                need(settings, &k("authentication.basicAuth.password"))?;
                AdminAccess::Basic
            }
            "clientCertificate" => {
                need(settings, &k("authentication.clientCertificate.certFile"))?;
                need(settings, &k("authentication.clientCertificate.keyFile"))?;
                AdminAccess::ClientCertificate
            }
            "oauth" => AdminAccess::OAuth { service: need(settings, &k("authentication.oauth.service"))? },
            other => bail!("unknown admin API authentication type {other:?}"),
        };
        settings.checked(&k("caCertificatePemFiles"))?;
        Ok(Some(AdminApi { base, access }))
    }
}
