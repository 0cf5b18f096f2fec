//! panva's oidc-provider (OpenID certified), started from
//! `interop/oidc-provider` on a free loopback port: the real peer for the
//! CLI's sign-on tests and for signetd's external-issuer tests.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub struct OidcProvider {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc-provider");
        assert!(
            dir.join("node_modules").exists(),
            "run `npm ci --prefix interop/oidc-provider` (bash .ci/install does) before these tests"
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = async {
            while let Some(l) = lines.next_line().await.unwrap() {
                if l.contains("listening") {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ready).await.expect("oidc-provider did not start");
        // Keep reading, or node dies writing to a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        OidcProvider { _child: child, issuer: format!("http://127.0.0.1:{port}") }
    }
}
