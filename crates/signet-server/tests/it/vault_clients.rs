//! Real clients of the Vault-compatible MFA API (seed 002): the seed's own
//! `curl` sample requests, run by `sh` as written, and Vault's Python client
//! `hvac` (interop/hvac). Neither skips: a missing seed, curl or hvac fails
//! the test with what to do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::harness::Server;
use crate::vault::{FIXTURE, admin_token, b64};

/// What the seed's samples say, replaced by this run's server, token and method.
const SAMPLE_ADDR: &str = "http://127.0.0.1:8200";
const SAMPLE_TOKEN: &str = "X-Vault-Token: ...";
const SAMPLE_ID: &str = "f8381105-67f0-4105-8662-4b07ae5c1233";
const SAMPLE_SETTINGS: &str = "\"AA8owj3...\"";
/// A client that hangs fails the test instead of stalling the suite.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Seed 002, the PingID method API page, as committed in `interop/seeds/`
/// (CI runs on a clean clone with nothing beside it). Where the project's
/// seeds are beside the repository, the copy must still be the original.
fn seed() -> String {
    let copy = workspace().join("interop/seeds/002_pingid_method_api.txt");
    let text = std::fs::read_to_string(&copy).unwrap_or_else(|e| panic!("reading {}: {e}", copy.display()));
    let originals = workspace().join("../shared/seeds");
    if let Ok(dir) = std::fs::read_dir(&originals) {
        let original = dir.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("002_") && n.ends_with(".txt"))
        });
        if let Some(original) = original {
            let original = std::fs::read_to_string(&original).unwrap();
            assert_eq!(text, original, "interop/seeds/002_pingid_method_api.txt differs from the seed");
        }
    }
    text
}

/// The seed's `$ curl ...` commands, each with its continuation lines, as written.
fn curl_commands(seed: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut lines = seed.lines();
    while let Some(line) = lines.next() {
        let Some(first) = line.trim_start().strip_prefix("$ ") else { continue };
        if !first.starts_with("curl") {
            continue;
        }
        let mut command = first.to_owned();
        while command.ends_with('\\') {
            let Some(next) = lines.next() else { break };
            command.push('\n');
            command.push_str(next);
        }
        commands.push(command);
    }
    commands
}

/// The first JSON object after the line `heading`, from `from` on.
fn sample_json(seed: &str, from: &str, heading: &str) -> String {
    let start = seed.find(from).unwrap_or_else(|| panic!("the seed has no {from:?}"));
    let rest = &seed[start..];
    let at = rest.find(heading).unwrap_or_else(|| panic!("the seed has no {heading:?} after {from:?}"));
    let rest = &rest[at..];
    let open = rest.find('{').unwrap_or_else(|| panic!("no JSON after {heading:?}"));
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in rest[open..].char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return rest[open..open + i + 1].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("the JSON after {heading:?} is not closed")
}

/// The seed's samples are hand-written: drop a comma before `}` or `]`.
fn lenient(json: &str) -> Value {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = json.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' && matches!(chars[i + 1..].iter().find(|c| !c.is_whitespace()), Some('}' | ']')) {
            continue;
        }
        out.push(c);
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("the seed's sample is not JSON even leniently: {e}\n{json}"))
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `text` with every `from` replaced; the seed must have said `from`.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the seed's sample no longer says {from:?}:\n{text}");
    text.replace(from, to)
}

struct Run {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in `dir`, reaped if it hangs or the test fails.
async fn run(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // tokio's Command: the server runs on this same runtime.
    let child = command.spawn().unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let out = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in {CLIENT_TIMEOUT:?}"))
        .unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One of the seed's commands through `sh -c`, with this run's address,
/// token and method id; what curl printed, as JSON (`Null` for nothing).
async fn curl(s: &Server, command: &str, token: &str, id: &str) -> Value {
    let command = replaced(command, SAMPLE_ADDR, &s.base);
    let command = replaced(&command, SAMPLE_TOKEN, &format!("X-Vault-Token: {token}"));
    let command = if command.contains(SAMPLE_ID) { command.replace(SAMPLE_ID, id) } else { command };
    let out = run("sh", &["-c", &command], &s.dir, &[]).await;
    let shown = command.replace(token, "[token]");
    assert!(out.status.success(), "`{shown}` failed ({}): {}", out.status, out.stderr);
    if out.stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("`{shown}` printed no JSON ({e}): {}", out.stdout))
}

/// The seed's command that sends `verb`, with (or without) a method id.
fn command<'a>(commands: &'a [String], verb: &str, with_id: bool) -> &'a str {
    commands
        .iter()
        .find(|c| c.contains(&format!("--request {verb}")) && c.contains(SAMPLE_ID) == with_id)
        .unwrap_or_else(|| panic!("the seed has no curl sample for {verb} (with an id: {with_id})"))
}

