//! `signet audit list|verify`: the admin API's audit trail.

use reqwest::Method;

use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;
use crate::output::utc;

pub struct ListArgs<'a> {
    pub action: Option<&'a str>,
    pub account: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
}

pub async fn list(ctx: &Ctx, a: ListArgs<'_>) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let admin = AdminClient::connect(&settings).await?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &a.limit.to_string());
    for (k, v) in [("action", a.action), ("account", a.account), ("resource", a.resource)] {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    for (k, v) in [("since", a.since), ("until", a.until)] {
        if let Some(v) = v {
            query.append_pair(k, &v.to_string());
        }
    }
    let url = admin.url(&format!("/audit?{}", query.finish()), None)?;
    let answer = admin.send(Method::GET, url, None).await?;
    let page = answer.json.unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&page)?;
        return Ok(ExitCode::Ok);
    }
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let e = &item["event"];
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
            vec![
                item["seq"].to_string(),
                e["at"].as_i64().map(utc).unwrap_or_default(),
                format!("{} {}", s(&e["actor"]["kind"]), s(&e["actor"]["name"])),
                s(&e["actor"]["scheme"]),
                s(&e["action"]),
                s(&e["target"]),
                s(&e["source_ip"]),
            ]
        })
        .collect();
    ctx.out.table(&["SEQ", "TIME (UTC)", "ACTOR", "SCHEME", "ACTION", "TARGET", "FROM"], &rows)?;
    if let Some(next) = page["next_cursor"].as_i64() {
        ctx.out.line(&format!("more after seq {next}"))?;
    }
    Ok(ExitCode::Ok)
}

pub async fn verify(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let admin = AdminClient::connect(&settings).await?;
    let url = admin.url("/audit/verify", None)?;
    let status = admin.send(Method::GET, url, None).await?.json.unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&status)?;
    }
    match status["broken_at"].as_i64() {
        None => {
            if !ctx.out.json() {
                ctx.out.line(&format!(
                    "audit trail intact: {} events, head {}",
                    status["events"],
                    status["head"].as_str().unwrap_or("-")
                ))?;
            }
            Ok(ExitCode::Ok)
        }
        Some(seq) => anyhow::bail!(
            "the audit trail is broken at event {seq}: it was edited or removed after it was written\nhint: compare with an exported copy or a monitor's last head hash"
        ),
    }
}
