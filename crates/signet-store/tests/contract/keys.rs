//! Signing keys and the key-encryption key: rotation and re-sealing at rest.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(
    signing_key_rotation_keeps_retired_keys_published,
    only_a_key_that_no_longer_signs_is_retired,
    the_active_key_is_listed_first_even_when_rotated_in_the_same_second,
    reseal_all_moves_every_secret_to_the_new_kek,
    reseal_all_is_all_or_nothing,
);

async fn signing_key_rotation_keeps_retired_keys_published(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let old = s.signing_keys(&env.id, 0).await.unwrap();
    assert_eq!(old.len(), 1);
    let mut new = stored_key(env.id.as_str(), vec![7; 16]);
    new.created_at = NOW + 100;
    s.rotate_signing_key(&new, NOW + 100, &event("key.rotate", Some(env.id.as_str()))).await.unwrap();

    let keys = s.signing_keys(&env.id, NOW).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], new, "the active key comes first");
    assert_eq!(keys[1].kid, old[0].kid);
    assert_eq!(keys[1].retired_at, Some(NOW + 100));
    // Once its tokens can no longer be live, the retired key is not published.
    assert_eq!(s.signing_keys(&env.id, NOW + 100).await.unwrap(), vec![new]);
}

struct Keks {
    old: Kek,
    new: Kek,
}

impl Keks {
    fn new() -> Keks {
        Keks { old: Kek::from_bytes(&[1; 32]).unwrap(), new: Kek::from_bytes(&[2; 32]).unwrap() }
    }

    fn reseal(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let plain = self.old.open(purpose, sealed).map_err(|e| e.to_string())?;
        self.new.seal(purpose, plain.expose()).map_err(|e| e.to_string())
    }
}

/// An environment whose two signing keys (one retired) and one account's TOTP
/// secret are sealed under `keks.old`, plus an account without TOTP.
async fn sealed_fixture(s: &Store, keks: &Keks) -> (Environment, Account) {
    let env = environment("customers");
    let mut key = stored_key(env.id.as_str(), vec![]);
    key.private_sealed = keks.old.seal(&signing_key_purpose(&key.kid), b"first private key").unwrap();
    s.create_environment(&env, &key, &event("environment.create", Some(env.id.as_str()))).await.unwrap();
    let mut second = stored_key(env.id.as_str(), vec![]);
    second.private_sealed = keks.old.seal(&signing_key_purpose(&second.kid), b"second private key").unwrap();
    s.rotate_signing_key(&second, NOW + 1, &event("key.rotate", Some(env.id.as_str()))).await.unwrap();

    let a = new_account(s, env.id.as_str(), "alice").await;
    let sealed = keks.old.seal(&totp_purpose(a.id.as_str()), b"totp secret").unwrap();
    assert!(s.confirm_totp(&a.id, &sealed, 1, &event("mfa.enrol", Some(env.id.as_str()))).await.unwrap());
    new_account(s, env.id.as_str(), "bob").await;
    // An imported certificate's private key, and a secret inside a settings document.
    let mut cert = crate::certificates::certificate("with-key", false);
    cert.private_key_sealed = Some(keks.old.seal(&certificate_key_purpose(&cert.id), b"cert key").unwrap());
    s.insert_certificate(&cert, &event("certificate.import", None)).await.unwrap();
    let sealed = keks.old.seal("admin_api.ldap.bind_password", b"bind pw").unwrap();
    let doc = serde_json::json!({"schemes": ["ldap"], "ldap": {"bind_password":
        {"sealed": base64::engine::general_purpose::STANDARD.encode(sealed), "purpose": "admin_api.ldap.bind_password"}}});
    assert!(s.put_setting_if("admin_api.authentication", |_| true, &doc, &event("settings", None)).await.unwrap());
    (env, a)
}

