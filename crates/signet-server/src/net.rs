//! Addresses: which peer is really the client (forwarded headers are believed
//! only from configured proxies), and which URLs signetd may fetch.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The header trusted proxies write the client's address into. Only that
/// one is read: a proxy appends to the header it writes and passes the other
/// through as the client sent it, so reading both would let a client choose
/// its own address (HAProxy's `option forwardfor` and nginx's
/// `$proxy_add_x_forwarded_for` write `X-Forwarded-For`, the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(s: &str) -> Result<ForwardedHeader, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(format!("forwarded header {other:?}: x-forwarded-for or forwarded")),
        }
    }
}

/// A list of proxy addresses or CIDR ranges, such as `10.0.0.0/8` or `::1`,
/// and the header they write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>, ForwardedHeader);

impl TrustedProxies {
    /// The same proxies, writing `header`.
    pub fn writing(self, header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies(self.0, header)
    }

    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let mut out = Vec::new();
        for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (ip, bits) = match e.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (e, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| format!("trusted proxy {e:?} is not an address or CIDR range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => {
                    b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| format!("bad prefix length in {e:?}"))?
                }
                None => max,
            };
            out.push((ip, bits));
        }
        Ok(TrustedProxies(out, ForwardedHeader::default()))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|(net, bits)| in_range(ip, *net, *bits))
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the
/// nearest address in the header the proxies write (`TrustedProxies`) that
/// is not itself a trusted proxy (reading right to left, since a client can
/// forge the left). IPv4 addresses mapped into IPv6 are read as IPv4.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    match trusted.1 {
        ForwardedHeader::Forwarded => {
            for v in headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()) {
                for element in v.split(',') {
                    for pair in element.split(';') {
                        if let Some((k, val)) = pair.split_once('=')
                            && k.trim().eq_ignore_ascii_case("for")
                            && let Some(ip) = parse_node(val.trim().trim_matches('"'))
                        {
                            chain.push(ip);
                        }
                    }
                }
            }
        }
        ForwardedHeader::XForwardedFor => {
            for v in headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()) {
                chain.extend(v.split(',').filter_map(|s| parse_node(s.trim())));
            }
        }
    }
    chain.into_iter().map(|ip| ip.to_canonical()).rev().find(|ip| !trusted.contains(*ip)).unwrap_or(peer)
}

fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// The real client address of a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: AsRef<crate::live::Live<TrustedProxies>> + Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(client_ip(peer, &parts.headers, &state.as_ref().get())))
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 100 && (64..128).contains(&o[1]) // CGNAT 100.64/10
                || o[0] == 198 && (o[1] == 18 || o[1] == 19) // benchmarking 198.18/15
                || o[0] == 0 // "this network"
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = |hi: u16, lo: u16| std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
            v6.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)) || v4.is_loopback())
                // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address inside.
                || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0]
                    && { let v4 = embedded(seg[6], seg[7]); is_private(IpAddr::V4(v4)) || v4.is_loopback() })
                || (seg[0] == 0x2002 && { let v4 = embedded(seg[1], seg[2]); is_private(IpAddr::V4(v4)) || v4.is_loopback() })
        }
    }
}

/// Whether a redirect from `from` to `to` may be followed: `to` must pass the
/// fetch rules itself, and a request that did not start on loopback may not be
/// sent there, where it would reach signetd's own host.
pub fn redirect_allowed(from: &url::Url, to: &url::Url, allow_private: bool) -> Result<(), String> {
    check_fetch_url(to.as_str(), &[], allow_private)?;
    if !allow_private && !is_loopback_host(from) && is_loopback_host(to) {
        return Err(format!("a redirect from {} to loopback ({to}) is refused", from.origin().ascii_serialization()));
    }
    Ok(())
}

