//! Runs `signet` with its own config and state directories.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub struct Home {
    pub dir: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Home {
    pub fn new() -> Home {
        let dir = std::env::temp_dir().join(format!("signet-cli-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Home { dir }
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config/signet/config.toml")
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_STATE_HOME", self.dir.join("state"));
        c
    }

    /// The command with its clock set to `now` (and ticking from there), by
    /// libfaketime: signet's DPoP proofs then carry the time of a signetd
    /// whose clock a test has moved.
    pub fn command_at(&self, now: i64) -> Command {
        let c = self.command();
        let mut k = Command::new("faketime");
        k.env_clear().envs(c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
        // Timers keep the real monotonic clock.
        k.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap().format("@%Y-%m-%d %H:%M:%S").to_string();
        k.args(["-f", &at, env!("CARGO_BIN_EXE_signet")]);
        k
    }

    /// `run_async` at `now` (see [`command_at`](Self::command_at)), with extra environment variables.
    pub async fn run_at(&self, now: i64, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = tokio::process::Command::from(self.command_at(now));
        c.args(args).envs(env.iter().copied());
        to_run(c.output().await.unwrap())
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command();
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        to_run(c.output().unwrap())
    }

    /// Runs without blocking the test's runtime (an in-process signetd may be serving on it).
    pub async fn run_async(&self, args: &[&str]) -> Run {
        let mut c = tokio::process::Command::from(self.command());
        c.args(args);
        to_run(c.output().await.unwrap())
    }

    /// `run_async` with extra environment variables.
    pub async fn run_async_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = tokio::process::Command::from(self.command());
        c.args(args).envs(env.iter().copied());
        to_run(c.output().await.unwrap())
    }

    /// `run_async` with `input` on stdin (a pipe, not a terminal).
    pub async fn run_async_stdin(&self, args: &[&str], input: &str) -> Run {
        use tokio::io::AsyncWriteExt;
        let mut c = tokio::process::Command::from(self.command());
        c.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The command may fail before reading; a closed pipe is then no error of the test's.
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
        to_run(child.wait_with_output().await.unwrap())
    }

    /// Runs on a terminal (a pty from `script`), answering each prompt in
    /// turn once it has appeared; returns everything the terminal showed.
    pub async fn run_on_tty(&self, args: &[&str], answers: &[(&str, &str)]) -> Run {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
        let line =
            std::iter::once(env!("CARGO_BIN_EXE_signet")).chain(args.iter().copied()).map(quote).collect::<Vec<_>>();
        let c = self.command();
        let mut k = tokio::process::Command::new("script");
        k.env_clear().envs(c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
        k.args(["-qec", &line.join(" "), "/dev/null"]);
        k.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = k.spawn().unwrap();
        let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let mut shown = Vec::new();
        for (prompt, answer) in answers {
            while !String::from_utf8_lossy(&shown).ends_with(&format!("{prompt}: ")) {
                let mut chunk = [0u8; 1024];
                let n = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.read(&mut chunk))
                    .await
                    .unwrap_or_else(|_| {
                        panic!("no prompt {prompt:?}; the terminal showed {:?}", String::from_utf8_lossy(&shown))
                    })
                    .unwrap();
                assert!(n > 0, "ended before prompt {prompt:?}: {:?}", String::from_utf8_lossy(&shown));
                shown.extend_from_slice(&chunk[..n]);
            }
            // The prompt is written just before echo is turned off: let that happen first.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            stdin.write_all(format!("{answer}\r").as_bytes()).await.unwrap();
        }
        stdout.read_to_end(&mut shown).await.unwrap();
        drop(stdin);
        let status = child.wait().await.unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&shown).replace('\r', ""),
            stderr: String::new(),
        }
    }

    /// Runs inside a fresh kernel session keyring (`keyctl session -`), as a
    /// login session would provide: another session of the same user.
    pub async fn run_in_session_keyring(&self, args: &[&str]) -> Run {
        let mut c = tokio::process::Command::from(self.command());
        let program = c.as_std().get_program().to_owned();
        let mut k = tokio::process::Command::new("keyctl");
        k.env_clear().envs(c.as_std().get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
        k.arg("session").arg("-").arg(program).args(args);
        c = k;
        to_run(c.output().await.unwrap())
    }

    /// Runs inside a desktop-like session: a private D-Bus session bus with an
    /// unlocked GNOME Keyring as the Secret Service
    /// (`interop/secret-service/run.sh`). The keyring's files live under this
    /// home, so each run is a later session of the same user.
    pub async fn run_in_secret_service(&self, program: &str, args: &[&str]) -> Run {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/secret-service/run.sh");
        let mut c = tokio::process::Command::from(self.command());
        let program = if program == "signet" { env!("CARGO_BIN_EXE_signet") } else { program };
        let mut k = tokio::process::Command::new("bash");
        k.env_clear().envs(c.as_std().get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
        k.env("KR_HOME", self.dir.join("keyring-home")).env("KR_RUN", self.dir.join("keyring-run"));
        // A desktop login also has a kernel session keyring (pam_keyinit).
        k.arg(script).args(["keyctl", "session", "-"]).arg(program).args(args);
        c = k;
        to_run(c.output().await.unwrap())
    }

    /// Points the `pingone` connector at a signetd and keeps tokens in files.
    pub fn configure(&self, base: &str, env_id: &str, settings: &[(&str, &str)]) {
        self.ok(&["config", "set", "auth.storage.type=file"]);
        self.ok(&["config", "set", &format!("service.pingone.endpoint.baseURL={base}")]);
        self.ok(&["config", "set", &format!("service.pingone.endpoint.environmentID={env_id}")]);
        for (k, v) in settings {
            self.ok(&["config", "set", &format!("{k}={v}")]);
        }
    }

    /// Runs and insists on success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "signet {args:?} failed: {}", r.stderr);
        r
    }
}

/// Starts `command` with `args` and a `$BROWSER` that hands the URL it is
/// given to the test: the running child (output piped) and the URL.
pub async fn with_browser_handoff(h: &Home, command: Command, args: &[&str]) -> (tokio::process::Child, String) {
    let (script, file) = (h.dir.join("browser.sh"), h.dir.join("opened-url"));
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", file.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut c = tokio::process::Command::from(command);
    c.env("BROWSER", &script).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = c.kill_on_drop(true).spawn().unwrap();
    let wait = async {
        loop {
            if let Ok(u) = std::fs::read_to_string(&file)
                && !u.is_empty()
            {
                return u;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), wait).await.expect("signet opened no browser");
    (child, url)
}

/// A `signet auth login` in progress.
pub struct Login {
    child: tokio::process::Child,
    stderr: tokio::task::JoinHandle<String>,
}

impl Login {
    /// Starts it and returns the first URL printed on a line containing `marker`.
    pub async fn start(h: &Home, args: &[&str], marker: &str) -> (Login, String) {
        let mut c = tokio::process::Command::from(h.command());
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = c.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let find = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(marker)
                    && let Some(url) =
                        line.split_whitespace().find(|w| w.starts_with("http://") && url::Url::parse(w).is_ok())
                {
                    return url.to_owned();
                }
            }
            panic!("signet printed no URL");
        };
        let url = tokio::time::timeout(Duration::from_secs(30), find).await.unwrap();
        let stderr = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        (Login { child, stderr }, url)
    }

    pub async fn finish(self) -> crate::harness::Run {
        let out = tokio::time::timeout(Duration::from_secs(60), self.child.wait_with_output()).await.unwrap().unwrap();
        let mut run = to_run(out);
        run.stderr = self.stderr.await.unwrap();
        run
    }
}

pub fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
