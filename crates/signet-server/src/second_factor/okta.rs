//! Okta Verify push through Okta's Users and Factors APIs, as Vault's
//! `validateOkta` does it: find the user by `profile.login` (or
//! `profile.email` when `primary_email`), list their factors, take the first
//! `push` factor, verify it, then poll the transaction until it ends.
//!
//! Every call carries `Authorization: SSWS <api_token>`. The poll link Okta
//! returns is never followed as given: like Vault, signet takes the
//! transaction id from its path and asks its own org URL, so a reply cannot
//! send the token elsewhere.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use signet_core::secret::Secret;
use tracing::instrument;

use super::{Polling, ProviderError, Verdict, audit_text, base_url};
use crate::fetch::{Answer, Call, Fetcher};

const SERVICE: &str = "Okta";
const DEFAULT_BASE_URL: &str = "okta.com";
/// RFC 3986 unreserved characters stay; everything else in a path segment is escaped.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// An Okta method (Vault's field names).
///
/// The org URL is `https://{org_name}.{base_url}`, `base_url` defaulting to
/// `okta.com`, as Vault builds it. A signet extension: a `base_url` that
/// starts with `http://` or `https://` is the org URL itself, and `org_name`
/// is not used (this is how tests point it at a local stand-in).
#[derive(Clone)]
pub struct Okta {
    pub org_name: String,
    pub api_token: Secret<String>,
    pub base_url: String,
    pub primary_email: bool,
}

impl std::fmt::Debug for Okta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Okta")
            .field("org_name", &self.org_name)
            .field("base_url", &self.base_url)
            .field("primary_email", &self.primary_email)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Factor {
    id: String,
    #[serde(rename = "factorType")]
    factor_type: String,
}

#[derive(Deserialize)]
struct Transaction {
    #[serde(rename = "factorResult")]
    factor_result: String,
    #[serde(rename = "_links", default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    poll: Option<Link>,
}

#[derive(Deserialize)]
struct Link {
    href: String,
}

#[derive(Deserialize)]
struct OktaError {
    #[serde(rename = "errorSummary")]
    error_summary: Option<String>,
}

fn protocol(detail: impl Into<String>) -> ProviderError {
    ProviderError::Protocol { service: SERVICE, detail: detail.into() }
}

fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

impl Okta {
    /// Pushes to the user's Okta Verify and waits for their answer, within
    /// the default bound (one poll a second, 60 s in all).
    pub async fn verify(&self, fetcher: &Fetcher, username: &str) -> Result<Verdict, ProviderError> {
        self.verify_with(fetcher, username, Polling::default()).await
    }

    /// `verify`, with the polling given.
    #[instrument(skip_all, fields(method = "okta"))]
    pub async fn verify_with(
        &self,
        fetcher: &Fetcher,
        username: &str,
        polling: Polling,
    ) -> Result<Verdict, ProviderError> {
        let org = self.org_url()?;
        let api =
            Api { fetcher, org: &org, token: Secret::new(format!("SSWS {}", self.api_token.expose())), okta: self };
        match tokio::time::timeout(polling.limit, api.push(username, polling)).await {
            Ok(verdict) => verdict,
            Err(_) => Ok(polling.expired(SERVICE)),
        }
    }

    /// The org URL the API calls go to.
    pub fn org_url(&self) -> Result<String, ProviderError> {
        let base = if self.base_url.is_empty() { DEFAULT_BASE_URL } else { self.base_url.as_str() };
        if base.starts_with("https://") || base.starts_with("http://") {
            return Ok(base_url(base));
        }
        // One DNS label, so the name cannot carry a path, a port or user info.
        let label = !self.org_name.is_empty()
            && self.org_name.len() <= 63
            && self.org_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !label {
            return Err(ProviderError::Misconfigured {
                service: SERVICE,
                reason: format!("org_name {:?} is not a host name label", audit_text(&self.org_name, &[])),
            });
        }
        Ok(base_url(&format!("{}.{base}", self.org_name)))
    }
}

/// One verification's calls, all to the org URL with the API token.
struct Api<'a> {
    fetcher: &'a Fetcher,
    org: &'a str,
    token: Secret<String>,
    okta: &'a Okta,
}

