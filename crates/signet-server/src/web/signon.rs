//! The sign-on steps: password (or an external provider, `federated`), then
//! TOTP (or enrolment for an administrator who has none), then either a code
//! for the client or the device consent.
//!
//! Each POST is checked three ways before it is read: the flow must be live,
//! the browser must hold the flow's cookie, and the form must carry the flow's
//! CSRF token. Failures count against the account (lockout, shared across
//! instances) and the address (rate limit). An unknown user, a wrong password
//! and a locked account get the same answer.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::crypto::{constant_time_eq, random_token, sha256};
use signet_core::login::{self, AuthorizeRequest, Purpose, Step, enrol_purpose};
use signet_core::model::{ADMINISTRATORS, Account, BROWSER_SESSION_TTL, DeviceStatus, totp_purpose};
use signet_core::{password, totp};
use signet_store::{BrowserSession, LoginFlow};

use super::authorize::{new_code, redirect_with_code};
use super::federated::Providers;
use super::qr::Qr;
use super::{PageEnv, PageParams, cookie, error_page, internal, page, see_other};
use crate::keyring::EnvKeys;
use crate::lockout::{self, FirstFactor};
use crate::metrics::Failure;
use crate::net::ClientIp;
use crate::ratelimit::{Kind, Proof};
use crate::routes::{self, signon_url};
use crate::state::AppState;

const WRONG_PASSWORD: &str = "Incorrect username or password.";
const WRONG_CODE: &str = "That code is not valid. Wait for a new code and try again.";
/// The one answer a locked account's sign-on gives, whatever was wrong.
const BOTH_FACTORS: &str = "For your protection after failed sign-ons, this account needs your password and the code \
    from your authenticator app together. Enter both.";

/// What a sign-on is for, as its first page says (`signon/who_asks.html`).
struct WhoAsks {
    environment: String,
    purpose: Asking,
}

enum Asking {
    /// To continue to this application.
    Application(String),
    /// To approve a device.
    Device,
    /// For an application that is gone meanwhile.
    Unknown,
}

#[derive(Template)]
#[template(path = "signon/password.html")]
struct PasswordPage<'a> {
    asks: WhoAsks,
    error: Option<&'a str>,
    csrf: &'a str,
    providers: Option<Providers>,
}

#[derive(Template)]
#[template(path = "signon/both_factors.html")]
struct BothFactorsPage<'a> {
    asks: WhoAsks,
    message: &'a str,
    csrf: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "signon/change_password.html")]
struct ChangePasswordPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/totp.html")]
struct TotpPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/enrol.html")]
struct EnrolPage<'a> {
    qr: Option<Qr>,
    key: String,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/consent.html")]
struct ConsentPage<'a> {
    app_name: &'a str,
    app_id: &'a str,
    user_code: String,
    requested_from: &'a str,
    requested_at: String,
    scopes: Vec<&'a str>,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/confirm.html")]
struct ConfirmPage<'a> {
    app_name: &'a str,
    app_id: &'a str,
    destination: String,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "signon/cancelled.html")]
struct Cancelled;

#[derive(Template)]
#[template(path = "device/approved.html")]
struct Approved;

#[derive(Template)]
#[template(path = "device/denied.html")]
struct Denied;

async fn load(state: &AppState, env: &EnvKeys, flow_id: &str, headers: &HeaderMap) -> Result<LoginFlow, Response> {
    let gone = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "Sign-on expired",
            "This sign-on has expired or was started in another browser. Start again from your application.",
        )
    };
    let flow = match state.store.flow(&env.environment.id, flow_id, state.now()).await {
        Ok(Some(f)) => f,
        Ok(None) => return Err(gone()),
        Err(e) => return Err(internal(e)),
    };
    if !holds(headers, &flow) {
        return Err(gone());
    }
    Ok(flow)
}

