//! Duo through its Auth API v2, as Vault's `validateDuo` calls it with Duo's
//! Go client: `/auth/v2/check` (are the keys right), `/auth/v2/preauth`
//! (may this user sign on, and how), `/auth/v2/auth` with `async=1` (a push
//! to the user's device with `pushinfo`, or a passcode), then
//! `/auth/v2/auth_status` until the answer is in.
//!
//! Every call is signed as Duo specifies: the canonical request (the `Date`
//! header, the method, the lower-cased host, the path, and the parameters
//! sorted and percent-encoded) under HMAC-SHA512 with the secret key, hex,
//! sent as HTTP Basic `integration_key:signature`. SHA-512 is what Duo's
//! current clients, and so Vault, sign with.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use signet_core::clock::UnixTime;
use signet_core::secret::Secret;
use tracing::instrument;

use super::{Polling, ProviderError, Verdict, audit_text, base_url, rfc2822};
use crate::fetch::{Call, Fetcher};

const SERVICE: &str = "Duo";
/// What Go's `url.QueryEscape` leaves alone: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A Duo method (Vault's field names).
///
/// Calls go to `https://{api_hostname}`; as a signet extension, an
/// `api_hostname` that starts with `http://` or `https://` is the base URL
/// itself (this is how tests point it at a local stand-in).
#[derive(Clone)]
pub struct Duo {
    pub integration_key: String,
    pub secret_key: Secret<String>,
    pub api_hostname: String,
    pub push_info: String,
    pub use_passcode: bool,
}

impl std::fmt::Debug for Duo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duo")
            .field("integration_key", &self.integration_key)
            .field("api_hostname", &self.api_hostname)
            .field("push_info", &self.push_info)
            .field("use_passcode", &self.use_passcode)
            .finish_non_exhaustive()
    }
}

/// Every Auth API answer: `stat` "OK" with a `response`, or "FAIL" with a
/// code and a message.
#[derive(Deserialize)]
struct Reply<T> {
    stat: String,
    response: Option<T>,
    code: Option<i64>,
    message: Option<String>,
    message_detail: Option<String>,
}

#[derive(Deserialize)]
struct Preauth {
    result: String,
    #[serde(default)]
    status_msg: String,
    #[serde(default)]
    enroll_portal_url: String,
}

#[derive(Deserialize)]
struct Started {
    txid: String,
}

#[derive(Deserialize)]
struct Status {
    result: String,
    #[serde(default)]
    status_msg: String,
}

fn protocol(detail: impl Into<String>) -> ProviderError {
    ProviderError::Protocol { service: SERVICE, detail: detail.into() }
}

impl Duo {
    /// Asks Duo about `username`'s sign-on: with `passcode` when the method
    /// takes passcodes and one was given, else with a push. Within the
    /// default bound (one status call a second, 60 s in all).
    pub async fn verify(
        &self,
        fetcher: &Fetcher,
        username: &str,
        passcode: Option<&str>,
        now: UnixTime,
    ) -> Result<Verdict, ProviderError> {
        self.verify_with(fetcher, username, passcode, now, Polling::default()).await
    }

    /// `verify`, with the polling given.
    #[instrument(skip_all, fields(method = "duo"))]
    pub async fn verify_with(
        &self,
        fetcher: &Fetcher,
        username: &str,
        passcode: Option<&str>,
        now: UnixTime,
        polling: Polling,
    ) -> Result<Verdict, ProviderError> {
        let api = self.api(fetcher, now)?;
        // The sign-on page asks for a passcode only when `use_passcode` is set.
        let passcode = passcode.filter(|p| self.use_passcode && !p.is_empty());
        match tokio::time::timeout(polling.limit, api.authenticate(username, passcode, polling)).await {
            Ok(verdict) => verdict,
            Err(_) => Ok(polling.expired(SERVICE)),
        }
    }

