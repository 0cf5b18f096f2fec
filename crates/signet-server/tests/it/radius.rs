//! The RADIUS PAP client against a real FreeRADIUS, and against deliberately
//! broken or malicious responders that no real server would be.

use std::time::{Duration, Instant};

use ::radius::core::avp::AVP;
use ::radius::core::code::Code;
use ::radius::core::packet::Packet;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use signet_server::radius::{Answer, BadReply, RadiusError, RadiusServer, RadiusSettings, authenticate};
use signet_testkit::radius::{FreeRadius, FreeRadiusOptions};
use tokio::net::UdpSocket;

const SECRET: &str = "testing123";

fn settings(servers: &[(&str, &str)]) -> RadiusSettings {
    RadiusSettings {
        servers: servers
            .iter()
            .map(|(address, secret)| RadiusServer {
                address: address.to_string(),
                secret: signet_server::sealed::SettingSecret::plain(secret.to_string()),
            })
            .collect(),
        timeout_ms: 2000,
        retries: 1,
        require_message_authenticator: true,
        nas_identifier: "signetd".into(),
    }
}

/// Settings for exchanges that are meant to time out: short waits.
fn impatient(servers: &[(&str, &str)], retries: u32) -> RadiusSettings {
    RadiusSettings { timeout_ms: 300, retries, ..settings(servers) }
}

fn accepted(answer: Result<Answer, RadiusError>) -> signet_server::radius::ReplyAttributes {
    match answer {
        Ok(Answer::Accept { attributes }) => attributes,
        other => panic!("expected an Accept, got {other:?}"),
    }
}

/// A UDP port where a socket is bound but nothing ever answers, unlike a closed
/// port, which draws an ICMP port unreachable.
struct Silent(UdpSocket);

impl Silent {
    async fn bind() -> Silent {
        Silent(UdpSocket::bind("127.0.0.1:0").await.unwrap())
    }
    fn address(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }
    /// The datagrams that reached it so far.
    fn received(&self) -> Vec<Vec<u8>> {
        let mut buf = vec![0; 4096];
        std::iter::from_fn(|| self.0.try_recv(&mut buf).ok().map(|n| buf[..n].to_vec())).collect()
    }
}

#[tokio::test]
async fn accepts_the_right_password_with_a_message_authenticator_required_and_sent() {
    let radius = FreeRadius::start().await;
    let s = settings(&[(&radius.address, SECRET)]);
    assert!(s.require_message_authenticator);
    accepted(authenticate(&s, "alice", "alicepw").await);
    assert!(radius.log().contains("Login OK: [alice]"), "{}", radius.log());
}

#[tokio::test]
async fn rejects_a_wrong_password_and_an_unknown_user() {
    let radius = FreeRadius::start().await;
    let s = settings(&[(&radius.address, SECRET)]);
    assert_eq!(authenticate(&s, "alice", "bobpw").await.unwrap(), Answer::Reject);
    assert_eq!(authenticate(&s, "mallory", "alicepw").await.unwrap(), Answer::Reject);
}

#[tokio::test]
async fn class_and_filter_id_come_back_for_the_caller_to_map_to_roles() {
    let radius = FreeRadius::start_with(FreeRadiusOptions {
        users: "carol Cleartext-Password := \"carolpw\"\n    \
                Class := \"signet:Admin\", Class += \"signet:Auditor\", Filter-Id := \"admins\""
            .into(),
        ..Default::default()
    })
    .await;
    let attributes = accepted(authenticate(&settings(&[(&radius.address, SECRET)]), "carol", "carolpw").await);
    assert_eq!(attributes.class(), ["signet:Admin", "signet:Auditor"]);
    assert_eq!(attributes.filter_id(), ["admins"]);
    // Alice has neither.
    let attributes = accepted(authenticate(&settings(&[(&radius.address, SECRET)]), "alice", "alicepw").await);
    assert!(attributes.class().is_empty() && attributes.filter_id().is_empty());
}

