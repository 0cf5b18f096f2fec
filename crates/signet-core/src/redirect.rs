//! Redirect URIs: which may be registered, and whether a requested one
//! matches. Matching is exact string comparison (RFC 9700 §4.1.3), except
//! that a loopback redirect of a native application may use any port
//! (RFC 8252 §7.3), because the CLI binds an ephemeral port.
//!
//! What may be registered (`check`) is the one rule every write path and
//! `/authorize` apply, so a URI written before the rule existed stops
//! working too:
//! - absolute, at most 2,000 characters, no whitespace or control characters,
//!   no wildcard `*`, no fragment (RFC 6749 §3.1.2), no userinfo;
//! - a `native` application (a public client on people's machines): an
//!   `http` loopback IP literal, `127.0.0.1` or `[::1]` on any port
//!   (RFC 8252 §7.3; never `localhost`, §8.3), or a private-use scheme in
//!   reverse-domain form such as `com.example.app:/callback` (§7.1). Never a
//!   remote host: anyone could register a native client's code to theirs;
//! - a `web` application: `https`, or `http` on a loopback IP literal;
//! - a `worker` has none: it never takes part in a browser flow.

use url::{Host, Url};

use crate::model::AppKind;

/// The longest redirect URI that may be registered.
pub const MAX_LEN: usize = 2000;

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Whether `requested` matches the registered `registered`.
pub fn matches(registered: &str, requested: &str, loopback_any_port: bool) -> bool {
    if registered == requested {
        return true;
    }
    if !loopback_any_port {
        return false;
    }
    let (Ok(reg), Ok(mut req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    if reg.scheme() != "http" || !is_loopback_ip(&reg) || req.port().is_none() {
        return false;
    }
    if req.set_port(reg.port()).is_err() {
        return false;
    }
    req.as_str() == reg.as_str()
}

/// A private-use URI scheme in reverse-domain form (RFC 8252 §7.1): at
/// least two dot-separated labels of letters, digits and `-`, the first a
/// letter, such as `com.example.app`.
fn is_private_use_scheme(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// Why a redirect URI cannot be registered: the rule it breaks, in words
/// for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("1 to {} characters", MAX_LEN)]
    Length,
    #[error("no spaces or control characters")]
    Whitespace,
    #[error("no wildcards: each redirect URI is registered exactly")]
    Wildcard,
    #[error("no fragment (RFC 6749 §3.1.2)")]
    Fragment,
    #[error("not an absolute URI")]
    NotAbsolute(#[source] url::ParseError),
    #[error("no user name or password in the URI")]
    Credentials,
    #[error("a worker application has no redirect URIs")]
    Worker,
    #[error(
        "a native application redirects to a loopback IP literal (http://127.0.0.1 or http://[::1], any port; \
         not localhost) or to a private-use scheme such as com.example.app:/callback (RFC 8252 §7)"
    )]
    NativeOverHttp,
    /// The scheme named.
    #[error("{0}: is not a private-use scheme in reverse-domain form such as com.example.app (RFC 8252 §7.1)")]
    NativeScheme(String),
    #[error("https, or http on a loopback IP literal (127.0.0.1 or [::1])")]
    Web,
}

/// Why a redirect URI cannot be registered for an application of `kind`,
/// or `Ok`.
pub fn check(uri: &str, kind: AppKind) -> Result<(), RedirectError> {
    if uri.is_empty() || uri.len() > MAX_LEN {
        return Err(RedirectError::Length);
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RedirectError::Whitespace);
    }
    if uri.contains('*') {
        return Err(RedirectError::Wildcard);
    }
    if uri.contains('#') {
        return Err(RedirectError::Fragment);
    }
    let url = Url::parse(uri).map_err(RedirectError::NotAbsolute)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectError::Credentials);
    }
    let scheme = url.scheme();
    let loopback_http = scheme == "http" && is_loopback_ip(&url);
    match kind {
        AppKind::Worker => Err(RedirectError::Worker),
        AppKind::Native if loopback_http => Ok(()),
        AppKind::Native if scheme == "http" || scheme == "https" => Err(RedirectError::NativeOverHttp),
        AppKind::Native if is_private_use_scheme(scheme) => Ok(()),
        AppKind::Native => Err(RedirectError::NativeScheme(scheme.to_owned())),
        AppKind::Web if scheme == "https" && url.host().is_some() => Ok(()),
        AppKind::Web if loopback_http => Ok(()),
        AppKind::Web => Err(RedirectError::Web),
    }
}

/// Whether `uri` may be registered for an application of `kind`.
pub fn is_registrable(uri: &str, kind: AppKind) -> bool {
    check(uri, kind).is_ok()
}

/// Whether a browser can be sent to `uri` without leaving the person's own
/// machine: an `http` loopback IP literal. Anything else reaches another
/// host (or an app registered for a scheme), and sending an administrator's
/// code there deserves their confirmation first.
pub fn stays_on_device(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|u| u.scheme() == "http" && is_loopback_ip(&u))
}

