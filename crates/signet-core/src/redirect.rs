//! Redirect URI matching: exact string comparison (RFC 9700 §4.1.3), except
//! that a loopback redirect of a native application may use any port
//! (RFC 8252 §7.3), because the CLI binds an ephemeral port.

use url::{Host, Url};

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// True when `requested` may be used for an application registered with `registered`.
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

/// Whether a URI may be registered as a redirect: absolute, no fragment (RFC 6749 §3.1.2),
/// and https unless it is a loopback or private-use scheme of a native app.
pub fn is_registrable(uri: &str) -> bool {
    match Url::parse(uri) {
        Ok(u) => u.fragment().is_none() && (u.scheme() == "https" || (u.scheme() == "http" && is_loopback_ip(&u))),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn registrable_uris() {
        assert!(is_registrable(CLI));
        assert!(is_registrable("https://app.test/cb"));
        assert!(!is_registrable("http://app.test/cb"));
        assert!(!is_registrable("https://app.test/cb#frag"));
        assert!(!is_registrable("not a url"));
    }
}
