//! The processes under test: started with their stdout watched for a ready
//! line, their memory read from /proc, and killed (by their own handle) when
//! dropped, so an error never leaves a server behind.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// Starts `bin` and waits for a stdout line starting with `ready`; returns
    /// the rest of that line (the address). Stderr goes to `log_dir/NAME.log`.
    pub async fn start(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log_dir: &Path,
        ready: &str,
    ) -> anyhow::Result<(Proc, String)> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = Command::new(bin);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().with_context(|| format!("starting {name} ({})", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let proc = Proc { name: name.to_owned(), child };
        let (tx, rx) = mpsc::channel();
        let prefix = ready.to_owned();
        // Reads stdout to its end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.strip_prefix(&prefix) {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let waited = tokio::task::spawn_blocking(move || rx.recv_timeout(READY_TIMEOUT)).await?;
        let addr = waited.map_err(|_| {
            anyhow::anyhow!("{name} did not print {ready:?} within {READY_TIMEOUT:?}; see {}", log_path.display())
        })?;
        Ok((proc, addr))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.kill().is_ok() {
            let _ = self.child.wait();
        } else {
            eprintln!("{} had already exited", self.name);
        }
    }
}

/// Resident memory, from /proc/PID/status, in kB (1024 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

impl Memory {
    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 * 1024.0 / 1e6
    }
    pub fn hwm_mb(&self) -> f64 {
        self.hwm_kb as f64 * 1024.0 / 1e6
    }
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}