async fn reseal_all_moves_every_secret_to_the_new_kek(db: TestDb) {
    let s = &db.store;
    let keks = Keks::new();
    let (env, alice) = sealed_fixture(s, &keks).await;
    let f = login_flow(env.id.as_str(), NOW + 600);
    s.insert_flow(&f).await.unwrap();
    let before = audit_count(s).await;

    let n = s.reseal_all(|p, sealed| keks.reseal(p, sealed), &event("kek.rotate", None)).await.unwrap();
    assert_eq!(n, 5, "two signing keys, one TOTP secret, a certificate key and a settings secret");

    let keys = s.signing_keys(&env.id, 0).await.unwrap();
    assert_eq!(keys.len(), 2);
    let mut opened = Vec::new();
    for k in &keys {
        let purpose = signing_key_purpose(&k.kid);
        assert!(keks.new.sealed_this(&k.private_sealed));
        assert!(keks.old.open(&purpose, &k.private_sealed).is_err(), "the old KEK no longer opens it");
        opened.push(keks.new.open(&purpose, &k.private_sealed).unwrap().expose().clone());
    }
    opened.sort();
    assert_eq!(opened, vec![b"first private key".to_vec(), b"second private key".to_vec()]);

    let alice = s.account(&alice.id).await.unwrap().unwrap();
    let sealed = alice.totp_sealed.clone().unwrap();
    assert!(keks.old.open(&alice.totp_purpose(), &sealed).is_err());
    assert_eq!(keks.new.open(&alice.totp_purpose(), &sealed).unwrap().expose(), b"totp secret");
    assert!(alice.totp_confirmed);
    assert_eq!(s.account_by_username(&env.id, "bob").await.unwrap().unwrap().totp_sealed, None);

    let cert = s.certificates_page(None, 10).await.unwrap().remove(0);
    let key = cert.private_key_sealed.unwrap();
    assert_eq!(keks.new.open(&certificate_key_purpose(&cert.id), &key).unwrap().expose(), b"cert key");
    let doc = s.setting("admin_api.authentication").await.unwrap().unwrap();
    let sealed = &doc["ldap"]["bind_password"];
    assert_eq!(sealed["purpose"], "admin_api.ldap.bind_password");
    let blob = base64::engine::general_purpose::STANDARD.decode(sealed["sealed"].as_str().unwrap()).unwrap();
    assert_eq!(keks.new.open("admin_api.ldap.bind_password", &blob).unwrap().expose(), b"bind pw");
    assert_eq!(doc["schemes"], serde_json::json!(["ldap"]), "the rest of the document is kept");

    assert_eq!(s.flow(&env.id, &f.id, NOW).await.unwrap(), None, "flows holding old-KEK secrets end");
    assert_eq!(audit_count(s).await, before + 1);
    assert_eq!(s.verify_audit_chain().await.unwrap().broken_at, None);
}

async fn reseal_all_is_all_or_nothing(db: TestDb) {
    let s = &db.store;
    let keks = Keks::new();
    let (env, alice) = sealed_fixture(s, &keks).await;
    let f = login_flow(env.id.as_str(), NOW + 600);
    s.insert_flow(&f).await.unwrap();
    let keys_before = s.signing_keys(&env.id, 0).await.unwrap();
    let before = audit_count(s).await;

    // The signing keys reseal fine, then the TOTP secret fails: nothing moves.
    let r = s
        .reseal_all(
            |p, sealed| if p.starts_with("totp:") { Err("cannot open".into()) } else { keks.reseal(p, sealed) },
            &event("kek.rotate", None),
        )
        .await;
    assert!(matches!(&r, Err(StoreError::Reseal { purpose, .. }) if purpose.starts_with("totp:")), "{r:?}");
    assert_eq!(s.signing_keys(&env.id, 0).await.unwrap(), keys_before);
    let alice_after = s.account(&alice.id).await.unwrap().unwrap();
    assert_eq!(
        keks.old.open(&alice.totp_purpose(), alice_after.totp_sealed.as_deref().unwrap()).unwrap().expose(),
        b"totp secret"
    );
    assert_eq!(s.flow(&env.id, &f.id, NOW).await.unwrap(), Some(f));
    assert_eq!(audit_count(s).await, before);
}

/// Regression: two keys created in the same second were listed by kid, so
/// the active one was first only by chance.
async fn the_active_key_is_listed_first_even_when_rotated_in_the_same_second(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    for _ in 0..4 {
        let next = stored_key(env.id.as_str(), vec![7; 16]);
        s.rotate_signing_key(&next, NOW, &event("key.rotate", Some(env.id.as_str()))).await.unwrap();
        let keys = s.signing_keys(&env.id, 0).await.unwrap();
        assert_eq!(keys[0], next, "{keys:?}");
        assert!(keys[1..].iter().all(|k| k.retired_at.is_some()));
    }
}

async fn only_a_key_that_no_longer_signs_is_retired(db: TestDb) {
    let s = &db.store;
    let env = new_environment(s, "customers").await;
    let old = s.signing_keys(&env.id, 0).await.unwrap().remove(0);
    assert_eq!(s.retire_signing_key(env.id.as_str(), &old.kid, &event("key.retire", None)).await.unwrap(), Some(false));
    let mut new = stored_key(env.id.as_str(), vec![7; 16]);
    new.created_at = NOW + 100;
    s.rotate_signing_key(&new, NOW + 100, &event("key.rotate", Some(env.id.as_str()))).await.unwrap();
    let before = audit_count(s).await;
    assert_eq!(s.retire_signing_key(env.id.as_str(), &old.kid, &event("key.retire", None)).await.unwrap(), Some(true));
    assert_eq!(s.signing_keys(&env.id, 0).await.unwrap(), vec![new.clone()], "no longer published");
    assert_eq!(s.retire_signing_key(env.id.as_str(), &old.kid, &event("key.retire", None)).await.unwrap(), None);
    assert_eq!(s.retire_signing_key(env.id.as_str(), &new.kid, &event("key.retire", None)).await.unwrap(), Some(false));
    assert_eq!(audit_count(s).await, before + 1);
}