/// Whether resolving `host` to `addrs` is acceptable: names other than
/// `localhost` may not resolve to loopback (a public name re-pointed at this
/// host), nor to private addresses, unless `allow_private`.
pub fn resolution_allowed(host: &str, addrs: &[IpAddr], allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    if !host.eq_ignore_ascii_case("localhost") && addrs.iter().any(|a| a.is_loopback()) {
        return Err(format!("{host} resolves to loopback; set allow_private_fetch to permit it"));
    }
    if let Some(bad) = addrs.iter().find(|a| is_private(**a)) {
        return Err(format!(
            "{host} resolves to the private or link-local address {bad}; set allow_private_fetch to permit it"
        ));
    }
    Ok(())
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a URL an administrator configured for signetd to fetch (external JWKS,
/// upstream providers, MFA services): https unless on loopback, and never a
/// private or link-local address unless `allow_private` is set. `resolved` are
/// the addresses the host name resolves to; the fetcher checks them again at
/// connect time.
pub fn check_fetch_url(raw: &str, resolved: &[IpAddr], allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    let host = url.host().ok_or_else(|| format!("{raw:?} has no host"))?;
    let literal: Option<IpAddr> = match host {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => Some(IpAddr::from([127, 0, 0, 1])),
        url::Host::Domain(_) => None,
    };
    let addrs: Vec<IpAddr> = literal.into_iter().chain(resolved.iter().copied()).collect();
    let loopback = !addrs.is_empty() && addrs.iter().all(|a| a.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(format!("{raw:?} must use https (plain http is allowed only on loopback)")),
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_private(**a)) {
        return Err(format!(
            "{raw:?} points at the private or link-local address {bad}; set allow_private_fetch to permit it"
        ));
    }
    Ok(url)
}

/// Checks a URL that someone other than an administrator chose, such as an
/// endpoint a provider's discovery document names away from its issuer:
/// public addresses over https only, whatever `allow_private_fetch` says.
/// Such a URL must not steer signetd at services on its own host or network.
pub fn check_public_url(raw: &str) -> Result<url::Url, String> {
    let url = check_fetch_url(raw, &[], false)?;
    if is_loopback_host(&url) {
        return Err(format!("{raw:?} points at this host (loopback)"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.1.1.1"));
        let proxy: IpAddr = "10.2.3.4".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(proxy, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        let mut f = HeaderMap::new();
        f.insert("forwarded", HeaderValue::from_static("for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\""));
        assert_eq!(client_ip(proxy, &f, &trusted), proxy, "Forwarded is not read unless the proxies write it");
        let forwarding = trusted.clone().writing(ForwardedHeader::Forwarded);
        assert_eq!(client_ip(proxy, &f, &forwarding), "2001:db8::1".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:10.2.3.4".parse().unwrap();
        assert_eq!(client_ip(mapped, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap(), "a mapped proxy address");
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["nonsense".into()]).is_err());
    }

    /// An attack found it (issue 15): a proxy appends `X-Forwarded-For` and
    /// passes the client's own `Forwarded` through, which was read first.
    #[test]
    fn a_client_cannot_choose_its_address_through_the_header_its_proxy_does_not_write() {
        let trusted = TrustedProxies::parse(&["127.0.0.9".into()]).unwrap();
        let mut h = HeaderMap::new();
        h.insert("forwarded", HeaderValue::from_static("for=198.51.100.77"));
        h.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.66"));
        assert_eq!(client_ip("127.0.0.9".parse().unwrap(), &h, &trusted), "127.0.0.66".parse::<IpAddr>().unwrap());
        assert_eq!(ForwardedHeader::parse("Forwarded"), Ok(ForwardedHeader::Forwarded));
        assert!(ForwardedHeader::parse("x-real-ip").is_err());
    }

    #[test]
    fn fetch_urls_must_be_https_and_public_unless_loopback() {
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        assert!(check_fetch_url("https://idp.example/jwks", &[public], false).is_ok());
        assert!(check_fetch_url("http://idp.example/jwks", &[public], false).is_err());
        assert!(check_fetch_url("http://127.0.0.1:3000/jwks", &[], false).is_ok());
        assert!(check_fetch_url("http://localhost:3000/jwks", &[], false).is_ok());
        assert!(check_fetch_url("https://10.0.0.5/jwks", &[], false).is_err());
        assert!(check_fetch_url("https://10.0.0.5/jwks", &[], true).is_ok());
        assert!(check_fetch_url("https://169.254.169.254/latest", &[], false).is_err());
        assert!(check_fetch_url("https://idp.example/jwks", &["192.168.1.1".parse().unwrap()], false).is_err());
        assert!(check_fetch_url("https://[fe80::1]/jwks", &[], false).is_err());
        assert!(check_fetch_url("ftp://idp.example/", &[public], false).is_err());
        assert!(check_fetch_url("https://198.18.0.1/", &[], false).is_err());
        assert!(check_fetch_url("https://[64:ff9b::a00:5]/", &[], false).is_err(), "NAT64 of 10.0.0.5");
        assert!(check_fetch_url("https://[2002:c0a8:101::1]/", &[], false).is_err(), "6to4 of 192.168.1.1");
        assert!(check_fetch_url("https://[64:ff9b::5db8:d70e]/", &[], false).is_ok(), "NAT64 of a public address");
    }

    #[test]
    fn public_urls_are_https_and_reach_neither_this_host_nor_the_network() {
        assert!(check_public_url("https://keys.idp.example/jwks").is_ok());
        assert!(check_public_url("https://93.184.215.14/jwks").is_ok());
        for inside in [
            "http://127.0.0.1:5432/",
            "https://127.0.0.1/",
            "https://127.3.4.5/",
            "https://localhost/",
            "http://LOCALHOST:8080/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://0.0.0.0/",
            "https://2130706433/",
            "https://10.0.0.5/",
            "https://169.254.169.254/latest",
            "https://[fd00::1]/",
            "http://idp.example/token",
            "file:///etc/passwd",
        ] {
            assert!(check_public_url(inside).is_err(), "{inside}");
        }
    }

    #[test]
    fn redirects_and_resolutions_cannot_reach_this_host() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(redirect_allowed(&u("https://idp.example/a"), &u("https://idp.example/b"), false).is_ok());
        assert!(redirect_allowed(&u("https://idp.example/a"), &u("http://127.0.0.1:15000/"), false).is_err());
        assert!(redirect_allowed(&u("https://idp.example/a"), &u("https://localhost/"), false).is_err());
        assert!(redirect_allowed(&u("https://idp.example/a"), &u("https://10.1.2.3/"), false).is_err());
        assert!(redirect_allowed(&u("http://127.0.0.1:3000/a"), &u("http://127.0.0.1:3000/b"), false).is_ok());
        assert!(
            redirect_allowed(&u("https://idp.example/a"), &u("http://idp.example/b"), false).is_err(),
            "no downgrade"
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        assert!(resolution_allowed("localhost", &[lo], false).is_ok());
        assert!(resolution_allowed("idp.example", &[lo], false).is_err(), "a public name re-pointed here");
        assert!(resolution_allowed("idp.example", &[public], false).is_ok());
        assert!(resolution_allowed("idp.example", &[lo], true).is_ok());
    }
}