#[tokio::test]
async fn a_wrong_shared_secret_gets_no_answer_it_could_believe() {
    let radius = FreeRadius::start().await;
    let s = RadiusSettings { timeout_ms: 1000, ..impatient(&[(&radius.address, "not-the-secret")], 0) };
    let err = authenticate(&s, "alice", "alicepw").await.unwrap_err();
    // FreeRADIUS drops a request whose Message-Authenticator does not verify, so
    // the error says no server answered, and names the shared secret as a cause.
    assert!(matches!(err, RadiusError::NoAnswer), "{err:?}");
    assert!(err.to_string().contains("shared secret"), "{err}");
    assert!(radius.log().contains("Shared secret is incorrect"), "{}", radius.log());
}

#[tokio::test]
async fn a_silent_server_is_retried_then_the_next_one_answers() {
    let silent = Silent::bind().await;
    let radius = FreeRadius::start().await;
    let s = impatient(&[(&silent.address(), SECRET), (&radius.address, SECRET)], 1);
    let started = Instant::now();
    accepted(authenticate(&s, "alice", "alicepw").await);
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
    // The first try and one retransmission of the same bytes (RFC 5080 §2.2.1).
    let sent = silent.received();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1]);
}

#[tokio::test]
async fn a_closed_port_is_passed_over_without_waiting_out_the_timeout() {
    let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let radius = FreeRadius::start().await;
    let s = RadiusSettings { timeout_ms: 10_000, ..settings(&[(&closed, SECRET), (&radius.address, SECRET)]) };
    let started = Instant::now();
    accepted(authenticate(&s, "alice", "alicepw").await);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn no_answer_when_every_server_is_silent() {
    let (one, two) = (Silent::bind().await, Silent::bind().await);
    let s = impatient(&[(&one.address(), SECRET), (&two.address(), "other-secret")], 2);
    let started = Instant::now();
    let err = authenticate(&s, "alice", "alicepw").await.unwrap_err();
    assert!(matches!(err, RadiusError::NoAnswer), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(2 * 3 * 300), "{:?}", started.elapsed());
    let (to_one, to_two) = (one.received(), two.received());
    assert_eq!((to_one.len(), to_two.len()), (3, 3));
    // Each server gets a request of its own: its own secret, its own authenticator.
    assert_ne!(to_one[0][4..20], to_two[0][4..20]);
}

#[tokio::test]
async fn a_reject_is_final_and_never_put_to_the_next_server() {
    let radius = FreeRadius::start().await;
    let next = Silent::bind().await;
    let s = settings(&[(&radius.address, SECRET), (&next.address(), SECRET)]);
    assert_eq!(authenticate(&s, "alice", "wrong").await.unwrap(), Answer::Reject);
    assert!(next.received().is_empty());
}

#[tokio::test]
async fn a_reply_without_message_authenticator_is_refused_when_required() {
    let radius = FreeRadius::start_with(FreeRadiusOptions { message_authenticator: false, ..Default::default() }).await;
    // The refused reply is dropped and the client waits out the timeout for a better one.
    let s = RadiusSettings { retries: 0, ..settings(&[(&radius.address, SECRET)]) };
    let err = authenticate(&s, "alice", "alicepw").await.unwrap_err();
    assert!(matches!(err, RadiusError::BadReply(BadReply::MissingMessageAuthenticator)), "{err:?}");
    // FreeRADIUS did accept her: the refusal is the client's.
    assert!(radius.log().contains("Login OK: [alice]"), "{}", radius.log());
}

#[tokio::test]
async fn a_reply_without_message_authenticator_is_believed_when_not_required() {
    let radius = FreeRadius::start_with(FreeRadiusOptions { message_authenticator: false, ..Default::default() }).await;
    let s = RadiusSettings { require_message_authenticator: false, ..settings(&[(&radius.address, SECRET)]) };
    accepted(authenticate(&s, "alice", "alicepw").await);
    assert_eq!(authenticate(&s, "alice", "wrong").await.unwrap(), Answer::Reject);
}

#[tokio::test]
async fn a_password_with_a_one_time_code_appended_passes_through_unchanged() {
    let long = "p".repeat(128);
    let radius = FreeRadius::start_with(FreeRadiusOptions {
        users: format!(
            "otp-alice Cleartext-Password := \"alicepw123456\"\n\
             long Cleartext-Password := \"{long}\""
        ),
        ..Default::default()
    })
    .await;
    let s = settings(&[(&radius.address, SECRET)]);
    accepted(authenticate(&s, "otp-alice", "alicepw123456").await);
    assert_eq!(authenticate(&s, "otp-alice", "alicepw").await.unwrap(), Answer::Reject);
    assert_eq!(authenticate(&s, "otp-alice", "alicepw123457").await.unwrap(), Answer::Reject);
    // Eight 16-octet blocks, each hidden with the one before (RFC 2865 §5.2).
    accepted(authenticate(&s, "long", &long).await);
}

#[tokio::test]
async fn empty_and_overlong_passwords_are_refused_before_sending() {
    let silent = Silent::bind().await;
    let s = impatient(&[(&silent.address(), SECRET)], 0);
    for password in [String::new(), "p".repeat(129)] {
        let err = authenticate(&s, "alice", &password).await.unwrap_err();
        assert!(matches!(err, RadiusError::Credentials(_)), "{err:?}");
    }
    assert!(silent.received().is_empty());
}

#[tokio::test]
async fn an_access_challenge_is_not_taken_for_an_answer() {
    let radius = FreeRadius::start_with(FreeRadiusOptions {
        users: "dan Cleartext-Password := \"danpw\", Response-Packet-Type := Access-Challenge\n    \
                Reply-Message := \"Enter your code\", Message-Authenticator := 0x00"
            .into(),
        ..Default::default()
    })
    .await;
    let err = authenticate(&settings(&[(&radius.address, SECRET)]), "dan", "danpw").await.unwrap_err();
    assert!(matches!(err, RadiusError::Challenge), "{err:?}");
}

// Deliberately broken and malicious responders.

/// A responder that answers every request with the datagrams `forge` makes of it.
struct Fake {
    address: String,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    async fn start(forge: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + 'static) -> Fake {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                for datagram in forge(&buf[..n]) {
                    socket.send_to(&datagram, from).await.unwrap();
                }
            }
        });
        Fake { address, task }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy)]
