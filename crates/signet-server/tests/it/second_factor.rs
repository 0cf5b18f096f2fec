//! The SaaS MFA clients (PingID, Okta Verify, Duo) against the testkit's
//! local stand-ins for those services: what each client sends, and what it
//! makes of each kind of answer.

use std::time::Duration;

use serde_json::Value;
use signet_core::crypto::b64url_decode;
use signet_core::secret::Secret;
use signet_server::fetch::{FetchError, Fetcher};
use signet_server::second_factor::{Duo, Okta, PingId, Polling, ProviderError, Verdict};
use signet_testkit::standin::*;

/// 2012-08-21T17:29:18Z, the instant in Duo's documented example.
const NOW: i64 = 1_345_570_158;
const FAST: Polling = Polling { interval: Duration::from_millis(10), limit: Duration::from_secs(10) };

fn fetcher() -> Fetcher {
    Fetcher::new(false).unwrap()
}

fn denied(v: Verdict) -> String {
    match v {
        Verdict::Denied(reason) => reason,
        Verdict::Approved => panic!("approved, expected a denial"),
    }
}

fn assert_hides(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{text:?} shows a secret");
    }
}

#[tokio::test]
async fn every_standin_says_it_is_a_standin() {
    let (p, o, d) = (PingIdStandin::start().await, OktaStandin::start().await, DuoStandin::start().await);
    for (url, name) in [
        (format!("{}/rest/4/authonline/do", p.idp_url), "PingID"),
        (format!("{}/api/v1/users", o.base), "Okta"),
        (format!("{}/auth/v2/check", d.base), "Duo"),
    ] {
        let res = reqwest::Client::new().post(&url).send().await.unwrap();
        let server = res.headers()["server"].to_str().unwrap().to_owned();
        assert_eq!(server, format!("signet-testkit {name} stand-in"));
    }
}

// PingID

fn pingid(s: &PingIdStandin) -> PingId {
    PingId {
        idp_url: s.idp_url.clone(),
        org_alias: s.org_alias.clone(),
        token: Secret::new(s.token.clone()),
        use_base64_key: Secret::new(s.use_base64_key.clone()),
        use_signature: true,
    }
}

fn jws_part(jws: &str, i: usize) -> Value {
    serde_json::from_slice(&b64url_decode(jws.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn pingid_approves_a_signed_reply_with_error_id_200() {
    let s = PingIdStandin::start().await;
    s.set("alice", PingIdOutcome::Approve);
    assert_eq!(pingid(&s).verify(&fetcher(), "alice", NOW).await.unwrap(), Verdict::Approved);
    let sent = s.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].method.as_str(), sent[0].uri.as_str()), ("POST", "/pingid/rest/4/authonline/do"));
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    let header = jws_part(&sent[0].body, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["org_alias"], s.org_alias.as_str());
    let claims = jws_part(&sent[0].body, 1);
    assert_eq!(claims["reqBody"]["userName"], "alice");
    assert_eq!(claims["reqBody"]["authType"], "CONFIRM");
    assert_eq!(claims["reqHeader"]["timestamp"], "2012-08-21  17:29:18.000");
}

#[tokio::test]
async fn pingid_denies_with_the_error_message_when_error_id_is_not_200() {
    let s = PingIdStandin::start().await;
    s.set("bob", PingIdOutcome::Deny { error_id: 30001, message: "User rejected\nthe request".into() });
    let reason = denied(pingid(&s).verify(&fetcher(), "bob", NOW).await.unwrap());
    assert_eq!(reason, "PingID did not confirm (errorId 30001): User rejected the request");
    // A user the stand-in does not know is denied too.
    let reason = denied(pingid(&s).verify(&fetcher(), "nobody", NOW).await.unwrap());
    assert!(reason.contains("errorId 10002"), "{reason}");
}

#[tokio::test]
async fn pingid_refuses_a_reply_it_cannot_trust() {
    let s = PingIdStandin::start().await;
    let cases = [
        (PingIdOutcome::BadSignature, "signature does not verify"),
        (PingIdOutcome::AlgNone, "signed with \"none\", not HS256"),
        (PingIdOutcome::Hs512, "signed with \"HS512\", not HS256"),
        (PingIdOutcome::WrongToken, "does not carry the org's token"),
        (PingIdOutcome::Garbage, "(HTTP 200) is not a JWS"),
    ];
    for (outcome, why) in cases {
        s.set("carol", outcome.clone());
        let err = pingid(&s).verify(&fetcher(), "carol", NOW).await.unwrap_err();
        assert!(matches!(err, ProviderError::Protocol { .. }), "{outcome:?}: {err}");
        assert!(err.to_string().contains(why), "{outcome:?}: {err}");
        assert_hides(&err.to_string(), &[&s.token, &s.use_base64_key]);
    }
}