/// The host (or the scheme, for a private-use one) a redirect URI sends the
/// browser to, to name it to a person.
pub fn destination(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(u) => match u.host_str() {
            Some(h) => match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            },
            None => format!("{}:", u.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppKind::{Native, Web, Worker};

    /// The messages reach the admin API's error bodies: they keep their words.
    #[test]
    fn refusals_keep_their_words() {
        let cases = [
            ("", AppKind::Web, "1 to 2000 characters"),
            ("https://a.test/a b", AppKind::Web, "no spaces or control characters"),
            ("https://*.a.test/", AppKind::Web, "no wildcards: each redirect URI is registered exactly"),
            ("https://a.test/#x", AppKind::Web, "no fragment (RFC 6749 §3.1.2)"),
            ("/cb", AppKind::Web, "not an absolute URI"),
            ("https://u:p@a.test/", AppKind::Web, "no user name or password in the URI"),
            ("https://a.test/", AppKind::Worker, "a worker application has no redirect URIs"),
            (
                "https://a.test/",
                AppKind::Native,
                "a native application redirects to a loopback IP literal (http://127.0.0.1 or http://[::1], any port; \
                 not localhost) or to a private-use scheme such as com.example.app:/callback (RFC 8252 §7)",
            ),
            (
                "myapp:/cb",
                AppKind::Native,
                "myapp: is not a private-use scheme in reverse-domain form such as com.example.app (RFC 8252 §7.1)",
            ),
            ("http://a.test/", AppKind::Web, "https, or http on a loopback IP literal (127.0.0.1 or [::1])"),
        ];
        for (uri, kind, words) in cases {
            assert_eq!(check(uri, kind).unwrap_err().to_string(), words, "{uri}");
        }
    }

    const CLI: &str = "http://127.0.0.1/callback";

    #[test]
    fn loopback_port_may_vary_and_nothing_else() {
        assert!(matches(CLI, "http://127.0.0.1:53124/callback", true));
        assert!(matches(CLI, CLI, true));
        assert!(!matches(CLI, "http://127.0.0.1:53124/callback", false));
        assert!(!matches(CLI, "http://127.0.0.1:53124/callback/x", true));
        assert!(!matches(CLI, "http://127.0.0.1:53124/callback?x=1", true));
        assert!(!matches(CLI, "http://localhost:53124/callback", true));
        assert!(!matches(CLI, "https://127.0.0.1:53124/callback", true));
        assert!(!matches(CLI, "http://127.0.0.1.evil.test:1/callback", true));
        assert!(!matches("https://app.test/cb", "https://app.test:444/cb", true));
        assert!(matches("http://[::1]/cb", "http://[::1]:8000/cb", true));
    }

    #[test]
    fn native_applications_stay_on_the_device() {
        for ok in
            [CLI, "http://127.0.0.1:8400/cb", "http://[::1]/cb", "com.example.app:/oauth2redirect", "org.x-y.z:/cb"]
        {
            assert_eq!(check(ok, Native), Ok(()), "{ok}");
        }
        for bad in [
            "https://attacker.example/cb",
            "http://localhost/callback",
            "http://app.test/cb",
            "https://127.0.0.1/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
            "com..example:/cb",
            "1com.example:/cb",
        ] {
            assert!(check(bad, Native).is_err(), "{bad}");
        }
    }

    #[test]
    fn web_applications_use_https_or_loopback() {
        assert_eq!(check("https://app.test/cb", Web), Ok(()));
        assert_eq!(check("http://127.0.0.1:3000/cb", Web), Ok(()));
        for bad in [
            "http://app.test/cb",
            "http://localhost/cb",
            "com.example.app:/cb",
            "javascript://app.test/%0aalert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
        ] {
            assert!(check(bad, Web).is_err(), "{bad}");
        }
    }

    #[test]
    fn nothing_ambiguous_is_registered() {
        for bad in [
            "https://app.test/cb#frag",
            "https://app.test/cb#",
            "https://*.app.test/cb",
            "https://app.test/*",
            "https://user:pw@app.test/cb",
            "https://user@app.test/cb",
            "https://app.test/c b",
            "https://app.test/cb\n",
            "/relative/cb",
            "not a url",
            "",
        ] {
            assert!(check(bad, Web).is_err(), "{bad:?}");
            assert!(check(bad, Native).is_err(), "{bad:?}");
        }
        assert!(check(&format!("https://app.test/{}", "a".repeat(MAX_LEN)), Web).is_err());
        assert!(check("https://app.test/cb", Worker).is_err(), "a worker has no redirect");
    }

    #[test]
    fn destinations_are_named() {
        assert!(stays_on_device("http://127.0.0.1:4711/callback"));
        assert!(!stays_on_device("https://app.test/cb"));
        assert!(!stays_on_device("com.example.app:/cb"));
        assert_eq!(destination("https://app.test:8443/cb"), "app.test:8443");
        assert_eq!(destination("https://app.test/cb"), "app.test");
        assert_eq!(destination("com.example.app:/cb"), "com.example.app:");
    }
}