enum Ma {
    Absent,
    Good,
    Wrong,
}

/// An Access-Accept carrying a Class, signed with `SECRET` as a server would
/// sign it: Message-Authenticator first (RFC 3579 §3.2), then the Response
/// Authenticator over the result (RFC 2865 §3), both by the `radius` crate's
/// own code and `hmac`, not by the client's.
fn forge_accept(request: &[u8], ma: Ma) -> Vec<u8> {
    let request = Packet::decode(request, SECRET.as_bytes()).unwrap();
    let mut reply = request.make_response_packet(Code::AccessAccept);
    reply.add(AVP::from_string(25, "signet:Admin"));
    if !matches!(ma, Ma::Absent) {
        reply.add(AVP::from_bytes(80, &[0; 16]));
        let mut signed = reply.encode().unwrap();
        signed[4..20].copy_from_slice(request.get_authenticator());
        let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&signed);
        let mut tag: [u8; 16] = mac.finalize().into_bytes().into();
        if matches!(ma, Ma::Wrong) {
            tag[0] ^= 1;
        }
        reply.delete(80);
        reply.add(AVP::from_bytes(80, &tag));
    }
    reply.encode().unwrap()
}

/// The same Accept, answering an Identifier the client did not send.
fn forge_for_another_identifier(request: &[u8]) -> Vec<u8> {
    let mut other = request.to_vec();
    other[1] = other[1].wrapping_add(1);
    forge_accept(&other, Ma::Good)
}

fn with_bad_response_authenticator(mut reply: Vec<u8>) -> Vec<u8> {
    reply[4] ^= 1;
    reply
}

#[tokio::test]
async fn a_well_forged_accept_is_believed_so_the_fakes_below_are_fair() {
    let fake = Fake::start(|req| vec![forge_accept(req, Ma::Good)]).await;
    let attributes = accepted(authenticate(&settings(&[(&fake.address, SECRET)]), "alice", "x").await);
    assert_eq!(attributes.class(), ["signet:Admin"]);
}

#[tokio::test]
async fn a_reply_with_a_bad_response_authenticator_is_refused() {
    let fake = Fake::start(|req| vec![with_bad_response_authenticator(forge_accept(req, Ma::Good))]).await;
    let err = authenticate(&impatient(&[(&fake.address, SECRET)], 1), "alice", "x").await.unwrap_err();
    assert!(matches!(err, RadiusError::BadReply(BadReply::ResponseAuthenticator)), "{err:?}");
}