#[tokio::test]
async fn pingid_signed_with_the_wrong_key_is_refused_by_the_service() {
    let s = PingIdStandin::start().await;
    s.set("alice", PingIdOutcome::Approve);
    let mut config = pingid(&s);
    config.use_base64_key = Secret::new("c29tZSBvdGhlciBrZXk=".into());
    let err = config.verify(&fetcher(), "alice", NOW).await.unwrap_err();
    assert!(err.to_string().contains("(HTTP 401) is not a JWS"), "{err}");
}

// Okta

fn okta(s: &OktaStandin) -> Okta {
    Okta {
        org_name: "ignored".into(),
        api_token: Secret::new(s.api_token.clone()),
        base_url: s.base.clone(),
        primary_email: false,
    }
}

#[tokio::test]
async fn okta_approves_after_polling_until_success() {
    let s = OktaStandin::start().await;
    s.set("alice@example.com", OktaOutcome::Approve { waits: 2 });
    let verdict = okta(&s).verify_with(&fetcher(), "alice@example.com", FAST).await.unwrap();
    assert_eq!(verdict, Verdict::Approved);
    let sent = s.requests();
    let calls: Vec<(&str, &str)> = sent.iter().map(|r| (r.method.as_str(), r.uri.as_str())).collect();
    assert_eq!(calls[0], ("GET", "/api/v1/users?filter=profile.login+eq+%22alice%40example.com%22"));
    assert_eq!(calls[1], ("GET", "/api/v1/users/00u1/factors"));
    assert_eq!(calls[2], ("POST", "/api/v1/users/00u1/factors/opf1/verify"), "the push factor, not the TOTP one");
    assert_eq!(calls.len(), 6, "three polls: WAITING, WAITING, SUCCESS: {calls:?}");
    assert!(
        calls[3..]
            .iter()
            .all(|(m, u)| *m == "GET" && u.starts_with("/api/v1/users/00u1/factors/opf1/transactions/v2mst."))
    );
    let auth = format!("SSWS {}", s.api_token);
    assert!(sent.iter().all(|r| r.header("authorization") == Some(auth.as_str())));
}

#[tokio::test]
async fn okta_finds_the_user_by_primary_email_when_asked() {
    let s = OktaStandin::start().await;
    s.add_user("bob", "bob@corp.example", OktaOutcome::Approve { waits: 0 });
    let mut config = okta(&s);
    let reason = denied(config.verify_with(&fetcher(), "bob@corp.example", FAST).await.unwrap());
    assert_eq!(reason, "Okta has no user whose profile.login is \"bob@corp.example\"");
    config.primary_email = true;
    assert_eq!(config.verify_with(&fetcher(), "bob@corp.example", FAST).await.unwrap(), Verdict::Approved);
    assert!(s.requests().iter().any(|r| r.uri.contains("filter=profile.email+eq+%22bob%40corp.example%22")));
}

#[tokio::test]
async fn okta_denies_a_rejected_timed_out_or_missing_push() {
    let s = OktaStandin::start().await;
    s.set("rejects", OktaOutcome::Reject);
    s.set("sleeps", OktaOutcome::Timeout);
    s.set("totp-only", OktaOutcome::NoPushFactor);
    s.set("no-factors", OktaOutcome::NoFactors);
    let cases = [
        ("rejects", "the user rejected the Okta Verify push"),
        ("sleeps", "the Okta Verify push timed out"),
        ("totp-only", "the Okta user has no push factor (Okta Verify)"),
        ("no-factors", "the Okta user has no MFA factors"),
        ("unknown", "Okta has no user whose profile.login is \"unknown\""),
    ];
    for (user, why) in cases {
        assert_eq!(denied(okta(&s).verify_with(&fetcher(), user, FAST).await.unwrap()), why, "{user}");
    }
    assert!(!s.requests().iter().any(|r| r.uri.contains("/factors/uft1/verify")), "a TOTP factor is never pushed");
}

