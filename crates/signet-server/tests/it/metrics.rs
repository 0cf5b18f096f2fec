//! `/metrics`: the exposition is strict Prometheus text, and its series
//! move with the events that drive them (issue 18, item 6).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::harness::{Backend, Server, code_flow_tokens};

/// One sample: its metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",…` up to the closing brace, with `\\`, `\"` and `\n` escapes.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !valid_name(key) || key.contains(':') {
            return Err(format!("bad label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses the text format (0.0.4) strictly: every sample belongs to a
/// family declared by `# TYPE` before it, once; no series twice; values are
/// numbers; a histogram's buckets are cumulative and end at `+Inf` = `_count`.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(help) = line.strip_prefix("# HELP ") {
            let name = help.split(' ').next().unwrap_or_default();
            if !valid_name(name) {
                return Err(fail("bad HELP".into()));
            }
            continue;
        }
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let (name, kind) = decl.split_once(' ').ok_or_else(|| fail("bad TYPE".into()))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) || !valid_name(name) {
                return Err(fail("bad TYPE".into()));
            }
            if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(fail("a family declared twice".into()));
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(fail("an empty line or stray comment".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| fail("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(after) => parse_labels(after).map_err(fail)?,
            None => (BTreeMap::new(), &line[name_end..]),
        };
        let value = rest.strip_prefix(' ').ok_or_else(|| fail("no space before the value".into()))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| fail("the value is not a number".into()))?,
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|k| k == "histogram")))
            .unwrap_or(name);
        let kind = types.get(family).ok_or_else(|| fail("a sample of an undeclared family".into()))?;
        if kind == "counter" && !name.ends_with("_total") {
            return Err(fail("a counter not named _total".into()));
        }
        if !seen.insert(format!("{name}{labels:?}")) {
            return Err(fail("a series twice".into()));
        }
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    check_histograms(&samples, &types)?;
    Ok(samples)
}

fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) -> Result<(), String> {
    for family in types.iter().filter(|(_, k)| *k == "histogram").map(|(f, _)| f) {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let mut labels = s.labels.clone();
            let le = labels.remove("le").ok_or("a bucket without le")?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().map_err(|_| "a bad le")? };
            series.entry(format!("{labels:?}")).or_default().push((le, s.value));
        }
        for (labels, buckets) in series {
            let ordered = buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            let last = buckets.last().ok_or("no buckets")?;
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels)
                .ok_or(format!("{family} {labels}: no _count"))?;
            if !ordered || last.0 != f64::INFINITY || last.1 != count.value {
                return Err(format!("{family} {labels}: buckets not cumulative up to +Inf = _count"));
            }
        }
    }
    Ok(())
}

/// The value of the one sample named `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matches =
        |s: &&Sample| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v));
    let found: Vec<_> = samples.iter().filter(matches).collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches several series: {found:?}");
    found.first().map(|s| s.value)
}

