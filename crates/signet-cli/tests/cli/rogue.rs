//! A hostile server on 127.0.0.1, hand-rolled so it can do what no honest
//! one does: send a person on to another provider, put escape sequences in
//! every string, or answer without end. Each test says per request what it
//! answers; every request is kept for the test to look at.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: HashMap<String, String>,
    /// A form body's fields.
    pub form: HashMap<String, String>,
}

pub enum Answer {
    Json(u16, Value),
    /// 303 to this location.
    Redirect(String),
    /// A chunked body with this status that goes on (to 64 MiB, so a
    /// client that reads it all still ends), starting as a JSON document would.
    Endless(u16),
    /// A `Content-Length` of this many bytes, and then (up to 64 MiB of) them.
    Declared(u64),
}

/// What a hostile body sends at most, so a client without bounds fails in
/// a test instead of taking the machine's memory.
const CAP: usize = 64 << 20;

type Handler = dyn Fn(&Request, &str) -> Answer + Send + Sync;

pub struct Rogue {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Rogue {
    /// Serves `handler(request, base)` on a free loopback port.
    pub async fn start(handler: impl Fn(&Request, &str) -> Answer + Send + Sync + 'static) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (kept, at) = (Arc::clone(&seen), base.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, kept, at) = (Arc::clone(&handler), Arc::clone(&kept), at.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &*handler, &kept, &at).await;
                });
            }
        });
        Rogue { base, seen }
    }

    /// Every request that came, in order.
    pub fn all(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests that came to `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Request> {
        self.seen.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

/// A discovery document for an issuer at `base`, its endpoints beside it.
pub fn discovery(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "device_authorization_endpoint": format!("{base}/device"),
        "revocation_endpoint": format!("{base}/revoke"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "introspection_endpoint": format!("{base}/introspect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })
}

/// A compact JWT with these claims and no signature worth the name.
pub fn unsigned_jwt(claims: &Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.sig", b64.encode(br#"{"alg":"ES256"}"#), b64.encode(claims.to_string()))
}

async fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    seen: &Mutex<Vec<Request>>,
    base: &str,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let target = lines.next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let parse = |s: &[u8]| url::form_urlencoded::parse(s).into_owned().collect::<HashMap<_, _>>();
    let request = Request { path: path.to_owned(), query: parse(query.as_bytes()), form: parse(&body) };
    let answer = handler(&request, base);
    seen.lock().unwrap().push(request);
    match answer {
        Answer::Json(status, v) => {
            let body = v.to_string();
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
        }
        Answer::Redirect(location) => {
            let head = format!(
                "HTTP/1.1 303 See Other\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
        }
        Answer::Endless(status) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let start = b"{\"issuer\": \"";
            stream.write_all(format!("{:x}\r\n", start.len()).as_bytes()).await?;
            stream.write_all(start).await?;
            stream.write_all(b"\r\n").await?;
            let block = vec![b'a'; 64 << 10];
            let mut sent = 0;
            while sent < CAP {
                stream.write_all(format!("{:x}\r\n", block.len()).as_bytes()).await?;
                stream.write_all(&block).await?;
                stream.write_all(b"\r\n").await?;
                sent += block.len();
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
        Answer::Declared(n) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let block = vec![b' '; 64 << 10];
            let mut sent = 0u64;
            while sent < n.min(CAP as u64) {
                stream.write_all(&block).await?;
                sent += block.len() as u64;
            }
        }
    }
    let _ = stream.shutdown().await;
    Ok(())
}
