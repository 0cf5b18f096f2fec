//! JSON logs with the request id and trace id, and W3C `traceparent`
//! propagation: continued from the caller, answered, and passed on to the
//! services signetd calls (issue 18, item 6).

use reqwest::header::AUTHORIZATION;
use serde_json::Value;
use signet_server::trace_context::{self, TraceContext};
use signet_testkit::standin::{PingIdOutcome, PingIdStandin};

use crate::cli::{Daemon, bootstrap, temp_dir};
use crate::harness::Server;

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_request_id_and_no_secret() {
    let dir = temp_dir();
    let args = ["--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0", "--log-format", "json"];
    let d = Daemon::start(&args, &[("SIGNETD_LOG", "info,signetd::access=debug")]).await;
    let boot = bootstrap(&dir);
    let issuer = boot["issuer"].as_str().unwrap();
    let (client_id, client_secret) =
        (boot["worker"]["client_id"].as_str().unwrap(), boot["worker"]["client_secret"].as_str().unwrap());
    let (admin, password) = (boot["admin"]["username"].as_str().unwrap(), boot["admin"]["password"].as_str().unwrap());
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    let mut note = |res: &reqwest::Response| ids.push(res.headers()["x-request-id"].to_str().unwrap().to_owned());

    let token = http
        .post(format!("{issuer}/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    note(&token);
    let access = token.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let wrong_secret = "a-wrong-client-secret-7f3a";
    let wrong_password = "a wrong password 9c1e";
    let accounts = format!("{}/admin-api/v1/accounts", d.base);
    let sent = [
        http.post(format!("{issuer}/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", wrong_secret),
        ]),
        http.get(&accounts).basic_auth(admin, Some(password)),
        http.get(&accounts).basic_auth(admin, Some(wrong_password)),
        http.get(&accounts).header(AUTHORIZATION, format!("Bearer {access}")),
        http.get(format!("{}/healthz", d.base)).header(trace_context::HEADER, CALLER),
    ];
    for req in sent {
        note(&req.send().await.unwrap());
    }
    let log = d.stop().await;

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(Value::is_object), "{log}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("delete it"))), "startup lines too");
    let served: Vec<&Value> = lines.iter().filter(|l| l["target"] == "signetd::access").collect();
    for id in &ids {
        let mine: Vec<_> = served.iter().filter(|l| l["request_id"] == id.as_str()).collect();
        assert_eq!(mine.len(), 1, "request {id}: {log}");
        assert_eq!(mine[0]["trace_id"].as_str().map(str::len), Some(32), "{}", mine[0]);
    }
    let health = served.iter().find(|l| l["route"] == "/healthz").unwrap();
    assert_eq!(health["trace_id"], "0af7651916cd43dd8448eb211c80319c", "the caller's trace");
    for line in lines.iter().filter(|l| l.get("request_id").is_some()) {
        assert!(ids.iter().any(|id| line["request_id"] == id.as_str()), "a request's line names it: {line}");
    }
    for secret in [client_secret, password, &access, wrong_secret, wrong_password] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn text_logs_stay_the_default_and_name_the_request() {
    let dir = temp_dir();
    let args = ["--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    let d = Daemon::start(&args, &[("SIGNETD_LOG", "info,signetd::access=debug")]).await;
    let res = reqwest::get(format!("{}/healthz", d.base)).await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let log = without_colours(&d.stop().await);
    assert!(log.lines().all(|l| serde_json::from_str::<Value>(l).is_err()), "{log}");
    assert!(log.lines().any(|l| l.contains(&format!("request_id={id}")) && l.contains("served")), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Text lines as read: the ANSI colour sequences (`ESC [ … m`) taken out.
fn without_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        rest = rest[start..].split_once('m').map_or("", |(_, after)| after);
    }
    out + rest
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_and_any_other_starts_a_trace() {
    let s = Server::start().await;
    let answer = |header: Option<&'static str>| {
        let mut req = s.http.get(format!("{}/healthz", s.base));
        if let Some(h) = header {
            req = req.header(trace_context::HEADER, h);
        }
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "an invalid header is no error");
            let value = res.headers()[trace_context::HEADER].to_str().unwrap().to_owned();
            trace_context::parse(&value).unwrap_or_else(|| panic!("answered an invalid traceparent: {value}"))
        }
    };
    let caller = trace_context::parse(CALLER).unwrap();
    let continued = answer(Some(CALLER)).await;
    assert_eq!((continued.trace_id, continued.flags), (caller.trace_id, 1), "same trace, sampled flag kept");
    assert_ne!(continued.parent_id, caller.parent_id, "a span of its own");
    for other in [
        None,
        Some("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"),
        Some("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"),
    ] {
        let fresh = answer(other).await;
        assert_ne!(fresh.trace_id, caller.trace_id, "{other:?} starts a new trace");
        assert_eq!(fresh.flags, 0);
    }
}

#[tokio::test]
async fn outgoing_calls_carry_the_traceparent_of_the_request_they_serve() {
    let s = PingIdStandin::start().await;
    s.set("alice", PingIdOutcome::Approve);
    let pingid = signet_server::second_factor::PingId {
        idp_url: s.idp_url.clone(),
        org_alias: s.org_alias.clone(),
        token: signet_core::secret::Secret::new(s.token.clone()),
        use_base64_key: signet_core::secret::Secret::new(s.use_base64_key.clone()),
        use_signature: true,
    };
    let fetcher = signet_server::fetch::Fetcher::new(false).unwrap();
    let request = TraceContext::for_request(&Default::default()).unwrap();
    request.scope(pingid.verify(&fetcher, "alice", 1_345_570_158)).await.unwrap();
    pingid.verify(&fetcher, "alice", 1_345_570_158).await.unwrap();
    let sent = s.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].header(trace_context::HEADER),
        Some(request.header_value().as_str()),
        "the request's span is the parent"
    );
    assert_eq!(sent[1].header(trace_context::HEADER), None, "no request, no trace");
}
