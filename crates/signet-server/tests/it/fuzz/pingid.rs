//! PingID settings files through the Vault-compatible API, end to end:
//! `POST identity/mfa/method/pingid` with a generated `settings_file_base64`
//! (Vault's fixture with lines changed, dropped, repeated or added, hostile
//! values, NUL; or garbage), on both backends. Never a 5xx; a refusal is
//! Vault's `{"errors": [...]}`; a method that is made reads back what the
//! file said; and the file's token is never in an answer.

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::{Reply, check_no_5xx, hostile};
use crate::harness::*;
use crate::vault::{Answer, FIXTURE};

/// A token no answer may show.
const TOKEN: &str = "token=pingid-fuzz-token-9f31";

#[derive(Debug, Clone)]
enum Body {
    /// The fixture's lines (with the token above), changed.
    Lines(Vec<String>),
    /// Anything as `settings_file_base64`.
    Raw(Value),
}

fn fixture() -> Vec<String> {
    FIXTURE.lines().map(|l| if l.starts_with("token=") { TOKEN.to_owned() } else { l.to_owned() }).collect()
}

fn body() -> impl Strategy<Value = Body> {
    let key = prop::sample::select(
        &["use_base64_key", "use_signature", "idp_url", "org_alias", "admin_url", "authenticator_url", "x", ""][..],
    );
    let value = prop_oneof![
        2 => prop::sample::select(
            &[
                "https://idp.pingidentity.com/pingid",
                "http://idp.example/pingid",
                "https://127.0.0.1/pingid",
                "https://[::1]:8443/x",
                "javascript:alert(1)",
                "true",
                "maybe",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        2 => hostile(),
    ];
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), key.clone(), value.clone()).prop_map(|(i, k, v)| (Some(i), format!("{k}={v}"))),
        (key, value).prop_map(|(k, v)| (None, format!("{k}={v}"))),
        hostile().prop_map(|l| (None, l)),
    ];
    prop_oneof![
        8 => prop::collection::vec(edit, 0..4).prop_map(|edits| {
            let mut lines = fixture();
            for (at, line) in edits {
                match at {
                    Some(i) => {
                        let n = i.index(lines.len());
                        lines[n] = line;
                    }
                    None => lines.push(line),
                }
            }
            Body::Lines(lines)
        }),
        1 => prop_oneof![
            hostile().prop_map(Value::String),
            Just(json!(null)),
            Just(json!(12)),
            Just(json!(["a"])),
            prop::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| json!(base64::engine::general_purpose::STANDARD.encode(b))),
        ]
        .prop_map(Body::Raw),
    ]
}

struct Ctx {
    s: Server,
    /// Never reuses a connection: signetd closes one whose oversized body it did not read.
    http: reqwest::Client,
    token: String,
    /// How often each answer came: shows how many cases make a method.
    seen: std::sync::Mutex<std::collections::BTreeMap<String, u32>>,
}

impl Ctx {
    /// A Vault API call: its status and body.
    async fn call(&self, verb: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req =
            self.http.request(verb, format!("{}/v1/{path}", self.s.base)).header("X-Vault-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::of(req.send().await.unwrap()).await
    }

    async fn check(&self, body: Body) -> Result<(), TestCaseError> {
        let (encoded, file) = match &body {
            Body::Lines(lines) => {
                let text = lines.join("\n");
                (json!(base64::engine::general_purpose::STANDARD.encode(&text)), Some(text))
            }
            Body::Raw(value) => (value.clone(), None),
        };
        let r = self
            .call(reqwest::Method::POST, "identity/mfa/method/pingid", Some(json!({"settings_file_base64": encoded})))
            .await;
        check_no_5xx(&r, "POST identity/mfa/method/pingid")?;
        let made = Answer { status: r.status, body: r.json() };
        let first = made.body["errors"][0].as_str().unwrap_or_default().chars().take(30).collect::<String>();
        *self.seen.lock().unwrap().entry(format!("{} {first}", made.status)).or_default() += 1;
        let secret = TOKEN.trim_start_matches("token=");
        prop_assert!(!made.body.to_string().contains(secret), "the token in an answer: {}", made.body);
        if made.status != 200 {
            let errors = made.body["errors"].as_array();
            prop_assert!(errors.is_some_and(|e| e.iter().all(Value::is_string)), "not Vault's errors: {}", made.body);
            return Ok(());
        }
        let id = made.body["data"]["method_id"].as_str().unwrap_or_default().to_owned();
        let r = self.call(reqwest::Method::GET, &format!("identity/mfa/method/{id}"), None).await;
        let read = Answer { status: r.status, body: r.json() };
        prop_assert_eq!(read.status, 200, "{}", read.body);
        prop_assert!(!read.body.to_string().contains(secret), "the token in an answer: {}", read.body);
        if let Some(file) = file {
            // Each setting is the file's last value for it; lines end at a line feed only.
            for key in ["idp_url", "org_alias", "admin_url", "authenticator_url"] {
                let prefix = format!("{key}=");
                let last = file.split('\n').rev().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_default();
                prop_assert_eq!(read.body["data"][key].as_str(), Some(last), "{} in {}", key, read.body);
            }
        }
        Ok(())
    }
}

fn fuzz_pingid_settings_through_vault(backend: Backend) {
    let rt = super::runtime();
    let ctx = rt.block_on(async {
        let s = Server::start_on(backend).await;
        let token = crate::vault::admin_token(&s).await;
        Ctx { s, http: super::one_shot_client(), token, seen: Default::default() }
    });
    super::run(&rt, "pingid_vault", 48, body(), |b| ctx.check(b));
    eprintln!("answers: {:#?}", ctx.seen.lock().unwrap());
}

#[test]
fn fuzz_pingid_settings_through_vault_sqlite() {
    fuzz_pingid_settings_through_vault(Backend::Sqlite);
}

#[test]
fn fuzz_pingid_settings_through_vault_postgres() {
    fuzz_pingid_settings_through_vault(Backend::Postgres);
}
