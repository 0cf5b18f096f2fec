//! Runs wrk (`-t1 -c16`, as the goals are stated) with one of the Lua scripts
//! in bench/, and reads the `BENCH {json}` line that the script's done() prints.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

use crate::context::Bench;

pub const CONNECTIONS: u32 = 16;
pub const THREADS: u32 = 1;

pub struct Load {
    /// Names the log file: TMP/wrk-NAME.log.
    pub name: String,
    pub script: PathBuf,
    /// Base URL; the script or the URL's path says where to send.
    pub url: String,
    pub secs: u64,
    pub env: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Outcome {
    pub requests: u64,
    pub duration_us: u64,
    /// Answers with a status of 400 or more.
    pub status: u64,
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    /// Distinct tokens sent (pool.lua).
    pub used: u64,
    /// Requests sent to the sentinel because the pool had run out (pool.lua).
    pub exhausted: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Outcome {
    /// Successful answers per second.
    pub fn rate(&self) -> f64 {
        let ok = self.requests.saturating_sub(self.status).saturating_sub(self.exhausted);
        ok as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    pub fn errors(&self) -> u64 {
        self.status + self.connect + self.read + self.write + self.timeout
    }

    /// Latency and errors, for the notes column.
    pub fn describe(&self) -> String {
        let mut s = format!("p50 {:.1} ms, p99 {:.1} ms", self.p50_us as f64 / 1e3, self.p99_us as f64 / 1e3);
        if self.errors() > 0 {
            s.push_str(&format!(
                ", {} errors (status {}, socket {})",
                self.errors(),
                self.status,
                self.errors() - self.status
            ));
        }
        if self.exhausted > 0 {
            s.push_str(&format!(", POOL EXHAUSTED ({} sentinel requests)", self.exhausted));
        }
        s
    }
}

pub async fn run(bench: &Bench, load: Load) -> anyhow::Result<Outcome> {
    let log = bench.tmp.join(format!("wrk-{}.log", load.name));
    let limit = Duration::from_secs(load.secs + 60);
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{}s", load.secs))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&load.script)
        .arg(&load.url)
        .env("BENCH_THREADS", THREADS.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &load.env {
        command.env(k, v);
    }
    let output = tokio::task::spawn_blocking(move || -> anyhow::Result<std::process::Output> {
        let mut child = command.spawn().context("starting wrk (apt-get install wrk)")?;
        let started = Instant::now();
        // wrk stops itself after -d; this only guards against a hang.
        while child.try_wait()?.is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(child.wait_with_output()?)
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::write(&log, format!("{stdout}\n--- stderr\n{stderr}"))?;
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .with_context(|| format!("wrk ({}) printed no result; see {}", load.name, log.display()))?;
    serde_json::from_str(line).with_context(|| format!("parsing wrk's result line {line:?}"))
}