#[tokio::test]
async fn a_bad_reply_is_dropped_and_a_good_one_after_it_still_counts() {
    let fake = Fake::start(|req| {
        vec![with_bad_response_authenticator(forge_accept(req, Ma::Good)), forge_accept(req, Ma::Good)]
    })
    .await;
    accepted(authenticate(&impatient(&[(&fake.address, SECRET)], 0), "alice", "x").await);
}

#[tokio::test]
async fn a_reply_to_another_identifier_is_ignored() {
    let fake = Fake::start(|req| vec![forge_for_another_identifier(req)]).await;
    let started = Instant::now();
    let err = authenticate(&impatient(&[(&fake.address, SECRET)], 1), "alice", "x").await.unwrap_err();
    assert!(matches!(err, RadiusError::NoAnswer), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());

    let fake = Fake::start(|req| vec![forge_for_another_identifier(req), forge_accept(req, Ma::Good)]).await;
    accepted(authenticate(&impatient(&[(&fake.address, SECRET)], 0), "alice", "x").await);
}

#[tokio::test]
async fn a_reply_without_message_authenticator_is_refused_unless_not_required() {
    let fake = Fake::start(|req| vec![forge_accept(req, Ma::Absent)]).await;
    let s = impatient(&[(&fake.address, SECRET)], 0);
    let err = authenticate(&s, "alice", "x").await.unwrap_err();
    assert!(matches!(err, RadiusError::BadReply(BadReply::MissingMessageAuthenticator)), "{err:?}");
    let s = RadiusSettings { require_message_authenticator: false, ..s };
    accepted(authenticate(&s, "alice", "x").await);
}

#[tokio::test]
async fn a_wrong_message_authenticator_is_refused_even_when_not_required() {
    let fake = Fake::start(|req| vec![forge_accept(req, Ma::Wrong)]).await;
    for require_message_authenticator in [true, false] {
        let s = RadiusSettings { require_message_authenticator, ..impatient(&[(&fake.address, SECRET)], 0) };
        let err = authenticate(&s, "alice", "x").await.unwrap_err();
        assert!(matches!(err, RadiusError::BadReply(BadReply::MessageAuthenticator)), "{err:?}");
    }
}

#[tokio::test]
async fn a_bad_server_is_passed_over_for_a_good_one() {
    let fake = Fake::start(|req| vec![forge_accept(req, Ma::Wrong)]).await;
    let radius = FreeRadius::start().await;
    let s = RadiusSettings { timeout_ms: 1000, ..impatient(&[(&fake.address, SECRET), (&radius.address, SECRET)], 0) };
    let attributes = accepted(authenticate(&s, "alice", "alicepw").await);
    assert!(attributes.class().is_empty(), "the answer is FreeRADIUS's, not the fake's");
}

/// The admin API's RADIUS scheme end to end: Basic credentials checked by
/// FreeRADIUS, roles from its Class attribute, a one-time password good for
/// one call, and the Message-Authenticator setting both ways.
mod scheme {
    use reqwest::Method;
    use serde_json::json;
    use signet_testkit::radius::{FreeRadius, FreeRadiusOptions};

    use crate::admin::{Api, assert_error, basic};
    use crate::harness::*;

    fn settings(radius: &FreeRadius, require_ma: bool) -> serde_json::Value {
        json!({"schemes": ["native", "radius"], "radius": {
            "connection": {"servers": [{"address": radius.address, "secret": radius.secret}],
                           "timeout_ms": 300, "retries": 0, "require_message_authenticator": require_ma},
            "role_attribute": "Class",
            "roles": [{"value": "signet:admins", "roles": ["Admin", "CryptoAdmin"]},
                      {"value": "signet:auditors", "auditor": true}]}})
    }

