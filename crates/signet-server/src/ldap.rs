//! Checking a person's password against an LDAP directory: find their DN
//! (from a template, or by a search), bind as them, then read the groups
//! they belong to. It knows nothing of roles; the admin API maps groups.
//!
//! - An empty password is refused before anything is sent: an empty simple
//!   bind is an anonymous bind, which a directory answers with success.
//! - Every value that goes into a filter or a DN is escaped (RFC 4515,
//!   RFC 4514), so a username cannot widen a search or pick another entry.
//! - `ldaps://` and StartTLS verify the directory's certificate against the
//!   configured CA, or the system's roots.
//! - The person is who their entry says, read back after the bind: its DN
//!   and name as the directory holds them. A directory matches `ALICE`,
//!   `Alice` and `" alice "` alike, and binds each as alice; taken as
//!   typed, each would be another actor in the trail (issue 15).

use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, dn_escape, ldap_escape};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use signet_core::crypto::Kek;

use crate::sealed::{SealError, SettingSecret};

const BIND_PASSWORD: &str = "admin_api.ldap.bind_password";
/// RFC 4511 invalidCredentials.
const INVALID_CREDENTIALS: u32 = 49;
const MAX_USERNAME: usize = 256;
const MAX_GROUPS: usize = 256;

/// How to reach the directory and find people in it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub start_tls: bool,
    /// PEM CA certificates trusted for the directory's TLS certificate;
    /// the system's roots when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificates_pem: Option<String>,
    /// The person's DN, built from the username: `uid={username},ou=people,dc=example,dc=test`.
    /// Either this or `search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dn_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<LdapSearch>,
    /// Where the person's groups are found; without it they have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<LdapGroups>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// Finding a person's DN by searching for their username.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapSearch {
    pub base_dn: String,
    /// With `{username}`, escaped as a filter value: `(uid={username})`.
    pub filter: String,
    /// The account the search binds as; anonymous when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// Write as plain text; stored and shown sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub bind_password: Option<SettingSecret>,
}

/// Finding a person's groups, searched as the person once bound.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LdapGroups {
    pub base_dn: String,
    /// With `{dn}` and `{username}`, both escaped and both as the person's
    /// entry holds them: `(member={dn})`.
    #[serde(default = "default_group_filter")]
    pub filter: String,
}

fn default_timeout() -> u64 {
    5
}

fn default_group_filter() -> String {
    "(|(member={dn})(uniqueMember={dn}))".into()
}

/// A person the directory vouched for, as their entry names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// The entry's DN, as the directory spells it.
    pub dn: String,
    /// The value the username matched, as the entry holds it (`uid` for
    /// `uid={username}`); the entry's DN when the entry shows none.
    pub name: String,
    /// Group DNs, as the directory spells them.
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("the LDAP directory did not answer in time")]
    Timeout,
    #[error("LDAP: {0}")]
    Directory(String),
    #[error(transparent)]
    Sealed(#[from] SealError),
}

impl From<ldap3::LdapError> for LdapError {
    fn from(e: ldap3::LdapError) -> LdapError {
        LdapError::Directory(e.to_string())
    }
}

impl LdapSettings {
    /// What a person writing these settings gets wrong, named by field.
    pub fn check(&mut self, kek: &Kek) -> Result<(), String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("ldap.url: {e}"))?;
        match url.scheme() {
            "ldap" => {}
            "ldaps" if !self.start_tls => {}
            "ldaps" => return Err("ldap.start_tls: StartTLS is for ldap:// URLs; ldaps:// is TLS already".into()),
            other => return Err(format!("ldap.url: {other}:// is not ldap:// or ldaps://")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("ldap.url: no host".into());
        }
        if let Some(pem) = &self.ca_certificates_pem {
            roots(Some(pem)).map_err(|e| format!("ldap.ca_certificates_pem: {e}"))?;
        }
        match (&self.dn_template, &mut self.search) {
            (Some(_), Some(_)) | (None, None) => return Err("ldap: give either dn_template or search".into()),
            (Some(t), None) if !t.contains("{username}") => {
                return Err("ldap.dn_template: it must contain {username}".into());
            }
            (None, Some(s)) => {
                if !s.filter.contains("{username}") {
                    return Err("ldap.search.filter: it must contain {username}".into());
                }
                if !(s.filter.starts_with('(') && s.filter.ends_with(')')) {
                    return Err("ldap.search.filter: a filter is enclosed in parentheses".into());
                }
                match (&s.bind_dn, &mut s.bind_password) {
                    (Some(_), Some(pw)) => pw.seal(kek, BIND_PASSWORD).map_err(|e| e.to_string())?,
                    (None, None) => {}
                    _ => return Err("ldap.search: bind_dn and bind_password go together".into()),
                }
            }
            _ => {}
        }
        if let Some(g) = &self.groups
            && !(g.filter.contains("{dn}") || g.filter.contains("{username}"))
        {
            return Err("ldap.groups.filter: it must contain {dn} or {username}".into());
        }
        if !(1..=60).contains(&self.timeout_seconds) {
            return Err("ldap.timeout_seconds: between 1 and 60".into());
        }
        Ok(())
    }
}

