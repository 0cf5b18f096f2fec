//! `signet audit list|verify`: the admin API's audit trail.

use reqwest::Method;

use crate::commands::Ctx;
use crate::commands::request::AdminClient;
use crate::exit::ExitCode;

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

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), without a date library.
fn utc(ts: i64) -> String {
    let (days, secs) = (ts.div_euclid(86_400), ts.rem_euclid(86_400));
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_matches_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_795_487_358), "2026-11-24 02:29:18");
    }
}