/// The flow a form was posted to: live, this browser's, and the form its own (CSRF).
pub(super) async fn posted(
    state: &AppState,
    env: &EnvKeys,
    flow_id: &str,
    headers: &HeaderMap,
    p: &super::Params,
) -> Result<LoginFlow, Response> {
    let flow = load(state, env, flow_id, headers).await?;
    if !constant_time_eq(p.get("csrf").unwrap_or_default().as_bytes(), flow.csrf.as_bytes()) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Sign-on refused",
            "The form was not sent from this sign-on page. Start again.",
        ));
    }
    Ok(flow)
}

/// Whether this browser holds the flow's cookie: the flow is its own.
pub(super) fn holds(headers: &HeaderMap, flow: &LoginFlow) -> bool {
    let cookie = super::read_cookie(headers, &super::flow_cookie(&flow.id)).unwrap_or_default();
    constant_time_eq(&sha256(cookie.as_bytes()), &flow.cookie_hash)
}

pub async fn show(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    Path((_, flow_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match load(&state, &env, &flow_id, &headers).await {
        Ok(flow) => render(&state, &env, &flow, None, StatusCode::OK).await,
        Err(res) => res,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    PageEnv(env): PageEnv,
    Path((_, flow_id)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageParams(p): PageParams,
) -> Response {
    let flow = match posted(&state, &env, &flow_id, &headers, &p).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let now = state.now();
    let principal = principal_of(&flow.step, &p);
    let proof = match proof_of(&state, &env, &flow.step, &p, &headers).await {
        Ok(proof) => proof,
        Err(e) => return internal(e),
    };
    if let Some(wait) = state.failures.blocked_with(ip, Kind::SignOn, principal.as_deref(), proof, now) {
        state.metrics.failure(Failure::RateLimited);
        let msg = format!("Too many failed attempts from your address. Try again in {} minutes.", wait.div_ceil(60));
        return render(&state, &env, &flow, Some(&msg), StatusCode::TOO_MANY_REQUESTS).await;
    }
    let step = match &flow.step {
        // Back from a provider's page without finishing there, a password still works.
        Step::Password | Step::Federating { .. } => password(&state, &env, &p, &headers, now, ip).await,
        Step::ChangePassword { account_id } => change_password(&state, account_id, &p, now).await,
        Step::Totp { account_id, first } => {
            second_factor(&state, account_id, None, first, p.get("code"), now, ip).await
        }
        Step::Enrol { account_id, sealed_secret, first } => {
            second_factor(&state, account_id, Some(sealed_secret), first, p.get("code"), now, ip).await
        }
        Step::Mfa { .. } => super::mfa::submit(&state, &flow.step, &p, now, ip).await,
        Step::Link { .. } if p.get("decision") != Some("link") => {
            return super::federated::decline_link(&state, &env, &flow).await;
        }
        Step::Link { .. } => super::federated::link(&state, &env, &flow.step, &headers, now, ip).await,
        Step::Authenticated { account_id, auth_time, amr } => {
            return decide(&state, &env, &flow, account_id, *auth_time, amr, p.get("decision"), ip).await;
        }
    };
    let (next, account) = match step {
        Ok(Ok(next)) => next,
        Ok(Err((failure, message))) => {
            state.failures.fail(ip, Kind::SignOn, principal.as_deref(), now);
            state.metrics.failure(failure);
            if failure == Failure::AccountLocked && matches!(flow.step, Step::Password | Step::Federating { .. }) {
                return both_factors_form(&state, &env, &flow, p.get("username").unwrap_or_default(), message).await;
            }
            return render(&state, &env, &flow, Some(message), StatusCode::UNAUTHORIZED).await;
        }
        Err(e) => return internal(e),
    };
    if let Some(principal) = &principal {
        state.failures.succeeded(ip, Kind::SignOn, principal, now);
    }
    let enforce = !matches!(flow.step, Step::Mfa { .. });
    proceed(&state, &env, flow, next, &account, enforce, ip).await
}

/// Moves a flow on to `next`, a step for `account`: through the login
/// enforcements when `enforce` (once the first sign-on is done, the
/// administrators' own TOTP included, never again after the MFA step), and
/// to the client or the device consent once authenticated.
pub(super) async fn proceed(
    state: &AppState,
    env: &EnvKeys,
    flow: LoginFlow,
    next: Step,
    account: &Account,
    enforce: bool,
    ip: std::net::IpAddr,
) -> Response {
    let next = match (&next, enforce) {
        (Step::Authenticated { amr, .. }, true) => {
            let kind = login::kind_of(amr);
            match crate::enforcement::enforce(state, account, next, kind).await {
                Ok(n) => n,
                Err(e) => return internal(e),
            }
        }
        _ => next,
    };
    // An authorization request that is now complete ends its flow in
    // `finish`, compare-and-swap on the version read; every other step
    // (a code that waits for the person's confirmation too) moves the flow
    // here. Either way a form posted twice moves the flow once.
    if let (Step::Authenticated { auth_time, amr, .. }, Purpose::Authorize(req)) = (&next, &flow.purpose)
        && !needs_confirmation(env, req)
    {
        return finish(state, env, &flow, account, *auth_time, amr, ip).await;
    }
    match state.store.advance_flow(&flow.id, flow.version, &next).await {
        Ok(true) => {}
        Ok(false) => return see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)),
        Err(e) => return internal(e),
    }
    match next {
        Step::Authenticated { account_id, auth_time, amr } => {
            let flow = LoginFlow {
                step: Step::Authenticated { account_id: account_id.clone(), auth_time, amr: amr.clone() },
                version: flow.version + 1,
                ..flow
            };
            finish(state, env, &flow, account, auth_time, &amr, ip).await
        }
        _ => see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)),
    }
}