impl Api<'_> {
    async fn push(&self, username: &str, polling: Polling) -> Result<Verdict, ProviderError> {
        let field = if self.okta.primary_email { "profile.email" } else { "profile.login" };
        let filter = format!("{field} eq {}", go_quote(username));
        let query: String =
            url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", &filter).finish();
        let users: Vec<User> = self.call(Call::get(format!("{}/api/v1/users?{query}", self.org))).await?;
        let user = match users.as_slice() {
            [one] => one,
            [] => return Ok(Verdict::Denied(format!("Okta has no user whose {field} is {}", go_quote(username)))),
            _ => {
                return Ok(Verdict::Denied(format!(
                    "Okta has more than one user whose {field} is {}",
                    go_quote(username)
                )));
            }
        };
        let factors_url = format!("{}/api/v1/users/{}/factors", self.org, segment(&user.id));
        let factors: Vec<Factor> = self.call(Call::get(&factors_url)).await?;
        if factors.is_empty() {
            return Ok(Verdict::Denied("the Okta user has no MFA factors".into()));
        }
        let Some(factor) = factors.iter().find(|f| f.factor_type == "push") else {
            return Ok(Verdict::Denied("the Okta user has no push factor (Okta Verify)".into()));
        };
        let factor_url = format!("{factors_url}/{}", segment(&factor.id));
        let started: Transaction =
            self.call(Call::post(format!("{factor_url}/verify"), "application/json", Vec::new())).await?;
        if started.factor_result != "WAITING" {
            return Err(protocol(format!(
                "a push verification answered {:?}, not WAITING",
                audit_text(&started.factor_result, &[])
            )));
        }
        let href = started.links.and_then(|l| l.poll).map(|p| p.href).unwrap_or_default();
        let transaction = transaction_id(&href).ok_or_else(|| protocol("the push's poll link names no transaction"))?;
        let poll_url = format!("{factor_url}/transactions/{}", segment(&transaction));
        loop {
            let status: Transaction = self.call(Call::get(&poll_url)).await?;
            match status.factor_result.as_str() {
                "WAITING" => {}
                "SUCCESS" => return Ok(Verdict::Approved),
                "REJECTED" => return Ok(Verdict::Denied("the user rejected the Okta Verify push".into())),
                "TIMEOUT" => return Ok(Verdict::Denied("the Okta Verify push timed out".into())),
                other => return Err(protocol(format!("unknown factorResult {:?}", audit_text(other, &[])))),
            }
            tokio::time::sleep(polling.interval).await;
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T, ProviderError> {
        let call = call.header("authorization", self.token.expose()).header("accept", "application/json");
        let answer =
            self.fetcher.send(call).await.map_err(|source| ProviderError::Unreachable { service: SERVICE, source })?;
        if !answer.is_success() {
            return Err(self.refused(&answer));
        }
        answer.json().map_err(|e| protocol(e.to_string()))
    }

    /// Okta's own words for a refusal: its `errorSummary`, such as "Invalid token provided".
    fn refused(&self, answer: &Answer) -> ProviderError {
        let summary = answer.json::<OktaError>().ok().and_then(|e| e.error_summary).unwrap_or_default();
        ProviderError::Refused {
            service: SERVICE,
            status: answer.status,
            detail: audit_text(&summary, &[self.okta.api_token.expose(), self.token.expose()]),
        }
    }
}

/// The transaction id at the end of a poll link's path
/// (`…/factors/{factorId}/transactions/{transactionId}`), as Vault reads it.
fn transaction_id(href: &str) -> Option<String> {
    let url = url::Url::parse(href).ok()?;
    let (_, id) = url.path().rsplit_once("/transactions/")?;
    let id = percent_encoding::percent_decode_str(id).decode_utf8().ok()?;
    (!id.is_empty() && !id.contains('/')).then(|| id.into_owned())
}

/// Go's `%q`, which Vault uses to quote the value in the filter expression.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn okta(org_name: &str, base_url: &str) -> Okta {
        Okta {
            org_name: org_name.into(),
            api_token: Secret::new("t".into()),
            base_url: base_url.into(),
            primary_email: false,
        }
    }

    #[test]
    fn the_org_url_is_built_as_vault_builds_it() {
        assert_eq!(okta("acme", "").org_url().unwrap(), "https://acme.okta.com");
        assert_eq!(okta("acme", "oktapreview.com").org_url().unwrap(), "https://acme.oktapreview.com");
        assert_eq!(okta("ignored", "http://127.0.0.1:8080/").org_url().unwrap(), "http://127.0.0.1:8080");
        for bad in ["", "evil.example/x", "a:1", "a@b"] {
            assert!(matches!(okta(bad, "").org_url(), Err(ProviderError::Misconfigured { .. })), "{bad:?}");
        }
    }

    #[test]
    fn the_transaction_id_comes_from_the_poll_links_path() {
        let href = "https://acme.okta.com/api/v1/users/00u1/factors/opf1/transactions/v2mst.abc";
        assert_eq!(transaction_id(href).as_deref(), Some("v2mst.abc"));
        assert_eq!(transaction_id("https://acme.okta.com/api/v1/users/00u1/factors/opf1"), None);
        assert_eq!(transaction_id("not a url"), None);
    }

    #[test]
    fn filter_values_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("alice@example.com"), "\"alice@example.com\"");
    }
}