    #[tokio::test]
    async fn radius_checks_basic_credentials_and_its_class_grants_roles() {
        let users = "carol Cleartext-Password := \"carolpw\"\n    Class := \"signet:admins\"\n\
                     dave Cleartext-Password := \"davepw\"\n    Class := \"signet:auditors\"\n\
                     erin Cleartext-Password := \"erinpw123456\"\n    Class := \"signet:admins\"\n";
        let radius =
            FreeRadius::start_with(FreeRadiusOptions { users: users.into(), ..FreeRadiusOptions::default() }).await;
        let s = Server::start().await;
        let api = Api::new(&s);
        let root = basic(&s.boot.admin.username, &s.boot.admin.password);

        let bad = api
            .call(
                Method::PUT,
                "/settings/authentication",
                Some(&root),
                Some(json!({"schemes": ["native", "radius"]})),
                None,
            )
            .await;
        assert_error(&bad, 400, "invalid_request", "radius");
        let mut wrong_attr = settings(&radius, true);
        wrong_attr["radius"]["role_attribute"] = json!("Colour");
        let bad = api.call(Method::PUT, "/settings/authentication", Some(&root), Some(wrong_attr), None).await;
        assert_error(&bad, 400, "invalid_request", "radius.role_attribute");

        let set =
            api.call(Method::PUT, "/settings/authentication", Some(&root), Some(settings(&radius, true)), None).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
        let shown = api.get("/settings/authentication", &root).await.body;
        assert!(shown["radius"]["connection"]["servers"][0]["secret"]["sealed"].is_string(), "{shown}");
        assert!(!shown.to_string().contains(&radius.secret));

        let carol = basic("carol", "carolpw");
        assert_eq!(api.get("/environments", &carol).await.status, 200);
        let write = api
            .call(
                Method::POST,
                "/accounts",
                Some(&carol),
                Some(json!({"username": "x", "password": "a long passphrase"})),
                None,
            )
            .await;
        assert_error(&write, 403, "forbidden", "UserAdmin");
        let dave = basic("dave", "davepw");
        let audit = api.call(Method::POST, "/environments", Some(&dave), Some(json!({"name": "x"})), None).await;
        assert_error(&audit, 403, "forbidden", "Auditor");
        // alice is accepted but no Class of hers maps to a role.
        assert_error(&api.get("/environments", &basic("alice", "alicepw")).await, 403, "forbidden", "no admin role");
        assert_error(&api.get("/environments", &basic("carol", "wrong")).await, 401, "unauthorized", "authentication");
        // The password with a one-time code appended goes to the server as it is.
        assert_eq!(api.get("/environments", &basic("erin", "erinpw123456")).await.status, 200);
        assert_eq!(api.get("/environments", &basic("erin", "erinpw")).await.status, 401);
        assert_eq!(api.get("/environments", &root).await.status, 200, "native stays beside RADIUS");

        let trail = api.get("/audit?action=admin.signon&limit=100", &root).await.body;
        let radius_signons: Vec<_> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["actor"]["scheme"] == "radius")
            .map(|e| e["event"]["actor"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert!(radius_signons.contains(&"carol".to_owned()) && radius_signons.contains(&"erin".to_owned()));
        let failures = api.get("/audit?action=admin.signon.failure&limit=100", &root).await.body;
        assert!(failures["items"].as_array().unwrap().iter().any(|e| e["event"]["actor"]["id"] == "radius:carol"));
    }

    #[tokio::test]
    async fn a_reply_without_message_authenticator_is_refused_unless_the_setting_is_off() {
        let users = "carol Cleartext-Password := \"carolpw\"\n    Class := \"signet:admins\"\n";
        let radius = FreeRadius::start_with(FreeRadiusOptions {
            users: users.into(),
            message_authenticator: false,
            ..FreeRadiusOptions::default()
        })
        .await;
        let s = Server::start().await;
        let api = Api::new(&s);
        let root = basic(&s.boot.admin.username, &s.boot.admin.password);
        let carol = basic("carol", "carolpw");

        let set =
            api.call(Method::PUT, "/settings/authentication", Some(&root), Some(settings(&radius, true)), None).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
        assert_error(&api.get("/environments", &carol).await, 503, "authentication_unavailable", "RADIUS");

        let set =
            api.call(Method::PUT, "/settings/authentication", Some(&root), Some(settings(&radius, false)), None).await;
        assert_eq!(set.status, 200, "{:?}", set.body);
        assert_eq!(api.get("/environments", &carol).await.status, 200);
    }
}