async fn scrape(base: &str) -> Vec<Sample> {
    let res = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    let text = res.text().await.unwrap();
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let ok = "# TYPE a_total counter\na_total{k=\"v\\\"\"} 1\n";
    assert_eq!(parse(ok).unwrap()[0].labels["k"], "v\"");
    for bad in [
        "a_total 1\n",
        "# TYPE a_total counter\na_total{k=\"v} 1\n",
        "# TYPE a_total counter\na_total one\n",
        "# TYPE a_total counter\na_total 1\na_total 2\n",
        "# TYPE a counter\na 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

async fn requests_move_their_route_histogram(s: Server) {
    let token = "/{env}/as/token";
    let series = [("route", token), ("method", "POST"), ("status", "2xx")];
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    let before = scrape(&s.base).await;
    let count = "signetd_http_request_duration_seconds_count";
    assert_eq!(value(&before, count, &series), Some(1.0));
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
    // Two raw paths of one template are one series: ids never reach a label.
    for name in ["first-unknown-name", "second-unknown-name"] {
        let url = format!("{}/admin-api/v1/accounts/{name}", s.base);
        assert_eq!(s.http.get(url).send().await.unwrap().status(), 401);
    }
    let after = scrape(&s.base).await;
    assert_eq!(value(&after, count, &series), Some(2.0), "a request moves its route's histogram");
    let refused = [("route", token), ("method", "POST"), ("status", "4xx")];
    assert_eq!(value(&after, count, &refused), Some(1.0), "by status class");
    assert_eq!(value(&after, "signetd_http_requests_total", &series), Some(2.0));
    let bucket = [("route", token), ("method", "POST"), ("status", "2xx"), ("le", "+Inf")];
    assert_eq!(value(&after, "signetd_http_request_duration_seconds_bucket", &bucket), Some(2.0));
    let admin: Vec<_> =
        after.iter().filter(|m| m.name == count && m.labels["route"].starts_with("/admin-api/v1/accounts/")).collect();
    assert_eq!(admin.len(), 1, "{admin:?}");
    assert_eq!((admin[0].labels["method"].as_str(), admin[0].value), ("GET", 2.0));
    assert!(after.iter().all(|m| !m.labels.values().any(|v| v.contains("unknown-name"))));
    assert!(value(&after, "signetd_http_request_duration_seconds_sum", &series).unwrap() > 0.0);
}

#[tokio::test]
async fn requests_move_their_route_histogram_sqlite() {
    requests_move_their_route_histogram(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn requests_move_their_route_histogram_postgres() {
    requests_move_their_route_histogram(Server::start_on(Backend::Postgres).await).await;
}

async fn a_blocked_attempt_counts_by_limiter_kind(s: Server) {
    let blocks = "signetd_limiter_blocks_total";
    let kind = [("kind", "client_authentication")];
    assert_eq!(value(&scrape(&s.base).await, blocks, &kind), Some(0.0));
    let id = s.boot.worker.client_id.clone();
    let limit = signet_server::ratelimit::PRINCIPAL_MAX;
    for n in 0..limit {
        let (status, body) =
            s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
        assert_eq!(status, 401, "attempt {n}: {body}");
    }
    assert_eq!(value(&scrape(&s.base).await, blocks, &kind), Some(0.0), "failures are not blocks");
    let (status, body) =
        s.post_form(&s.url("/token"), &[("grant_type", "client_credentials")], Some((&id, "wrong"))).await;
    assert_ne!(status, 401, "blocked now: {body}");
    let after = scrape(&s.base).await;
    assert_eq!(value(&after, blocks, &kind), Some(1.0));
    assert_eq!(value(&after, blocks, &[("kind", "sign_on")]), Some(0.0), "each kind apart");
}

#[tokio::test]
async fn a_blocked_attempt_counts_by_limiter_kind_sqlite() {
    a_blocked_attempt_counts_by_limiter_kind(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn a_blocked_attempt_counts_by_limiter_kind_postgres() {
    a_blocked_attempt_counts_by_limiter_kind(Server::start_on(Backend::Postgres).await).await;
}

/// The feed's series on another instance: absent before it polls, then the
/// lag of a revocation made elsewhere is the poll interval it waited.
async fn the_feed_lag_is_small_after_a_revocation(s: Server) {
    let other_issuer = s.another_instance().await;
    let other = other_issuer.strip_suffix(&format!("/{}/as", s.env_id)).unwrap().to_owned();
    let age = "signetd_revocation_feed_last_poll_age_seconds";
    let lag = "signetd_revocation_feed_lag_seconds";
    let fresh = scrape(&other).await;
    assert_eq!(value(&fresh, age, &[]), None, "never polled yet");
    assert_eq!(value(&fresh, lag, &[]), Some(0.0));

    let admin = s.account(true, true).await;
    let t = code_flow_tokens(&s, &admin).await;
    let access = t["access_token"].as_str().unwrap().to_owned();
    let (id, secret) = (s.boot.worker.client_id.clone(), s.boot.worker.client_secret.clone());
    let active_at_other = || {
        let (http, url) = (s.http.clone(), format!("{other_issuer}/introspect"));
        let (id, secret, token) = (id.clone(), secret.clone(), access.clone());
        async move {
            let r = http.post(url).basic_auth(id, Some(secret)).form(&[("token", token)]).send().await.unwrap();
            r.json::<serde_json::Value>().await.unwrap()["active"].clone()
        }
    };
    assert_eq!(active_at_other().await, true);
    s.clock.advance(3);
    let (status, _) = s.post_form(&s.url("/revoke"), &[("token", &access), ("client_id", "signet-cli")], None).await;
    assert_eq!(status, 200);
    s.clock.advance(signet_server::cache::REVOCATION_POLL);
    assert_eq!(active_at_other().await, false);
    let after = scrape(&other).await;
    assert_eq!(value(&after, age, &[]), Some(0.0), "it just polled");
    assert_eq!(value(&after, lag, &[]), Some(signet_server::cache::REVOCATION_POLL as f64), "{after:?}");
    assert!(value(&after, "signetd_revocation_feed_polls_total", &[("result", "ok")]).unwrap() >= 2.0);
    assert_eq!(value(&after, "signetd_revocation_feed_polls_total", &[("result", "error")]), Some(0.0));
    s.clock.advance(7);
    assert_eq!(value(&scrape(&other).await, age, &[]), Some(7.0), "idle, its last poll grows old");
}

#[tokio::test]
async fn the_feed_lag_is_small_after_a_revocation_sqlite() {
    the_feed_lag_is_small_after_a_revocation(Server::start_on(Backend::Sqlite).await).await;
}

#[tokio::test]
async fn the_feed_lag_is_small_after_a_revocation_postgres() {
    the_feed_lag_is_small_after_a_revocation(Server::start_on(Backend::Postgres).await).await;
}