#[tokio::test]
async fn okta_stops_waiting_at_the_limit() {
    let s = OktaStandin::start().await;
    s.set("slow", OktaOutcome::NeverAnswer);
    let polling = Polling { interval: Duration::from_millis(20), limit: Duration::from_millis(400) };
    let reason = denied(okta(&s).verify_with(&fetcher(), "slow", polling).await.unwrap());
    assert_eq!(reason, "Okta: no answer from the user within 400ms");
    let polls = s.requests().iter().filter(|r| r.uri.contains("/transactions/")).count();
    assert!((2..=25).contains(&polls), "polled {polls} times");
}

#[tokio::test]
async fn okta_with_a_wrong_api_token_is_an_error_that_does_not_show_the_token() {
    let s = OktaStandin::start().await;
    s.set("alice", OktaOutcome::Approve { waits: 0 });
    let mut config = okta(&s);
    let wrong = "00wrong-token-value-0123456789";
    config.api_token = Secret::new(wrong.into());
    let err = config.verify_with(&fetcher(), "alice", FAST).await.unwrap_err();
    assert!(matches!(err, ProviderError::Refused { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("Invalid token provided"), "{err}");
    assert_hides(&format!("{err} {err:?}"), &[wrong, &s.api_token]);
    assert_eq!(s.requests().len(), 1, "nothing after the refusal");
}

#[tokio::test]
async fn okta_refuses_garbage_and_plain_http_off_loopback() {
    let s = OktaStandin::start().await;
    s.set("alice", OktaOutcome::Garbage);
    let err = okta(&s).verify_with(&fetcher(), "alice", FAST).await.unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err}");
    let mut config = okta(&s);
    config.base_url = "http://okta.example".into();
    let err = config.verify_with(&fetcher(), "alice", FAST).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unreachable { source: FetchError::Refused(_), .. }),
        "the scheme extension does not lift the fetch rules: {err}"
    );
}

// Duo

fn duo(s: &DuoStandin) -> Duo {
    Duo {
        integration_key: s.integration_key.clone(),
        secret_key: Secret::new(s.secret_key.clone()),
        api_hostname: s.base.clone(),
        push_info: "from=signet&domain=example.com".into(),
        use_passcode: false,
    }
}

