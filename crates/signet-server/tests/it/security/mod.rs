//! Regression tests for what an outside attack on signetd found (issue 15),
//! each named after its finding. Where storage is involved a test runs on
//! SQLite and on PostgreSQL (`on_both!`).

use reqwest::Method;
use serde_json::json;
use signet_core::clock::Clock;
use signet_core::model::{AppKind, CLI_CLIENT_ID, GrantType};

use crate::admin::{Api, admin_with, assert_error, basic};
use crate::harness::{Backend, Browser, Server, code_flow_tokens, pkce_pair, query, sign_on};

/// Runs one async test body on both backends, as `NAME_sqlite` and `NAME_postgres`.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    };
}

mod edges;
mod lockout;
mod redirects;

/// A fresh browser's sign-on page for the CLI.
async fn signon_page(s: &Server, b: &mut Browser) -> String {
    let (_, challenge) = pkce_pair();
    let url = format!(
        "{}?response_type=code&client_id={CLI_CLIENT_ID}&redirect_uri=http://127.0.0.1:4711/callback&prompt=login&code_challenge={challenge}&code_challenge_method=S256",
        s.url("/authorize")
    );
    b.get(&url).await.location.expect("the sign-on page")
}

/// The alert a page shows, if any.
fn alert(page: &crate::harness::Page) -> String {
    page.body
        .split("role=\"alert\"")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .unwrap_or("")
        .split('<')
        .next()
        .unwrap_or("")
        .to_owned()
}