/// The next step and the account it is for, or the failure to show.
pub(super) type StepResult = Result<Result<(Step, Account), (Failure, &'static str)>, signet_store::StoreError>;

async fn password(
    state: &AppState,
    env: &EnvKeys,
    p: &super::Params,
    headers: &HeaderMap,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let username = p.get("username").unwrap_or_default();
    let password = p.get("password").unwrap_or_default();
    let account =
        if username.is_empty() { None } else { state.store.account_by_username(&env.environment.id, username).await? };
    let Some(account) = account else {
        // Hash anyway, so an unknown user takes as long as a wrong password.
        state.hasher.verify(password, None).await;
        return Ok(Err((Failure::WrongPassword, WRONG_PASSWORD)));
    };
    let device = device_of(state, &account, headers);
    let events = lockout::Events {
        failure: &|method| failure(&account, method, ip, now),
        refused: &|| refused(&account, ip, now),
    };
    match lockout::first_factor(state, &account, password, p.get("code"), device.as_deref(), now, &events).await? {
        FirstFactor::Passed => {
            match login::after_password(&account, now, || new_enrolment_secret(state, &account.id)) {
                Some(step) => Ok(Ok((step, account))),
                None => Err(signet_store::StoreError::Corrupt("could not create a TOTP secret".into())),
            }
        }
        // Both factors at once, while locked: the second factor is done too.
        FirstFactor::BothPassed if account.password_change_required => {
            Ok(Ok((Step::ChangePassword { account_id: account.id.clone() }, account)))
        }
        FirstFactor::BothPassed => Ok(Ok((login::after_second_factor(&account.id, &[], now), account))),
        FirstFactor::NeedsBoth | FirstFactor::Refused { locked: true } => {
            Ok(Err((Failure::AccountLocked, BOTH_FACTORS)))
        }
        FirstFactor::Refused { locked: false } => Ok(Err((Failure::WrongPassword, WRONG_PASSWORD))),
    }
}

/// What a failure counts against at the per-address limiter: the username
/// typed, or the account a later step is for.
fn principal_of(step: &Step, p: &super::Params) -> Option<String> {
    match step {
        Step::Password | Step::Federating { .. } => p.get("username").map(str::to_ascii_lowercase),
        Step::ChangePassword { account_id }
        | Step::Totp { account_id, .. }
        | Step::Enrol { account_id, .. }
        | Step::Mfa { account_id, .. }
        | Step::Link { account_id, .. }
        | Step::Authenticated { account_id, .. } => Some(format!("account:{account_id}")),
    }
}

/// What a first factor's attempt carries that strangers sharing its
/// address cannot send: the account's device cookie, or a second factor.
async fn proof_of(
    state: &AppState,
    env: &EnvKeys,
    step: &Step,
    p: &super::Params,
    headers: &HeaderMap,
) -> Result<Proof, signet_store::StoreError> {
    let (Step::Password | Step::Federating { .. }, Some(username)) = (step, p.get("username")) else {
        return Ok(Proof::None);
    };
    if let Some(account) = state.store.account_by_username(&env.environment.id, username).await?
        && device_of(state, &account, headers).is_some()
    {
        return Ok(Proof::Device);
    }
    Ok(if p.get("code").is_some() { Proof::SecondFactor } else { Proof::None })
}

/// The sign-on form of a locked account: the password and the second
/// factor together, one answer for every failure.
async fn both_factors_form(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    username: &str,
    message: &str,
) -> Response {
    let asks = who_asks(state, env, flow).await;
    page(StatusCode::UNAUTHORIZED, &BothFactorsPage { asks, message, csrf: &flow.csrf, username })
}

/// A new password in place of a one-time one. Not a credential check, so a
/// mismatch is not counted as a failure against the account.
async fn change_password(state: &AppState, account_id: &str, p: &super::Params, now: i64) -> StepResult {
    let new = p.get("new_password").unwrap_or_default();
    if new.chars().count() < password::MIN_LENGTH {
        return Ok(Err((Failure::Other, "Choose a password of at least 12 characters.")));
    }
    if p.get("confirm_password") != Some(new) {
        return Ok(Err((Failure::Other, "The two passwords differ.")));
    }
    let Some(account) = state.store.account(account_id).await? else {
        return Ok(Err((Failure::Other, "This account no longer exists.")));
    };
    if state.hasher.verify(new, account.password_hash.as_deref()).await {
        return Ok(Err((Failure::Other, "Choose a password other than the one-time password.")));
    }
    let Some(hash) = state.hasher.hash(new).await else {
        return Err(signet_store::StoreError::Corrupt("password hashing failed".into()));
    };
    let ev = event(&account, "account.password.change", account.id.clone(), None, now)?;
    state.store.change_password(account_id, &hash, &ev).await?;
    let account = Account { password_change_required: false, ..account };
    match login::after_first_factor(&account, now, || new_enrolment_secret(state, &account.id)) {
        Some(step) => Ok(Ok((step, account))),
        None => Err(signet_store::StoreError::Corrupt("could not create a TOTP secret".into())),
    }
}

/// A TOTP code after the first factor `first`, at sign-on (`enrolling` is
/// None) or confirming an enrolment.
async fn second_factor(
    state: &AppState,
    account_id: &str,
    enrolling: Option<&Vec<u8>>,
    first: &[String],
    code: Option<&str>,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let Some(account) = state.store.account(account_id).await? else {
        return Ok(Err((Failure::WrongTotp, WRONG_CODE)));
    };
    let code = code.unwrap_or_default();
    let events = lockout::Events {
        failure: &|method| failure(&account, method, ip, now),
        refused: &|| refused(&account, ip, now),
    };
    // The password was right in this flow: only the second factor's budget
    // applies, so strangers' failures on the password never stop this step.
    let passed = match enrolling {
        None => lockout::second_factor(state, &account, code, now, &events).await?,
        Some(_) if !lockout::reserve_second_factor(state, &account, now).await? => false,
        Some(sealed) => {
            let secret = state
                .kek
                .open(&enrol_purpose(account_id), sealed)
                .map_err(|e| signet_store::StoreError::Corrupt(e.to_string()))?;
            let confirmed = match totp::check(secret.expose(), code, now) {
                Some(step) => {
                    let sealed = state
                        .kek
                        .seal(&totp_purpose(account_id), secret.expose())
                        .map_err(|e| signet_store::StoreError::Corrupt(e.to_string()))?;
                    let ev = event(&account, "account.mfa.enrol", account_id.to_owned(), None, now)?;
                    state.store.confirm_totp(account_id, &sealed, step, &ev).await?
                }
                None => false,
            };
            match confirmed {
                true => state.store.second_factor_passed(account_id).await?,
                false => {
                    let failed = failure(&account, "otp", ip, now)?;
                    lockout::other_second_factor_failed(state, &account, now, &failed).await?;
                }
            }
            confirmed
        }
    };
    if !passed {
        return Ok(Err((Failure::WrongTotp, WRONG_CODE)));
    }
    Ok(Ok((login::after_second_factor(account_id, first, now), account)))
}

pub(crate) fn event(
    account: &Account,
    action: &str,
    target: String,
    ip: Option<std::net::IpAddr>,
    now: i64,
) -> Result<AuditEvent, signet_store::StoreError> {
    let actor = Actor {
        kind: ActorKind::Person,
        id: account.id.clone(),
        name: account.username.clone(),
        scheme: "signon".into(),
        client_id: None,
    };
    let mut ev = AuditEvent::new(actor, action, Some(&account.environment_id), &target, now)
        .map_err(|e| signet_store::StoreError::Corrupt(e.to_string()))?;
    ev.source_ip = ip.map(|i| i.to_string());
    Ok(ev)
}

/// A failed sign-on of a known account, with the method that failed (RFC
/// 8176 `pwd` or `otp`). Unknown usernames are counted in metrics only, so
/// guessing names cannot fill the trail.
fn failure(
    account: &Account,
    method: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, signet_store::StoreError> {
    let mut ev = event(account, "signon.failure", account.id.clone(), Some(ip), now)?;
    ev.actor.scheme = method.into();
    ev.outcome = Some("failure".into());
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

/// An event by the person `account_id` names, from `ip`, about `target`.
async fn person_event(
    state: &AppState,
    account_id: &str,
    action: &str,
    target: String,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, signet_store::StoreError> {
    let account = state
        .store
        .account(account_id)
        .await?
        .ok_or_else(|| signet_store::StoreError::Corrupt("a signed-on account is gone".into()))?;
    let mut ev = event(&account, action, target, Some(ip), now)?;
    ev.outcome = Some("success".into());
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

/// An attempt refused unchecked because the account is locked: only the
/// lock's first is recorded (`Store::count_refused`).
fn refused(account: &Account, ip: std::net::IpAddr, now: i64) -> Result<AuditEvent, signet_store::StoreError> {
    let mut ev = event(account, "signon.refused", account.id.clone(), Some(ip), now)?;
    ev.outcome = Some("denied".into());
    ev.reason = Some("locked".into());
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

/// A new TOTP secret for enrolment, sealed to this account's flow.
pub(super) fn new_enrolment_secret(state: &AppState, account_id: &str) -> Option<Vec<u8>> {
    let secret = totp::generate_secret().ok()?;
    state.kek.seal(&enrol_purpose(account_id), secret.expose()).ok()
}

/// The person is authenticated: start a browser session, record the sign-on,
/// then give the client its code or show the device consent.
async fn finish(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    account: &Account,
    auth_time: i64,
    amr: &[String],
    ip: std::net::IpAddr,
) -> Response {
    let now = state.now();
    let account_id = account.id.as_str();
    // Only an account with failures on record needs its count reset.
    let reset = account.failed_attempts != 0;
    let result = async {
        let target = match &flow.purpose {
            Purpose::Authorize(r) => format!("client:{}", r.client_id),
            Purpose::Device { user_code } => format!("device:{user_code}"),
        };
        let mut ev = event(account, "signon", target, Some(ip), now)?;
        ev.actor.scheme = amr.join("+");
        ev.outcome = Some("success".into());
        ev.request_id = Some(crate::request_id());
        let corrupt = |e: signet_core::crypto::CryptoError| signet_store::StoreError::Corrupt(e.to_string());
        let session = random_token().map_err(corrupt)?;
        let s = BrowserSession {
            environment_id: env.environment.id.clone(),
            account_id: account_id.to_owned(),
            auth_time,
            amr: amr.to_vec(),
            expires_at: now + BROWSER_SESSION_TTL,
        };
        let session_hash = sha256(session.expose().as_bytes());
        let mut res = match &flow.purpose {
            // The flow waits at `Authenticated` for the person to confirm where the code goes.
            Purpose::Authorize(req) if needs_confirmation(env, req) => {
                state.store.complete_signon(&ev, reset, &session_hash, &s, None, None).await?;
                see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id))
            }
            Purpose::Authorize(req) => {
                let (code, record) = new_code(state, env, req, account_id, auth_time, amr)
                    .ok_or_else(|| signet_store::StoreError::Corrupt("could not draw a code".into()))?;
                if !state
                    .store
                    .complete_signon(&ev, reset, &session_hash, &s, Some(&record), Some((&flow.id, flow.version)))
                    .await?
                {
                    return Ok(see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)));
                }
                redirect_with_code(state, env, req, code.expose())
            }
            Purpose::Device { .. } => {
                state.store.complete_signon(&ev, reset, &session_hash, &s, None, None).await?;
                see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id))
            }
        };
        let path = routes::AS_PREFIX.replace("{env}", &env.environment.id);
        res.headers_mut().append(
            header::SET_COOKIE,
            cookie(super::SESSION_COOKIE, session.expose(), &path, BROWSER_SESSION_TTL, state.secure_cookies),
        );
        // This browser completed a sign-on for the account: from now on its
        // failures spend a budget of its own (finding 2).
        if let Some(device) = device_cookie(state, account, None, &path) {
            res.headers_mut().append(header::SET_COOKIE, device);
        }
        Ok::<_, signet_store::StoreError>(res)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// The device consent's answer.
#[allow(clippy::too_many_arguments)]
async fn decide(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    account_id: &str,
    auth_time: i64,
    amr: &[String],
    decision: Option<&str>,
    ip: std::net::IpAddr,
) -> Response {
    let user_code = match &flow.purpose {
        Purpose::Device { user_code } => user_code,
        Purpose::Authorize(req) if needs_confirmation(env, req) => {
            return confirmed(state, env, flow, req, account_id, auth_time, amr, decision, ip).await;
        }
        Purpose::Authorize(_) => {
            return error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.");
        }
    };
    let status = match decision {
        Some("approve") => DeviceStatus::Approved { account_id: account_id.to_owned(), auth_time, amr: amr.to_vec() },
        Some("deny") => DeviceStatus::Denied,
        _ => return render(state, env, flow, Some("Choose Approve or Deny."), StatusCode::BAD_REQUEST).await,
    };
    // Which device got whose tokens is what a phished approval would hide:
    // the decision is recorded with where and when the code was asked for.
    let now = state.now();
    let action = if matches!(status, DeviceStatus::Denied) { "device.deny" } else { "device.approve" };
    let ev = match person_event(state, account_id, action, format!("device:{user_code}"), ip, now).await {
        Ok(mut ev) => {
            if let Ok(Some(d)) = state.store.device_by_user_code(&env.environment.id, user_code).await {
                ev.digest = signet_core::audit::digest_of(&serde_json::json!({
                    "client_id": d.client_id, "scope": d.scope,
                    "requested_from": d.requested_from, "requested_at": d.requested_at,
                }));
            }
            ev
        }
        Err(e) => return internal(e),
    };
    let decided = match state.store.decide_device(user_code, &status, now, &ev).await {
        Ok(d) => d,
        Err(e) => return internal(e),
    };
    if let Err(e) = state.store.delete_flow(&flow.id).await {
        return internal(e);
    }
    match (decided, status) {
        (false, _) => error_page(
            StatusCode::BAD_REQUEST,
            "Code expired",
            "This code has expired or was already used. Start again on your device.",
        ),
        (true, DeviceStatus::Denied) => page(StatusCode::OK, &Denied),
        (true, _) => page(StatusCode::OK, &Approved),
    }
}

/// What the sign-on is for, so a person can tell a real request from a lure.
async fn who_asks(state: &AppState, env: &EnvKeys, flow: &LoginFlow) -> WhoAsks {
    let purpose = match &flow.purpose {
        Purpose::Authorize(req) => {
            match state.clients.get(&state.store, &env.environment.id, &req.client_id, state.now()).await {
                Ok(Some(app)) => Asking::Application(app.name.clone()),
                _ => Asking::Unknown,
            }
        }
        Purpose::Device { .. } => Asking::Device,
    };
    WhoAsks { environment: env.environment.name.clone(), purpose }
}

/// The page of the flow's current step, with `error` if the last post failed.
pub(super) async fn render(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = &flow.csrf;
    match &flow.step {
        Step::Password | Step::Federating { .. } => {
            let asks = who_asks(state, env, flow).await;
            let providers = super::federated::providers(state, env, flow).await;
            page(status, &PasswordPage { asks, error, csrf, providers })
        }
        Step::ChangePassword { .. } => page(status, &ChangePasswordPage { error, csrf }),
        Step::Totp { .. } => page(status, &TotpPage { error, csrf }),
        Step::Enrol { account_id, sealed_secret, .. } => {
            let Ok(secret) = state.kek.open(&enrol_purpose(account_id), sealed_secret) else {
                return internal("enrolment secret could not be opened");
            };
            let username = match state.store.account(account_id).await {
                Ok(Some(a)) => a.username,
                Ok(None) => String::new(),
                Err(e) => return internal(e),
            };
            let qr = Qr::new(&totp::otpauth_uri("signet", &username, secret.expose()), 192);
            page(status, &EnrolPage { qr, key: totp::to_base32(secret.expose()), error, csrf })
        }
        Step::Mfa { .. } => super::mfa::render(state, flow, error, status).await,
        Step::Link { .. } => super::federated::render_link(state, env, flow, error, status).await,
        Step::Authenticated { .. } => match &flow.purpose {
            Purpose::Device { user_code } => consent(state, env, flow, user_code, error, status).await,
            Purpose::Authorize(req) if needs_confirmation(env, req) => {
                confirmation(state, env, flow, req, error, status).await
            }
            Purpose::Authorize(_) => {
                error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.")
            }
        },
    }
}

async fn consent(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    user_code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let device = match state.store.device_by_user_code(&env.environment.id, user_code).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Code expired",
                "This code has expired. Start again on your device.",
            );
        }
        Err(e) => return internal(e),
    };
    let app = match state.store.application(&env.environment.id, &device.client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return error_page(StatusCode::BAD_REQUEST, "Unknown application", "The application no longer exists.");
        }
        Err(e) => return internal(e),
    };
    let requested_at = crate::second_factor::rfc2822(device.requested_at).replace("+0000", "UTC");
    let consent = ConsentPage {
        app_name: &app.name,
        app_id: &app.id,
        user_code: signet_core::user_code::display(user_code),
        requested_from: device.requested_from.as_deref().unwrap_or("an unknown address"),
        requested_at,
        scopes: device.scope.split(' ').filter(|s| !s.is_empty()).collect(),
        error,
        csrf: &flow.csrf,
    };
    page(status, &consent)
}

