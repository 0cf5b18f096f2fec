//! The loopback listener for the authorization code flow (RFC 8252 §7.3):
//! 127.0.0.1 only, one redirect path, a small answer page, and nothing else.

use std::collections::HashMap;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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

    /// Waits for the browser to arrive at the redirect path; answers with a
    /// page saying whether to go back to the terminal. Other requests (a
    /// favicon) get 404 and the wait goes on.
    pub async fn wait(&self) -> anyhow::Result<HashMap<String, String>> {
        loop {
            let (mut stream, _) = self.listener.accept().await?;
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            while n < buf.len() {
                let read = stream.read(&mut buf[n..]).await?;
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
            if path != self.path {
                let _ =
                    stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                continue;
            }
            let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let (title, text) = if params.contains_key("code") {
                ("Signed on", "You are signed on. You can close this window and return to the terminal.")
            } else {
                ("Sign-on failed", "The sign-on did not complete. Return to the terminal for details.")
            };
            let body = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
            );
            let res = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(res.as_bytes()).await;
            let _ = stream.shutdown().await;
            return Ok(params);
        }
    }
}