#[tokio::test]
async fn duo_approves_a_push_through_preauth_auth_and_status() {
    let s = DuoStandin::start().await;
    s.set("alice", DuoOutcome::Approve);
    assert_eq!(duo(&s).verify_with(&fetcher(), "alice", None, NOW, FAST).await.unwrap(), Verdict::Approved);
    let sent = s.requests();
    let paths: Vec<&str> = sent.iter().map(|r| r.uri.split('?').next().unwrap()).collect();
    assert_eq!(paths, ["/auth/v2/check", "/auth/v2/preauth", "/auth/v2/auth", "/auth/v2/auth_status"]);
    assert!(sent.iter().all(|r| r.header("date") == Some("Tue, 21 Aug 2012 17:29:18 +0000")));
    let auth = sent[2].params();
    assert_eq!(auth["factor"], "push");
    assert_eq!(auth["device"], "auto");
    assert_eq!(auth["async"], "1");
    assert_eq!(auth["username"], "alice");
    assert_eq!(auth["pushinfo"], "from=signet&domain=example.com");
    assert_eq!(sent[1].header("content-type"), Some("application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn duo_denies_with_its_status_message() {
    let s = DuoStandin::start().await;
    s.set("bob", DuoOutcome::Deny);
    s.set("blocked", DuoOutcome::PreauthDeny);
    s.set("bypass", DuoOutcome::PreauthAllow);
    let d = duo(&s);
    assert_eq!(denied(d.verify_with(&fetcher(), "bob", None, NOW, FAST).await.unwrap()), "Duo: Login request denied.");
    assert_eq!(
        denied(d.verify_with(&fetcher(), "blocked", None, NOW, FAST).await.unwrap()),
        "Duo: Access denied by policy"
    );
    let reason = denied(d.verify_with(&fetcher(), "new-user", None, NOW, FAST).await.unwrap());
    assert!(reason.starts_with("Duo: the user is not enrolled: Enroll an authentication device"), "{reason}");
    assert_eq!(d.verify_with(&fetcher(), "bypass", None, NOW, FAST).await.unwrap(), Verdict::Approved);
    let auths = s.requests().iter().filter(|r| r.uri == "/auth/v2/auth").count();
    assert_eq!(auths, 1, "only bob reached auth");
}

#[tokio::test]
async fn duo_sends_a_passcode_when_the_method_takes_them() {
    let s = DuoStandin::start().await;
    s.set("carol", DuoOutcome::Passcode("314159".into()));
    let mut d = duo(&s);
    d.use_passcode = true;
    assert_eq!(d.verify_with(&fetcher(), "carol", Some("314159"), NOW, FAST).await.unwrap(), Verdict::Approved);
    let sent = s.requests();
    let auth = sent.iter().find(|r| r.uri == "/auth/v2/auth").unwrap().params();
    assert_eq!((auth["factor"].as_str(), auth["passcode"].as_str()), ("passcode", "314159"));
    assert!(!auth.contains_key("pushinfo") && !auth.contains_key("device"));
    let reason = denied(d.verify_with(&fetcher(), "carol", Some("000000"), NOW, FAST).await.unwrap());
    assert_eq!(reason, "Duo: Incorrect passcode. Please try again.");
    // Without use_passcode the sign-on page never asks for one: a push goes out.
    d.use_passcode = false;
    let reason = denied(d.verify_with(&fetcher(), "carol", Some("314159"), NOW, FAST).await.unwrap());
    assert_eq!(reason, "Duo: Login request denied.");
    assert_eq!(s.requests().last().map(|r| r.uri.starts_with("/auth/v2/auth_status")), Some(true));
    let last_auth = s.requests().into_iter().rfind(|r| r.uri == "/auth/v2/auth").unwrap().params();
    assert_eq!(last_auth["factor"], "push");
}

#[tokio::test]
async fn duo_with_a_wrong_secret_key_is_an_error_that_does_not_show_it() {
    let s = DuoStandin::start().await;
    s.set("alice", DuoOutcome::Approve);
    let mut d = duo(&s);
    let wrong = "wrong-secret-key-0123456789abcdef";
    d.secret_key = Secret::new(wrong.into());
    let err = d.verify_with(&fetcher(), "alice", None, NOW, FAST).await.unwrap_err();
    assert!(matches!(err, ProviderError::Refused { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("40103 Invalid signature in request credentials"), "{err}");
    assert_hides(&format!("{err} {err:?}"), &[wrong, &s.secret_key]);
    assert_eq!(s.requests().len(), 1, "stopped at check");
    d.secret_key = Secret::new(s.secret_key.clone());
    d.integration_key = "DIWRONG".into();
    let err = d.verify_with(&fetcher(), "alice", None, NOW, FAST).await.unwrap_err();
    assert!(err.to_string().contains("40102"), "{err}");
}

#[tokio::test]
async fn duo_stops_waiting_at_the_limit_and_refuses_garbage() {
    let s = DuoStandin::start().await;
    s.set("slow", DuoOutcome::NeverAnswer);
    s.set("odd", DuoOutcome::Garbage);
    let polling = Polling { interval: Duration::from_millis(20), limit: Duration::from_millis(400) };
    let reason = denied(duo(&s).verify_with(&fetcher(), "slow", None, NOW, polling).await.unwrap());
    assert_eq!(reason, "Duo: no answer from the user within 400ms");
    assert!(s.requests().iter().filter(|r| r.uri.starts_with("/auth/v2/auth_status")).count() >= 2);
    let err = duo(&s).verify_with(&fetcher(), "odd", None, NOW, FAST).await.unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err}");
}

#[test]
fn debug_output_of_the_configurations_shows_no_secret() {
    let p = PingId {
        idp_url: "https://idp.example/pingid".into(),
        org_alias: "org".into(),
        token: Secret::new("pingid-token-value".into()),
        use_base64_key: Secret::new("cGluZ2lkLWtleQ==".into()),
        use_signature: true,
    };
    let o = Okta {
        org_name: "acme".into(),
        api_token: Secret::new("okta-api-token-value".into()),
        base_url: "okta.com".into(),
        primary_email: false,
    };
    let d = Duo {
        integration_key: "DIXXXXXXXXXXXXXXXXXX".into(),
        secret_key: Secret::new("duo-secret-key-value".into()),
        api_hostname: "api-x.duosecurity.com".into(),
        push_info: String::new(),
        use_passcode: true,
    };
    let debug = format!("{p:?} {o:?} {d:?}");
    assert_hides(&debug, &["pingid-token-value", "cGluZ2lkLWtleQ==", "okta-api-token-value", "duo-secret-key-value"]);
    for shown in ["idp.example", "org", "acme", "okta.com", "DIXXXXXXXXXXXXXXXXXX", "api-x.duosecurity.com"] {
        assert!(debug.contains(shown), "{debug} lacks {shown}");
    }
}
