//! signetd's Vault-compatible API (`/v1/identity/mfa/…` on the admin API's
//! host) for the `mfa` commands: Vault's verbs (`LIST`), its token header,
//! its envelope, and its `{"errors": [...]}` refusals as one line with a hint.
//!
//! The API takes nothing but an access token with the admin API audience:
//! the token of the service the admin API's `oauth` scheme names or, with
//! static admin credentials, of the one sign-on service whose issuer is on
//! the admin API's origin. So a token only ever goes to the server that
//! issued it, or to where the profile says to use it.

use anyhow::{Context, anyhow, bail};
use reqwest::Method;
use serde_json::Value;
use signet_proto::vault::{Envelope, Errors, KeyList};

use crate::commands::request::{AdminClient, under};
use crate::config::settings::Settings;
use crate::services::{ADMIN_SERVICE, Service};
use crate::session;
use crate::token_store::Store;

pub struct VaultClient {
    admin: AdminClient,
    /// `{httpsHost}/v1/identity/mfa`.
    base: url::Url,
    /// `X-Vault-Token`; `None` with a session, whose signer authenticates.
    token: Option<String>,
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

impl VaultClient {
    pub async fn connect(settings: &Settings) -> anyhow::Result<VaultClient> {
        let admin = AdminClient::connect(settings).await?;
        let key = format!("service.{ADMIN_SERVICE}.httpsHost");
        let host = settings.checked(&key)?.ok_or_else(|| anyhow!("{key} is not set"))?;
        let host = url::Url::parse(&host).context("the admin API's httpsHost")?;
        let base = under(&host, &["v1", "identity", "mfa"], None)?;
        let token = match admin.bearer() {
            _ if admin.signs() => None,
            Some(t) => Some(t.to_owned()),
            None => Some(token_of_issuer_at(settings, &host).await?),
        };
        Ok(VaultClient { admin, base, token })
    }

