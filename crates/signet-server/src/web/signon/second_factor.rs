//! The sign-on's own TOTP step: a code after the first factor, or the code
//! that confirms an administrator's new enrolment.

use signet_core::id::AccountId;
use signet_core::login::{self, enrol_purpose};
use signet_core::totp;

use signet_core::crypto::CryptoError;
use signet_core::login::Step;

use super::audit::{failure, refused};
use super::{StepResult, refused as refuse};
use crate::error::InternalError;
use crate::lockout;
use crate::metrics::Failure;
use crate::state::AppState;

const WRONG_CODE: &str = "That code is not valid. Wait for a new code and try again.";

/// A TOTP code after the first factor `first`, at sign-on (`enrolling` is
/// None) or confirming an enrolment.
pub(super) async fn check(
    state: &AppState,
    account_id: &str,
    enrolling: Option<&Vec<u8>>,
    first: &[String],
    code: Option<&str>,
    now: i64,
    ip: std::net::IpAddr,
) -> StepResult {
    let Some(account) = state.store.account(&AccountId::from(account_id)).await? else {
        return refuse(Failure::WrongTotp, WRONG_CODE);
    };
    let code = code.unwrap_or_default();
    let events = lockout::Events {
        failure: &|method| Ok(failure(&account, method, ip, now)?),
        refused: &|| Ok(refused(&account, ip, now)?),
    };
    // The password was right in this flow: only the second factor's budget
    // applies, so strangers' failures on the password never stop this step.
    let passed = match enrolling {
        None => lockout::second_factor(state, &account, code, now, &events).await?,
        Some(_) if !lockout::reserve_second_factor(state, &account, now).await? => false,
        Some(sealed) => {
            let confirmed = crate::web::credentials::confirm_own_totp(state, &account, sealed, code, now).await?;
            match confirmed {
                true => state.store.second_factor_passed(&AccountId::from(account_id)).await?,
                false => {
                    let failed = failure(&account, "otp", ip, now)?;
                    lockout::other_second_factor_failed(state, &account, now, &failed).await?;
                }
            }
            confirmed
        }
    };
    if !passed {
        return refuse(Failure::WrongTotp, WRONG_CODE);
    }
    Ok((login::after_second_factor(&AccountId::from(account_id), first, now), account))
}

/// A new TOTP secret for enrolment, sealed to this account's flow.
fn new_enrolment_secret(state: &AppState, account_id: &str) -> Result<Vec<u8>, CryptoError> {
    let secret = totp::generate_secret()?;
    state.kek.seal(&enrol_purpose(account_id), secret.expose())
}

/// The step `due` makes of an account whose first factor is settled,
/// given the means to draw a new enrolment secret, drawn only if the step
/// needs one; a secret that could not be drawn is the error, with its cause.
pub(in crate::web) fn next_step(
    state: &AppState,
    account_id: &str,
    due: impl FnOnce(&mut dyn FnMut() -> Option<Vec<u8>>) -> Option<Step>,
) -> Result<Step, InternalError> {
    let mut failed = None;
    let mut draw = || new_enrolment_secret(state, account_id).map_err(|e| failed = Some(e)).ok();
    match due(&mut draw) {
        Some(step) => Ok(step),
        None => Err(failed.map_or(InternalError::Broken("no step after the first factor"), InternalError::from)),
    }
}