/// Binds as `username` with `password`. `Ok(None)` when the directory says
/// the credentials are wrong or names no such person; `Err` when it cannot
/// be asked.
pub async fn authenticate(
    settings: &LdapSettings,
    kek: &Kek,
    username: &str,
    password: &str,
) -> Result<Option<DirectoryPerson>, LdapError> {
    if username.is_empty() || password.is_empty() || username.len() > MAX_USERNAME || username.contains('\0') {
        return Ok(None);
    }
    let limit = Duration::from_secs(settings.timeout_seconds);
    tokio::time::timeout(limit, bind_as(settings, kek, username, password, limit))
        .await
        .map_err(|_| LdapError::Timeout)?
}

async fn bind_as(
    settings: &LdapSettings,
    kek: &Kek,
    username: &str,
    password: &str,
    limit: Duration,
) -> Result<Option<DirectoryPerson>, LdapError> {
    let mut conn = LdapConnSettings::new().set_conn_timeout(limit).set_starttls(settings.start_tls);
    if settings.start_tls || settings.url.starts_with("ldaps:") {
        let roots = roots(settings.ca_certificates_pem.as_deref()).map_err(LdapError::Directory)?;
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        conn = conn.set_config(Arc::new(config));
    }
    let (driver, mut ldap) = LdapConnAsync::with_settings(conn, &settings.url).await?;
    ldap3::drive!(driver);
    ldap.with_timeout(limit);

    let dn = match (&settings.dn_template, &settings.search) {
        (Some(template), _) => template.replace("{username}", &dn_escape(username)),
        (None, Some(search)) => {
            if let (Some(bind_dn), Some(pw)) = (&search.bind_dn, &search.bind_password) {
                let pw = pw.open(kek, BIND_PASSWORD)?;
                ldap.simple_bind(bind_dn, pw.expose()).await?.success()?;
            }
            let filter = search.filter.replace("{username}", &ldap_escape(username));
            let (found, _) = ldap.search(&search.base_dn, Scope::Subtree, &filter, vec!["1.1"]).await?.success()?;
            // Nobody, or more than one entry: the username names no one person.
            let [entry] = found.as_slice() else {
                let _ = ldap.unbind().await;
                return Ok(None);
            };
            SearchEntry::construct(entry.clone()).dn
        }
        (None, None) => return Err(LdapError::Directory("neither dn_template nor search is set".into())),
    };
    let bound = ldap.simple_bind(&dn, password).await?;
    if bound.rc == INVALID_CREDENTIALS {
        let _ = ldap.unbind().await;
        return Ok(None);
    }
    bound.success()?;

    // Who that is, as the directory spells it: the bound person's own entry.
    let pattern = settings.dn_template.as_deref().or(settings.search.as_ref().map(|s| s.filter.as_str()));
    let attribute = username_attribute(pattern.unwrap_or_default(), &dn);
    let (found, _) = ldap.search(&dn, Scope::Base, "(objectClass=*)", vec![attribute.as_str()]).await?.success()?;
    let Some(entry) = found.into_iter().next().map(SearchEntry::construct) else {
        let _ = ldap.unbind().await;
        return Err(LdapError::Directory(
            "the person's own entry could not be read after their bind; let people read their own entry".into(),
        ));
    };
    let name = entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&attribute))
        .and_then(|(_, values)| {
            values.iter().find(|v| v.trim().eq_ignore_ascii_case(username.trim())).or(values.first()).cloned()
        })
        .unwrap_or_else(|| entry.dn.clone());
    let dn = entry.dn;

    let mut groups = Vec::new();
    if let Some(g) = &settings.groups {
        let filter = g.filter.replace("{dn}", &ldap_escape(&dn)).replace("{username}", &ldap_escape(&name));
        let (found, _) = ldap.search(&g.base_dn, Scope::Subtree, &filter, vec!["1.1"]).await?.success()?;
        groups = found.into_iter().take(MAX_GROUPS).map(|e| SearchEntry::construct(e).dn).collect();
    }
    let _ = ldap.unbind().await;
    Ok(Some(DirectoryPerson { dn, name, groups }))
}

/// The attribute a username is matched against: the one written before
/// `={username}` in the DN template or search filter (`uid` in
/// `uid={username},ou=people`), else the entry's naming attribute.
fn username_attribute(pattern: &str, dn: &str) -> String {
    let named = pattern.find("={username}").map(|at| {
        let head = &pattern[..at];
        let start = head.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).map_or(0, |i| i + 1);
        &head[start..]
    });
    match named.filter(|a| !a.is_empty()) {
        Some(a) => a.to_owned(),
        None => dn.split('=').next().unwrap_or_default().trim().to_owned(),
    }
}

fn roots(pem: Option<&str>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
                roots.add(cert).map_err(|e| format!("not a usable CA certificate: {e}"))?;
            }
            if roots.is_empty() {
                return Err("no certificate in it".into());
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::username_attribute;

    #[test]
    fn the_username_attribute_comes_from_the_template_or_the_filter() {
        let dn = "cn=Alice Example,ou=people,dc=example,dc=test";
        assert_eq!(username_attribute("uid={username},ou=people,dc=example,dc=test", dn), "uid");
        assert_eq!(username_attribute("(uid={username})", dn), "uid");
        assert_eq!(username_attribute("(&(objectClass=person)(sAMAccountName={username}))", dn), "sAMAccountName");
        assert_eq!(username_attribute("(|(mail={username}@acme.test)(x=y))", dn), "mail");
        assert_eq!(username_attribute("(uid=*{username})", dn), "cn", "not an attribute of its own: the entry's");
    }
}
