//! Goal 6: the Vault-compatible MFA API (seed 002) with 1,000 methods stored,
//! against goal 5's Bearer `GET /admin-api/v1/accounts/{username}`, measured
//! before and after in the same run. The same worker token (admin API
//! audience, the Admin role) is on every call, so every call verifies the same
//! ES256 signature and reads the same roles; what differs is the work behind it:
//!
//! - `GET /v1/identity/mfa/method/{id}` with `X-Vault-Token`: one method read.
//!   Goal: at least 0.8 times the admin GET.
//! - `GET /v1/identity/mfa/method?list=true`, Vault's other spelling of
//!   `LIST` (wrk refuses methods its HTTP parser does not know): all 1,000
//!   methods with their `key_info`. Goal: within 10 times the admin GET (at
//!   least 0.1). The check by hand uses `LIST` itself.
//!
//! The methods are written through the API, as a tool would, a quarter of
//! each type. Each load is bracketed by a request by hand that must answer
//! 200 with the method or all 1,000 keys, and must have no error answers.

use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use crate::admin::{expect_account, measure_get, set_up};
use crate::context::{Bench, Signetd};
use crate::report::{Table, Target, per_sec, thousands};

const METHODS: usize = 1_000;
const VAULT: &str = "/v1/identity/mfa/method";

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("6");
    let http = reqwest::Client::new();
    let username = &signetd.boot.admin.username;
    let account_url = format!("{}/admin-api/v1/accounts/{username}", signetd.base);
    let callers = set_up(&http, signetd, &account_url).await?;
    let token = callers.token.as_str();

    let started = Instant::now();
    let ids = store_methods(bench, &http, signetd, token).await?;
    let stored_in = started.elapsed();
    let id = &ids[ids.len() / 2];
    let method_url = format!("{}{VAULT}/{id}", signetd.base);
    let list_url = format!("{}{VAULT}", signetd.base);
    let list_load_url = format!("{list_url}?list=true");
    expect_method(&http, &method_url, token, id).await.context("the read, before the loads")?;
    let list_bytes = expect_list(&http, &list_url, token, &ids).await.context("the list, before the loads")?;

    let vault = || vec![("BENCH_AUTH", token.to_owned()), ("BENCH_AUTH_HEADER", "X-Vault-Token".into())];
    let bearer = || vec![("BENCH_AUTH", callers.bearer.clone())];
    let admin_before = measure_get(bench, "vault-admin-bearer", &account_url, bearer()).await?;
    let read = measure_get(bench, "vault-read", &method_url, vault()).await?;
    let list = measure_get(bench, "vault-list", &list_load_url, vault()).await?;
    let admin_after = measure_get(bench, "vault-admin-bearer-after", &account_url, bearer()).await?;
    expect_method(&http, &method_url, token, id).await.context("the read, after the loads")?;
    expect_list(&http, &list_url, token, &ids).await.context("the list, after the loads")?;
    expect_account(&http, &account_url, &callers.bearer, username).await.context("Bearer, after the loads")?;

    let admin = (admin_before.rate() + admin_after.rate()) / 2.0;
    table.check_steady("the admin GET (Bearer)", admin_before.rate(), admin_after.rate());
    table.info(
        &format!("{} MFA methods written through the API", thousands(METHODS as f64)),
        format!("{:.1} s", stored_in.as_secs_f64()),
        "a quarter each of pingid, okta, duo and totp; one request at a time",
    );
    table.info(
        "admin GET, Bearer (ES256, admin API audience)",
        per_sec(admin),
        &format!("before {}, after {}", per_sec(admin_before.rate()), per_sec(admin_after.rate())),
    );
    table.info("Vault GET method/{id}, X-Vault-Token", per_sec(read.rate()), &read.describe());
    table.ratio("Vault read / admin GET", read.rate() / admin, Target::AtLeast(0.8), "");
    table.info(
        &format!("Vault LIST method (?list=true), {} keys", thousands(METHODS as f64)),
        per_sec(list.rate()),
        &format!("{}; {} KB per answer", list.describe(), list_bytes / 1000),
    );
    table.ratio("Vault LIST / admin GET", list.rate() / admin, Target::AtLeast(0.1), "");
    Ok(())
}

/// The body that creates method `i`: the types in turn, each with a name.
fn method_body(i: usize) -> (&'static str, Value) {
    let name = format!("bench-{i}");
    match i % 4 {
        0 => {
            let file = format!(
                "use_base64_key=YmVuY2gta2V5LXtpfQ==\nuse_signature=true\ntoken=bench-token-{i}\n\
                 idp_url=https://idp{i}.pingidentity.com/pingid\norg_alias=org-{i}\n\
                 admin_url=https://idp{i}.pingidentity.com/pingid\n\
                 authenticator_url=https://authenticator.pingone.com/pingid/ppm\n"
            );
            let file = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, file);
            ("pingid", json!({"method_name": name, "settings_file_base64": file}))
        }
        1 => ("okta", json!({"method_name": name, "org_name": format!("org{i}"), "api_token": format!("okta-{i}")})),
        2 => (
            "duo",
            json!({
                "method_name": name,
                "secret_key": format!("duo-secret-{i}"),
                "integration_key": format!("DI{i:018}"),
                "api_hostname": format!("api-{i:08x}.duosecurity.com"),
            }),
        ),
        _ => ("totp", json!({"method_name": name, "issuer": "signet-bench", "digits": 6 + 2 * (i % 8 / 4)})),
    }
}

/// Writes the methods through the API; their ids.
async fn store_methods(
    bench: &Bench,
    http: &reqwest::Client,
    signetd: &Signetd,
    token: &str,
) -> anyhow::Result<Vec<String>> {
    bench.note(&format!("writing {} MFA methods", thousands(METHODS as f64)));
    let mut ids = Vec::with_capacity(METHODS);
    for i in 0..METHODS {
        let (kind, body) = method_body(i);
        let url = format!("{}{VAULT}/{kind}", signetd.base);
        let res = http.post(&url).header("x-vault-token", token).json(&body).send().await?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or_default();
        let id = answer["data"]["method_id"].as_str();
        let id = id.with_context(|| format!("POST {url} (method {i}) answered {status}: {answer}"))?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

async fn vault_get(http: &reqwest::Client, verb: &str, url: &str, token: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let res =
        http.request(reqwest::Method::from_bytes(verb.as_bytes())?, url).header("x-vault-token", token).send().await?;
    Ok((res.status().as_u16(), res.bytes().await?.to_vec()))
}

/// One read by hand: 200 with the method.
async fn expect_method(http: &reqwest::Client, url: &str, token: &str, id: &str) -> anyhow::Result<()> {
    let (status, body) = vault_get(http, "GET", url, token).await?;
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    anyhow::ensure!(status == 200 && body["data"]["id"] == id, "GET {url} answered {status}: {body}");
    Ok(())
}

/// One LIST by hand: 200 with every id written. Returns the answer's size.
async fn expect_list(http: &reqwest::Client, url: &str, token: &str, ids: &[String]) -> anyhow::Result<usize> {
    let (status, bytes) = vault_get(http, "LIST", url, token).await?;
    anyhow::ensure!(status == 200, "LIST {url} answered {status}");
    let body: Value = serde_json::from_slice(&bytes).context("the list is not JSON")?;
    let mut keys: Vec<&str> = body["data"]["keys"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    keys.sort_unstable();
    want.sort_unstable();
    anyhow::ensure!(keys == want, "LIST {url} answered {} keys, not the {} written", keys.len(), want.len());
    Ok(bytes.len())
}
