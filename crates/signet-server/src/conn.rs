//! Connections: signetd's accept loop for HTTP and HTTPS, with an overall and
//! a per-address limit on open connections, and timeouts that close slow and
//! idle ones, so a client that trickles its request head (slowloris) or just
//! holds sockets open cannot use up the server.
//!
//! - A connection must finish its TLS handshake and send a complete request
//!   head within `header_read_timeout` of opening; over HTTP/1.1 the same
//!   holds for each later request, counted from the previous answer (so it is
//!   also the keep-alive idle time).
//! - Any connection (HTTP/2 included, and one that never says which protocol
//!   it speaks) with no request in flight for `idle_timeout` is closed.
//! - HTTP/2 connections are pinged, and closed when the peer stops answering.
//! - Connections past either limit are closed as soon as they are accepted.
//!   The per-address limit counts the TCP peer (an IPv6 /64 as one address,
//!   since one host commonly holds a whole /64). A trusted proxy carries many
//!   clients on one address, so it is exempt; the overall limit still holds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::live::Live;
use crate::mtls::PeerCertificates;
use crate::net::TrustedProxies;

pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: u32 = 64;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u32 = 10;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u32 = 60;

/// How often an HTTP/2 peer is pinged, and how long it has to answer.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// After the listener closes on a stop, how long open connections get to
/// finish the requests they have in flight.
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u32 = 10;
/// At most one log line per this long about refused connections.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// File descriptors signetd needs besides client connections (store, upstream fetches, files).
const SPARE_FILES: u64 = 256;

/// Limits on connections; see the module documentation.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long in-flight requests get to finish once serving stops.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(
            DEFAULT_MAX_CONNECTIONS,
            DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            DEFAULT_HEADER_READ_TIMEOUT_SECS,
            DEFAULT_IDLE_TIMEOUT_SECS,
        )
    }
}

impl Limits {
    pub fn new(max: u32, per_address: u32, header_read_timeout_secs: u32, idle_timeout_secs: u32) -> Limits {
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_connections: count(max),
            max_connections_per_address: count(per_address),
            header_read_timeout: Duration::from_secs(header_read_timeout_secs.into()),
            idle_timeout: Duration::from_secs(idle_timeout_secs.into()),
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_TIMEOUT_SECS.into()),
        }
    }
}

/// Raises the soft open-file limit towards what `max_connections` needs
/// (up to the hard limit, as Go's runtime does), and warns if that is not
/// enough: past the limit, accepting fails and the connection limit is moot.
pub fn ensure_open_file_limit(limits: &Limits) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = u64::try_from(limits.max_connections).unwrap_or(u64::MAX).saturating_add(SPARE_FILES);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    if soft >= want {
        return;
    }
    let raised = want.min(hard);
    let now = if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() { raised } else { soft };
    if now < want {
        tracing::warn!(
            open_files = now,
            max_connections = limits.max_connections,
            "the open-file limit is too low for --max-connections: raise it (LimitNOFILE=, ulimit -n) or lower \
             --max-connections"
        );
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given; each handshake
/// takes the configuration as it is then, so a reload reaches new
/// connections) until `shutdown` completes. Then the listener closes, open
/// connections are asked to close once their requests are answered, and
/// those requests get up to `limits.drain_timeout` to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Live<rustls::ServerConfig>>,
    limits: Limits,
    trusted_proxies: Live<TrustedProxies>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let limiter = Limiter::new(&limits, trusted_proxies);
    let limits = Arc::new(limits);
    let (stopping, stop) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = limiter.admit(peer.ip()) else { continue };
        let _ = tcp.set_nodelay(true);
        let conn = Connection { peer, app: app.clone(), limits: limits.clone(), stop: stop.clone() };
        let acceptor = tls.as_ref().map(|tls| tokio_rustls::TlsAcceptor::from(tls.get()));
        tokio::spawn(conn.run(tcp, acceptor, admitted));
    }
    drop(listener);
    let open = limiter.counts().open;
    tracing::info!(open_connections = open, "stopped accepting connections; draining");
    let _ = stopping.send(true);
    drop(stop);
    if tokio::time::timeout(limits.drain_timeout, stopping.closed()).await.is_err() {
        tracing::warn!(
            open_connections = limiter.counts().open,
            "the drain timeout ran out with requests still in flight; closing them"
        );
    }
    Ok(())
}

/// One accepted connection and what it needs to serve.
struct Connection {
    peer: SocketAddr,
    app: Router,
    limits: Arc<Limits>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    /// `_admitted` holds the connection's place under the limits until it ends.
    async fn run(self, tcp: TcpStream, tls: Option<tokio_rustls::TlsAcceptor>, _admitted: Admitted) {
        let opened = Instant::now();
        let Some(tls) = tls else { return self.serve(tcp, None, opened).await };
        let deadline = opened + self.limits.header_read_timeout;
        let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, tls.accept(tcp)).await else { return };
        let certs = stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| PeerCertificates(c.iter().map(|c| c.clone().into_owned()).collect()));
        self.serve(stream, certs, opened).await;
    }

    async fn serve<I>(mut self, io: I, certs: Option<PeerCertificates>, opened: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new(opened));
        let (peer, app, busy) = (self.peer, self.app.clone(), activity.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            if let Some(certs) = &certs {
                req.extensions_mut().insert(certs.clone());
            }
            // In flight until the answer's body is sent or dropped.
            let in_flight = busy.begin();
            let answer = app.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let res = answer.await?;
                Ok::<_, Infallible>(res.map(|body| {
                    axum::body::Body::new(body.map_frame(move |frame| {
                        let _held = &in_flight;
                        frame
                    }))
                }))
            }
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.limits.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let idle = activity.idle(self.limits.header_read_timeout, self.limits.idle_timeout);
        tokio::pin!(idle);
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                // Nothing is in flight: dropping the connection just closes the socket.
                () = &mut idle => return,
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Activity(Mutex<ActivityState>);

