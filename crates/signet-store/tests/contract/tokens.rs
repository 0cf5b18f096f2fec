//! Grant families: refresh rotation and reuse detection (RFC 9700 §4.14.2), code
//! redemption and replay (RFC 6749 §4.1.2), access-token revocation, and purging.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    refresh_rotation_then_reuse_revokes_family,
    refresh_from_wrong_client_is_invalid_and_not_spent,
    expired_or_revoked_refresh_is_invalid,
    racing_refresh_rotations_have_one_winner,
    auth_code_replay_revokes_grant,
    racing_code_redemptions_have_one_winner,
    access_token_revoked_by_jti_or_grant,
    purge_expired_removes_only_expired_rows,
    dpop_jtis_are_spent_once_and_families_keep_their_key,
);

async fn dpop_jtis_are_spent_once_and_families_keep_their_key(db: TestDb) {
    let s = &db.store;
    assert!(s.spend_dpop_jti("key-a", "j-1", NOW + 120).await.unwrap());
    assert!(!s.spend_dpop_jti("key-a", "j-1", NOW + 120).await.unwrap(), "a jti is spent once");
    assert!(s.spend_dpop_jti("key-b", "j-1", NOW + 120).await.unwrap(), "per key");
    let (x, y) = tokio::join!(s.spend_dpop_jti("key-c", "j-2", NOW + 120), s.spend_dpop_jti("key-c", "j-2", NOW + 120));
    assert!(x.unwrap() ^ y.unwrap(), "of two racing spends, one wins");
    // Past their window, purged; a stale proof is refused before it gets here.
    assert_eq!(s.purge_expired(NOW + 121).await.unwrap(), 3);
    assert!(s.spend_dpop_jti("key-a", "j-1", NOW + 300).await.unwrap());

    let env = new_environment(s, "customers").await;
    let g = Grant { jkt: Some("key-a".into()), ..grant(env.id.as_str(), "client-a") };
    let t = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&t)).await.unwrap();
    assert_eq!(s.refresh_token_grant(&t.hash).await.unwrap().and_then(|g| g.jkt).as_deref(), Some("key-a"));
    let next = refresh("ignored", NOW + 7200);
    let Rotation::Rotated(rotated) = s.rotate_refresh(&t.hash, "client-a", &next, NOW).await.unwrap() else {
        panic!("rotated")
    };
    assert_eq!(rotated.jkt.as_deref(), Some("key-a"), "the family keeps its key");

    // A family whose terms refuse the presentation: nothing spent, no reuse.
    let session = SessionTerms { seconds: 900, ends_at: NOW + 1_000 };
    let g = Grant { session: Some(session), ..grant(env.id.as_str(), "client-a") };
    let t = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&t)).await.unwrap();
    let next = refresh("ignored", NOW + 30 * 86_400);
    let refused = s.rotate_refresh_if(&t.hash, "client-a", &next, NOW, |_| false).await.unwrap();
    assert!(matches!(refused, Rotation::Refused(_)));
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, None);
    assert!(matches!(s.rotate_refresh(&t.hash, "client-a", &next, NOW).await.unwrap(), Rotation::Rotated(_)));
    let kept = s.live_refresh_token(&next.hash, NOW).await.unwrap().unwrap().0;
    assert_eq!(kept.expires_at, NOW + 1_000, "a session's refresh token ends with it");
}

async fn refresh_rotation_then_reuse_revokes_family(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let g = grant(env.id.as_str(), "client-a");
    let t1 = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&t1)).await.unwrap();
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(s.refresh_token_grant(&t1.hash).await.unwrap(), Some(g.clone()));

    // The store files the new token under the spent token's family.
    let t2 = refresh("ignored", NOW + 7200);
    assert_eq!(
        s.rotate_refresh(&t1.hash, "client-a", &t2, NOW + 10).await.unwrap(),
        Rotation::Rotated(Box::new(g.clone()))
    );
    assert_eq!(s.refresh_token_grant(&t2.hash).await.unwrap(), Some(g.clone()));
    assert!(!s.access_token_revoked("jti-1", Some(&g.id)).await.unwrap());

    // Reuse of the spent token: the whole family goes.
    let t3 = refresh("ignored", NOW + 7200);
    assert_eq!(
        s.rotate_refresh(&t1.hash, "client-a", &t3, NOW + 20).await.unwrap(),
        Rotation::Reused { grant_id: g.id.clone() }
    );
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW + 20));
    assert_eq!(s.rotate_refresh(&t2.hash, "client-a", &t3, NOW + 30).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.refresh_token_grant(&t3.hash).await.unwrap(), None, "nothing was issued");
    assert!(s.access_token_revoked("jti-1", Some(&g.id)).await.unwrap());

    // Reusing again keeps the first revocation time.
    assert_eq!(
        s.rotate_refresh(&t1.hash, "client-a", &t3, NOW + 40).await.unwrap(),
        Rotation::Reused { grant_id: g.id.clone() }
    );
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW + 20));

    // Unknown tokens are simply invalid.
    assert_eq!(s.rotate_refresh(&random_hash(), "client-a", &t3, NOW).await.unwrap(), Rotation::Invalid);
}

