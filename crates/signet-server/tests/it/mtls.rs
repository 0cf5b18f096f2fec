//! The admin API's mutual-TLS scheme over real TLS, with certificates made
//! by rcgen: trust anchors a CryptoAdmin imports, a CRL file, and
//! certificates that are expired, not yet valid, revoked or from another CA.

use reqwest::Method;
use serde_json::json;
use signet_testkit::pki::{ClientCert, TestAuthority, Validity};
use signet_testkit::tls::TestCa;

use crate::admin::{Api, assert_error, basic};
use crate::harness::*;

fn client(server_ca: &TestCa, cert: Option<&ClientCert>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&server_ca.ca).unwrap()).unwrap();
    let mut b = reqwest::Client::builder().add_root_certificate(ca);
    if let Some(c) = cert {
        b = b.identity(reqwest::Identity::from_pem(&c.identity_pem()).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
async fn client_certificates_from_trusted_cas_name_admin_accounts() {
    let dir = std::env::temp_dir().join(format!("signet-mtls-{}", signet_core::crypto::random_id().unwrap()));
    let tls = TestCa::create(&dir).await;
    let s = Server::start_tls(&tls).await;
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let plain = Api::with_client(&s, client(&tls, None));

    let trusted = TestAuthority::new("signet clients");
    let other = TestAuthority::new("someone else's CA");
    let crl = dir.join("clients.crl.pem");
    std::fs::write(&crl, trusted.crl(&[13])).unwrap();

    // alice is an admin account with the Admin role; a certificate names her by CN.
    let made = plain
        .call(
            Method::POST,
            "/accounts",
            Some(&root),
            Some(json!({"username": "alice", "password": "alice's long passphrase", "roles": ["Admin"]})),
            None,
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);

    // Certificates: a CryptoAdmin imports the trust anchor; a leaf cannot be one.
    let alice = trusted.client("alice", 7, Validity::Now);
    let leaf = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "leaf", "pem": alice.cert_pem, "trusted_for_mtls": true})),
            None,
        )
        .await;
    assert_error(&leaf, 422, "unprocessable", "CA certificate");
    let garbage = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "x", "pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})),
            None,
        )
        .await;
    assert_error(&garbage, 400, "invalid_request", "pem");
    let imported = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "clients", "pem": trusted.pem, "trusted_for_mtls": true})),
            None,
        )
        .await;
    assert_eq!(imported.status, 201, "{:?}", imported.body);
    let ca_id = imported.body["id"].as_str().unwrap().to_owned();
    assert_eq!(imported.body["subject"], "CN=signet clients");
    let again = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "clients again", "pem": trusted.pem})),
            None,
        )
        .await;
    assert_error(&again, 409, "conflict", "certificate");
    // With its private key: the key must be the certificate's, and is never shown.
    let carol = trusted.client("carol", 8, Validity::Now);
    let wrong_key = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "carol", "pem": carol.cert_pem, "private_key_pem": alice.key_pem})),
            None,
        )
        .await;
    assert_error(&wrong_key, 422, "unprocessable", "not the key of this certificate");
    let with_key = plain
        .call(
            Method::POST,
            "/certificates",
            Some(&root),
            Some(json!({"name": "carol", "pem": carol.cert_pem, "private_key_pem": carol.key_pem})),
            None,
        )
        .await;
    assert_eq!(with_key.status, 201, "{:?}", with_key.body);
    assert_eq!(with_key.body["has_private_key"], true);
    let exported = plain.get(&format!("/certificates/{}", with_key.body["id"].as_str().unwrap()), &root).await;
    assert_eq!(exported.body["pem"].as_str().unwrap().trim(), carol.cert_pem.trim());
    assert!(!exported.body.to_string().contains("PRIVATE KEY"));
    let listed = plain.get("/certificates?limit=1", &root).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert!(listed.body["next_cursor"].is_string());

    // The scheme, beside native, with the CRL.
    let set = plain
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&root),
            Some(json!({"schemes": ["native", "mtls"], "mtls": {"crl_files": [crl]}})),
            None,
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    let bad_crl = plain
        .call(
            Method::PUT,
            "/settings/authentication",
            Some(&root),
            Some(json!({"schemes": ["native", "mtls"], "mtls": {"crl_files": [dir.join("missing.crl")]}})),
            None,
        )
        .await;
    assert_error(&bad_crl, 400, "invalid_request", "mtls.crl_files[0]");
    // A file that is not a CRL, PEM-armoured or raw, is refused when configured.
    let not_crl = dir.join("not.crl");
    for junk in [&b"not a certificate revocation list"[..], trusted.pem.as_bytes()] {
        std::fs::write(&not_crl, junk).unwrap();
        let refused = plain
            .call(
                Method::PUT,
                "/settings/authentication",
                Some(&root),
                Some(json!({"schemes": ["native", "mtls"], "mtls": {"crl_files": [not_crl]}})),
                None,
            )
            .await;
        assert_error(&refused, 400, "invalid_request", "mtls.crl_files[0]");
    }

    let as_alice = Api::with_client(&s, client(&tls, Some(&alice)));
    let read = as_alice.call(Method::GET, "/environments", None, None, None).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let denied =
        as_alice.call(Method::POST, "/certificates", None, Some(json!({"name": "y", "pem": other.pem})), None).await;
    assert_error(&denied, 403, "forbidden", "CryptoAdmin");

    let none = plain.call(Method::GET, "/environments", None, None, None).await;
    assert_error(&none, 401, "unauthorized", "authentication");
    assert!(none.headers["www-authenticate"].to_str().unwrap().contains("TLS-Client-Certificate"));
    for (why, cert) in [
        ("expired", trusted.client("alice", 9, Validity::Expired)),
        ("not yet valid", trusted.client("alice", 10, Validity::NotYetValid)),
        ("from another CA", other.client("alice", 11, Validity::Now)),
        ("revoked in the CRL", trusted.client("alice", 13, Validity::Now)),
        ("naming no admin account", trusted.client("zed", 12, Validity::Now)),
    ] {
        let api = Api::with_client(&s, client(&tls, Some(&cert)));
        let a = api.call(Method::GET, "/environments", None, None, None).await;
        assert_eq!((why, a.status), (why, 401), "{:?}", a.body);
        assert_eq!(a.body["error"], "unauthorized");
    }

    // The trail says who, and how.
    let signons = plain.get("/audit?action=admin.signon&limit=100", &root).await;
    let by_cert: Vec<_> =
        signons.body["items"].as_array().unwrap().iter().filter(|e| e["event"]["actor"]["scheme"] == "mtls").collect();
    assert_eq!(by_cert.len(), 1, "{:?}", signons.body);
    assert_eq!(by_cert[0]["event"]["actor"]["name"], "alice");

    // Deleting the trust anchor (If-Match on what was read) ends it at once.
    let anchor = plain.get(&format!("/certificates/{ca_id}"), &root).await;
    let stale =
        plain.call(Method::DELETE, &format!("/certificates/{ca_id}"), Some(&root), None, Some("\"nope\"")).await;
    assert_eq!(stale.status, 412);
    let gone =
        plain.call(Method::DELETE, &format!("/certificates/{ca_id}"), Some(&root), None, anchor.etag.as_deref()).await;
    assert_eq!(gone.status, 204);
    let after = as_alice.call(Method::GET, "/environments", None, None, None).await;
    assert_error(&after, 401, "unauthorized", "authentication");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mtls_is_refused_where_signetd_does_not_serve_https() {
    let s = Server::start().await;
    let api = Api::new(&s);
    let root = basic(&s.boot.admin.username, &s.boot.admin.password);
    let set = api
        .call(Method::PUT, "/settings/authentication", Some(&root), Some(json!({"schemes": ["native", "mtls"]})), None)
        .await;
    assert_error(&set, 400, "invalid_request", "HTTPS");
}