/// Whether a code for this request waits for the person to confirm where it
/// goes: in the Administrators environment, when it would leave this device
/// (any redirect but a loopback IP literal). An administrator's code is the
/// key to their tokens; one link opened in a signed-on browser must not send
/// it anywhere without a page that names the destination.
pub(crate) fn needs_confirmation(env: &EnvKeys, req: &AuthorizeRequest) -> bool {
    env.environment.name == ADMINISTRATORS && !signet_core::redirect::stays_on_device(&req.redirect_uri)
}

/// The page that names where an administrator's code is about to go.
async fn confirmation(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    req: &AuthorizeRequest,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let app = match state.clients.get(&state.store, &env.environment.id, &req.client_id, state.now()).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return error_page(StatusCode::BAD_REQUEST, "Unknown application", "The application no longer exists.");
        }
        Err(e) => return internal(e),
    };
    let confirm = ConfirmPage {
        app_name: &app.name,
        app_id: &app.id,
        destination: signet_core::redirect::destination(&req.redirect_uri),
        error,
        csrf: &flow.csrf,
    };
    page(status, &confirm)
}

/// The answer to the confirmation: the code goes to the client, or nowhere.
/// Both are recorded, with the destination.
#[allow(clippy::too_many_arguments)]
async fn confirmed(
    state: &AppState,
    env: &EnvKeys,
    flow: &LoginFlow,
    req: &AuthorizeRequest,
    account_id: &str,
    auth_time: i64,
    amr: &[String],
    decision: Option<&str>,
    ip: std::net::IpAddr,
) -> Response {
    let now = state.now();
    let recorded = |action: &'static str| {
        let (client, destination) = (req.client_id.clone(), signet_core::redirect::destination(&req.redirect_uri));
        async move {
            let mut ev = person_event(state, account_id, action, format!("client:{client}"), ip, now).await?;
            ev.digest = signet_core::audit::digest_of(&serde_json::json!({"destination": destination}));
            Ok::<_, signet_store::StoreError>(ev)
        }
    };
    match decision {
        Some("continue") => {
            let Some((code, record)) = new_code(state, env, req, account_id, auth_time, amr) else {
                return internal("could not draw a code");
            };
            let ev = match recorded("authorize.confirm").await {
                Ok(ev) => ev,
                Err(e) => return internal(e),
            };
            match state.store.end_flow_with_code(&flow.id, flow.version, &record, &ev).await {
                Ok(true) => redirect_with_code(state, env, req, code.expose()),
                Ok(false) => {
                    error_page(StatusCode::BAD_REQUEST, "Sign-on finished", "This sign-on is already complete.")
                }
                Err(e) => internal(e),
            }
        }
        Some("cancel") => match async {
            state.store.record(&recorded("authorize.cancel").await?).await?;
            state.store.delete_flow(&flow.id).await
        }
        .await
        {
            Ok(()) => page(StatusCode::OK, &Cancelled),
            Err(e) => internal(e),
        },
        _ => render(state, env, flow, Some("Choose Continue or Cancel."), StatusCode::BAD_REQUEST).await,
    }
}

/// The device id a browser's cookie proves for this account, if any.
pub fn device_of(state: &AppState, account: &Account, cookies: &axum::http::HeaderMap) -> Option<String> {
    let value = super::read_cookie(cookies, &signet_core::device::cookie_name(&state.kek, &account.id))?;
    signet_core::device::check(&state.kek, account, value)
}

/// A `Set-Cookie` for the device cookie of a browser that just completed a
/// sign-on for `account` (keeping the device id it had).
fn device_cookie(
    state: &AppState,
    account: &Account,
    had: Option<&str>,
    path: &str,
) -> Option<axum::http::HeaderValue> {
    let value = signet_core::device::cookie_value(&state.kek, account, had).ok()?;
    let name = signet_core::device::cookie_name(&state.kek, &account.id);
    Some(super::cookie(&name, &value, path, signet_core::device::COOKIE_TTL, state.secure_cookies))
}
