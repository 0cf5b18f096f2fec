//! The sign-on steps: password (or an external provider, `federated`), then
//! TOTP (or enrolment for an administrator who has none), then either a code
//! for the client or the device consent.
//!
//! Each POST is checked three ways before it is read: the flow must be live,
//! the browser must hold the flow's cookie, and the form must carry the flow's
//! CSRF token. Failures count against the account (lockout, shared across
//! instances) and the address (rate limit). An unknown user, a wrong password
//! and a locked account get the same answer.

mod audit;
mod consent;
mod finish;
mod first_factor;
mod pages;
mod second_factor;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use signet_core::crypto::{constant_time_eq, sha256};
use signet_core::login::{self, Purpose, Step};
use signet_core::model::Account;
use signet_store::LoginFlow;

pub(crate) use self::audit::event;
pub(crate) use self::consent::needs_confirmation;
pub use self::finish::device_of;
pub(in crate::web) use self::pages::render;
pub(in crate::web) use self::second_factor::next_step;
use super::{PageEnv, PageParams, error_page, internal, see_other};
use crate::error::InternalError;
use crate::keyring::EnvKeys;
use crate::metrics::Failure;
use crate::net::ClientIp;
use crate::oauth::form::Params;
use crate::ratelimit::{Kind, Proof};
use crate::routes::signon_url;
use crate::state::AppState;

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

/// A form posted to a sign-on flow's page (`/signon/{flow}`, and its
/// `/federate`): the flow live, this browser's, and the form its own (CSRF).
/// Anything else is answered with the page that says so.
pub struct Posted {
    pub env: Arc<EnvKeys>,
    pub flow: LoginFlow,
    pub headers: HeaderMap,
    pub p: Params,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let PageEnv(env) = PageEnv::from_request_parts(&mut parts, state).await?;
        let Path((_, flow_id)) = Path::<(String, String)>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let PageParams(p) = PageParams::from_request(Request::from_parts(parts, body), state).await?;
        let flow = load(state, &env, &flow_id, &headers).await?;
        if !constant_time_eq(p.get("csrf").unwrap_or_default().as_bytes(), flow.csrf.as_bytes()) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Sign-on refused",
                "The form was not sent from this sign-on page. Start again.",
            ));
        }
        Ok(Posted { env, flow, headers, p })
    }
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
    ClientIp(ip): ClientIp,
    Posted { env, flow, headers, p }: Posted,
) -> Response {
    let post = Post { state: &state, env: &env, headers: &headers, p: &p, ip, now: state.now() };
    let principal = principal_of(&flow.step, &p);
    if let Some(res) = post.limited(&flow, principal.as_deref()).await {
        return res;
    }
    let (next, account) = match post.take(&flow).await {
        Ok(next) => next,
        Err(StepError::Refused(failure, message)) => return post.failed(&flow, principal, failure, message).await,
        Err(StepError::Internal(e)) => return internal(e),
        Err(StepError::Answered(res)) => return *res,
    };
    if let Some(principal) = &principal {
        state.failures.succeeded(ip, Kind::SignOn, principal, post.now);
    }
    let enforce = !matches!(flow.step, Step::Mfa { .. });
    proceed(&state, &env, flow, next, &account, enforce, ip).await
}

/// A form posted to a sign-on step, and what came with it.
struct Post<'a> {
    state: &'a AppState,
    env: &'a EnvKeys,
    headers: &'a HeaderMap,
    p: &'a Params,
    ip: IpAddr,
    now: i64,
}

