//! A small W3C WebDriver client over reqwest, driving a headless Chromium
//! through its own chromedriver and its own throwaway profile.
//!
//! Written here rather than taken from `fantoccini`, whose `webdriver`
//! dependency brings a second `http`, `cookie` and ICU generation into the
//! lock file for the dozen commands these tests need.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use signet_core::crypto::random_id;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long to wait for a page or a process. Generous: two cores shared with compilers.
pub const PATIENCE: Duration = Duration::from_secs(60);
const MISSING: &str = "install the Debian packages `chromium` and `chromium-driver` \
    (apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)";

/// A chromedriver child on a port of its own choosing, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn spawn() -> Driver {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(Path::new(bin).exists(), "{bin} is missing: {MISSING}");
        }
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}; {MISSING}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Reads the port chromedriver picked, then drains its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.split("started successfully on port ").nth(1)
                    && let Ok(port) = port.trim_end_matches('.').parse::<u16>()
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = match tokio::time::timeout(PATIENCE, rx).await {
            Ok(Ok(port)) => port,
            _ => {
                let _ = child.kill();
                panic!("{CHROMEDRIVER} did not report its port");
            }
        };
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh `--user-data-dir`, removed on drop.
struct Profile(PathBuf);

impl Drop for Profile {
    fn drop(&mut self) {
        // Chromium may still be flushing as it exits; try a few times.
        for _ in 0..10 {
            if std::fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One browser session. Dropping it ends the session, then chromedriver, then the profile.
pub struct Chrome {
    http: reqwest::Client,
    session: String,
    id: String,
    driver: Driver,
    _profile: Profile,
}

impl Chrome {
    /// Headless Chromium with JavaScript on.
    pub async fn start() -> Chrome {
        Chrome::launch(true).await
    }

    /// Headless Chromium with JavaScript switched off by content setting.
    pub async fn without_javascript() -> Chrome {
        Chrome::launch(false).await
    }

    async fn launch(javascript: bool) -> Chrome {
        let driver = Driver::spawn().await;
        let profile = Profile(std::env::temp_dir().join(format!("signet-chrome-{}", random_id().unwrap())));
        std::fs::create_dir_all(&profile.0).unwrap();
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1000,1000",
                format!("--user-data-dir={}", profile.0.display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": options } } });
        let http = reqwest::Client::builder().timeout(2 * PATIENCE).build().unwrap();
        let base = format!("http://127.0.0.1:{}", driver.port);
        let res = http.post(format!("{base}/session")).json(&caps).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "new WebDriver session: {status} {body}");
        let id = body["value"]["sessionId"].as_str().unwrap().to_owned();
        let chrome = Chrome { http, session: format!("{base}/session/{id}"), id, driver, _profile: profile };
        // Element look-ups wait this long for the next page to arrive.
        chrome
            .cmd(
                reqwest::Method::POST,
                "/timeouts",
                Some(json!({ "implicit": 30_000, "pageLoad": PATIENCE.as_millis() as u64 })),
            )
            .await;
        chrome
    }

    async fn try_cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| format!("{path}: {e}"))?;
        if status.is_success() {
            Ok(body["value"].clone())
        } else {
            Err(format!("{path}: {status} {} {}", body["value"]["error"], body["value"]["message"]))
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body).await.unwrap_or_else(|e| panic!("WebDriver {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    pub async fn title(&self) -> String {
        self.cmd(reqwest::Method::GET, "/title", None).await.as_str().unwrap().to_owned()
    }

    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    /// The element matching `css`, waiting for it up to the implicit timeout.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .try_cmd(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css })))
            .await;
        match found {
            Ok(v) => v[ELEMENT].as_str().unwrap().to_owned(),
            Err(e) => {
                panic!("no `{css}` on {} ({:?}): {e}\n{}", self.url().await, self.title().await, self.source().await)
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({ "text": text }))).await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{el}/text"), None).await.as_str().unwrap().to_owned()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let el = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{el}/attribute/{name}"), None)
            .await
            .as_str()
            .map(String::from)
    }

    pub async fn property(&self, css: &str, name: &str) -> Value {
        let el = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{el}/property/{name}"), None).await
    }

    /// Width and height of the element as laid out.
    pub async fn size(&self, css: &str) -> (f64, f64) {
        let el = self.find(css).await;
        let rect = self.cmd(reqwest::Method::GET, &format!("/element/{el}/rect"), None).await;
        (rect["width"].as_f64().unwrap(), rect["height"].as_f64().unwrap())
    }

    /// Waits for the signetd page headed `heading` (its title is `{heading} · signet`).
    pub async fn wait_page(&self, heading: &str) {
        self.wait_title(&format!("{heading} · signet")).await;
    }

    /// Waits until the page's title is `want`.
    pub async fn wait_title(&self, want: &str) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.title().await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected a page titled {want:?} at {}, got {:?}:\n{}",
            self.url().await,
            self.title().await,
            self.source().await
        );
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
    }
}

impl Drop for Chrome {
    /// Ends the session synchronously, so Chromium exits before chromedriver is killed.
    fn drop(&mut self) {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.driver.port)) else { return };
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let _ = write!(
            s,
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id, self.driver.port
        );
        // chromedriver answers once Chromium has gone; it may keep the connection open after that.
        let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    }
}
