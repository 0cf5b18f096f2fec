//! Requests by hand around the loads, and what their answers must be: they
//! show that the bound path is bound.

use anyhow::Context;
use base64::Engine;
use serde_json::Value;

use crate::context::Signetd;

/// `{issuer}/token`: what signetd checks a token request's proof against.
pub(super) fn token_htu(signetd: &Signetd) -> String {
    format!("{}/token", signetd.boot.issuer.trim_end_matches('/'))
}

/// `{public_url}`, from the issuer `{public_url}/{env}/as`: the base of the
/// URL signetd checks a resource's proof against.
pub(super) fn public_url(signetd: &Signetd) -> anyhow::Result<String> {
    let suffix = format!("/{}/as", signetd.boot.environment_id);
    let public = signetd.boot.issuer.strip_suffix(&suffix).context("the issuer is not {public_url}/{env}/as")?;
    Ok(public.to_owned())
}

/// A token request by hand; its status and JSON answer.
pub(super) async fn token_request(
    http: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    body: String,
    proof: Option<String>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let res = req.send().await?;
    let status = res.status().as_u16();
    Ok((status, res.json().await.unwrap_or_default()))
}

/// 200 with this `token_type` and an access token bound to `jkt` (`cnf.jkt`),
/// or to no key.
pub(super) fn expect_issued(
    what: &str,
    status: u16,
    body: &Value,
    token_type: &str,
    jkt: Option<&str>,
) -> anyhow::Result<()> {
    anyhow::ensure!(status == 200, "{what} answered {status}: {body}");
    anyhow::ensure!(
        body["token_type"] == token_type,
        "{what}: token_type {} rather than {token_type}",
        body["token_type"]
    );
    let token = body["access_token"].as_str().with_context(|| format!("{what}: no access_token in {body}"))?;
    let payload = token.split('.').nth(1).with_context(|| format!("{what}: the access token is not a JWT"))?;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let cnf = claims["cnf"]["jkt"].as_str();
    anyhow::ensure!(cnf == jkt, "{what}: the access token's cnf.jkt is {cnf:?}, not {jkt:?}");
    Ok(())
}

pub(super) fn expect_refused(what: &str, status: u16, body: &Value, want: u16, error: &str) -> anyhow::Result<()> {
    anyhow::ensure!(status == want && body["error"] == error, "{what} answered {status}: {body}, not {want} {error}");
    Ok(())
}

/// Refused as a replay: the proof was valid and fresh when the load spent it.
pub(super) fn expect_replay(what: &str, status: u16, body: &Value) -> anyhow::Result<()> {
    expect_refused(what, status, body, 400, "invalid_dpop_proof")?;
    let description = body["error_description"].as_str().unwrap_or_default();
    anyhow::ensure!(description.contains("used before"), "{what} was refused, but not as a replay: {body}");
    Ok(())
}

pub(super) async fn get_status(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    proof: Option<&str>,
) -> anyhow::Result<u16> {
    let mut req = http.get(url).header("authorization", auth);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    Ok(req.send().await?.status().as_u16())
}

/// One GET by hand with a DPoP-bound token and its proof: 200 with the account.
pub(super) async fn expect_account_dpop(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    proof: &str,
    username: &str,
) -> anyhow::Result<()> {
    let res = http.get(url).header("authorization", auth).header("dpop", proof).send().await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or_default();
    anyhow::ensure!(status == 200 && body["username"] == username, "GET {url} answered {status}: {body}");
    Ok(())
}

/// The `jti`s spent so far: a row in signetd's store per proof it accepted.
pub(super) fn jtis_spent(signetd: &Signetd) -> anyhow::Result<i64> {
    let path = signetd.data_dir.join("signet.db");
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("SELECT COUNT(*) FROM dpop_jtis", [], |row| row.get(0))?)
}
