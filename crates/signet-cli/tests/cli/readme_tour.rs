//! The README's five-minute tour, run as written. Its code blocks are read
//! from README.md when the test runs, so the README and this test cannot
//! drift apart: a command changed there is the command run here.
//!
//! Two lines stand for builds the test run has already made: the tour's
//! `cargo run … signetd -- serve` runs the `signetd` built beside this
//! `signet` (by `cargo test --workspace`, as `bash .ci/test` runs it), and
//! `cargo install … signet-cli` puts this `signet` on a fresh `PATH`. Every
//! other line runs in bash as written, from a fresh `HOME`, with no D-Bus (a
//! plain shell, where tokens go to the kernel's keyutils), against signetd
//! on a free port instead of 8080. The person approves the device sign-on in
//! headless Chromium, with the password and a TOTP code from bootstrap.json.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The port the README's commands name.
const README_BASE: &str = "http://127.0.0.1:8080";
const RUN_SERVER: &str = "cargo run -p signet-server --bin signetd -- serve";
const INSTALL_CLI: &str = "cargo install --locked --path crates/signet-cli";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The code blocks of the README's tour, `(language, lines)`, from its
/// heading up to the next heading of any level.
fn tour_blocks() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut lines = readme.lines().skip_while(|l| *l != "## A five-minute tour");
    assert!(lines.next().is_some(), "the README has a five-minute tour");
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in lines {
        match (open.take(), line.strip_prefix("```")) {
            (None, None) if line.starts_with('#') => break,
            (None, Some(lang)) => open = Some((lang.trim().to_owned(), Vec::new())),
            (Some(block), Some(_)) => blocks.push(block),
            (Some((lang, mut lines)), None) => {
                lines.push(line.to_owned());
                open = Some((lang, lines));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a code block of the tour is not closed");
    blocks
}

/// `signetd` from the same build as this `signet`, refused when any of
/// its sources changed after it was built (a `cargo test -p signet-cli`
/// alone does not rebuild it).
fn signetd() -> PathBuf {
    let signet = PathBuf::from(env!("CARGO_BIN_EXE_signet"));
    let signetd = signet.with_file_name("signetd");
    let built = std::fs::metadata(&signetd)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run cargo test --workspace", signetd.display()));
    fn newest(path: &Path) -> SystemTime {
        let Ok(entries) = std::fs::read_dir(path) else {
            return std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        };
        entries.map(|e| newest(&e.unwrap().path())).max().unwrap_or(SystemTime::UNIX_EPOCH)
    }
    for krate in ["signet-server", "signet-store", "signet-core", "signet-proto"] {
        let dir = workspace().join("crates").join(krate);
        let changed = ["src", "migrations", "Cargo.toml"].iter().map(|p| newest(&dir.join(p))).max().unwrap();
        assert!(changed <= built, "{} is older than {krate}'s sources: run cargo test --workspace", signetd.display());
    }
    signetd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Where the tour runs: a working directory, a fresh HOME and a bin directory.
struct Shell {
    dir: PathBuf,
    base: String,
}

impl Shell {
    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// A README line for bash: signetd's address as this test started it.
    fn command(&self, line: &str) -> Command {
        let mut c = Command::new("bash");
        c.args(["-euo", "pipefail", "-c", &line.replace(README_BASE, &self.base)])
            .current_dir(self.work())
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", self.dir.join("bin").display()))
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, line: &str) -> (String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(line).output())
            .await
            .unwrap_or_else(|_| panic!("{line} did not finish in 60 s"))
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "{line} exited {}:\n{stdout}\n{stderr}", out.status);
        (stdout, stderr)
    }

    fn bootstrap(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.work().join("signet-data/bootstrap.json")).unwrap()).unwrap()
    }
}