    fn api<'a>(&'a self, fetcher: &'a Fetcher, now: UnixTime) -> Result<Api<'a>, ProviderError> {
        let base = base_url(&self.api_hostname);
        let misconfigured = || ProviderError::Misconfigured {
            service: SERVICE,
            reason: format!("api_hostname {:?} is not a host name", audit_text(&self.api_hostname, &[])),
        };
        let url = url::Url::parse(&base).map_err(|_| misconfigured())?;
        let host =
            url.host_str().filter(|_| url.path() == "/" && url.username().is_empty()).ok_or_else(misconfigured)?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Api { fetcher, duo: self, base, host: host.to_ascii_lowercase(), date: rfc2822(now) })
    }
}

/// One verification's signed calls.
struct Api<'a> {
    fetcher: &'a Fetcher,
    duo: &'a Duo,
    base: String,
    /// As signed: lower case, with the port when the URL names one.
    host: String,
    date: String,
}

impl Api<'_> {
    async fn authenticate(
        &self,
        username: &str,
        passcode: Option<&str>,
        polling: Polling,
    ) -> Result<Verdict, ProviderError> {
        self.call::<serde_json::Value>("GET", "/auth/v2/check", &[], None).await?;
        let preauth: Preauth = self.call("POST", "/auth/v2/preauth", &[("username", username)], None).await?;
        let secrets = [self.duo.secret_key.expose().as_str()];
        match preauth.result.as_str() {
            "auth" => {}
            "allow" => return Ok(Verdict::Approved),
            "deny" => return Ok(Verdict::Denied(format!("Duo: {}", audit_text(&preauth.status_msg, &secrets)))),
            "enroll" => {
                return Ok(Verdict::Denied(format!(
                    "Duo: the user is not enrolled: {} ({})",
                    audit_text(&preauth.status_msg, &secrets),
                    audit_text(&preauth.enroll_portal_url, &secrets)
                )));
            }
            other => return Err(protocol(format!("preauth answered {:?}", audit_text(other, &[])))),
        }
        let mut params = vec![("async", "1"), ("username", username)];
        match passcode {
            Some(code) => params.extend([("factor", "passcode"), ("passcode", code)]),
            None => {
                params.extend([("factor", "push"), ("device", "auto")]);
                if !self.duo.push_info.is_empty() {
                    params.push(("pushinfo", &self.duo.push_info));
                }
            }
        }
        let started: Started = self.call("POST", "/auth/v2/auth", &params, None).await?;
        if started.txid.is_empty() {
            return Err(protocol("auth answered no transaction id"));
        }
        loop {
            // auth_status long-polls: it may hold the call until the status
            // changes, so it may take as long as the whole verification may.
            let txid = [("txid", started.txid.as_str())];
            let status: Status = self.call("GET", "/auth/v2/auth_status", &txid, Some(polling.limit)).await?;
            match status.result.as_str() {
                "allow" => return Ok(Verdict::Approved),
                "deny" => return Ok(Verdict::Denied(format!("Duo: {}", audit_text(&status.status_msg, &secrets)))),
                "waiting" => {}
                other => return Err(protocol(format!("auth_status answered {:?}", audit_text(other, &[])))),
            }
            tokio::time::sleep(polling.interval).await;
        }
    }

    /// A signed call: GET parameters go in the query, POST parameters in a
    /// form body; both are signed the same way.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        long_poll: Option<Duration>,
    ) -> Result<T, ProviderError> {
        let encoded = encode_params(params);
        let authorization = self.authorization(method, path, &encoded);
        let call = if method == "POST" {
            Call::post(format!("{}{path}", self.base), "application/x-www-form-urlencoded", encoded.into_bytes())
        } else if encoded.is_empty() {
            Call::get(format!("{}{path}", self.base))
        } else {
            Call::get(format!("{}{path}?{encoded}", self.base))
        };
        let mut call = call
            .header("date", &self.date)
            .header("authorization", authorization.expose())
            .header("accept", "application/json");
        if let Some(limit) = long_poll {
            call = call.timeout(limit);
        }
        let answer =
            self.fetcher.send(call).await.map_err(|source| ProviderError::Unreachable { service: SERVICE, source })?;
        let reply: Reply<T> = answer.json().map_err(|e| protocol(e.to_string()))?;
        if reply.stat != "OK" || !answer.is_success() {
            let secrets = [self.duo.secret_key.expose().as_str()];
            let mut detail = audit_text(reply.message.as_deref().unwrap_or(&reply.stat), &secrets);
            if let Some(code) = reply.code {
                detail = format!("{code} {detail}");
            }
            if let Some(more) = reply.message_detail.as_deref().filter(|d| !d.is_empty()) {
                detail = format!("{detail} ({})", audit_text(more, &secrets));
            }
            return Err(ProviderError::Refused { service: SERVICE, status: answer.status, detail });
        }
        reply.response.ok_or_else(|| protocol(format!("{path} answered OK with no response")))
    }

    /// `Basic base64(integration_key:hex(HMAC-SHA512(secret_key, canonical)))`.
    fn authorization(&self, method: &str, path: &str, encoded: &str) -> Secret<String> {
        let canonical = [self.date.as_str(), method, &self.host, path, encoded].join("\n");
        let key = hmac::Key::new(hmac::HMAC_SHA512, self.duo.secret_key.expose().as_bytes());
        let signature = Secret::new(hex(hmac::sign(&key, canonical.as_bytes()).as_ref()));
        let credentials = Secret::new(format!("{}:{}", self.duo.integration_key, signature.expose()));
        Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials.expose())))
    }
}

