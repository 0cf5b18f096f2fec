//! Slow and greedy clients against the real `signetd` binary (finding 8):
//! raw TCP connections that trickle a request head, say nothing at all, or
//! sit idle are closed after the configured timeouts, and connections beyond
//! the per-address or overall limit are refused. The settings come as
//! `SIGNETD_*` variables, so the same test runs against a signetd without
//! them and fails there for the real reason: the connections stay open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::cli::{Daemon, temp_dir};

/// How long a connection has to be closed by; the timeouts under test are 1 and 2 s.
const CLOSED_BY: Duration = Duration::from_secs(20);

fn addr(base: &str) -> SocketAddr {
    base.rsplit("://").next().unwrap().parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from` (127.0.0.0/8 is all loopback on Linux).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closed `stream` before `deadline`. Meanwhile, if
/// `trickle` is set, one header line is written every 250 ms, as a slowloris
/// client does, so the request head is never complete.
async fn closed_by<S: AsyncRead + AsyncWrite + Unpin>(stream: S, deadline: Instant, trickle: bool) -> bool {
    let (mut r, mut w) = tokio::io::split(stream);
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut n = 0u32;
    loop {
        tokio::select! {
            read = r.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            _ = tick.tick(), if trickle => {
                n += 1;
                if w.write_all(format!("X-Slow-{n}: still coming\r\n").as_bytes()).await.is_err() {
                    return true;
                }
            }
            () = tokio::time::sleep_until(deadline) => return false,
        }
    }
}

/// Sends one keep-alive request and returns the status line of the answer,
/// or None if the connection was closed without one.
async fn status_line<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Option<String> {
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: signetd\r\n\r\n").await.is_err() {
        return None;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the server answers or closes");
    let text = String::from_utf8_lossy(&got);
    text.lines().next().filter(|l| l.starts_with("HTTP/")).map(str::to_owned)
}

async fn served<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> bool {
    match status_line(stream).await {
        Some(line) => {
            assert!(line.starts_with("HTTP/1.1 200"), "{line}");
            true
        }
        None => false,
    }
}

const TIMEOUTS: [(&str, &str); 2] = [("SIGNETD_HEADER_READ_TIMEOUT_SECS", "1"), ("SIGNETD_IDLE_TIMEOUT_SECS", "2")];

#[tokio::test]
async fn finding_8_slow_headers_are_closed() {
    let dir = temp_dir();
    let d = Daemon::start(&["--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], &TIMEOUTS).await;
    let to = addr(&d.base);
    let deadline = Instant::now() + CLOSED_BY;

    let mut clients = Vec::new();
    // Slowloris: a request line, then one more header line every 250 ms, forever.
    for _ in 0..10 {
        let mut s = connect_from("127.0.0.1", to).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: signetd\r\n").await.unwrap();
        clients.push(tokio::spawn(closed_by(s, deadline, true)));
    }
    // A connection that never says anything: not even which protocol it speaks.
    clients.push(tokio::spawn(closed_by(connect_from("127.0.0.1", to).await, deadline, false)));
    // HTTP/2 with prior knowledge: the preface and SETTINGS, then no request.
    let mut h2 = connect_from("127.0.0.1", to).await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    clients.push(tokio::spawn(closed_by(h2, deadline, false)));
    // HTTP/1.1 keep-alive: one request answered, then idle.
    let mut idle = connect_from("127.0.0.1", to).await;
    assert!(served(&mut idle).await, "a well-behaved request is answered");
    clients.push(tokio::spawn(closed_by(idle, deadline, false)));

    for (i, c) in clients.into_iter().enumerate() {
        assert!(c.await.unwrap(), "connection {i} is still open {CLOSED_BY:?} after it was opened");
    }
    // The server still serves.
    assert!(served(&mut connect_from("127.0.0.1", to).await).await);
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn finding_8_slow_tls_clients_are_closed() {
    let dir = temp_dir();
    let ca = signet_testkit::tls::TestCa::create(&dir.join("pki")).await;
    let data = dir.join("data");
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        ca.cert.to_str().unwrap(),
        "--tls-key",
        ca.key.to_str().unwrap(),
    ];
    let d = Daemon::start(&args, &TIMEOUTS).await;
    let to = addr(&d.base);
    let deadline = Instant::now() + CLOSED_BY;

    // Connected, and never starts the TLS handshake.
    let silent = tokio::spawn(closed_by(connect_from("127.0.0.1", to).await, deadline, false));
    // Completes the handshake, then trickles a request head.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots.add(rustls::pki_types::CertificateDer::from_pem_file(&ca.ca).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, connect_from("127.0.0.1", to).await).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: signetd\r\n").await.unwrap();
    let slow = tokio::spawn(closed_by(tls, deadline, true));

    assert!(silent.await.unwrap(), "a connection that never shakes hands is still open");
    assert!(slow.await.unwrap(), "a slow request head over TLS is still open");
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn finding_8_connection_limits_per_address_and_overall() {
    let dir = temp_dir();
    let env = [
        ("SIGNETD_MAX_CONNECTIONS", "6"),
        ("SIGNETD_MAX_CONNECTIONS_PER_ADDRESS", "2"),
        ("SIGNETD_TRUSTED_PROXIES", "127.0.0.3"),
        // Long enough that no held connection times out during the test.
        ("SIGNETD_HEADER_READ_TIMEOUT_SECS", "120"),
        ("SIGNETD_IDLE_TIMEOUT_SECS", "120"),
    ];
    let d = Daemon::start(&["--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], &env).await;
    let to = addr(&d.base);

    // Two kept-alive connections from 127.0.0.1 use up its share...
    let mut a1 = connect_from("127.0.0.1", to).await;
    let mut a2 = connect_from("127.0.0.1", to).await;
    assert!(served(&mut a1).await && served(&mut a2).await);
    // ...so a third from there is refused, while another address is served.
    assert!(!served(&mut connect_from("127.0.0.1", to).await).await, "a third connection from 127.0.0.1 was served");
    let mut b1 = connect_from("127.0.0.2", to).await;
    assert!(served(&mut b1).await, "127.0.0.2 is refused for 127.0.0.1's connections");
    // A trusted proxy carries many clients on one address: no per-address limit...
    let mut proxied = Vec::new();
    for _ in 0..3 {
        let mut p = connect_from("127.0.0.3", to).await;
        assert!(served(&mut p).await, "a trusted proxy is held to the per-address limit");
        proxied.push(p);
    }
    // ...but the overall limit (2 + 1 + 3 = 6) holds for it too.
    assert!(!served(&mut connect_from("127.0.0.3", to).await).await, "the overall limit does not hold");

    // A closed connection gives its place back.
    drop(a1);
    let deadline = Instant::now() + CLOSED_BY;
    loop {
        if served(&mut connect_from("127.0.0.1", to).await).await {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.0.1 never got its place back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The held connections were never cut.
    assert!(served(&mut a2).await && served(&mut b1).await && served(&mut proxied[0]).await);
    d.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
