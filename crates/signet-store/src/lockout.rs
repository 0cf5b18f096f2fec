//! Account lockout, shared by every instance (issue 15, finding 2). An
//! account has two failure budgets and a browser may have a third:
//!
//! - **password** (`failed_attempts`, `locked_until`): spent by anyone who
//!   types the username. Spent, the account is locked: a password alone is
//!   no longer checked, only a password with the second factor.
//! - **second factor** (`otp_failed_attempts`, `otp_locked_until`): spent
//!   only by someone who gave the right password. Spent, second factors are
//!   no longer checked either.
//! - **device** (`device_lockouts`): a browser that completed a sign-on
//!   carries a device cookie for the account; its failures count against it
//!   alone, and the account's lock does not stop it.
//!
//! Every check first reserves one of its budget's remaining attempts
//! (`reserve_budget`): a budget with `max_failures - failures` left lets
//! that many checks run at once and no more, so parallel guesses on any
//! number of instances cannot all pass the lock before one is counted. The
//! outcome releases the reservation; one older than a minute is a crashed
//! request's and lapses.
//!
//! While locked, refused attempts are counted (`lock_refused`) and only the
//! first is recorded, so a flood cannot grow the trail. Locks and unlocks
//! are recorded in the same transaction as the change.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::audit::Outcome;
use signet_core::audit::{AuditEvent, digest_of};
use signet_core::clock::UnixTime;
use signet_core::id::AccountId;
use signet_core::model::LockoutPolicy;

use crate::db::{Tx, query};
use crate::{Result, Store, audit};

/// An account's lock, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockState {
    pub failed_attempts: i64,
    pub locked_until: UnixTime,
    pub otp_failed_attempts: i64,
    pub otp_locked_until: UnixTime,
    /// Attempts refused while locked, since the lock began.
    pub lock_refused: i64,
}

impl LockState {
    pub fn locked(&self, now: UnixTime) -> bool {
        self.locked_until > now
    }

    pub fn second_factor_locked(&self, now: UnixTime) -> bool {
        self.otp_locked_until > now
    }

    /// A lock that has run out but is still on record.
    pub fn expired(&self, now: UnixTime) -> bool {
        (self.locked_until != 0 && self.locked_until <= now)
            || (self.otp_locked_until != 0 && self.otp_locked_until <= now)
    }
}

/// Which budget a failure spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Password,
    SecondFactor,
}

/// How long a reservation stands if its request never says how it went.
const RESERVATION_LAPSES: UnixTime = 60;

impl Budget {
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Budget::Password => ("failed_attempts", "locked_until"),
            Budget::SecondFactor => ("otp_failed_attempts", "otp_locked_until"),
        }
    }

    /// The reservation columns: attempts being checked, and since when.
    fn pending(self) -> (&'static str, &'static str) {
        match self {
            Budget::Password => ("pending_attempts", "pending_since"),
            Budget::SecondFactor => ("otp_pending_attempts", "otp_pending_since"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Password => "password",
            Budget::SecondFactor => "second_factor",
        }
    }
}

/// An event like `by` (same actor, request and address) for another action.
fn derived(
    by: &AuditEvent,
    action: Event,
    target: &str,
    reason: &str,
    digest: serde_json::Value,
) -> Result<AuditEvent> {
    let mut ev = AuditEvent::new(by.actor.clone(), action, by.environment_id.as_deref(), target, by.at)?;
    ev.request_id = by.request_id.clone();
    ev.source_ip = by.source_ip.clone();
    ev.jti = by.jti.clone();
    ev.set_outcome(Outcome::Success);
    ev.reason = Some(reason.into());
    ev.digest = digest_of(&digest);
    Ok(ev)
}

