//! panva's oidc-provider (OpenID certified), started from
//! `interop/oidc-provider` on a free loopback port: the real peer for the
//! CLI's sign-on tests, signetd's external-issuer tests, and (as `upstream`)
//! the provider people sign on through in signetd's federation tests.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub struct OidcProvider {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`
    pub issuer: String,
}

/// signetd as the upstream's confidential client.
pub struct UpstreamClient<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uris: &'a [&'a str],
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        OidcProvider::run("provider.mjs", &[]).await
    }

    /// The upstream identity provider of the federation tests
    /// (`upstream.mjs`): its own sign-in page, which says whether a second
    /// factor was used, and one confidential client.
    pub async fn start_upstream(client: UpstreamClient<'_>) -> OidcProvider {
        let uris = client.redirect_uris.join(",");
        let env = [("CLIENT_ID", client.client_id), ("CLIENT_SECRET", client.client_secret), ("REDIRECT_URIS", &uris)];
        OidcProvider::run("upstream.mjs", &env).await
    }

    async fn run(script: &str, env: &[(&str, &str)]) -> OidcProvider {
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
            .arg(script)
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .envs(env.iter().copied())
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