struct ActivityState {
    in_flight: usize,
    idle_since: Instant,
    served: bool,
}

impl Activity {
    fn new(opened: Instant) -> Activity {
        Activity(Mutex::new(ActivityState { in_flight: 0, idle_since: opened, served: false }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.state();
        s.in_flight += 1;
        s.served = true;
        InFlight(self.clone())
    }

    /// Completes once the connection has had no request in flight for
    /// `first` (before its first request) or `between` (after one).
    async fn idle(&self, first: Duration, between: Duration) {
        loop {
            let wake = {
                let s = self.state();
                let limit = if s.served { between } else { first };
                if s.in_flight > 0 {
                    Instant::now() + limit
                } else if Instant::now() >= s.idle_since + limit {
                    return;
                } else {
                    s.idle_since + limit
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// A request in flight on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// Counts open connections, overall and per address.
#[derive(Clone)]
struct Limiter(Arc<LimiterInner>);

struct LimiterInner {
    max: usize,
    per_address: usize,
    exempt: Live<TrustedProxies>,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
    refused: u64,
    logged: Option<Instant>,
}

/// A connection's place under the limits, given back when it is dropped.
struct Admitted {
    limiter: Limiter,
    address: Option<IpAddr>,
}

/// The address the per-address limit counts: IPv4 (also when mapped into
/// IPv6) as it is, IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        v4 => v4,
    }
}

impl Limiter {
    fn new(limits: &Limits, exempt: Live<TrustedProxies>) -> Limiter {
        Limiter(Arc::new(LimiterInner {
            max: limits.max_connections,
            per_address: limits.max_connections_per_address,
            exempt,
            counts: Mutex::new(Counts::default()),
        }))
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection from `peer`, or None (and a log line now and then) if it is over a limit.
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let ip = peer.to_canonical();
        let address = (!self.0.exempt.get().contains(ip)).then(|| address_key(ip));
        let mut c = self.counts();
        let from_address = address.map_or(0, |a| c.by_address.get(&a).copied().unwrap_or(0));
        let refusal = if c.open >= self.0.max {
            Some("the overall connection limit")
        } else if address.is_some() && from_address >= self.0.per_address {
            Some("the per-address connection limit")
        } else {
            None
        };
        if let Some(limit) = refusal {
            c.refused += 1;
            let now = Instant::now();
            if c.logged.is_none_or(|at| now >= at + REFUSAL_LOG_EVERY) {
                tracing::warn!(
                    peer = %ip,
                    refused = c.refused,
                    max_connections = self.0.max,
                    max_connections_per_address = self.0.per_address,
                    "refusing connections: {limit} is reached"
                );
                c.logged = Some(now);
                c.refused = 0;
            }
            return None;
        }
        c.open += 1;
        if let Some(a) = address {
            *c.by_address.entry(a).or_default() += 1;
        }
        Some(Admitted { limiter: self.clone(), address })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut c = self.limiter.counts();
        c.open = c.open.saturating_sub(1);
        if let Some(a) = self.address
            && let Some(n) = c.by_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_count_per_address_and_overall_and_give_places_back() {
        let limits = Limits::new(5, 2, 10, 60);
        let limiter = Limiter::new(&limits, Live::new(TrustedProxies::parse(&["10.0.0.1".into()]).unwrap()));
        let a = [limiter.admit(ip("192.0.2.1")), limiter.admit(ip("192.0.2.1"))];
        assert!(a.iter().all(Option::is_some));
        assert!(limiter.admit(ip("192.0.2.1")).is_none(), "a third from one address");
        assert!(limiter.admit(ip("::ffff:192.0.2.1")).is_none(), "the same address, mapped into IPv6");
        let b = limiter.admit(ip("2001:db8::1"));
        let b2 = limiter.admit(ip("2001:db8::2"));
        assert!(b.is_some() && b2.is_some());
        assert!(limiter.admit(ip("2001:db8::3")).is_none(), "one /64 is one address");
        let proxy = limiter.admit(ip("10.0.0.1"));
        assert!(proxy.is_some(), "a trusted proxy is exempt from the per-address limit");
        assert!(limiter.admit(ip("10.0.0.1")).is_none(), "but not from the overall one");
        drop(a);
        assert!(limiter.admit(ip("192.0.2.1")).is_some(), "closed connections give their places back");
        assert_eq!(limiter.counts().open, 3);
        assert!(!limiter.counts().by_address.contains_key(&ip("192.0.2.1")), "no entry outlives its connections");
    }

    #[test]
    fn address_keys() {
        assert_eq!(address_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(address_key(ip("198.51.100.7")), ip("198.51.100.7"));
    }
}
