//! Interop with a certified relying party: panva's `openid-client` (npm, v6)
//! runs `interop/openid-client/interop.mjs` against a real signetd, with a
//! headless Chromium signing on and approving the device. Discovery, code +
//! PKCE (with RFC 9207 `iss`), device flow, refresh rotation, revocation,
//! introspection, userinfo and client credentials, and DPoP-bound tokens
//! (RFC 9449): device flow, userinfo, refresh and client credentials with proofs.
//!
//! Needs Node.js, `npm ci --prefix interop/openid-client` and Chromium
//! (`CHROMIUM`, default `/usr/bin/chromium`). A missing piece fails the test:
//! it never skips, so CI cannot pass without having run it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Server;

/// The script stops itself after 150 s; this is the backstop.
const TIMEOUT: Duration = Duration::from_secs(240);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/openid-client")
}

/// Kills the child if the test panics or times out.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn openid_client_completes_every_flow_against_signetd() {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/openid-client").is_dir() && dir.join("node_modules/playwright-core").is_dir(),
        "interop/openid-client/node_modules is missing: run `npm ci --prefix interop/openid-client` \
         in the workspace root"
    );
    let s = Server::start().await;
    let user = s.account(false, false).await;

    // Output goes to files, so a chatty browser cannot fill a pipe and stall the script.
    let out_path = s.dir.join("interop.stdout");
    let err_path = s.dir.join("interop.stderr");
    let (out, err) = (std::fs::File::create(&out_path).unwrap(), std::fs::File::create(&err_path).unwrap());
    // std's Command, polled from async code: the server runs on this same runtime.
    let child = Command::new("node")
        .arg("interop.mjs")
        .current_dir(&dir)
        .env("ISSUER", &s.issuer)
        .env("CLI_CLIENT_ID", &s.boot.cli_client_id)
        .env("WORKER_CLIENT_ID", &s.boot.worker.client_id)
        .env("WORKER_CLIENT_SECRET", &s.boot.worker.client_secret)
        .env("END_USER", &user.username)
        .env("END_USER_PASSWORD", &user.password)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("could not run `node` (is Node.js 20+ installed?): {e}"));
    let mut child = Reaped(child);

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(child);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let report = format!("--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
    match status {
        Some(status) => assert!(status.success(), "interop.mjs failed ({status}):\n{report}"),
        None => panic!("interop.mjs did not finish within {TIMEOUT:?}:\n{report}"),
    }
    assert!(
        stdout.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "interop.mjs exited 0 without a summary:\n{report}"
    );
    println!("{stdout}");
}
