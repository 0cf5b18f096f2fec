//! `signet audit list|verify`: the admin API's audit trail, and checking it
//! against a signed checkpoint kept outside the server's database.

use std::path::Path;

use anyhow::{Context, bail};
use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use signet_proto::admin::audit::{AuditPage, ChainStatus, CheckpointKeyBody};
use signet_proto::audit::{CHECKPOINT_FORMAT, Checkpoint, ed25519_thumbprint_input};

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
    let found = admin.send(Method::GET, url, None).await?.json.unwrap_or_default();
    if ctx.out.json() {
        ctx.out.print_json(&found)?;
        return Ok(ExitCode::Ok);
    }
    let page: AuditPage = read(found)?;
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|item| {
            let e = &item.event;
            vec![
                item.seq.to_string(),
                utc(e.at),
                format!("{} {}", e.actor.kind, e.actor.name),
                e.actor.scheme.clone(),
                e.action.clone(),
                e.target.clone(),
                e.source_ip.clone().unwrap_or_default(),
            ]
        })
        .collect();
    ctx.out.table(&["SEQ", "TIME (UTC)", "ACTOR", "SCHEME", "ACTION", "TARGET", "FROM"], &rows)?;
    if let Some(next) = page.next_cursor {
        ctx.out.line(&format!("more after seq {next}"))?;
    }
    Ok(ExitCode::Ok)
}

/// An answer of the admin API about the trail.
fn read<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> anyhow::Result<T> {
    serde_json::from_value(json).context("the admin API's answer about the audit trail is not one signet can read")
}

pub struct VerifyArgs<'a> {
    pub checkpoint: Option<&'a Path>,
    /// A trail export to check the checkpoint against, instead of the server.
    pub trail: Option<&'a Path>,
    /// The checkpoint key to trust (base64url).
    pub public_key: Option<&'a str>,
}

/// How the trail compares with a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Intact,
    /// The trail ends at this event, before the checkpoint's.
    Truncated(i64),
    /// The checkpoint's event is missing or has another hash.
    Rewritten,
    /// Retention pruned the checkpoint's event.
    Pruned,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Truncated(_) => "truncated",
            Verdict::Rewritten => "rewritten",
            Verdict::Pruned => "pruned",
        }
    }

    /// The verdict of a trail ending at `last` (pruned through `pruned`),
    /// whose event at the checkpoint's place has `hash`.
    fn of(cp: &Checkpoint, last: i64, pruned: Option<i64>, hash: Option<&str>) -> Verdict {
        if last < cp.seq {
            Verdict::Truncated(last)
        } else if pruned.is_some_and(|p| p >= cp.seq) {
            Verdict::Pruned
        } else if hash == Some(cp.head.as_str()) {
            Verdict::Intact
        } else {
            Verdict::Rewritten
        }
    }

    fn fail(self, cp: &Checkpoint) -> anyhow::Result<()> {
        let signed = format!("the checkpoint signed {} UTC", utc(cp.at));
        match self {
            Verdict::Intact => Ok(()),
            Verdict::Truncated(last) => bail!(
                "the audit trail was truncated: it ends at event {last}, but {signed} vouches for {} events\nhint: the newest events were removed from the database; restore them from a backup or an export",
                cp.seq
            ),
            Verdict::Rewritten => bail!(
                "the audit trail was rewritten: event {} is missing or is not the one {signed} vouches for\nhint: events up to it were changed or removed in the database; compare with a backup or an export",
                cp.seq
            ),
            Verdict::Pruned => bail!(
                "event {} of {signed} was pruned by retention, so the checkpoint cannot be checked\nhint: use a newer checkpoint",
                cp.seq
            ),
        }
    }
}

pub async fn verify(ctx: &Ctx, a: VerifyArgs<'_>) -> anyhow::Result<ExitCode> {
    let checkpoint = a.checkpoint.map(read_checkpoint).transpose()?;
    if let (Some(trail), Some(cp)) = (a.trail, &checkpoint) {
        return verify_export(ctx, trail, cp, a.public_key);
    }
    let settings = ctx.settings()?;
    let admin = AdminClient::connect(&settings).await?;
    let url = admin.url("/audit/verify", None)?;
    let mut answer = admin.send(Method::GET, url, None).await?.json.unwrap_or_default();
    let status: ChainStatus = read(answer.clone())?;
    let verdict = match &checkpoint {
        None => None,
        Some(cp) => {
            let trusted = match a.public_key {
                Some(k) => k.to_owned(),
                None => {
                    let url = admin.url("/audit/checkpoint/key", None)?;
                    let key = admin.send(Method::GET, url, None).await?.json.unwrap_or_default();
                    read::<CheckpointKeyBody>(key).context("the server published no checkpoint key")?.public_key
                }
            };
            check_signature(cp, &trusted)?;
            let url = admin.url(&format!("/audit?cursor={}&limit=1", cp.seq - 1), None)?;
            let page: AuditPage = read(admin.send(Method::GET, url, None).await?.json.unwrap_or_default())?;
            let item = page.items.first().filter(|item| item.seq == cp.seq);
            let verdict = Verdict::of(cp, status.head_seq, status.pruned_through, item.map(|i| i.hash.as_str()));
            set(&mut answer, "checkpoint", checkpoint_json(cp, verdict));
            Some(verdict)
        }
    };
    let intact = status.broken_at.is_none() && verdict.is_none_or(|v| v == Verdict::Intact);
    set(&mut answer, "intact", serde_json::Value::Bool(intact));
    if ctx.out.json() {
        ctx.out.print_json(&answer)?;
    }
    if let (Some(cp), Some(v @ Verdict::Truncated(_))) = (&checkpoint, verdict) {
        v.fail(cp)?;
    }
    if let Some(seq) = status.broken_at {
        bail!(
            "the audit trail is broken at event {seq}: it was edited or removed after it was written\nhint: compare with an exported copy or a monitor's last head hash"
        );
    }
    if let (Some(cp), Some(v)) = (&checkpoint, verdict) {
        v.fail(cp)?;
    }
    if !ctx.out.json() {
        let head = status.head.as_deref().unwrap_or("-");
        ctx.out.line(&format!("audit trail intact: {} events, head {head}", status.events))?;
        if let Some(cp) = &checkpoint {
            ctx.out.line(&format!("checkpoint of {} UTC (event {}, key {}) matches", utc(cp.at), cp.seq, cp.key_id))?;
        }
    }
    Ok(ExitCode::Ok)
}