async fn refresh_from_wrong_client_is_invalid_and_not_spent(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let g = grant(env.id.as_str(), "client-a");
    let t1 = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&t1)).await.unwrap();

    let stolen = refresh(&g.id, NOW + 7200);
    assert_eq!(s.rotate_refresh(&t1.hash, "client-b", &stolen, NOW).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.refresh_token_grant(&stolen.hash).await.unwrap(), None);
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, None);

    let t2 = refresh(&g.id, NOW + 7200);
    assert_eq!(
        s.rotate_refresh(&t1.hash, "client-a", &t2, NOW + 1).await.unwrap(),
        Rotation::Rotated(Box::new(g.clone()))
    );

    // Another client presenting a spent token does not revoke the owner's family.
    assert_eq!(s.rotate_refresh(&t1.hash, "client-b", &stolen, NOW + 2).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, None);
    let t3 = refresh(&g.id, NOW + 7200);
    assert_eq!(s.rotate_refresh(&t2.hash, "client-a", &t3, NOW + 3).await.unwrap(), Rotation::Rotated(Box::new(g)));
}

async fn expired_or_revoked_refresh_is_invalid(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let g = grant(env.id.as_str(), "client-a");
    let expiring = refresh(&g.id, NOW + 100);
    s.create_grant(&g, Some(&expiring)).await.unwrap();
    let next = refresh(&g.id, NOW + 7200);

    assert_eq!(s.rotate_refresh(&expiring.hash, "client-a", &next, NOW + 100).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.rotate_refresh(&expiring.hash, "client-a", &next, NOW + 500).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, None, "expiry is not reuse");

    // A token of a revoked family is invalid, even unspent and unexpired.
    let g2 = grant(env.id.as_str(), "client-a");
    let live = refresh(&g2.id, NOW + 3600);
    s.create_grant(&g2, Some(&live)).await.unwrap();
    s.revoke_grant(&g2.id, NOW).await.unwrap();
    assert_eq!(s.grant(&g2.id).await.unwrap().unwrap().revoked_at, Some(NOW));
    assert_eq!(s.rotate_refresh(&live.hash, "client-a", &next, NOW + 1).await.unwrap(), Rotation::Invalid);
    assert_eq!(s.refresh_token_grant(&next.hash).await.unwrap(), None);

    // A family created without a refresh token has none to rotate.
    let g3 = grant(env.id.as_str(), "client-a");
    s.create_grant(&g3, None).await.unwrap();
    let never_issued = refresh(&g3.id, NOW + 100);
    assert_eq!(s.rotate_refresh(&never_issued.hash, "client-a", &next, NOW).await.unwrap(), Rotation::Invalid);
}

async fn racing_refresh_rotations_have_one_winner(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let g = grant(env.id.as_str(), "client-a");
    let t1 = refresh(&g.id, NOW + 3600);
    s.create_grant(&g, Some(&t1)).await.unwrap();
    let (a, b) = (refresh(&g.id, NOW + 7200), refresh(&g.id, NOW + 7200));

    let (x, y) = tokio::join!(
        s.rotate_refresh(&t1.hash, "client-a", &a, NOW + 1),
        s.rotate_refresh(&t1.hash, "client-a", &b, NOW + 1)
    );
    let outcomes = [x.unwrap(), y.unwrap()];
    let rotated = outcomes.iter().filter(|o| matches!(o, Rotation::Rotated(_))).count();
    let reused = outcomes.iter().filter(|o| matches!(o, Rotation::Reused { .. })).count();
    assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
}

