//! The signals a running signetd answers:
//!
//! - **SIGTERM or SIGINT (Ctrl-C)**: stop gracefully. `/readyz` answers 503
//!   at once, while everything else is still served for the shutdown delay
//!   (`--shutdown-delay-secs`), long enough for a load balancer's health
//!   check to take the instance out; then the listener closes and requests in
//!   flight get up to the drain timeout (`--drain-timeout-secs`) to finish
//!   (`conn::serve`). A second stop signal during the delay cuts it short.
//! - **SIGHUP**: reload the TLS certificate and key, the log level and the
//!   trusted proxies (`reload`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::reload::Reloader;
use crate::state::AppState;

pub const DEFAULT_SHUTDOWN_DELAY_SECS: u32 = 2;

/// The handlers, installed from `install` on, so a signal that arrives
/// before serving starts is not lost (nor kills the process, as an
/// unhandled SIGHUP would).
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    /// Reloads on each SIGHUP until a stop signal; then turns `/readyz` off
    /// and waits out `delay` (or a second stop signal). Completes when the
    /// listener should close.
    pub async fn until_stopped(mut self, state: AppState, mut reloader: Reloader, delay: Duration) {
        loop {
            tokio::select! {
                _ = self.term.recv() => break,
                _ = self.int.recv() => break,
                _ = self.hup.recv() => reloader.reload().await,
            }
        }
        state.draining.store(true, Ordering::SeqCst);
        tracing::info!(
            delay_secs = delay.as_secs(),
            "stopping: /readyz answers 503; serving on for the shutdown delay"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {},
            _ = self.term.recv() => tracing::info!("a second stop signal: closing now"),
            _ = self.int.recv() => tracing::info!("a second stop signal: closing now"),
        }
    }
}
