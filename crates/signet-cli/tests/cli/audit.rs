//! Finding 6 of issue 15 from the command line: `signet audit verify
//! --checkpoint` checks a signed checkpoint kept outside the server's
//! database, against the server or offline against an export, and tells a
//! truncated or rewritten trail from an intact one; a forged checkpoint is
//! refused.

use signet_testkit::{Backend, Server, test_event};

use crate::admin::admin_basic;
use crate::harness::{Home, Run};

/// A checkpoint, the trail's export and the published key, saved as an
/// operator would save them.
struct Kept {
    checkpoint: String,
    trail: String,
    key: String,
    seq: i64,
}

async fn keep(h: &Home, name: &str) -> Kept {
    let cp = h.run_async(&["request", "GET", "/audit/checkpoint"]).await;
    assert_eq!(cp.code, 0, "{}", cp.stderr);
    let seq = cp.json()["seq"].as_i64().unwrap();
    let checkpoint = h.dir.join(format!("{name}.checkpoint.json"));
    std::fs::write(&checkpoint, &cp.stdout).unwrap();
    let export = h.run_async(&["request", "GET", "/audit?format=jsonl"]).await;
    assert_eq!(export.code, 0, "{}", export.stderr);
    let trail = h.dir.join(format!("{name}.trail.jsonl"));
    std::fs::write(&trail, &export.stdout).unwrap();
    let key = h.run_async(&["request", "GET", "/audit/checkpoint/key"]).await.json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    Kept { checkpoint: checkpoint.display().to_string(), trail: trail.display().to_string(), key, seq }
}

/// `signet audit verify --checkpoint FILE`, and `extra`.
async fn verify(h: &Home, file: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec!["audit", "verify", "--checkpoint", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    h.run_async(&args).await
}

async fn finding_6_checkpoint_tells_truncation_and_rewriting_from_an_intact_trail(s: Server) {
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    for n in 0..3 {
        s.store().record(&test_event(&format!("work.{n}"), None, "x")).await.unwrap();
    }
    let k = keep(&h, "now").await;

    let intact = h.run_async(&["audit", "verify", "--checkpoint", &k.checkpoint]).await;
    assert_eq!(intact.code, 0, "{}", intact.stderr);
    assert!(intact.stdout.contains(&format!("(event {}, key ", k.seq)) && intact.stdout.contains(") matches"));
    let args = ["audit", "verify", "--checkpoint", &k.checkpoint, "--trail", &k.trail, "--public-key", &k.key];
    let offline = h.run_async(&args).await;
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert!(offline.stdout.contains("matches the export of events 1 to"), "{}", offline.stdout);

    // The newest two events go and the head moves back: the database alone shows nothing.
    s.tamper().truncate(s.store(), k.seq - 2).await;
    let plain = h.run_async(&["audit", "verify"]).await;
    assert_eq!(plain.code, 0, "without a checkpoint this cannot be seen: {}", plain.stderr);
    let caught = h.run_async(&["audit", "verify", "--checkpoint", &k.checkpoint]).await;
    assert_eq!(caught.code, 1);
    let truncated = format!("error: the audit trail was truncated: it ends at event {}, but the checkpoint", k.seq - 2);
    assert!(caught.stderr.starts_with(&truncated) && caught.stderr.contains("hint:"), "{}", caught.stderr);
    let json = h.run_async(&["-O", "json", "audit", "verify", "--checkpoint", &k.checkpoint]).await;
    assert_eq!((json.code, json.json()["intact"].as_bool()), (1, Some(false)));
    assert_eq!(json.json()["checkpoint"]["status"], "truncated");
    // An export made now shows it offline too.
    let after = keep(&h, "after").await;
    let offline = h.run_async(&["audit", "verify", "--checkpoint", &k.checkpoint, "--trail", &after.trail]).await;
    assert_eq!(offline.code, 1);
    assert!(offline.stderr.contains("the audit trail was truncated"), "{}", offline.stderr);

    // Grown past the checkpoint again, the event it vouches for is another one.
    for n in 0..3 {
        s.store().record(&test_event(&format!("later.{n}"), None, "x")).await.unwrap();
    }
    let caught = h.run_async(&["audit", "verify", "--checkpoint", &k.checkpoint]).await;
    assert_eq!(caught.code, 1);
    let rewritten = format!("error: the audit trail was rewritten: event {} is missing or is not the one", k.seq);
    assert!(caught.stderr.starts_with(&rewritten), "{}", caught.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_6_checkpoint_tells_truncation_and_rewriting_from_an_intact_trail_on_sqlite() {
    finding_6_checkpoint_tells_truncation_and_rewriting_from_an_intact_trail(Server::start_on(Backend::Sqlite).await)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_6_checkpoint_tells_truncation_and_rewriting_from_an_intact_trail_on_postgres() {
    finding_6_checkpoint_tells_truncation_and_rewriting_from_an_intact_trail(Server::start_on(Backend::Postgres).await)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_6_a_forged_checkpoint_is_refused() {
    let s = Server::start().await;
    let h = Home::new();
    admin_basic(&h, &s, &s.boot.admin.password);
    let k = keep(&h, "real").await;
    let real: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&k.checkpoint).unwrap()).unwrap();
    let forged = h.dir.join("forged.json");

    // Altered after signing: it vouches for more events than there were.
    let mut altered = real.clone();
    altered["seq"] = (k.seq + 5).into();
    std::fs::write(&forged, altered.to_string()).unwrap();
    let r = verify(&h, &forged, &[]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: the checkpoint's signature does not verify"), "{}", r.stderr);
    let r = verify(&h, &forged, &["--trail", &k.trail]).await;
    assert!(r.code == 1 && r.stderr.contains("signature does not verify"), "offline too: {}", r.stderr);

    // Signed, properly, by a key of the forger's own, named in the checkpoint.
    let theirs = signet_core::audit_key::AuditKeys::generate().unwrap();
    let own = theirs.checkpoint.sign(k.seq + 5, real["head"].as_str().unwrap(), real["at"].as_i64().unwrap());
    std::fs::write(&forged, serde_json::to_string(&own).unwrap()).unwrap();
    let r = verify(&h, &forged, &[]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not signed with the trusted checkpoint key") && r.stderr.contains("hint:"),
        "{}",
        r.stderr
    );
    let r = verify(&h, &forged, &["--trail", &k.trail, "--public-key", &k.key]).await;
    assert!(r.code == 1 && r.stderr.contains("not signed with the trusted checkpoint key"), "{}", r.stderr);

    // Not a checkpoint at all.
    std::fs::write(&forged, "{\"seq\": 1}").unwrap();
    let r = verify(&h, &forged, &[]).await;
    assert!(r.code == 1 && r.stderr.contains("holds no checkpoint") && r.stderr.contains("hint:"), "{}", r.stderr);
    let usage = h.run_async(&["audit", "verify", "--trail", &k.trail]).await;
    assert_eq!(usage.code, 2, "--trail needs --checkpoint: {}", usage.stderr);
}