async fn auth_code_replay_revokes_grant(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let code = auth_code(env.id.as_str(), "client-a", NOW + 60);
    s.insert_auth_code(&code).await.unwrap();
    assert_eq!(s.auth_code(&code.hash).await.unwrap(), Some(code.clone()));
    assert_eq!(s.auth_code(&random_hash()).await.unwrap(), None);

    let g = grant(env.id.as_str(), "client-a");
    let t = refresh(&g.id, NOW + 3600);
    let replayed = || event("grant.revoke.code_replay", Some(env.id.as_str()));
    assert_eq!(
        s.redeem_auth_code(&code.hash, &g, Some(&t), NOW + 5, replayed()).await.unwrap(),
        CodeRedemption::Redeemed
    );
    assert_eq!(s.auth_code(&code.hash).await.unwrap().unwrap().grant_id, Some(g.id.clone()));
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(s.refresh_token_grant(&t.hash).await.unwrap(), Some(g.clone()));

    let replay = grant(env.id.as_str(), "client-a");
    let events = audit_count(s).await;
    let replaying = || s.redeem_auth_code(&code.hash, &replay, None, NOW + 9, replayed());
    assert_eq!(replaying().await.unwrap(), CodeRedemption::Replayed);
    assert_eq!(audit_count(s).await, events + 1, "the replay is in the trail");
    let recorded = s.audit_events(0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(
        (recorded.event.action.as_str(), recorded.event.target.as_str()),
        ("grant.revoke.code_replay", g.id.as_str())
    );
    assert_eq!(replaying().await.unwrap(), CodeRedemption::Replayed);
    assert_eq!(audit_count(s).await, events + 1, "once: a flood of replays does not grow the trail");
    assert_eq!(s.grant(&replay.id).await.unwrap(), None, "a replay creates no family");
    assert_eq!(s.grant(&g.id).await.unwrap().unwrap().revoked_at, Some(NOW + 9));
    assert!(s.access_token_revoked("any-jti", Some(&g.id)).await.unwrap());
    let next = refresh(&g.id, NOW + 7200);
    assert_eq!(s.rotate_refresh(&t.hash, "client-a", &next, NOW + 10).await.unwrap(), Rotation::Invalid);
}

async fn racing_code_redemptions_have_one_winner(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let code = auth_code(env.id.as_str(), "client-a", NOW + 60);
    s.insert_auth_code(&code).await.unwrap();
    let (g1, g2) = (grant(env.id.as_str(), "client-a"), grant(env.id.as_str(), "client-a"));

    let (x, y) = tokio::join!(
        s.redeem_auth_code(&code.hash, &g1, None, NOW + 1, event("replay", None)),
        s.redeem_auth_code(&code.hash, &g2, None, NOW + 1, event("replay", None))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let (winner, loser) = match (&x, &y) {
        (CodeRedemption::Redeemed, CodeRedemption::Replayed) => (&g1, &g2),
        (CodeRedemption::Replayed, CodeRedemption::Redeemed) => (&g2, &g1),
        other => panic!("expected one redemption and one replay, got {other:?}"),
    };
    assert_eq!(s.auth_code(&code.hash).await.unwrap().unwrap().grant_id, Some(winner.id.clone()));
    assert_eq!(s.grant(&winner.id).await.unwrap().unwrap().revoked_at, Some(NOW + 1));
    assert_eq!(s.grant(&loser.id).await.unwrap(), None);
}

async fn access_token_revoked_by_jti_or_grant(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let g = grant(env.id.as_str(), "client-a");
    s.create_grant(&g, None).await.unwrap();

    assert!(!s.access_token_revoked("jti-1", None).await.unwrap());
    assert!(!s.access_token_revoked("jti-1", Some(&g.id)).await.unwrap());
    s.revoke_jti("jti-1", NOW + 3600, NOW).await.unwrap();
    s.revoke_jti("jti-1", NOW + 3600, NOW).await.unwrap(); // idempotent
    let jtis = s.revocations_since(NOW).await.unwrap().jtis;
    assert_eq!(jtis, vec![("jti-1".to_owned(), NOW + 3600)]);
    assert_eq!(s.revocations_since(NOW).await.unwrap().newest, Some(NOW), "when the newest was revoked");
    assert!(s.revocations_since(NOW + 1).await.unwrap().jtis.is_empty());
    assert!(s.access_token_revoked("jti-1", None).await.unwrap());
    assert!(s.access_token_revoked("jti-1", Some(&g.id)).await.unwrap());
    assert!(!s.access_token_revoked("jti-2", None).await.unwrap());
    assert!(!s.access_token_revoked("jti-2", Some(&g.id)).await.unwrap());
    assert!(!s.access_token_revoked("jti-2", Some("unknown-grant")).await.unwrap());

    s.revoke_grant(&g.id, NOW).await.unwrap();
    assert!(s.access_token_revoked("jti-2", Some(&g.id)).await.unwrap());
    assert_eq!(
        s.revocations_since(NOW).await.unwrap().grants,
        vec![(g.id.clone(), NOW)],
        "the family shows in the feed"
    );
    assert!(!s.access_token_revoked("jti-2", None).await.unwrap(), "a token without a family");
    s.revoke_jti("jti-3", NOW + 3600, NOW + 7).await.unwrap();
    assert_eq!(s.revocations_since(NOW).await.unwrap().newest, Some(NOW + 7), "the newest of jtis and families");
    assert_eq!(s.revocations_since(NOW + 8).await.unwrap().newest, None, "nothing since");
}

async fn purge_expired_removes_only_expired_rows(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let a = new_account(s, env.id.as_str(), "alice").await;
    let (old, live) = (NOW - 1, NOW + 100);

    s.revoke_jti("old-jti", old, NOW).await.unwrap();
    s.revoke_jti("live-jti", live, NOW).await.unwrap();
    let (old_code, live_code) = (auth_code(env.id.as_str(), "c", old), auth_code(env.id.as_str(), "c", live));
    s.insert_auth_code(&old_code).await.unwrap();
    s.insert_auth_code(&live_code).await.unwrap();
    let (old_dev, live_dev) = (device(env.id.as_str(), "OLDD-CODE", old), device(env.id.as_str(), "LIVE-CODE", live));
    s.insert_device(&old_dev).await.unwrap();
    s.insert_device(&live_dev).await.unwrap();
    let (old_flow, live_flow) = (login_flow(env.id.as_str(), old), login_flow(env.id.as_str(), live));
    s.insert_flow(&old_flow).await.unwrap();
    s.insert_flow(&live_flow).await.unwrap();
    let (old_cookie, live_cookie) = (random_hash(), random_hash());
    s.insert_session(&old_cookie, &session(&a, old)).await.unwrap();
    s.insert_session(&live_cookie, &session(&a, live)).await.unwrap();
    let g = grant(env.id.as_str(), "c");
    let (old_rt, live_rt) = (refresh(&g.id, old), refresh(&g.id, live));
    s.create_grant(&g, Some(&old_rt)).await.unwrap();
    assert!(matches!(s.rotate_refresh(&old_rt.hash, "c", &live_rt, NOW - 10).await.unwrap(), Rotation::Rotated(_)));

    // Nothing has expired yet at the earlier time.
    assert_eq!(s.purge_expired(old).await.unwrap(), 0);
    assert_eq!(s.purge_expired(NOW).await.unwrap(), 6, "one expired row in each of six tables");

    assert!(!s.access_token_revoked("old-jti", None).await.unwrap());
    assert!(s.access_token_revoked("live-jti", None).await.unwrap());
    assert_eq!(s.auth_code(&old_code.hash).await.unwrap(), None);
    assert_eq!(s.auth_code(&live_code.hash).await.unwrap(), Some(live_code));
    assert_eq!(s.device_by_user_code(&env.id, "OLDD-CODE").await.unwrap(), None);
    assert!(s.device_by_user_code(&env.id, "LIVE-CODE").await.unwrap().is_some());
    assert_eq!(s.flow(&env.id, &old_flow.id, 0).await.unwrap(), None);
    assert_eq!(s.flow(&env.id, &live_flow.id, 0).await.unwrap(), Some(live_flow));
    assert_eq!(s.session(&old_cookie, 0).await.unwrap(), None);
    assert!(s.session(&live_cookie, 0).await.unwrap().is_some());
    assert_eq!(s.refresh_token_grant(&old_rt.hash).await.unwrap(), None);
    assert_eq!(s.refresh_token_grant(&live_rt.hash).await.unwrap(), Some(g.clone()));
    // Families and accounts are not purged.
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g.clone()));
    assert!(s.account(&a.id).await.unwrap().is_some());
    assert_eq!(s.purge_expired(NOW).await.unwrap(), 0);

    // Idle families go once nothing can refresh them: not one with a live token.
    let idle = grant(env.id.as_str(), "c");
    s.create_grant(&idle, None).await.unwrap();
    assert_eq!(s.purge_idle_grants(NOW).await.unwrap(), 0, "created at NOW, not before it");
    assert_eq!(s.purge_idle_grants(NOW + 1).await.unwrap(), 1);
    assert_eq!(s.grant(&idle.id).await.unwrap(), None);
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g), "its refresh token keeps it");
}
