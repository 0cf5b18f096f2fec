//! Checking a person's credentials against their lock (issue 15, finding 2),
//! for the sign-on pages and native Basic alike. The rules:
//!
//! - Guessing is bounded per account, across addresses and instances: the
//!   password budget is in the store. Spent, the account is locked, and a
//!   password alone is no longer checked at all, so a locked account tells
//!   nothing about its password.
//! - Locked, the password and the second factor are checked together, and
//!   every failure gets the same answer. The second factor has a budget of
//!   its own that only someone with the right password can spend, so a
//!   person with both is never refused because strangers failed.
//! - A browser that completed a sign-on for the account carries a device
//!   cookie (`signet_core::device`); its failures spend its own budget,
//!   and the account's lock does not apply to it.
//! - A lock that runs out is recorded as an unlock; each lock, its first
//!   refused attempt and each unlock are in the trail, the rest counted.

use signet_core::audit::Action as Event;
use signet_core::audit::{Actor, AuditEvent};
use signet_core::clock::UnixTime;
use signet_core::model::Account;
use signet_core::{device, totp};
use std::time::Duration;

use signet_core::model::LockoutPolicy;
use signet_store::{Budget, LockState};

use crate::error::InternalError;
use crate::state::AppState;

/// How a first factor went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// The password was right; the second factor comes next, as usual.
    Passed,
    /// The account is locked and both factors came together, both right.
    BothPassed,
    /// The account is locked: ask for the password and the second factor together.
    NeedsBoth,
    /// Refused. The caller answers the same whatever the reason; `locked`
    /// says which form to show again (both factors together, or not).
    Refused { locked: bool },
}

/// The trail's events for one attempt: `failure(method)` for a wrong
/// password (`pwd`) or code (`otp`), `refused()` for one refused unchecked
/// because of a lock.
pub struct Events<'a> {
    pub failure: &'a (dyn Fn(&str) -> Result<AuditEvent, InternalError> + Sync),
    pub refused: &'a (dyn Fn() -> Result<AuditEvent, InternalError> + Sync),
}

/// The account's lock, with one that ran out cleared (and recorded) first.
pub async fn current(state: &AppState, account: &Account, now: UnixTime) -> Result<LockState, InternalError> {
    let lock = state.store.lock_state(&account.id).await?.unwrap_or_default();
    if !lock.expired(now) {
        return Ok(lock);
    }
    let by = AuditEvent::new(
        Actor::console("lock expiry"),
        Event::AccountUnlock,
        Some(account.environment_id.as_str()),
        "",
        now,
    )?;
    state.store.settle_expired_lock(&account.id, &lock, now, &by).await?;
    Ok(state.store.lock_state(&account.id).await?.unwrap_or_default())
}

/// How long a password check waits for the budget's last attempts, being
/// checked right now by parallel requests, to be settled before it is refused.
const WAIT_FOR_PENDING: Duration = Duration::from_secs(2);
/// The first wait between tries, doubled each time up to `RETRY_AT_MOST`:
/// about ten store round trips in all, however long the budget stays full.
const RETRY_FIRST: Duration = Duration::from_millis(20);
const RETRY_AT_MOST: Duration = Duration::from_millis(250);

/// Reserves one attempt of the account's password budget. With no attempt
/// left the budget is either spent (the account is locked: refused at once)
/// or its last attempts are being checked right now, as in a burst of
/// parallel Basic calls before a node has verified the password once. Those
/// settle within an argon2 check, so the attempt waits for them (bounded)
/// rather than refusing a caller who may well be right. No more attempts are
/// ever checked at once than the budget has left.
async fn reserve_password(
    state: &AppState,
    account: &Account,
    now: UnixTime,
    policy: LockoutPolicy,
) -> Result<bool, InternalError> {
    let give_up = tokio::time::Instant::now() + WAIT_FOR_PENDING;
    let mut pause = RETRY_FIRST;
    loop {
        if state.store.reserve_budget(&account.id, Budget::Password, now, policy).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= give_up || current(state, account, now).await?.locked(now) {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_AT_MOST);
    }
}