/// Parameters as Duo's canonical request has them, and as signet sends them:
/// sorted by name, then value, with everything but RFC 3986's unreserved
/// characters percent-encoded (a space is `%20`).
fn encode_params(params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", utf8_percent_encode(k, UNRESERVED), utf8_percent_encode(v, UNRESERVED)))
        .collect::<Vec<_>>()
        .join("&")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_canonicalised_as_duos_client_does() {
        // duo_api_golang's TestCanonicalize and TestPrintableAsciiCharaceters.
        let got = encode_params(&[("username", "H ell?o"), ("password", "H-._~i"), ("password", "A(!'*)")]);
        assert_eq!(got, "password=A%28%21%27%2A%29&password=H-._~i&username=H%20ell%3Fo");
        let got =
            encode_params(&[("punctuation", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), ("foo_bar", "2"), ("foo", "1")]);
        assert_eq!(
            got,
            "foo=1&foo_bar=2&punctuation=%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~"
        );
        assert_eq!(encode_params(&[]), "");
    }

    #[test]
    fn the_signature_matches_duos_documented_example_under_sha512() {
        let duo = Duo {
            integration_key: "DIWJ8X6AEYOR5OMC6TQ1".into(),
            secret_key: Secret::new("Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep".into()),
            api_hostname: "api-XXXXXXXX.duosecurity.com".into(),
            push_info: String::new(),
            use_passcode: false,
        };
        let fetcher = Fetcher::new(false).unwrap();
        let mut api = duo.api(&fetcher, 0).unwrap();
        assert_eq!(api.host, "api-xxxxxxxx.duosecurity.com");
        api.date = "Tue, 21 Aug 2012 17:29:18 -0000".into();
        let params = encode_params(&[("realname", "First Last"), ("username", "root")]);
        let got = api.authorization("POST", "/accounts/v1/account/list", &params);
        // Computed independently (Python's hmac) over Duo's documented canonical request.
        let want = "1bffb8924348f7db7da9e7d7d749ded93aafd02d8e904960da7b96c57510220185a64a2827ee8f24ac5d30802a9ee97e59de44b304b18242f0d596d15a8122af";
        let want = base64::engine::general_purpose::STANDARD.encode(format!("DIWJ8X6AEYOR5OMC6TQ1:{want}"));
        assert_eq!(got.expose(), &format!("Basic {want}"));
    }

    #[test]
    fn a_host_with_a_path_or_user_info_is_refused() {
        let fetcher = Fetcher::new(false).unwrap();
        for bad in ["api.example/x", "user@api.example", "http://127.0.0.1:1/x"] {
            let duo = Duo {
                integration_key: "i".into(),
                secret_key: Secret::new("s".into()),
                api_hostname: bad.into(),
                push_info: String::new(),
                use_passcode: false,
            };
            assert!(matches!(duo.api(&fetcher, 0), Err(ProviderError::Misconfigured { .. })), "{bad}");
        }
    }
}
