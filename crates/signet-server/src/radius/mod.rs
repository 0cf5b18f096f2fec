//! A RADIUS PAP client (RFC 2865) for the admin API's "RADIUS" authentication
//! scheme: one Access-Request per server, in order, until one answers.
//!
//! - Every request carries a Message-Authenticator (RFC 3579 §3.2), and every
//!   reply's is checked when present. `require_message_authenticator`, on by
//!   default, refuses a reply without one: the BlastRADIUS (CVE-2024-3596)
//!   mitigation.
//! - A reply counts only if its Identifier and Response Authenticator match the
//!   request (RFC 2865 §3); any other datagram is dropped and the wait goes on.
//! - A server that stays silent, or whose replies all fail those checks, is
//!   retried `retries` times, then the next server is asked. An Access-Reject
//!   is final: it is never put to another server.
//! - The password goes to the server as given, so a one-time code appended to
//!   it reaches the server. Nothing is cached.

mod packet;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use signet_core::crypto::Kek;

use crate::sealed::{SealError, SettingSecret};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};
use tracing::{instrument, warn};

pub use packet::{BadReply, MAX_PASSWORD, ReplyAttributes, attribute, attribute_by_name};

use packet::{MAX_PACKET, MAX_TEXT, Verdict};

/// The longest wait for one reply that settings may ask for.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// The most retransmissions to one server that settings may ask for.
pub const MAX_RETRIES: u32 = 10;

/// How signetd reaches its RADIUS servers. Part of the admin API's settings, so
/// unknown fields are refused; the shared secrets are write-only.
///
/// ```json
/// {"servers": [{"address": "radius1.example.com:1812", "secret": "s3cret"}],
///  "timeout_ms": 2000, "retries": 1,
///  "require_message_authenticator": true, "nas_identifier": "signetd"}
/// ```
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSettings {
    /// Asked in this order: the next only when one gives no answer.
    pub servers: Vec<RadiusServer>,
    /// How long to wait for a reply before sending the request again.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retransmissions to each server after the first request.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Refuse replies without a Message-Authenticator (BlastRADIUS, CVE-2024-3596).
    #[serde(default = "default_require_message_authenticator")]
    pub require_message_authenticator: bool,
    /// Sent as NAS-Identifier (RFC 2865 §5.32), which servers may match clients on.
    #[serde(default = "default_nas_identifier")]
    pub nas_identifier: String,
}

/// One RADIUS server. Its secret is read from settings but never written back
/// out, and `Debug` prints it as `[redacted]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServer {
    /// `host:port`; an IPv6 address in brackets, as in `[2001:db8::1]:1812`.
    pub address: String,
    /// Written in plain; stored and shown sealed (see `crate::sealed`).
    pub secret: SettingSecret,
}

const SHARED_SECRET: &str = "admin_api.radius.secret";

fn default_timeout_ms() -> u64 {
    2000
}
fn default_retries() -> u32 {
    1
}
fn default_require_message_authenticator() -> bool {
    true
}
fn default_nas_identifier() -> String {
    "signetd".into()
}

/// What the server said about the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Access-Accept. Roles come from its attributes, as the caller's settings say.
    Accept { attributes: ReplyAttributes },
    /// Access-Reject: final, never asked of another server.
    Reject,
}

#[derive(Debug, thiserror::Error)]
pub enum RadiusError {
    #[error("the RADIUS settings are invalid: {0}")]
    Config(String),
    #[error("these credentials cannot be sent over RADIUS: {0}")]
    Credentials(&'static str),
    #[error(
        "no RADIUS server answered; check each address and shared secret \
         (a server drops a request whose Message-Authenticator does not verify)"
    )]
    NoAnswer,
    #[error("no RADIUS server gave a reply that verifies; the last one refused: {0}")]
    BadReply(BadReply),
    #[error("the RADIUS server asked for more with an Access-Challenge, which signetd does not answer")]
    Challenge,
    #[error("the system's random number generator failed")]
    Random,
}

impl RadiusSettings {
    /// Seals the shared secrets for the store (after `validate`).
    pub fn seal(&mut self, kek: &Kek) -> Result<(), SealError> {
        self.servers.iter_mut().try_for_each(|s| s.secret.seal(kek, SHARED_SECRET))
    }

    /// These settings with their shared secrets opened, for `authenticate`.
    pub fn opened(&self, kek: &Kek) -> Result<RadiusSettings, SealError> {
        let mut open = self.clone();
        for s in &mut open.servers {
            s.secret = s.secret.opened(kek, SHARED_SECRET)?;
        }
        Ok(open)
    }

