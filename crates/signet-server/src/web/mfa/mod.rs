//! The MFA step of the sign-on pages (seed 002): when enforcements
//! (`crate::enforcement`) match a person signing on, each must be passed by
//! one of its MFA methods before the sign-on completes, in the authorization
//! code and device flows alike.
//!
//! - TOTP methods use their own parameters. A person enrols on first use
//!   (the secret is sealed in the flow until its first code confirms it),
//!   each step is accepted once, and wrong codes are limited by the method's
//!   `max_validation_attempts` as well as the account's lockout policy.
//! - PingID, Okta and Duo ask their service (`second_factor`) under the name
//!   the method's `username_format` makes from the account.
//!
//! Every success and failure is recorded in the audit trail.

mod page;

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::audit::{AuditEvent, digest_of};
use signet_core::crypto::CryptoError;
use signet_core::login::{AMR_MFA, AMR_OTP, Step};
use signet_core::mfa::template::Entity;
use signet_core::mfa::{self, Method, Settings};
use signet_core::model::Account;

pub(in crate::web) use self::page::render;
use super::signon::{StepResult, event, refused};
use crate::enforcement::{DENIED, begin, service};
use crate::error::InternalError;
use crate::metrics::Failure;
use crate::state::AppState;

const WRONG_CODE: &str = "That code is not valid. Wait for a new code and try again.";
const TOO_MANY: &str = "Too many wrong codes for this method. Wait a few minutes and try again.";
const NOT_SET_UP: &str = "This method is not set up for your account, and another one is. Use that one, \
    or ask an administrator to reset your methods.";

/// A post to the MFA step: choosing a method, or answering the chosen one.
pub(in crate::web) async fn submit(
    state: &AppState,
    step: &Step,
    p: &super::Params,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let Step::Mfa { account_id, auth_time, amr, kind, required, chosen, enrolling } = step else {
        return Err(InternalError::Broken("not an MFA step").into());
    };
    let Some(account) = state.store.account(account_id).await? else {
        return refused(Failure::Other, "This account no longer exists.");
    };
    // The first factor was right in this flow: only the second factor's own
    // budget applies here, never the lock strangers can put on the password.
    let lock = crate::lockout::current(state, &account, now).await?;
    if lock.second_factor_locked(now) || !account.active {
        return refused(Failure::WrongTotp, WRONG_CODE);
    }
    let set = required.first().cloned().unwrap_or_default();
    if let Some(choice) = p.get("method") {
        let choice = (!choice.is_empty()).then(|| choice.to_owned());
        if choice.as_ref().is_some_and(|c| !set.contains(c)) {
            return refused(Failure::Other, "Choose one of the methods shown.");
        }
        let next = begin(state, account_id.clone(), *auth_time, amr.clone(), *kind, required.clone(), choice).await?;
        return Ok((next, account));
    }
    let Some(method_id) = chosen else { return refused(Failure::Other, "Choose a method.") };
    let Some(method) = state.store.mfa_method(method_id).await? else {
        return refused(Failure::Other, "This method no longer exists. Choose another.");
    };
    // One of the second factor's remaining attempts, reserved before the
    // check, so parallel attempts cannot all be checked before one counts.
    if !crate::lockout::reserve_second_factor(state, &account, now).await? {
        return refused(Failure::WrongTotp, WRONG_CODE);
    }
    let outcome = match &method.settings {
        Settings::Totp(t) => totp_code(state, &account, &method, t, enrolling.as_deref(), p.get("code"), now).await?,
        _ => {
            let metadata = state.store.account_attributes(&account.id).await?;
            let entity = Entity {
                id: account.id.as_str(),
                name: &account.username,
                environment_id: account.environment_id.as_str(),
                kind: *kind,
                metadata: &metadata,
            };
            service(state, &method, &entity, p.get("code"), now).await?
        }
    };
    let (ok, reason) = match outcome {
        Ok(()) => (true, "approved"),
        Err(message) => (false, message),
    };
    let ev = mfa_event(&account, &method, ok, reason, ip, now)?;
    settle(state, &account, &ev, ok.then_some(()).ok_or(reason), now).await?;
    if !ok {
        return refused(if reason == WRONG_CODE { Failure::WrongTotp } else { Failure::Other }, reason);
    }
    let mut amr = amr.clone();
    let otp = matches!(method.settings, Settings::Totp(_)) || p.get("code").is_some_and(|c| !c.is_empty());
    for value in [otp.then_some(AMR_OTP), Some(AMR_MFA)].into_iter().flatten() {
        if !amr.iter().any(|a| a == value) {
            amr.push(value.to_owned());
        }
    }
    let rest: Vec<Vec<String>> = required.iter().filter(|s| !s.contains(method_id)).cloned().collect();
    let next = if rest.is_empty() {
        Step::Authenticated { account_id: account.id.clone(), auth_time: now, amr }
    } else {
        begin(state, account.id.clone(), *auth_time, amr, *kind, rest, None).await?
    };
    Ok((next, account))
}

