//! Certificates: import once, list, find the mTLS trust anchors, delete only
//! what the caller read, every change in the audit trail.

use crate::fixtures::*;
use crate::{NOW, TestDb};

contracts!(certificates_are_imported_once_listed_and_deleted);

pub fn certificate(name: &str, trusted_for_mtls: bool) -> Certificate {
    Certificate {
        id: id(),
        name: name.into(),
        pem: format!("-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n"),
        sha256: hex(&sha256(name.as_bytes())),
        subject: format!("CN={name}"),
        issuer: "CN=test CA".into(),
        not_before: NOW - 10,
        not_after: NOW + 3600,
        trusted_for_mtls,
        private_key_sealed: None,
        created_at: NOW,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn certificates_are_imported_once_listed_and_deleted(db: TestDb) {
    let s = &db.store;
    let before = audit_count(s).await;
    let ca = certificate("ca", true);
    let other = certificate("server", false);
    s.insert_certificate(&ca, &event("certificate.import", None)).await.unwrap();
    s.insert_certificate(&other, &event("certificate.import", None)).await.unwrap();

    let mut again = certificate("ca-again", true);
    again.sha256 = ca.sha256.clone();
    let dup = s.insert_certificate(&again, &event("certificate.import", None)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "the same certificate twice: {dup:?}");
    let mut renamed = certificate("x", false);
    renamed.name = "ca".into();
    assert!(matches!(s.insert_certificate(&renamed, &event("c", None)).await, Err(StoreError::Conflict(_))));
    assert_eq!(audit_count(s).await, before + 2, "refused imports leave no event");

    assert_eq!(s.certificate(&ca.id).await.unwrap().as_ref(), Some(&ca));
    assert_eq!(s.mtls_trust_anchors().await.unwrap(), vec![ca.clone()]);
    let first = s.certificates_page(None, 1).await.unwrap();
    let rest = s.certificates_page(Some(&first[0].id), 10).await.unwrap();
    assert_eq!(first.len() + rest.len(), 2);
    assert_ne!(first[0].id, rest[0].id);

    assert!(!s.delete_certificate(&ca.id, &other.sha256, &event("certificate.delete", None)).await.unwrap());
    assert!(s.delete_certificate(&ca.id, &ca.sha256, &event("certificate.delete", None)).await.unwrap());
    assert!(!s.delete_certificate(&ca.id, &ca.sha256, &event("certificate.delete", None)).await.unwrap());
    assert_eq!(s.certificate(&ca.id).await.unwrap(), None);
    assert!(s.mtls_trust_anchors().await.unwrap().is_empty());
    assert_eq!(audit_count(s).await, before + 3);
}