    /// Checks what can be checked without the network; `authenticate` does too.
    pub fn validate(&self) -> Result<(), RadiusError> {
        let invalid = |m: String| Err(RadiusError::Config(m));
        if self.servers.is_empty() {
            return invalid("name at least one server".into());
        }
        for (i, server) in self.servers.iter().enumerate() {
            if let Err(why) = check_address(&server.address) {
                return invalid(format!("servers[{i}].address {:?} {why}", server.address));
            }
            if server.secret.exposed().is_some_and(str::is_empty) {
                return invalid(format!("servers[{i}].secret is empty"));
            }
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return invalid(format!("timeout_ms must be from 1 to {MAX_TIMEOUT_MS}"));
        }
        if self.retries > MAX_RETRIES {
            return invalid(format!("retries must be at most {MAX_RETRIES}"));
        }
        if self.nas_identifier.is_empty() || self.nas_identifier.len() > MAX_TEXT {
            return invalid(format!("nas_identifier must be 1 to {MAX_TEXT} bytes"));
        }
        Ok(())
    }
}

/// `host:port` with a port other than 0, and an IPv6 host in brackets.
fn check_address(address: &str) -> Result<(), &'static str> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("is not host:port");
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err("has no port from 1 to 65535"),
        Ok(_) => {}
    }
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match bracketed {
        Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => Ok(()),
        Some(_) => Err("has no IPv6 address between its brackets"),
        None if host.is_empty() => Err("has no host"),
        None if host.contains(':') => Err("needs brackets around an IPv6 address"),
        None => Ok(()),
    }
}

/// Asks the servers, in order, whether `password` is `username`'s.
#[instrument(skip_all)]
pub async fn authenticate(settings: &RadiusSettings, username: &str, password: &str) -> Result<Answer, RadiusError> {
    settings.validate()?;
    if username.is_empty() || username.len() > MAX_TEXT {
        return Err(RadiusError::Credentials("a user name must be 1 to 253 bytes"));
    }
    if password.is_empty() {
        return Err(RadiusError::Credentials("the password is empty"));
    }
    if password.len() > MAX_PASSWORD {
        return Err(RadiusError::Credentials("a password must be at most 128 bytes (RFC 2865 §5.2)"));
    }
    let mut last_bad = None;
    for server in &settings.servers {
        match ask(settings, server, username, password).await {
            Ok(answer) => return answer,
            Err(Silence::NoAnswer) => warn!(server = %server.address, "RADIUS server did not answer"),
            Err(Silence::Bad(bad)) => {
                warn!(server = %server.address, "RADIUS server's replies were refused: {bad}");
                last_bad = Some(bad);
            }
            Err(Silence::Unreachable(e)) => warn!(server = %server.address, "RADIUS server unreachable: {e}"),
            Err(Silence::Sealed) => return Err(RadiusError::Config("the shared secret is still sealed".into())),
        }
    }
    Err(last_bad.map_or(RadiusError::NoAnswer, RadiusError::BadReply))
}

/// Why one server gave no answer, so the next is asked.
enum Silence {
    NoAnswer,
    /// The shared secret was never opened: a mistake of the caller's.
    Sealed,
    Bad(BadReply),
    Unreachable(std::io::Error),
}

impl From<std::io::Error> for Silence {
    fn from(e: std::io::Error) -> Self {
        Silence::Unreachable(e)
    }
}

/// One server: its own socket, connected so only its datagrams are read, and
/// its own request, since each server has its own secret. `Ok` is the end of
/// the exchange, whatever it says; `Err` means the next server is asked.
async fn ask(
    settings: &RadiusSettings,
    server: &RadiusServer,
    username: &str,
    password: &str,
) -> Result<Result<Answer, RadiusError>, Silence> {
    let addr = resolve(&server.address).await?;
    let local = match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind((local, 0)).await?;
    socket.connect(addr).await?;

    // Sealed secrets are opened by whoever holds the key (`RadiusSettings::opened`).
    let Some(secret) = server.secret.exposed() else { return Err(Silence::Sealed) };
    let secret = secret.as_bytes();
    // RFC 2865 §3: the Request Authenticator is unpredictable; the CSPRNG draws the Identifier too.
    let Ok([identifier, authenticator @ ..]) = signet_core::crypto::random_bytes::<17>() else {
        return Ok(Err(RadiusError::Random));
    };
    let request = match packet::access_request(
        secret,
        identifier,
        authenticator,
        username,
        password.as_bytes(),
        &settings.nas_identifier,
    ) {
        Ok(request) => request,
        Err(why) => return Ok(Err(RadiusError::Credentials(why))),
    };

    let wait = Duration::from_millis(settings.timeout_ms);
    let mut buf = vec![0u8; MAX_PACKET];
    let mut bad = None;
    for _ in 0..=settings.retries {
        socket.send(request.bytes()).await?;
        let deadline = Instant::now() + wait;
        // Until the deadline, drop whatever is not a verified answer to this request.
        while let Ok(received) = timeout_at(deadline, socket.recv(&mut buf)).await {
            // A connected socket reports an ICMP port unreachable here.
            let n = received?;
            match packet::check_reply(&buf[..n], &request, secret, settings.require_message_authenticator) {
                Verdict::NotOurs => {}
                Verdict::Bad(why) => bad = Some(why),
                Verdict::Accept(attributes) => return Ok(Ok(Answer::Accept { attributes })),
                Verdict::Reject => return Ok(Ok(Answer::Reject)),
                Verdict::Challenge => return Ok(Err(RadiusError::Challenge)),
            }
        }
    }
    Err(bad.map_or(Silence::NoAnswer, Silence::Bad))
}