/// Gives back the second factor's reserved attempt, with the answer's
/// event `ev`: a pass, or a failure that is not the person's (a service
/// down), spends nothing; a wrong code or a refused push spends the budget,
/// recorded with it.
async fn settle(
    state: &AppState,
    account: &Account,
    ev: &AuditEvent,
    outcome: Result<(), &str>,
    now: i64,
) -> Result<(), InternalError> {
    match outcome {
        Ok(()) => state.store.second_factor_passed(&account.id).await?,
        Err(reason) if reason == WRONG_CODE || reason == DENIED => {
            return crate::lockout::other_second_factor_failed(state, account, now, ev).await;
        }
        Err(_) => state.store.release_budget(&account.id, signet_store::Budget::SecondFactor).await?,
    }
    Ok(state.store.record(ev).await?)
}

/// A TOTP code: confirming an enrolment, or against the person's enrolment.
async fn totp_code(
    state: &AppState,
    account: &Account,
    method: &Method,
    t: &mfa::Totp,
    enrolling: Option<&[u8]>,
    code: Option<&str>,
    now: i64,
) -> Result<Result<(), &'static str>, InternalError> {
    let code = code.unwrap_or_default();
    if let Some(sealed) = enrolling {
        let enrolled = crate::web::credentials::enrol_in_method(state, account, (method, t), sealed, code, now).await?;
        return Ok(if enrolled { Ok(()) } else { Err(WRONG_CODE) });
    }
    let Some(enrolment) = state.store.totp_enrolment(&method.id, &account.id).await? else {
        return Ok(Err(NOT_SET_UP));
    };
    // The parameters the person enrolled with, whatever the method says now.
    let params = enrolment.params;
    let window = i64::from(params.period) * (2 + i64::from(params.skew));
    let max = i64::from(t.max_validation_attempts);
    if !state.store.reserve_attempt(&method.id, &account.id, max, now, window).await? {
        return Ok(Err(TOO_MANY));
    }
    let secret =
        state.kek.open(&mfa::enrolment_purpose(method.id.as_str(), account.id.as_str()), &enrolment.secret_sealed)?;
    let spent = match params.check(secret.expose(), code, now) {
        Some(step) => state.store.spend_enrolled_step(&method.id, &account.id, step).await?,
        None => false,
    };
    Ok(if spent { Ok(()) } else { Err(WRONG_CODE) })
}

/// One MFA success or failure, in the trail.
fn mfa_event(
    account: &Account,
    method: &Method,
    ok: bool,
    reason: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let mut ev = event(account, Event::SignonMfa, method.id.to_string(), Some(ip), now)?;
    ev.actor.scheme = ActorScheme::Mfa(method.method_type());
    ev.set_outcome(if ok { Outcome::Success } else { Outcome::Failure });
    ev.request_id = Some(crate::request_id());
    ev.digest = digest_of(&json!({"method": method.id, "type": method.method_type().as_str(), "result": reason}));
    Ok(ev)
}