async fn method_status(s: &Server, token: &str, id: &str) -> u16 {
    let url = format!("{}/v1/identity/mfa/method/pingid/{id}", s.base);
    s.http.get(url).header("X-Vault-Token", token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn seed_curl_samples_work_verbatim() {
    assert!(Path::new("/usr/bin/curl").exists(), "curl is missing: run .ci/install");
    let seed = seed();
    let commands = curl_commands(&seed);
    assert_eq!(commands.len(), 5, "the seed should have five curl samples: {commands:#?}");
    let s = Server::start().await;
    let token = admin_token(&s).await;

    // The sample payload, with a real settings file for the elided one.
    let payload = sample_json(&seed, "Create PingID MFA method", "Sample payload");
    let payload = replaced(&payload, SAMPLE_SETTINGS, &format!("\"{}\"", b64(FIXTURE)));
    assert!(payload.contains("{{identity.entity.aliases.auth_userpass_1793464a.name}}"), "{payload}");
    std::fs::write(s.dir.join("payload.json"), &payload).unwrap();

    // Create.
    let created = curl(&s, command(&commands, "POST", false), &token, SAMPLE_ID).await;
    let id = created["data"]["method_id"].as_str().unwrap_or_else(|| panic!("create answered {created}")).to_owned();
    assert_ne!(id, SAMPLE_ID);
    let stored = s.store().mfa_method(&id).await.unwrap().unwrap();
    assert_eq!(stored.username_format, "{{identity.entity.aliases.auth_userpass_1793464a.name}}");

    // Update by id: no body, a new version.
    assert_eq!(curl(&s, command(&commands, "POST", true), &token, &id).await, Value::Null);
    assert_eq!(s.store().mfa_method(&id).await.unwrap().unwrap().version, stored.version + 1);

    // Read: every field of the sample, of the same type; the fixture's values.
    let sample = lenient(&sample_json(&seed, "Read PingID MFA method", "Sample response"));
    let read = curl(&s, command(&commands, "GET", true), &token, &id).await;
    let (want, got) = (&sample["data"], &read["data"]);
    assert!(want.as_object().is_some_and(|o| !o.is_empty()), "the sample has no data: {sample}");
    for (key, value) in want.as_object().unwrap() {
        let real = got.get(key).unwrap_or_else(|| panic!("the read has no {key:?}: {read}"));
        assert_eq!(type_of(real), type_of(value), "{key}: the sample has {value}, signetd {real}");
    }
    for key in ["idp_url", "admin_url", "authenticator_url", "use_signature", "type"] {
        assert_eq!(got[key], want[key], "{key}");
    }
    assert_eq!(got["id"], id.as_str());
    let alias = want["org_alias"].as_str().unwrap().trim_end_matches("...");
    assert!(got["org_alias"].as_str().unwrap().starts_with(alias), "{read}");

    // List: the sample's shape, with this id.
    let listed = curl(&s, command(&commands, "LIST", false), &token, &id).await;
    let sample = lenient(&sample_json(&seed, "List PingID MFA methods", "Sample response"));
    assert!(sample["data"]["keys"].is_array(), "{sample}");
    assert_eq!(listed["data"]["keys"], serde_json::json!([id]), "{listed}");

    // Delete, then the read is 404 with Vault's empty errors.
    assert_eq!(method_status(&s, &token, &id).await, 200);
    assert_eq!(curl(&s, command(&commands, "DELETE", true), &token, &id).await, Value::Null);
    assert_eq!(method_status(&s, &token, &id).await, 404);
    let gone = curl(&s, command(&commands, "GET", true), &token, &id).await;
    assert_eq!(gone, serde_json::json!({"errors": []}));
}

/// The virtualenv that `.ci/install` makes for interop/hvac.
fn hvac_python() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/signet-python/bin/python3")
}

#[tokio::test]
async fn hvac_reads_writes_lists_and_deletes_methods_and_enforcements() {
    let python = hvac_python();
    let root = workspace();
    let install = "run `bash .ci/install` (it makes that virtualenv from interop/hvac/requirements.txt)";
    assert!(python.exists(), "Vault's Python client is not installed: {} is missing; {install}", python.display());
    let probe = run(python.to_str().unwrap(), &["-c", "import hvac"], &root, &[]).await;
    assert!(probe.status.success(), "`import hvac` fails in {}; {install}\n{}", python.display(), probe.stderr);
    let s = Server::start().await;
    let token = admin_token(&s).await;
    let out = run(
        python.to_str().unwrap(),
        &["interop/hvac/hvac_client.py"],
        &root,
        &[("VAULT_ADDR", &s.base), ("VAULT_TOKEN", &token)],
    )
    .await;
    assert!(
        out.status.success(),
        "interop/hvac/hvac_client.py failed ({}):\n{}\n--- stderr\n{}",
        out.status,
        out.stdout,
        out.stderr.replace(&token, "[token]")
    );
}

#[test]
fn lenient_json_drops_only_trailing_commas() {
    assert_eq!(
        lenient(r#"{"a": [1, 2,], "b": "x,}", "c": {"d": true,},}"#),
        serde_json::json!({"a": [1, 2], "b": "x,}", "c": {"d": true}})
    );
    assert_eq!(lenient(r#"{"a": "q\",]"}"#), serde_json::json!({"a": "q\",]"}));
}