/// Checks a password (and, for a locked account, the second factor that
/// came with it) for `account`, from a browser proving `device` or not.
/// The password is hashed whenever it is looked at, and only then.
pub async fn first_factor(
    state: &AppState,
    account: &Account,
    password: &str,
    code: Option<&str>,
    device: Option<&str>,
    now: UnixTime,
    events: &Events<'_>,
) -> Result<FirstFactor, InternalError> {
    let policy = state.store.lockout_policy().await?;
    // Each check reserves one of its budget's remaining attempts first, so
    // parallel guesses cannot all be checked before one is counted.
    if let Some(device) = device {
        let key = device::budget_key(device);
        if !state.store.reserve_device_budget(&account.id, &key, now, policy).await? {
            state.failures.refused_by_lock();
            return Ok(FirstFactor::Refused { locked: false });
        }
        if !state.hasher.verify(password, account.password_hash.as_deref()).await {
            state.store.count_device_failure(&account.id, &key, now, policy, &(events.failure)("pwd")?).await?;
            return Ok(FirstFactor::Refused { locked: false });
        }
        // Passed or not (an inactive account), the browser's count starts again.
        state.store.first_factor_passed(&account.id, Some(&key)).await?;
        return Ok(if account.active { FirstFactor::Passed } else { FirstFactor::Refused { locked: false } });
    }
    let lock = current(state, account, now).await?;
    if !lock.locked(now) {
        if !reserve_password(state, account, now, policy).await? {
            state.failures.refused_by_lock();
            return Ok(FirstFactor::Refused { locked: false });
        }
        if !state.hasher.verify(password, account.password_hash.as_deref()).await {
            state.store.count_failure(&account.id, Budget::Password, now, policy, &(events.failure)("pwd")?).await?;
            return Ok(FirstFactor::Refused { locked: false });
        }
        if !account.active {
            state.store.release_budget(&account.id, Budget::Password).await?;
            return Ok(FirstFactor::Refused { locked: false });
        }
        state.store.first_factor_passed(&account.id, None).await?;
        return Ok(FirstFactor::Passed);
    }
    // Locked: nothing about the password alone is ever answered.
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        state.failures.refused_by_lock();
        state.store.count_refused(&account.id, &(events.refused)()?).await?;
        return Ok(FirstFactor::NeedsBoth);
    };
    let password_ok = state.hasher.verify(password, account.password_hash.as_deref()).await;
    if !password_ok || !account.active || lock.second_factor_locked(now) {
        state.failures.refused_by_lock();
        state.store.count_refused(&account.id, &(events.refused)()?).await?;
        return Ok(FirstFactor::Refused { locked: true });
    }
    match second_factor(state, account, code, now, events).await? {
        true => Ok(FirstFactor::BothPassed),
        false => {
            state.store.count_refused(&account.id, &(events.refused)()?).await?;
            Ok(FirstFactor::Refused { locked: true })
        }
    }
}

/// Checks the account's own TOTP code, after a right password, against the
/// second factor's budget (which the password's lock does not touch).
/// A code is good once (RFC 6238 §5.2).
pub async fn second_factor(
    state: &AppState,
    account: &Account,
    code: &str,
    now: UnixTime,
    events: &Events<'_>,
) -> Result<bool, InternalError> {
    let lock = current(state, account, now).await?;
    if lock.second_factor_locked(now) || !account.active {
        return Ok(false);
    }
    let secret = match (&account.totp_sealed, account.totp_confirmed) {
        (Some(sealed), true) => Some(state.kek.open(&account.totp_purpose(), sealed)?),
        _ => None,
    };
    let policy = state.store.lockout_policy().await?;
    if !state.store.reserve_budget(&account.id, Budget::SecondFactor, now, policy).await? {
        state.failures.refused_by_lock();
        return Ok(false);
    }
    let matched = secret.and_then(|s| totp::check(s.expose(), code, now));
    let spent = match matched {
        Some(step) => state.store.spend_totp_step(&account.id, step).await?,
        None => false,
    };
    if !spent {
        state.store.count_failure(&account.id, Budget::SecondFactor, now, policy, &(events.failure)("otp")?).await?;
        return Ok(false);
    }
    state.store.second_factor_passed(&account.id).await?;
    Ok(true)
}

/// Reserves an attempt of the second factor's budget before a check of
/// another kind (a login enforcement's method, an enrolment's first code):
/// false when none is left. Its outcome gives it back:
/// `other_second_factor_failed`, `Store::second_factor_passed`, or
/// `Store::release_budget` when the check could not be made.
pub async fn reserve_second_factor(state: &AppState, account: &Account, now: UnixTime) -> Result<bool, InternalError> {
    let lock = current(state, account, now).await?;
    if lock.second_factor_locked(now) || !account.active {
        return Ok(false);
    }
    let policy = state.store.lockout_policy().await?;
    Ok(state.store.reserve_budget(&account.id, Budget::SecondFactor, now, policy).await?)
}

/// A second factor of another kind failed after a right password: it
/// spends the same budget as a wrong code, and gives back its reservation.
pub async fn other_second_factor_failed(
    state: &AppState,
    account: &Account,
    now: UnixTime,
    failure: &AuditEvent,
) -> Result<(), InternalError> {
    let policy = state.store.lockout_policy().await?;
    state.store.count_failure(&account.id, Budget::SecondFactor, now, policy, failure).await?;
    Ok(())
}
