//! Runs `signet` with its own config and state directories.

use std::path::PathBuf;
use std::process::{Command, Output};

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

    /// Runs inside a fresh kernel session keyring (`keyctl session -`), as a
    /// login session would provide; the OS keychain store needs one.
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