impl Post<'_> {
    /// The step's page again, saying why, while the address has failed too often.
    async fn limited(&self, flow: &LoginFlow, principal: Option<&str>) -> Option<Response> {
        let proof = match proof_of(self.state, self.env, &flow.step, self.p, self.headers).await {
            Ok(proof) => proof,
            Err(e) => return Some(internal(e)),
        };
        let wait = self.state.failures.blocked_with(self.ip, Kind::SignOn, principal, proof, self.now)?;
        self.state.metrics.failure(Failure::RateLimited);
        let msg = format!("Too many failed attempts from your address. Try again in {} minutes.", wait.div_ceil(60));
        Some(render(self.state, self.env, flow, Some(&msg), StatusCode::TOO_MANY_REQUESTS).await)
    }

    /// The post, taken by the flow's current step: the step it moves the
    /// flow to (or why not), or the answer when the step gives one at once.
    async fn take(&self, flow: &LoginFlow) -> StepResult {
        let (state, env, p, now, ip) = (self.state, self.env, self.p, self.now, self.ip);
        match &flow.step {
            // Back from a provider's page without finishing there, a password still works.
            Step::Password | Step::Federating { .. } => {
                first_factor::password(state, env, p, self.headers, now, ip).await
            }
            Step::ChangePassword { account_id } => {
                first_factor::change_password(state, account_id.as_str(), p, now).await
            }
            Step::Totp { account_id, first } => {
                second_factor::check(state, account_id.as_str(), None, first, p.get("code"), now, ip).await
            }
            Step::Enrol { account_id, sealed_secret, first } => {
                second_factor::check(state, account_id.as_str(), Some(sealed_secret), first, p.get("code"), now, ip)
                    .await
            }
            Step::Mfa { .. } => super::mfa::submit(state, &flow.step, p, now, ip).await,
            Step::Link { .. } if p.get("decision") != Some("link") => {
                Err(StepError::Answered(Box::new(super::federated::decline_link(state, env, flow).await)))
            }
            Step::Link { .. } => super::federated::link(state, env, &flow.step, self.headers, now, ip).await,
            Step::Authenticated { account_id, auth_time, amr } => {
                let who = consent::SignedOn { account_id: account_id.as_str(), auth_time: *auth_time, amr };
                let answer = consent::decide(state, env, flow, who, p.get("decision"), ip).await;
                Err(StepError::Answered(Box::new(answer)))
            }
        }
    }

    /// A step that failed: counted against the address, and its page again saying why.
    async fn failed(&self, flow: &LoginFlow, principal: Option<String>, failure: Failure, message: &str) -> Response {
        self.state.failures.fail(self.ip, Kind::SignOn, principal.as_deref(), self.now);
        self.state.metrics.failure(failure);
        if failure == Failure::AccountLocked && matches!(flow.step, Step::Password | Step::Federating { .. }) {
            let username = self.p.get("username").unwrap_or_default();
            return pages::both_factors(self.state, self.env, flow, username, message).await;
        }
        render(self.state, self.env, flow, Some(message), StatusCode::UNAUTHORIZED).await
    }
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
    ip: IpAddr,
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
        return finish::finish(state, env, &flow, account, *auth_time, amr, ip).await;
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
            finish::finish(state, env, &flow, account, auth_time, &amr, ip).await
        }
        _ => see_other(&signon_url(&state.issuer(&env.environment.id), &flow.id)),
    }
}

/// The next step and the account it is for, or why the flow stays.
pub(super) type StepResult = Result<(Step, Account), StepError>;

/// Why a post did not move its flow on to another step.
pub(super) enum StepError {
    /// Refused: counted as `Failure`, and the step's page again saying why.
    Refused(Failure, &'static str),
    /// The step answered at once (the device consent, a declined link).
    Answered(Box<Response>),
    /// signetd failed.
    Internal(InternalError),
}

/// A post refused as `failure`, with the message its page shows.
pub(super) fn refused(failure: Failure, message: &'static str) -> StepResult {
    Err(StepError::Refused(failure, message))
}

impl From<InternalError> for StepError {
    fn from(e: InternalError) -> StepError {
        StepError::Internal(e)
    }
}

impl From<signet_store::StoreError> for StepError {
    fn from(e: signet_store::StoreError) -> StepError {
        StepError::Internal(e.into())
    }
}

impl From<signet_core::crypto::CryptoError> for StepError {
    fn from(e: signet_core::crypto::CryptoError) -> StepError {
        StepError::Internal(e.into())
    }
}

/// What a failure counts against at the per-address limiter: the username
/// typed, or the account a later step is for.
fn principal_of(step: &Step, p: &Params) -> Option<String> {
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
    p: &Params,
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
