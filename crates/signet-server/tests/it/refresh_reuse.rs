//! The refresh reuse interval (issue 18, item 5): off by default; when set,
//! the refresh token a client that proves who it is has just spent may be
//! presented once more within it, and gets a new successor while the
//! earlier one is revoked. Anything else spent is still a theft that
//! revokes the sign-on.

use reqwest::Method;
use serde_json::{Value, json};
use signet_core::clock::Clock;
use signet_testkit::dpop::DpopKey;

use crate::admin::{Api, assert_error, basic};
use crate::conformance::{Rp, on_both};
use crate::harness::*;

const REFRESH: &str = "refresh_token";

/// Sets the interval through the admin API: its status.
async fn set_interval(s: &Server, body: Value) -> crate::admin::Answer {
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    Api::new(s).call(Method::PUT, "/policies/refresh-reuse", Some(&root), Some(body), None).await
}

/// Refreshes with the web client's secret: status and the new refresh token.
async fn refresh(rp: &Rp, token: &str) -> (u16, String) {
    let (status, body, _) = rp.token(&[("grant_type", REFRESH), (REFRESH, token)], true).await;
    (status, body[REFRESH].as_str().unwrap_or_default().to_owned())
}

async fn active(rp: &Rp, token: &str) -> bool {
    let (status, body) =
        rp.s.post_form(&rp.url("/introspect"), &[("token", token)], Some((&rp.client_id, &rp.secret))).await;
    assert_eq!(status, 200, "{body}");
    body["active"] == true
}

/// A fresh sign-on's refresh token.
async fn signed_on(rp: &Rp) -> String {
    rp.tokens(&mut Browser::default(), &rp.authorize("")).await[REFRESH].as_str().unwrap().to_owned()
}

async fn grace_events(s: &Server) -> usize {
    let events = s.store().audit_events(0, 10_000).await.unwrap();
    events.iter().filter(|e| e.event.action == "grant.refresh_reuse_grace").count()
}

on_both!(a_confidential_clients_retry_within_the_reuse_interval_gets_a_new_token);
async fn a_confidential_clients_retry_within_the_reuse_interval_gets_a_new_token(backend: Backend) {
    let rp = Rp::start(backend).await;
    // Off by default: a retry is a reuse, and revokes the sign-on.
    let r0 = signed_on(&rp).await;
    let (status, r1) = refresh(&rp, &r0).await;
    assert_eq!(status, 200);
    assert_eq!(refresh(&rp, &r0).await.0, 400);
    assert!(!active(&rp, &r1).await, "the family is revoked");

    // The policy is checked, and read back.
    for bad in [json!({"interval_seconds": -1}), json!({"interval_seconds": 61})] {
        assert_error(&set_interval(&rp.s, bad).await, 400, "invalid_request", "interval_seconds");
    }
    assert_eq!(set_interval(&rp.s, json!({"interval_seconds": 10})).await.status, 200);
    let root = basic(&rp.s.boot.admin.username, &rp.s.boot.admin.password);
    let read = Api::new(&rp.s).get("/policies/refresh-reuse", &root).await;
    assert_eq!(read.body, json!({"interval_seconds": 10}));

    // Within the interval: the token just spent gets a new successor; the
    // earlier successor (the response the client lost) is revoked.
    let r0 = signed_on(&rp).await;
    let (_, r1) = refresh(&rp, &r0).await;
    rp.s.clock.advance(10);
    let (status, r2) = refresh(&rp, &r0).await;
    assert_eq!(status, 200);
    assert!(r2 != r1 && !r2.is_empty());
    assert!(!active(&rp, &r1).await, "only one live successor");
    assert!(active(&rp, &r2).await);
    assert_eq!(grace_events(&rp.s).await, 1, "the grace use is audited");
    // The same spent token a third time: a theft, the sign-on ends.
    assert_eq!(refresh(&rp, &r0).await.0, 400);
    assert!(!active(&rp, &r2).await);
    assert_eq!(grace_events(&rp.s).await, 1);

    // An older ancestor never qualifies, within the interval or not.
    let r0 = signed_on(&rp).await;
    let (_, r1) = refresh(&rp, &r0).await;
    let (status, r2) = refresh(&rp, &r1).await;
    assert_eq!(status, 200);
    assert_eq!(refresh(&rp, &r0).await.0, 400);
    assert!(!active(&rp, &r2).await);

    // After the interval: a theft, as without one.
    let r0 = signed_on(&rp).await;
    let (_, r1) = refresh(&rp, &r0).await;
    rp.s.clock.advance(11);
    assert_eq!(refresh(&rp, &r0).await.0, 400);
    assert!(!active(&rp, &r1).await);

    // The revoked successor, presented later, is itself a reuse.
    let r0 = signed_on(&rp).await;
    let (_, r1) = refresh(&rp, &r0).await;
    let (_, r2) = refresh(&rp, &r0).await;
    assert_eq!(refresh(&rp, &r1).await.0, 400);
    assert!(!active(&rp, &r2).await);
    assert_eq!(grace_events(&rp.s).await, 2);
}

/// The status and refresh token of a refresh by the public CLI client,
/// with a proof of `key` if any.
async fn cli_refresh(s: &Server, token: &str, key: Option<&DpopKey>) -> (u16, Value) {
    let url = s.url("/token");
    let mut req = s.http.post(&url).form(&[("grant_type", REFRESH), (REFRESH, token), ("client_id", "signet-cli")]);
    if let Some(k) = key {
        req = req.header("DPoP", k.proof_at("POST", &url, None, s.clock.now()));
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

on_both!(a_public_client_gets_the_reuse_interval_only_with_dpop);
async fn a_public_client_gets_the_reuse_interval_only_with_dpop(backend: Backend) {
    let s = Server::start_on(backend).await;
    assert_eq!(set_interval(&s, json!({"interval_seconds": 30})).await.status, 200);
    let admin = s.account(true, true).await;

    // Without DPoP, "the same client" proves nothing: a retry is a theft.
    let r0 = code_flow_tokens(&s, &admin).await[REFRESH].as_str().unwrap().to_owned();
    let (status, r1) = cli_refresh(&s, &r0, None).await;
    assert_eq!(status, 200, "{r1}");
    let (status, body) = cli_refresh(&s, &r0, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert_eq!(cli_refresh(&s, r1[REFRESH].as_str().unwrap(), None).await.0, 400, "the family is revoked");

    // A DPoP-bound family: the retry is allowed with a proof of its key only.
    let key = DpopKey::new();
    let redeem = CodeToRedeem::of(&s, &admin).await;
    let url = s.url("/token");
    let proof = key.proof_at("POST", &url, None, s.clock.now());
    let res = s.http.post(&url).form(&redeem.form()).header("DPoP", proof).send().await.unwrap();
    let r0 = res.json::<Value>().await.unwrap()[REFRESH].as_str().unwrap().to_owned();
    let (status, r1) = cli_refresh(&s, &r0, Some(&key)).await;
    assert_eq!(status, 200, "{r1}");
    let (status, body) = cli_refresh(&s, &r0, Some(&DpopKey::new())).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "another key: {body}");
    let (status, body) = cli_refresh(&s, &r0, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "no proof: {body}");
    let (status, r2) = cli_refresh(&s, &r0, Some(&key)).await;
    assert_eq!((status, r2["token_type"].as_str()), (200, Some("DPoP")), "{r2}");
    assert_eq!(
        cli_refresh(&s, r1[REFRESH].as_str().unwrap(), Some(&key)).await.0,
        400,
        "the earlier successor is dead"
    );
    assert_eq!(grace_events(&s).await, 1);
}
