//! The loopback listener for the authorization code flow (RFC 8252 §7.3):
//! 127.0.0.1 only, the one redirect path of the flow that started, a small
//! answer page, and nothing else.
//!
//! Only an answer that comes to this flow's path with this flow's `state`
//! ends the wait. Anything else (a favicon, another service's path, a stale
//! or forged redirect with another `state`) is answered and ignored, so a
//! page that sends the browser here cannot end a sign-on in progress. Each
//! connection is read in its own task under a short timeout, so a client
//! that connects and sends nothing (a browser's speculative connection, or
//! a local process) never holds up the redirect that matters.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

/// How long one connection may take to send its request line and headers.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections read at once; more wait in the listen queue to be accepted.
const MAX_CONNECTIONS: usize = 32;
/// A redirect's request head is a few hundred bytes; a long `code` or
/// `error_description` fits well within this.
const MAX_HEAD: usize = 16 << 10;

pub struct Loopback {
    listener: TcpListener,
    pub redirect_uri: String,
    path: String,
}

impl Loopback {
    pub async fn bind(port: u16, path: &str) -> anyhow::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{port} for the redirect\nhint: set redirectURIPort to 0 to pick a free port"
            )
        })?;
        let port = listener.local_addr()?.port();
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        Ok(Loopback { listener, redirect_uri: format!("http://127.0.0.1:{port}{path}"), path })
    }

    /// The redirect's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits until the browser arrives at this flow's path with `state`,
    /// and returns the answer's parameters. `issuer` is the provider's: an
    /// answer naming another (RFC 9207) gets a page saying the sign-on was
    /// refused, and the caller refuses it.
    pub async fn wait(&self, state: &str, issuer: &str) -> anyhow::Result<Params> {
        let (tx, mut rx) = mpsc::channel::<Params>(1);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let expect = Arc::new(Expect { path: self.path.clone(), state: state.to_owned(), issuer: issuer.to_owned() });
        loop {
            // A slot first: with every slot busy, new connections wait in the
            // listen queue until one frees (an idle one times out), never dropped.
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot?,
                Some(arrival) = rx.recv() => return Ok(arrival),
            };
            let stream = tokio::select! {
                accepted = self.listener.accept() => accepted?.0,
                Some(arrival) = rx.recv() => return Ok(arrival),
            };
            let (tx, expect) = (tx.clone(), Arc::clone(&expect));
            tokio::spawn(async move {
                let _slot = slot;
                if let Ok(Some(arrival)) = tokio::time::timeout(READ_TIMEOUT, serve(stream, &expect)).await {
                    let _ = tx.send(arrival).await;
                }
            });
        }
    }
}

struct Expect {
    path: String,
    state: String,
    issuer: String,
}

type Params = HashMap<String, String>;

/// Reads one request and answers it; `Some` when it is this flow's answer.
async fn serve(mut stream: TcpStream, expect: &Expect) -> Option<Params> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut n = 0;
    while n < buf.len() {
        let read = stream.read(&mut buf[n..]).await.ok()?;
        if read == 0 {
            break;
        }
        n += read;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let target = head.lines().next().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != expect.path {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return None;
    }
    let params: Params = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let ours = params.get("state").is_some_and(|s| same(s, &expect.state));
    let (status, title, text) = if !ours {
        eprintln!("note: ignored a redirect that was not for this sign-on (its state is not the one signet sent)");
        (
            "400 Bad Request",
            "Not this sign-on",
            "This answer is not for the sign-on signet is waiting for, so it was ignored. Finish the sign-on signet opened, or start it again from the terminal.",
        )
    } else if params.get("iss").is_some_and(|i| *i != expect.issuer) {
        ("400 Bad Request", "Sign-on refused", "The answer came from another provider. Return to the terminal.")
    } else if params.contains_key("code") {
        ("200 OK", "Signed on", "You are signed on. You can close this window and return to the terminal.")
    } else {
        ("200 OK", "Sign-on failed", "The sign-on did not complete. Return to the terminal for details.")
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    let res = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(res.as_bytes()).await;
    let _ = stream.shutdown().await;
    ours.then_some(params)
}

/// Compares in time that does not depend on where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