/// Makes sure a browser's budget row exists, so the one UPDATE that
/// follows it can count on several instances at once.
async fn device_row_in(tx: &mut Tx, account_id: &AccountId, device_hash: &[u8], now: UnixTime) -> Result<()> {
    query(
        "INSERT INTO device_lockouts (account_id, device_hash, failed_attempts, locked_until, updated_at) \
         VALUES ($1, $2, 0, 0, $3) ON CONFLICT (account_id, device_hash) DO NOTHING",
    )
    .bind(account_id)
    .bind(device_hash.to_vec())
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Gives back a reservation of `budget` (never below none).
async fn release_in(tx: &mut Tx, id: &AccountId, budget: Budget) -> Result<()> {
    let (pending, _) = budget.pending();
    query(format!(
        "UPDATE accounts SET {pending} = CASE WHEN {pending} > 0 THEN {pending} - 1 ELSE 0 END WHERE id = $1"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

const LOCK_STATE: &str = "SELECT failed_attempts, locked_until, otp_failed_attempts, otp_locked_until, lock_refused \
     FROM accounts WHERE id = $1";

fn lock_state_of(r: &crate::db::Row) -> Result<LockState> {
    Ok(LockState {
        failed_attempts: r.try_get("failed_attempts")?,
        locked_until: r.try_get("locked_until")?,
        otp_failed_attempts: r.try_get("otp_failed_attempts")?,
        otp_locked_until: r.try_get("otp_locked_until")?,
        lock_refused: r.try_get("lock_refused")?,
    })
}

async fn state_in(tx: &mut Tx, id: &AccountId) -> Result<Option<LockState>> {
    let row = query(LOCK_STATE).bind(id).fetch_optional(&mut *tx).await?;
    row.as_ref().map(lock_state_of).transpose()
}

/// Clears every budget of an account (and its devices'), inside `tx`. When
/// it was locked, records `account.unlock` like `by`, with `reason` and the
/// count of attempts the lock refused. True when it was locked.
pub(crate) async fn unlock_in(
    tx: &mut Tx,
    id: &AccountId,
    now: UnixTime,
    by: &AuditEvent,
    reason: &str,
) -> Result<bool> {
    let Some(before) = state_in(tx, id).await? else { return Ok(false) };
    query(
        "UPDATE accounts SET failed_attempts = 0, locked_until = 0, otp_failed_attempts = 0, otp_locked_until = 0, \
         lock_refused = 0, pending_attempts = 0, otp_pending_attempts = 0 WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    query("DELETE FROM device_lockouts WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
    let was_locked = before.locked(now) || before.second_factor_locked(now);
    if was_locked {
        let ev = derived(by, Event::AccountUnlock, id.as_str(), reason, json!({"refused": before.lock_refused}))?;
        audit::append(tx, &ev).await?;
    }
    Ok(was_locked)
}

impl Store {
    pub async fn lock_state(&self, id: &AccountId) -> Result<Option<LockState>> {
        let row = query(LOCK_STATE).bind(id).fetch_optional(self.db.read()).await?;
        row.as_ref().map(lock_state_of).transpose()
    }

    /// Reserves one of `budget`'s remaining attempts before a check: false,
    /// and nothing to release, when the budget is locked or as many checks
    /// as it has attempts left are running already. The check's outcome
    /// (`count_failure`, `first_factor_passed`, `second_factor_passed` or
    /// `release_budget`) gives it back.
    pub async fn reserve_budget(
        &self,
        id: &AccountId,
        budget: Budget,
        now: UnixTime,
        policy: LockoutPolicy,
    ) -> Result<bool> {
        let (count, until) = budget.columns();
        let (pending, since) = budget.pending();
        let done = query(format!(
            "UPDATE accounts SET \
               {pending} = CASE WHEN {since} < $3 THEN 1 ELSE {pending} + 1 END, {since} = $4 \
             WHERE id = $1 AND {until} <= $4 \
               AND {count} + CASE WHEN {since} < $3 THEN 0 ELSE {pending} END < $2"
        ))
        .bind(id)
        .bind(policy.max_failures)
        .bind(now - RESERVATION_LAPSES)
        .bind(now)
        .execute(self.db.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives back a reservation whose check neither failed nor passed (an
    /// inactive account, a service that could not be asked).
    pub async fn release_budget(&self, id: &AccountId, budget: Budget) -> Result<()> {
        let mut tx = self.db.begin().await?;
        release_in(&mut tx, id, budget).await?;
        tx.commit().await
    }

    /// Counts a failure against `budget`, giving back its reservation, and
    /// records `failure` (the wrong password or code, by whom and from
    /// where), in one transaction. The
    /// failure that spends the budget locks it for the policy's time and is
    /// recorded as `account.lock` too. A budget already locked is not
    /// counted again (the attempt should have been refused unchecked).
    /// True when this failure locked it.
    pub async fn count_failure(
        &self,
        id: &AccountId,
        budget: Budget,
        now: UnixTime,
        policy: LockoutPolicy,
        failure: &AuditEvent,
    ) -> Result<bool> {
        let (count, until) = budget.columns();
        let mut tx = self.db.begin().await?;
        release_in(&mut tx, id, budget).await?;
        let row = query(format!(
            "UPDATE accounts SET \
               {until} = CASE WHEN {count} + 1 >= $2 THEN $3 ELSE {until} END, \
               lock_refused = CASE WHEN {count} + 1 >= $2 THEN 0 ELSE lock_refused END, \
               {count} = CASE WHEN {count} + 1 >= $2 THEN 0 ELSE {count} + 1 END \
             WHERE id = $1 AND {until} <= $4 RETURNING {until} AS until"
        ))
        .bind(id)
        .bind(policy.max_failures)
        .bind(now + policy.lock_seconds)
        .bind(now)
        .fetch_optional(&mut tx)
        .await?;
        let locked = match row {
            Some(r) => r.try_get::<i64>("until")? > now,
            None => false,
        };
        audit::append(&mut tx, failure).await?;
        if locked {
            let what =
                json!({"budget": budget.as_str(), "until": now + policy.lock_seconds, "after": policy.max_failures});
            let mut ev = derived(failure, Event::AccountLock, id.as_str(), budget.as_str(), what)?;
            ev.set_outcome(Outcome::Locked);
            audit::append(&mut tx, &ev).await?;
        }
        tx.commit().await?;
        Ok(locked)
    }

    /// An attempt refused, unchecked, because the account is locked: counted,
    /// and recorded (as `refused`) only if it is the lock's first.
    pub async fn count_refused(&self, id: &AccountId, refused: &AuditEvent) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let row = query("UPDATE accounts SET lock_refused = lock_refused + 1 WHERE id = $1 RETURNING lock_refused")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let first = match row {
            Some(r) => r.try_get::<i64>("lock_refused")? == 1,
            None => false,
        };
        if first {
            audit::append(&mut tx, refused).await?;
        }
        tx.commit().await
    }

    /// A lock that has run out is cleared and its end recorded like `by`
    /// (the attempt that found it), once across instances: only the one that
    /// clears the lock it read records it.
    pub async fn settle_expired_lock(
        &self,
        id: &AccountId,
        seen: &LockState,
        now: UnixTime,
        by: &AuditEvent,
    ) -> Result<()> {
        if !seen.expired(now) {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        let done = query(
            "UPDATE accounts SET \
               locked_until = CASE WHEN locked_until <= $4 THEN 0 ELSE locked_until END, \
               otp_locked_until = CASE WHEN otp_locked_until <= $4 THEN 0 ELSE otp_locked_until END, \
               lock_refused = CASE WHEN locked_until <= $4 AND otp_locked_until <= $4 THEN 0 ELSE lock_refused END \
             WHERE id = $1 AND locked_until = $2 AND otp_locked_until = $3",
        )
        .bind(id)
        .bind(seen.locked_until)
        .bind(seen.otp_locked_until)
        .bind(now)
        .execute(&mut tx)
        .await?;
        if done.rows_affected() == 1 {
            let ev = derived(by, Event::AccountUnlock, id.as_str(), "expired", json!({"refused": seen.lock_refused}))?;
            audit::append(&mut tx, &ev).await?;
        }
        tx.commit().await
    }

    /// Ends an account's lock at an administrator's word, recorded as `ev`
    /// (`account.unlock`) with the count of attempts the lock refused.
    /// `None`: no such account; `Some(false)`: it was not locked, and only
    /// its failure counts were cleared (nothing is recorded).
    pub async fn unlock_account(&self, id: &AccountId, now: UnixTime, by: &AuditEvent) -> Result<Option<bool>> {
        let mut tx = self.db.begin().await?;
        if state_in(&mut tx, id).await?.is_none() {
            return Ok(None);
        }
        let was = unlock_in(&mut tx, id, now, by, "administrator").await?;
        tx.commit().await?;
        Ok(Some(was))
    }

    /// A browser's own budget for an account: (failures, locked until).
    pub async fn device_lockout(&self, account_id: &AccountId, device_hash: &[u8]) -> Result<(i64, UnixTime)> {
        let row = query(
            "SELECT failed_attempts, locked_until FROM device_lockouts WHERE account_id = $1 AND device_hash = $2",
        )
        .bind(account_id)
        .bind(device_hash.to_vec())
        .fetch_optional(self.db.read())
        .await?;
        Ok(match row {
            Some(r) => (r.try_get("failed_attempts")?, r.try_get("locked_until")?),
            None => (0, 0),
        })
    }

    /// Counts a failure against a browser's own budget, and records `failure`.
    /// True when this failure locked the browser out of the account.
    pub async fn count_device_failure(
        &self,
        account_id: &AccountId,
        device_hash: &[u8],
        now: UnixTime,
        policy: LockoutPolicy,
        failure: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        device_row_in(&mut tx, account_id, device_hash, now).await?;
        // The right-hand sides read the row as it was: one statement, so
        // failures counted on several instances at once all count.
        let row = query(
            "UPDATE device_lockouts SET \
               locked_until = CASE WHEN failed_attempts + 1 >= $3 THEN $4 ELSE locked_until END, \
               failed_attempts = CASE WHEN failed_attempts + 1 >= $3 THEN 0 ELSE failed_attempts + 1 END, \
               pending_attempts = CASE WHEN pending_attempts > 0 THEN pending_attempts - 1 ELSE 0 END, \
               updated_at = $5 \
             WHERE account_id = $1 AND device_hash = $2 AND locked_until <= $5 RETURNING locked_until",
        )
        .bind(account_id)
        .bind(device_hash.to_vec())
        .bind(policy.max_failures)
        .bind(now + policy.lock_seconds)
        .bind(now)
        .fetch_optional(&mut tx)
        .await?;
        let until = match row {
            Some(r) => r.try_get::<i64>("locked_until")?,
            None => 0,
        };
        let locks = until > now;
        audit::append(&mut tx, failure).await?;
        if locks {
            let what = json!({"budget": "device", "until": until, "after": policy.max_failures});
            let mut ev = derived(failure, Event::AccountLock, account_id.as_str(), "device", what)?;
            ev.set_outcome(Outcome::Locked);
            audit::append(&mut tx, &ev).await?;
        }
        tx.commit().await?;
        Ok(locks)
    }

    /// A sign-on passed its first factor: its budget (the account's, or the
    /// browser's when it carries a device cookie) starts again, and its
    /// reservation is given back.
    pub async fn first_factor_passed(&self, account_id: &AccountId, device_hash: Option<&[u8]>) -> Result<()> {
        match device_hash {
            Some(h) => {
                query("DELETE FROM device_lockouts WHERE account_id = $1 AND device_hash = $2")
                    .bind(account_id)
                    .bind(h.to_vec())
                    .execute(self.db.write())
                    .await?;
            }
            None => {
                query(
                    "UPDATE accounts SET failed_attempts = CASE WHEN locked_until = 0 THEN 0 ELSE failed_attempts END, \
                     pending_attempts = CASE WHEN pending_attempts > 0 THEN pending_attempts - 1 ELSE 0 END \
                     WHERE id = $1",
                )
                .bind(account_id)
                .execute(self.db.write())
                .await?;
            }
        }
        Ok(())
    }

    /// A second factor passed: that budget starts again, and its
    /// reservation is given back.
    pub async fn second_factor_passed(&self, account_id: &AccountId) -> Result<()> {
        query(
            "UPDATE accounts SET otp_failed_attempts = 0, \
             otp_pending_attempts = CASE WHEN otp_pending_attempts > 0 THEN otp_pending_attempts - 1 ELSE 0 END \
             WHERE id = $1",
        )
        .bind(account_id)
        .execute(self.db.write())
        .await?;
        Ok(())
    }

    /// Reserves one of a browser's remaining attempts before its check, as
    /// `reserve_budget` does for an account's budget.
    pub async fn reserve_device_budget(
        &self,
        account_id: &AccountId,
        device_hash: &[u8],
        now: UnixTime,
        policy: LockoutPolicy,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        device_row_in(&mut tx, account_id, device_hash, now).await?;
        // A lock that ran out starts the count again.
        let done = query(
            "UPDATE device_lockouts SET \
               failed_attempts = CASE WHEN locked_until > 0 AND locked_until <= $4 THEN 0 ELSE failed_attempts END, \
               locked_until = CASE WHEN locked_until <= $4 THEN 0 ELSE locked_until END, \
               pending_attempts = CASE WHEN pending_since < $3 THEN 1 ELSE pending_attempts + 1 END, \
               pending_since = $4, updated_at = $4 \
             WHERE account_id = $1 AND device_hash = $2 AND locked_until <= $4 \
               AND CASE WHEN locked_until > 0 THEN 0 ELSE failed_attempts END \
                   + CASE WHEN pending_since < $3 THEN 0 ELSE pending_attempts END < $5",
        )
        .bind(account_id)
        .bind(device_hash.to_vec())
        .bind(now - RESERVATION_LAPSES)
        .bind(now)
        .bind(policy.max_failures)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
