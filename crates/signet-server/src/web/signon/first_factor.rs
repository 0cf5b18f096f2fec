//! The first factor: the password (with the code too, while the account is
//! locked), and a new password in place of a one-time one.

use axum::http::HeaderMap;
use signet_core::id::AccountId;
use signet_core::login::{self, Step};
use signet_core::model::Account;
use signet_core::password;

use super::audit::{failure, refused};
use super::finish::device_of;
use super::second_factor::next_step;
use super::{StepResult, refused as refuse};
use crate::keyring::EnvKeys;
use crate::lockout::{self, FirstFactor};
use crate::metrics::Failure;
use crate::oauth::form::Params;
use crate::state::AppState;

const WRONG_PASSWORD: &str = "Incorrect username or password.";
/// The one answer a locked account's sign-on gives, whatever was wrong.
const BOTH_FACTORS: &str = "For your protection after failed sign-ons, this account needs your password and the code \
    from your authenticator app together. Enter both.";

/// The password, as typed on the first step (or after a provider's page
/// left unfinished), with the code as well while the account is locked.
pub(super) async fn password(
    state: &AppState,
    env: &EnvKeys,
    p: &Params,
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
        return refuse(Failure::WrongPassword, WRONG_PASSWORD);
    };
    let device = device_of(state, &account, headers);
    let events = lockout::Events {
        failure: &|method| Ok(failure(&account, method, ip, now)?),
        refused: &|| Ok(refused(&account, ip, now)?),
    };
    match lockout::first_factor(state, &account, password, p.get("code"), device.as_deref(), now, &events).await? {
        FirstFactor::Passed => {
            let step = next_step(state, account.id.as_str(), |draw| login::after_password(&account, now, draw))?;
            Ok((step, account))
        }
        // Both factors at once, while locked: the second factor is done too.
        FirstFactor::BothPassed if account.password_change_required => {
            Ok((Step::ChangePassword { account_id: account.id.clone() }, account))
        }
        FirstFactor::BothPassed => Ok((login::after_second_factor(&account.id, &[], now), account)),
        FirstFactor::NeedsBoth | FirstFactor::Refused { locked: true } => refuse(Failure::AccountLocked, BOTH_FACTORS),
        FirstFactor::Refused { locked: false } => refuse(Failure::WrongPassword, WRONG_PASSWORD),
    }
}

/// A new password in place of a one-time one. Not a credential check, so a
/// mismatch is not counted as a failure against the account.
pub(super) async fn change_password(state: &AppState, account_id: &str, p: &Params, now: i64) -> StepResult {
    let new = p.get("new_password").unwrap_or_default();
    if new.chars().count() < password::MIN_LENGTH {
        return refuse(Failure::Other, "Choose a password of at least 12 characters.");
    }
    if p.get("confirm_password") != Some(new) {
        return refuse(Failure::Other, "The two passwords differ.");
    }
    let Some(account) = state.store.account(&AccountId::from(account_id)).await? else {
        return refuse(Failure::Other, "This account no longer exists.");
    };
    if state.hasher.verify(new, account.password_hash.as_deref()).await {
        return refuse(Failure::Other, "Choose a password other than the one-time password.");
    }
    crate::web::credentials::replace_one_time_password(state, &account, new, now).await?;
    let account = Account { password_change_required: false, ..account };
    let step = next_step(state, account.id.as_str(), |draw| login::after_first_factor(&account, now, draw))?;
    Ok((step, account))
}
