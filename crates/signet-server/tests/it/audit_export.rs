//! The audit trail as JSON lines, and retention: pruning keeps what is left
//! verifiable and says how far it pruned.

use reqwest::Method;
use signet_proto::admin::accounts::AccountPage;
use signet_proto::admin::audit::{AuditItem, AuditPage, ChainStatus};

use crate::admin::{Api, answered, assert_refused, basic, trail, typed};
use crate::harness::*;

#[tokio::test]
async fn the_trail_streams_as_json_lines_with_the_filters() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    for n in 0..3 {
        let body = serde_json::json!({"value": n});
        assert_eq!(
            api.call(Method::PUT, &format!("/configStore/k{n}"), Some(&root), Some(body), None).await.status,
            200
        );
    }
    let res = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit?format=jsonl&action=admin.config_store.", s.base))
        .header("authorization", &root)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    let lines: Vec<AuditItem> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l.event.action == "admin.config_store.put" && l.hash.len() == 64), "{lines:?}");
    let seqs: Vec<i64> = lines.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // The whole trail: every event, in order, more than one store batch would be for a small limit.
    let all = reqwest::Client::new()
        .get(format!("{}/admin-api/v1/audit?format=jsonl", s.base))
        .header("authorization", &root)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let typed_root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    let verify = typed_root.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value;
    assert_eq!(all.lines().count() as i64, verify.events);
    let csv = typed_root.find::<AuditPage>(&["audit"], &[("format", "csv")]).await;
    assert_refused(csv, 400, "invalid_request", "format");
}

#[tokio::test]
async fn retention_prunes_old_events_and_the_rest_still_verifies() {
    let s = Server::start().await;
    let root = typed(&s, &s.boot.admin.username, &s.boot.admin.password);
    answered::<(), AccountPage>(&root, Method::GET, &["accounts"], None, None, 200).await;
    let before = root.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value;
    assert!(before.pruned_through.is_none(), "{before:?}");
    let events_before = before.events;

    // Two days on, with a one-day retention: everything so far goes.
    s.clock.advance(2 * 86_400);
    let pruned = signet_server::ops::prune_audit(&s.state, 1).await.unwrap();
    assert_eq!(pruned, events_before, "every event so far; the cached sign-on adds none");
    let after = root.get::<ChainStatus>(&["audit", "verify"]).await.unwrap().value;
    assert!(after.intact, "{after:?}");
    assert_eq!(after.pruned_through, Some(pruned), "{after:?}");
    let trail = trail(&root, &[("limit", "10")]).await;
    assert_eq!(trail[0].event.action, "audit.prune", "{trail:?}");
    assert_eq!(trail[0].event.actor.kind, "system", "{trail:?}");
}