async fn resolve(address: &str) -> Result<SocketAddr, Silence> {
    tokio::net::lookup_host(address).await?.next().ok_or_else(|| {
        Silence::Unreachable(std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_defaults_and_keep_the_secret_out_of_debug_and_json() {
        let s: RadiusSettings =
            serde_json::from_str(r#"{"servers":[{"address":"127.0.0.1:1812","secret":"hunter2"}]}"#).unwrap();
        assert_eq!((s.timeout_ms, s.retries, s.require_message_authenticator), (2000, 1, true));
        assert_eq!(s.nas_identifier, "signetd");
        assert_eq!(s.servers[0].secret.exposed(), Some("hunter2"));
        s.validate().unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2") && debug.contains("[redacted]"), "{debug}");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        // Sealed for the store, opened for use.
        let kek = Kek::from_bytes(&[4; 32]).unwrap();
        let mut stored = s.clone();
        stored.seal(&kek).unwrap();
        let json = serde_json::to_string(&stored).unwrap();
        assert!(json.contains("\"sealed\"") && !json.contains("hunter2"), "{json}");
        assert_eq!(stored.servers[0].secret.exposed(), None);
        assert_eq!(stored.opened(&kek).unwrap().servers[0].secret.exposed(), Some("hunter2"));
    }

    #[test]
    fn settings_refuse_unknown_fields() {
        let e = serde_json::from_str::<RadiusSettings>(r#"{"servers":[],"timeout":5}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = serde_json::from_str::<RadiusSettings>(r#"{"servers":[{"address":"h:1","secret":"s","port":1}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn addresses_are_host_and_port() {
        for good in ["127.0.0.1:1812", "radius.example.com:1812", "[::1]:1812"] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        for bad in ["127.0.0.1", "host:0", "host:99999", ":1812", "::1:1812", "[nope]:1812"] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    /// A wrong shared secret cannot be tried end to end: FreeRADIUS drops a
    /// request whose Message-Authenticator does not verify. So a real reply,
    /// to a request signed with the right secret, is checked with another.
    #[tokio::test]
    async fn a_real_freeradius_reply_checked_with_another_secret_is_refused() {
        let radius = signet_testkit::radius::FreeRadius::start().await;
        let secret = radius.secret.as_bytes();
        let request = packet::access_request(secret, 7, [9; 16], "alice", b"alicepw", "signetd").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.connect(&radius.address).await.unwrap();
        socket.send(request.bytes()).await.unwrap();
        let mut buf = vec![0; MAX_PACKET];
        let n = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buf)).await.unwrap().unwrap();
        assert!(matches!(packet::check_reply(&buf[..n], &request, secret, true), Verdict::Accept(_)));
        let wrong = packet::check_reply(&buf[..n], &request, b"testing124", false);
        assert_eq!(wrong, Verdict::Bad(BadReply::ResponseAuthenticator));
    }

    #[test]
    fn invalid_settings_say_which_field() {
        let mut s: RadiusSettings =
            serde_json::from_str(r#"{"servers":[{"address":"127.0.0.1:1812","secret":""}]}"#).unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("servers[0].secret"), "{e}");
        s.servers[0].secret = SettingSecret::plain("x".into());
        s.timeout_ms = 0;
        assert!(s.validate().unwrap_err().to_string().contains("timeout_ms"));
        s.timeout_ms = 10;
        s.servers.clear();
        assert!(s.validate().is_err());
    }
}