    /// Sends one request to `identity/mfa/{segments}`; the answer's JSON,
    /// or `None` for 204. A refusal is a [`VaultError`].
    pub async fn call(
        &self,
        verb: &str,
        segments: &[&str],
        body: Option<&impl serde::Serialize>,
    ) -> anyhow::Result<Option<Value>> {
        let method = Method::from_bytes(verb.as_bytes())?;
        let url = under(&self.base, segments, None)?;
        let mut req = self.admin.http().request(method.clone(), url.clone()).header("accept", "application/json");
        if let Some(t) = &self.token {
            req = req.header("x-vault-token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = self.admin.dispatch(req, &url).await?;
        let status = res.status().as_u16();
        let text =
            crate::http::text(res).await.map_err(|e| crate::signon::unreachable(&e, url.as_str(), ADMIN_SERVICE))?;
        if !(200..300).contains(&status) {
            let errors = match serde_json::from_str::<Errors>(&text) {
                Ok(refusal) => refusal.errors,
                Err(_) => text.lines().next().filter(|l| !l.is_empty()).map(|l| vec![l.to_owned()]).unwrap_or_default(),
            };
            return Err(VaultError { method, path: url.path().to_owned(), status, errors }.into());
        }
        let Ok(json) = serde_json::from_str::<Value>(&text) else { return Ok(None) };
        if let Ok(Envelope::<Value> { warnings, .. }) = serde_json::from_value(json.clone()) {
            for w in warnings.into_iter().flatten() {
                eprintln!("warning: {}", one_line(&w));
            }
        }
        Ok(Some(json))
    }

    /// A read's `data`, as sent (`-O json` prints it so).
    pub async fn read(&self, segments: &[&str]) -> anyhow::Result<Value> {
        let answer = self.call("GET", segments, None::<&()>).await?;
        Ok(answer.and_then(data).unwrap_or_default())
    }

    /// A `LIST`'s items (`key_info` in the order of `keys`); Vault answers
    /// an empty list with 404 and no message, which is no error here.
    pub async fn list(&self, segments: &[&str]) -> anyhow::Result<Vec<Value>> {
        let answer = match self.call("LIST", segments, None::<&()>).await {
            Ok(a) => a.unwrap_or_default(),
            Err(e) if e.downcast_ref::<VaultError>().is_some_and(|v| v.status == 404 && v.errors.is_empty()) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let list: Option<KeyList<Value>> = data(answer).map(serde_json::from_value).transpose().ok().flatten();
        Ok(list.map(KeyList::into_items).unwrap_or_default())
    }
}

/// An answer's `data`: `None` when the answer is not Vault's envelope.
fn data(answer: Value) -> Option<Value> {
    serde_json::from_value::<Envelope<Value>>(answer).ok()?.data
}

/// A typed view of an item the API sent, for people; `-O json` prints the
/// item as sent instead.
pub fn view<T: serde::de::DeserializeOwned>(item: &Value, what: &str) -> anyhow::Result<T> {
    T::deserialize(item).with_context(|| format!("the Vault-compatible API's answer is not {what} signet can read"))
}

/// With static admin credentials: the token of the one sign-on service
/// whose issuer is on the admin API's origin (signetd's own environment).
async fn token_of_issuer_at(settings: &Settings, host: &url::Url) -> anyhow::Result<String> {
    let here = origin(host);
    let mut found = Vec::new();
    for name in settings.services() {
        let service = Service::resolve(settings, &name)?;
        if url::Url::parse(&service.issuer).is_ok_and(|i| origin(&i) == here) {
            found.push(service);
        }
    }
    let how = format!(
        "signet config set \"service.{ADMIN_SERVICE}.authentication.type=oauth\" and \"service.{ADMIN_SERVICE}.authentication.oauth.service=NAME\""
    );
    let service = match found.len() {
        1 => found.remove(0),
        0 => bail!(
            "the Vault-compatible API takes an access token, and profile {} has no sign-on service on {here}\nhint: point the pingone connector at signetd (service.pingone.endpoint.baseURL={here}) and sign on with signet auth login",
            settings.profile
        ),
        _ => bail!(
            "profile {} has several sign-on services on {here}, so which token to use is unclear\nhint: {how}",
            settings.profile
        ),
    };
    let store = Store::open(&settings.value("auth.storage.type").unwrap_or_else(|| "secure_local".into()))?;
    Ok(session::fresh(settings, &service, &store).await?.access_token)
}

/// Server text on one line, so it can never pass for a `hint:` line, and
/// with no control character left to act on the terminal.
fn one_line(s: &str) -> String {
    let spaced: String = s.chars().map(|c| if matches!(c, '\n' | '\r') { ' ' } else { c }).collect();
    crate::output::safe(&spaced).into_owned()
}

/// A refusal by the Vault-compatible API: its `errors`, on one line, and a
/// `hint:` where there is a fix.
#[derive(Debug)]
pub struct VaultError {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub errors: Vec<String>,
}

impl VaultError {
    fn hint(&self) -> Option<String> {
        let message = self.errors.join("; ");
        let enforcements = self.path.contains("/login-enforcement");
        Some(match self.status {
            403 => "writes need the Admin role, and UserAdmin for an enforcement that reaches administrators (any role or an Auditor reads); sign on again with signet auth login, as an account or worker holding them, or have a UserAdmin grant them (signet accounts update NAME --role …)".into(),
            404 if enforcements => "signet mfa enforcement list shows the enforcements".into(),
            404 => "signet mfa method list shows the methods".into(),
            429 => "wait a minute, then check the credentials: signet auth status".into(),
            400 if message.contains("already exists") => {
                "choose another --method-name, or change that method with signet mfa method update".into()
            }
            400 if message.starts_with("methodID is still used") => {
                "change or delete those enforcements first: signet mfa enforcement list".into()
            }
            400 if message.contains("method ids doesn't exist") => "signet mfa method list shows the methods".into(),
            400 if message.contains("under MFA type") => "signet mfa method read ID shows a method's type".into(),
            400 if message.contains("accessors provided is invalid") => {
                "accessors are environment ids: signet request GET /environments lists them".into()
            }
            400 if message.contains("entity ids doesn't exist") => {
                "entities are account ids: signet -O json accounts get USERNAME shows one".into()
            }
            _ => return None,
        })
    }
}

impl std::fmt::Display for VaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = match self.errors.as_slice() {
            [] if self.status == 404 => "not found".to_owned(),
            [] => "no reason given".to_owned(),
            e => one_line(&e.join("; ")),
        };
        write!(f, "{} {} answered {}: {message}", self.method, self.path, self.status)?;
        match self.hint() {
            Some(h) => write!(f, "\nhint: {h}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for VaultError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, path: &str, errors: &[&str]) -> String {
        let e = VaultError {
            method: Method::GET,
            path: path.into(),
            status,
            errors: errors.iter().map(|s| s.to_string()).collect(),
        };
        e.to_string()
    }

    #[test]
    fn a_refusal_is_one_line_with_its_hint() {
        let p = "/v1/identity/mfa/method/totp";
        assert_eq!(
            refusal(404, "/v1/identity/mfa/login-enforcement/x", &[]),
            "GET /v1/identity/mfa/login-enforcement/x answered 404: not found\nhint: signet mfa enforcement list shows the enforcements"
        );
        let denied = refusal(403, p, &["permission denied"]);
        assert!(denied.starts_with(
            "GET /v1/identity/mfa/method/totp answered 403: permission denied\nhint: writes need the Admin role"
        ));
        // Server text cannot add lines of its own.
        assert_eq!(
            refusal(400, p, &["bad\nhint: run rm -rf"]),
            "GET /v1/identity/mfa/method/totp answered 400: bad hint: run rm -rf"
        );
    }
}
