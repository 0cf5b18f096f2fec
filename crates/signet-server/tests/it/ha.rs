//! The high-availability recipe, brought up by deploy/ha/up.sh from Debian
//! packages with this build's signetd: PostgreSQL with a synchronous
//! replica, three nodes, HAProxy. A device flow crosses the nodes, then a
//! node is killed (`kill -9`) under a load of writes through HAProxy and
//! every write that was acknowledged must still be there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signet_core::clock::{Clock, SystemClock};
use signet_core::totp;

use crate::harness::Browser;

const SIGNETD: &str = env!("CARGO_BIN_EXE_signetd");
const LOAD_WRITERS: usize = 6;

/// A harness up for one test; taken down (down.sh) when dropped, even on a panic.
struct Ha {
    state: PathBuf,
    env: HashMap<String, String>,
    boot: serde_json::Value,
}

fn ha_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/ha")
}

fn script(state: &Path, name: &str, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(ha_dir().join(name))
        .args(args)
        .env("SIGNET_HA_STATE", state)
        .env("SIGNETD", SIGNETD)
        .output()
        .unwrap()
}

impl Ha {
    fn up() -> Ha {
        crate::deploy::need("haproxy", "haproxy");
        let state = std::env::temp_dir().join(format!("signet-ha-{}", signet_core::crypto::random_id().unwrap()));
        let out = script(&state, "up.sh", &[]);
        // From here on, whatever came up is taken down on drop.
        let mut ha = Ha { state, env: HashMap::new(), boot: serde_json::Value::Null };
        assert!(
            out.status.success(),
            "deploy/ha/up.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(ha.state.join("env")).unwrap();
        ha.env = env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
        ha.boot = serde_json::from_slice(&std::fs::read(ha.state.join("bootstrap.json")).unwrap()).unwrap();
        ha
    }

    fn node(&self, n: u8) -> String {
        format!("http://127.0.0.1:{}", self.env[&format!("NODE{n}_PORT")])
    }

    /// `{base}/{env}/as{path}`: an endpoint of the Administrators environment on one node.
    fn as_url(&self, base: &str, path: &str) -> String {
        format!("{base}/{}/as{path}", self.boot["environment_id"].as_str().unwrap())
    }

    fn ctl(&self, args: &[&str]) {
        let out = script(&self.state, "ctl.sh", args);
        assert!(out.status.success(), "ctl.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn admin(&self) -> (String, String) {
        let a = &self.boot["admin"];
        (a["username"].as_str().unwrap().into(), a["password"].as_str().unwrap().into())
    }

    fn applications(&self, base: &str) -> String {
        format!("{base}/admin-api/v1/environments/{}/applications", self.boot["environment_id"].as_str().unwrap())
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        let out = script(&self.state, "down.sh", &[]);
        if !out.status.success() {
            eprintln!("deploy/ha/down.sh: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Starts a device authorization on node 1, approves it on node 2 (password
/// and TOTP, in the pages), and redeems the device code on node 3.
async fn device_flow_across_nodes(ha: &Ha) {
    let http = reqwest::Client::new();
    let started: serde_json::Value = http
        .post(ha.as_url(&ha.node(1), "/device_authorization"))
        .form(&[("client_id", "signet-cli"), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().expect("a device authorization from node 1");

    let mut b = Browser::default();
    // The pages may redirect to the public URL (HAProxy): stay on node 2.
    let on_node2 = |location: &str| {
        let path = match location.strip_prefix("http://") {
            Some(rest) => &rest[rest.find('/').unwrap()..],
            None => location,
        };
        format!("{}{path}", ha.node(2))
    };
    let signon =
        on_node2(&b.submit(&ha.as_url(&ha.node(2), "/device"), &[("user_code", user_code)]).await.location.unwrap());
    let (username, password) = ha.admin();
    b.submit(&signon, &[("username", &username), ("password", &password)]).await;
    let secret = totp::from_base32(ha.boot["admin"]["totp_secret"].as_str().unwrap()).unwrap();
    let code = totp::code_at(&secret, SystemClock.now()).unwrap();
    assert_eq!(b.submit(&signon, &[("code", &code)]).await.status, 303);
    let approved = b.submit(&signon, &[("decision", "approve")]).await;
    assert!(approved.body.contains("Device approved"), "{}", approved.body);

    let res = http
        .post(ha.as_url(&ha.node(3), "/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", started["device_code"].as_str().unwrap()),
            ("client_id", "signet-cli"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "node 3 redeems the code approved on node 2");
    let tokens: serde_json::Value = res.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string(), "{tokens}");
}

/// Writers creating applications through HAProxy until `until`; the ids signetd acknowledged (201).
async fn write_load(ha: &Ha, until: Instant) -> (Vec<String>, u64) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(0u64));
    let (username, password) = ha.admin();
    let url = ha.applications(&ha.env["PUBLIC_URL"]);
    let mut writers = Vec::new();
    for w in 0..LOAD_WRITERS {
        let (acked, failed, url, username, password) =
            (acked.clone(), failed.clone(), url.clone(), username.clone(), password.clone());
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            for n in 0.. {
                if Instant::now() >= until {
                    break;
                }
                let body = serde_json::json!({"name": format!("ha {w}-{n}"), "kind": "worker", "grant_types": ["client_credentials"]});
                let res = http.post(&url).basic_auth(&username, Some(&password)).json(&body).send().await;
                match res {
                    Ok(r) if r.status() == 201 => {
                        let made: serde_json::Value = r.json().await.unwrap();
                        acked.lock().unwrap().push(made["id"].as_str().unwrap().to_owned());
                    }
                    _ => *failed.lock().unwrap() += 1,
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let ids = acked.lock().unwrap().clone();
    let failed = *failed.lock().unwrap();
    (ids, failed)
}

#[tokio::test]
async fn ha_a_device_flow_crosses_nodes_and_a_killed_node_loses_no_acknowledged_write() {
    let ha = Ha::up();
    device_flow_across_nodes(&ha).await;

    let start = Instant::now();
    let load = write_load(&ha, start + Duration::from_secs(8));
    let kill = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = std::fs::read_to_string(ha.state.join("node2.pid")).unwrap();
        ha.ctl(&["node-stop", "2", "KILL"]);
        before
    };
    let ((ids, failed), killed_pid) = tokio::join!(load, kill);
    assert!(!killed_pid.trim().is_empty());
    assert!(ids.len() > 20, "the load was acknowledged: {} writes, {failed} failed", ids.len());

    // Every acknowledged write is there, read on each surviving node.
    let http = reqwest::Client::new();
    let (username, password) = ha.admin();
    for node in [ha.node(1), ha.node(3)] {
        for id in &ids {
            let res = http
                .get(format!("{}/{id}", ha.applications(&node)))
                .basic_auth(&username, Some(&password))
                .send()
                .await;
            assert_eq!(res.unwrap().status(), 200, "acknowledged application {id} is missing on {node}");
        }
    }
    // The audit trail still verifies, and the killed node comes back.
    let chain: serde_json::Value = http
        .get(format!("{}/admin-api/v1/audit/verify", ha.env["PUBLIC_URL"]))
        .basic_auth(&username, Some(&password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(chain["broken_at"].is_null() && chain["events"].as_i64() > Some(ids.len() as i64), "{chain}");
    ha.ctl(&["node-start", "2"]);
    let ready = http.get(format!("{}/readyz", ha.node(2))).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