/// Sets `key` of the answer `object` to `value`, for `-O json`.
fn set(object: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

/// A line of a trail export, as far as checking a checkpoint needs it.
#[derive(Default, serde::Deserialize)]
struct ExportLine {
    #[serde(default)]
    seq: serde_json::Value,
    #[serde(default)]
    hash: serde_json::Value,
}

/// Offline: the checkpoint against an export of the trail (`GET
/// /audit?format=jsonl`). Without the chain key only the server can check
/// each event's HMAC; this checks the signature, that no event in the
/// export is missing, and the checkpoint's event.
fn verify_export(ctx: &Ctx, trail: &Path, cp: &Checkpoint, public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    check_signature(cp, public_key.unwrap_or(&cp.public_key))?;
    let text = std::fs::read_to_string(trail).with_context(|| format!("reading {}", trail.display()))?;
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let item: serde_json::Value = serde_json::from_str(line).with_context(|| {
            format!("{} line {} is not JSON\nhint: export with GET /audit?format=jsonl", trail.display(), n + 1)
        })?;
        let item: ExportLine = serde_json::from_value(item).unwrap_or_default();
        let seq = item.seq.as_i64().with_context(|| format!("{} line {}: no seq", trail.display(), n + 1))?;
        let hash = item.hash.as_str().with_context(|| format!("{} line {}: no hash", trail.display(), n + 1))?;
        events.push((seq, hash.to_owned()));
    }
    let (Some(first), Some(last)) = (events.first().map(|e| e.0), events.last().map(|e| e.0)) else {
        bail!("{} holds no events\nhint: export with GET /audit?format=jsonl", trail.display());
    };
    if let Some(w) = events.windows(2).find(|w| w[1].0 != w[0].0 + 1) {
        bail!(
            "the export is not whole: event {} follows event {}\nhint: export the whole trail, without filters",
            w[1].0,
            w[0].0
        );
    }
    let hash = events.iter().find(|e| e.0 == cp.seq).map(|e| e.1.as_str());
    let verdict = Verdict::of(cp, last, (first > 1).then_some(first - 1), hash);
    if ctx.out.json() {
        ctx.out.print_json(&serde_json::json!({
            "intact": verdict == Verdict::Intact,
            "events": events.len(),
            "first_seq": first,
            "head_seq": last,
            "checkpoint": checkpoint_json(cp, verdict),
        }))?;
    }
    verdict.fail(cp)?;
    if !ctx.out.json() {
        ctx.out.line(&format!(
            "checkpoint of {} UTC (event {}, key {}) matches the export of events {first} to {last}",
            utc(cp.at),
            cp.seq,
            cp.key_id
        ))?;
        if public_key.is_none() {
            ctx.out.line("note: the key was taken from the checkpoint; pass --public-key to pin the server's")?;
        }
        ctx.out.line("note: each event's HMAC is checked by the server: run signet audit verify without --trail")?;
    }
    Ok(ExitCode::Ok)
}

fn checkpoint_json(cp: &Checkpoint, verdict: Verdict) -> serde_json::Value {
    serde_json::json!({"seq": cp.seq, "head": cp.head, "at": cp.at, "key_id": cp.key_id, "status": verdict.name()})
}

/// A checkpoint from a file: one JSON object, or JSON lines as the server's
/// checkpoint file holds them (the last line, the newest, is taken).
fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let whole = serde_json::from_str::<Checkpoint>(&text);
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    whole.or_else(|_| serde_json::from_str(last)).with_context(|| {
        format!(
            "{} holds no checkpoint\nhint: save GET /audit/checkpoint, or use the server's checkpoint file",
            path.display()
        )
    })
}

/// The checkpoint must be signed by `trusted` (base64url), and its key id
/// and signature must match.
fn check_signature(cp: &Checkpoint, trusted: &str) -> anyhow::Result<()> {
    if cp.format != CHECKPOINT_FORMAT {
        bail!("the checkpoint's format {:?} is not one this signet knows\nhint: upgrade signet", cp.format);
    }
    if cp.public_key != trusted {
        bail!(
            "the checkpoint was not signed with the trusted checkpoint key (key {} instead): it was forged or comes from another server\nhint: compare --public-key with GET /audit/checkpoint/key",
            cp.key_id
        );
    }
    let key = URL_SAFE_NO_PAD
        .decode(trusted)
        .ok()
        .filter(|k| k.len() == 32)
        .context("the checkpoint key is not base64url of 32 bytes")?;
    let thumbprint =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ed25519_thumbprint_input(trusted).as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(&cp.signature).unwrap_or_default();
    let signed = UnparsedPublicKey::new(&ED25519, &key).verify(&cp.signed_message(), &signature).is_ok();
    if URL_SAFE_NO_PAD.encode(thumbprint.as_ref()) != cp.key_id || !signed {
        bail!("the checkpoint's signature does not verify: it was forged or altered after it was signed");
    }
    Ok(())
}
