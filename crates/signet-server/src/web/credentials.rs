//! A person's own credentials, as the sign-on pages write them: a password
//! chosen in place of a one-time one, and a TOTP authenticator confirmed by
//! its first code (the account's own, or a login method's). Each writes
//! the change with its event in one transaction. What the person proved
//! to get here (the flow's step) is the pages' to check.

use serde_json::json;
use signet_core::audit::{Action as Event, digest_of};
use signet_core::login::enrol_purpose;
use signet_core::mfa::{self, Method};
use signet_core::model::{Account, totp_purpose};
use signet_core::totp;
use signet_store::ConfirmedEnrolment;

use crate::error::InternalError;
use crate::state::AppState;
use crate::web::signon::event;

/// Replaces `account`'s one-time password with `new`.
pub async fn replace_one_time_password(
    state: &AppState,
    account: &Account,
    new: &str,
    now: i64,
) -> Result<(), InternalError> {
    let hash = state.hasher.hash(new).await.ok_or(InternalError::Hashing)?;
    let ev = event(account, Event::AccountPasswordChange, account.id.to_string(), None, now)?;
    state.store.change_password(&account.id, &hash, &ev).await?;
    Ok(())
}

/// Confirms the account's own new authenticator, whose secret was sealed
/// to its enrolment (`sealed`), if `code` is its code now. False when it is
/// not, or the account enrolled meanwhile.
pub async fn confirm_own_totp(
    state: &AppState,
    account: &Account,
    sealed: &[u8],
    code: &str,
    now: i64,
) -> Result<bool, InternalError> {
    let secret = state.kek.open(&enrol_purpose(account.id.as_str()), sealed)?;
    let Some(step) = totp::check(secret.expose(), code, now) else { return Ok(false) };
    let sealed = state.kek.seal(&totp_purpose(account.id.as_str()), secret.expose())?;
    let ev = event(account, Event::AccountMfaEnrol, account.id.to_string(), None, now)?;
    Ok(state.store.confirm_totp(&account.id, &sealed, step, &ev).await?)
}

/// Enrols `account` in the TOTP `method` with the parameters it has now,
/// whose secret was sealed to this enrolment (`sealed`), if `code` is its
/// code now. False when it is not, the person enrolled meanwhile (another
/// tab), or the method is gone.
pub async fn enrol_in_method(
    state: &AppState,
    account: &Account,
    (method, t): (&Method, &mfa::Totp),
    sealed: &[u8],
    code: &str,
    now: i64,
) -> Result<bool, InternalError> {
    let params = t.params();
    let secret = state.kek.open(&crate::enforcement::enrol_purpose(method.id.as_str(), account.id.as_str()), sealed)?;
    let Some(step) = params.check(secret.expose(), code, now) else { return Ok(false) };
    let sealed = state.kek.seal(&mfa::enrolment_purpose(method.id.as_str(), account.id.as_str()), secret.expose())?;
    let mut ev = event(account, Event::AccountMfaEnrol, method.id.to_string(), None, now)?;
    ev.digest = digest_of(&json!({"method": method.id, "type": "totp"}));
    let enrolment = ConfirmedEnrolment {
        method_id: &method.id,
        account_id: account.id.as_str(),
        params: &params,
        sealed: &sealed,
        step,
    };
    Ok(state.store.enrol_totp(&enrolment, now, &ev).await?)
}
