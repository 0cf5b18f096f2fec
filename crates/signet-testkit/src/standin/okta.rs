//! An Okta stand-in (not Okta): the Users and Factors API calls an Okta
//! Verify push takes (find the user by a `profile.login` or `profile.email`
//! filter, list factors, verify the push factor, poll its transaction), each
//! refused with Okta's E0000011 unless it carries `Authorization: SSWS
//! <api_token>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use signet_core::crypto::random_id;

use super::{Log, Received, serve};

/// What the stand-in does for a user.
#[derive(Debug, Clone)]
pub enum OktaOutcome {
    /// The push is approved after this many WAITING polls.
    Approve { waits: u32 },
    /// REJECTED.
    Reject,
    /// TIMEOUT, Okta's own: the user did not answer in time.
    Timeout,
    /// WAITING for ever.
    NeverAnswer,
    /// The user has a TOTP factor only.
    NoPushFactor,
    /// The user has no factors.
    NoFactors,
    /// The verify call answers HTTP 200 with a body that is not JSON.
    Garbage,
}

pub struct OktaStandin {
    /// `http://127.0.0.1:PORT`: what to configure as `base_url`.
    pub base: String,
    pub api_token: String,
    shared: Arc<Shared>,
    log: Log,
}

struct User {
    id: String,
    login: String,
    email: String,
    outcome: OktaOutcome,
}

struct Shared {
    token: String,
    users: Mutex<Vec<User>>,
    /// Transaction id -> (user id, polls so far).
    transactions: Mutex<HashMap<String, (String, u32)>>,
}

impl Shared {
    fn outcome(&self, user_id: &str) -> Option<OktaOutcome> {
        self.users.lock().unwrap().iter().find(|u| u.id == user_id).map(|u| u.outcome.clone())
    }
}

impl OktaStandin {
    /// Starts one with a fresh API token and no users.
    pub async fn start() -> OktaStandin {
        let shared = Arc::new(Shared {
            token: format!("00{}", random_id().unwrap()),
            users: Mutex::new(Vec::new()),
            transactions: Mutex::new(HashMap::new()),
        });
        let log = Log::default();
        let app = Router::new()
            .route("/api/v1/users", get(users))
            .route("/api/v1/users/{uid}/factors", get(factors))
            .route("/api/v1/users/{uid}/factors/{fid}/verify", post(verify))
            .route("/api/v1/users/{uid}/factors/{fid}/transactions/{tx}", get(transaction))
            .route_layer(middleware::from_fn_with_state(shared.clone(), require_token))
            .with_state(shared.clone());
        let base = serve(app, "Okta", log.clone()).await;
        OktaStandin { base, api_token: shared.token.clone(), shared, log }
    }

    /// Adds a user whose login is also their primary email.
    pub fn set(&self, login: &str, outcome: OktaOutcome) {
        self.add_user(login, login, outcome);
    }

    pub fn add_user(&self, login: &str, email: &str, outcome: OktaOutcome) {
        let mut users = self.shared.users.lock().unwrap();
        let id = format!("00u{}", users.len() + 1);
        users.push(User { id, login: login.into(), email: email.into(), outcome });
    }

    pub fn requests(&self) -> Vec<Received> {
        self.log.all()
    }
}

fn okta_error(status: StatusCode, code: &str, summary: &str) -> Response {
    let body = json!({"errorCode": code, "errorSummary": summary, "errorLink": code,
        "errorId": format!("oae{}", random_id().unwrap()), "errorCauses": []});
    (status, Json(body)).into_response()
}

async fn require_token(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let given = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if given != Some(format!("SSWS {}", s.token).as_str()) {
        return okta_error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided");
    }
    next.run(req).await
}

/// `profile.login eq "value"`, the value quoted with `\"` and `\\` escapes.
fn parse_filter(filter: &str) -> Option<(&str, String)> {
    let (field, rest) = filter.split_once(" eq ")?;
    let quoted = rest.strip_prefix('"')?.strip_suffix('"')?;
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        value.push(if c == '\\' { chars.next()? } else { c });
    }
    Some((field, value))
}

async fn users(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some((field, value)) = q.get("filter").and_then(|f| parse_filter(f)) else {
        return okta_error(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.");
    };
    let users = s.users.lock().unwrap();
    let found: Vec<Value> = users
        .iter()
        .filter(|u| match field {
            "profile.login" => u.login == value,
            "profile.email" => u.email == value,
            _ => false,
        })
        .map(|u| json!({"id": u.id, "status": "ACTIVE", "profile": {"login": u.login, "email": u.email}}))
        .collect();
    Json(found).into_response()
}

async fn factors(State(s): State<Arc<Shared>>, Path(uid): Path<String>) -> Response {
    let totp = json!({"id": "uft1", "factorType": "token:software:totp", "provider": "GOOGLE", "status": "ACTIVE"});
    let push = json!({"id": "opf1", "factorType": "push", "provider": "OKTA", "status": "ACTIVE"});
    match s.outcome(&uid) {
        None => okta_error(StatusCode::NOT_FOUND, "E0000007", "Not found: Resource not found: user (User)"),
        Some(OktaOutcome::NoFactors) => Json(json!([])).into_response(),
        Some(OktaOutcome::NoPushFactor) => Json(json!([totp])).into_response(),
        Some(_) => Json(json!([totp, push])).into_response(),
    }
}

async fn verify(
    State(s): State<Arc<Shared>>,
    Path((uid, fid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(outcome) = s.outcome(&uid) else {
        return okta_error(StatusCode::NOT_FOUND, "E0000007", "Not found: Resource not found: user (User)");
    };
    if fid != "opf1" {
        return okta_error(StatusCode::BAD_REQUEST, "E0000001", "Api validation failed: factor");
    }
    if matches!(outcome, OktaOutcome::Garbage) {
        return "<html>gateway hiccup</html>".into_response();
    }
    let tx = format!("v2mst.{}", random_id().unwrap());
    s.transactions.lock().unwrap().insert(tx.clone(), (uid.clone(), 0));
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let poll = format!("http://{host}/api/v1/users/{uid}/factors/{fid}/transactions/{tx}");
    let body = json!({"factorResult": "WAITING", "profile": {"credentialId": "user"},
        "_links": {"poll": {"href": poll, "hints": {"allow": ["GET"]}},
                   "cancel": {"href": poll, "hints": {"allow": ["DELETE"]}}}});
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn transaction(State(s): State<Arc<Shared>>, Path((uid, _fid, tx)): Path<(String, String, String)>) -> Response {
    let polls = {
        let mut transactions = s.transactions.lock().unwrap();
        match transactions.get_mut(&tx) {
            Some((owner, polls)) if *owner == uid => {
                *polls += 1;
                *polls
            }
            _ => return okta_error(StatusCode::NOT_FOUND, "E0000007", "Not found: Resource not found: tx"),
        }
    };
    let result = match s.outcome(&uid) {
        Some(OktaOutcome::Approve { waits }) if polls > waits => "SUCCESS",
        Some(OktaOutcome::Reject) => "REJECTED",
        Some(OktaOutcome::Timeout) => "TIMEOUT",
        _ => "WAITING",
    };
    Json(json!({"factorResult": result})).into_response()
}