/// Starts signetd as the tour's first block says, and checks that it says
/// what the block shows.
async fn start_server(sh: &Shell, console: &[String], port: u16) -> Child {
    let command = console.iter().find_map(|l| l.strip_prefix("$ ")).expect("the tour starts the server");
    assert_eq!(command, RUN_SERVER, "the tour's first command changed: teach this test what it now means");
    let args = command.split_once(" -- ").unwrap().1.split_whitespace().collect::<Vec<_>>();
    let mut child = Command::new(signetd())
        .args(&args)
        .current_dir(sh.work())
        .env_clear()
        .env("HOME", sh.home())
        .env("SIGNETD_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut shown = Vec::new();
    let ready = async {
        loop {
            let line = tokio::select! {
                l = out.next_line() => l.unwrap(),
                l = err.next_line() => l.unwrap(),
            };
            let Some(line) = line else { break };
            shown.push(line.clone());
            if line.starts_with("issuer: ") {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), ready).await.is_err() {
        panic!("signetd did not get ready: {shown:?}");
    }
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
    // What the README shows it print: each line, with the address it serves
    // on; the issuer's environment id is elided there (`…`).
    for expected in console.iter().filter(|l| !l.starts_with("$ ")) {
        let expected = expected.replace(README_BASE, &sh.base);
        let printed = |l: &String| match expected.split_once('…') {
            // The elided part is a path segment: what comes before it, to its `/`, and after it.
            Some((before, after)) => l.starts_with(&before[..=before.rfind('/').unwrap()]) && l.ends_with(after),
            None => *l == expected,
        };
        assert!(shown.iter().any(printed), "signetd never printed {expected:?}: {shown:?}");
    }
    child
}

/// `signet auth login` with the device code: reads the URL and the code it
/// prints, and approves in Chromium as the administrator.
async fn device_login(sh: &Shell, line: &str) -> (String, String) {
    let mut child = sh.command(line).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut shown = String::new();
    let prompt = async {
        while let Some(l) = stderr.next_line().await.unwrap() {
            shown.push_str(&l);
            shown.push('\n');
            if l.starts_with("To sign on to ") {
                return l;
            }
        }
        panic!("signet auth login printed no URL");
    };
    let prompt = tokio::time::timeout(Duration::from_secs(30), prompt).await.expect("no device prompt");
    // To sign on to pingone (signetd at http://…), open URL and enter the code CODE
    let reached = format!("To sign on to pingone (signetd at {}), open ", sh.base);
    let rest = prompt.strip_prefix(&reached).unwrap_or_else(|| panic!("{prompt:?} does not start {reached:?}"));
    let (url, code) = rest.split_once(" and enter the code ").unwrap();
    let rest_of_stderr = tokio::spawn(async move {
        while let Ok(Some(l)) = stderr.next_line().await {
            shown.push_str(&l);
            shown.push('\n');
        }
        shown
    });

    let boot = sh.bootstrap();
    let secret = signet_core::totp::from_base32(boot["admin"]["totp_secret"].as_str().unwrap()).unwrap();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let chrome = signet_testkit::webdriver::Chrome::start().await;
    chrome.goto(url).await;
    chrome.fill("#user_code", code).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#username", boot["admin"]["username"].as_str().unwrap()).await;
    chrome.fill("#password", boot["admin"]["password"].as_str().unwrap()).await;
    chrome.click("button[type=submit]").await;
    chrome.fill("#code", &signet_core::totp::code_at(&secret, now).unwrap()).await;
    chrome.click("button[type=submit]").await;
    chrome.click("#approve").await;
    chrome.wait_page("Device approved").await;

    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.unwrap().unwrap();
    let stderr = rest_of_stderr.await.unwrap();
    assert!(status.success(), "{line} exited {status}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_tour_runs_as_written_in_a_plain_shell() {
    let blocks = tour_blocks();
    let dir = std::env::temp_dir().join(format!("signet-tour-{}", uuid::Uuid::new_v4()));
    for d in ["home", "work", "bin"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let port = free_port();
    let sh = Shell { dir: dir.clone(), base: format!("http://127.0.0.1:{port}") };

    let (lang, console) = &blocks[0];
    assert_eq!(lang, "console", "the tour's first block shows the server starting");
    let _server = start_server(&sh, console, port).await;

    let mut ran = Vec::new();
    let mut created = None;
    for (lang, lines) in &blocks[1..] {
        assert_eq!(lang, "sh", "every block after the first is commands: {lines:?}");
        for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            assert!(!line.ends_with('\\'), "the tour's commands are one line each: {line}");
            match line {
                INSTALL_CLI => {
                    std::fs::copy(env!("CARGO_BIN_EXE_signet"), dir.join("bin/signet")).unwrap();
                }
                "signet auth login" => {
                    let (stdout, _) = device_login(&sh, line).await;
                    assert!(
                        stdout.contains(&format!("signed on to pingone (signetd at {}) as administrator", sh.base)),
                        "{stdout}"
                    );
                    // It pointed the profile's admin API at the server it reached, and said so.
                    assert!(stdout.contains(&format!("admin API: {}/admin-api/v1 now takes this sign-on", sh.base)));
                    for key in [
                        format!("service.pingfederate.httpsHost={}", sh.base),
                        "service.pingfederate.authentication.type=oauth".into(),
                        "service.pingfederate.authentication.oauth.service=pingone".into(),
                    ] {
                        assert!(stdout.contains(&key), "{key} in {stdout}");
                    }
                }
                _ => {
                    let (stdout, stderr) = sh.run(line).await;
                    if line.starts_with("signet accounts list") {
                        assert!(stdout.contains("administrator"), "{stdout}");
                    } else if line.starts_with("signet request POST /environments") {
                        let env: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                        assert_eq!(env["name"], "Customers", "{stdout}");
                        created = Some(env["id"].as_str().unwrap().to_owned());
                    } else if line.starts_with("signet audit list --action admin.environment.create") {
                        let id = created.as_deref().expect("the tour creates an environment before listing it");
                        let row = stdout.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id}: {stdout}"));
                        assert!(row.contains("person administrator") && row.contains("oauth"), "{row}");
                    } else if line == "signet auth logout" {
                        assert!(stdout.contains("signed off pingone: tokens revoked and removed"), "{stdout}{stderr}");
                    }
                }
            }
            ran.push(line.to_owned());
        }
    }
    // The steps the issue names, in this order; a README that drops one fails here.
    let order = [
        INSTALL_CLI,
        "signet config set",
        "signet auth login",
        "signet accounts list",
        "signet request POST /environments",
        "signet audit list --action admin.environment.create",
        "signet auth logout",
    ];
    let mut at = 0;
    for step in order {
        at += ran[at..].iter().position(|l| l.starts_with(step)).unwrap_or_else(|| panic!("no {step:?} in {ran:?}"));
    }
    // Signed off: the tokens are gone from wherever they were kept.
    let status = sh.command("signet auth status").output().await.unwrap();
    assert_eq!(status.status.code(), Some(4), "{}", String::from_utf8_lossy(&status.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
