//! HTTP Basic against the admin accounts of the Administrators environment,
//! checked against the account's lock (`crate::lockout`) like a sign-on page.

use std::net::IpAddr;

use signet_core::audit::ActorScheme;
use signet_core::audit::{Action, AuditEvent, Outcome};
use signet_core::clock::UnixTime;

use super::{Attempt, AuthnError, Basic, Caller, VERIFIED_FOR, administrators};
use crate::cache::VerifiedPassword;
use crate::config::admin_auth::Scheme;
use crate::error::InternalError;
use crate::lockout::FirstFactor;
use crate::state::AppState;

/// A password (and `otp`, for a locked account) for the account named.
pub(super) async fn password(
    state: &AppState,
    basic: &Basic,
    otp: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Attempt, AuthnError> {
    let Some((username, password)) = basic.split() else { return Ok(Attempt::Unknown) };
    let admins = administrators(state).await?;
    let found = state.store.versioned_account(&admins, username).await?.filter(|v| v.account.admin);
    let Some(v) = found else {
        // An unknown name costs the same as a wrong password.
        state.hasher.verify(password, None).await;
        return Ok(Attempt::Unknown);
    };
    let account = v.account;
    let key = state.authn.key_of(basic.decoded().as_bytes());
    let caller = Caller::account(&account, Scheme::Native, ip);
    // Remembered while the account is unchanged and unlocked: no argon2.
    let open = account.active && !account.is_locked(now);
    let same = |r: &VerifiedPassword| account.id == r.account_id && r.version == v.version;
    if open && state.authn.passwords.holds(&key, now, same) {
        return Ok(Attempt::Verified(caller));
    }
    let event = |action: Action, outcome: Outcome| -> Result<AuditEvent, InternalError> {
        Ok(caller.event(action, account.id.as_str(), now)?.with_outcome(outcome))
    };
    let events = crate::lockout::Events {
        failure: &|method| {
            let mut ev = event(Action::AdminSignonFailure, Outcome::Failure)?;
            ev.actor.scheme = ActorScheme::NativeFailure(method.to_owned());
            Ok(ev)
        },
        refused: &|| {
            let mut ev = event(Action::AdminSignonRefused, Outcome::Denied)?;
            ev.reason = Some("locked".into());
            Ok(ev)
        },
    };
    match crate::lockout::first_factor(state, &account, password, otp, None, now, &events).await? {
        FirstFactor::Passed => {
            state.store.record(&caller.signon(now)?).await?;
            let verified = VerifiedPassword { account_id: account.id.to_string(), version: v.version };
            state.authn.passwords.insert(key, verified, now, now + VERIFIED_FOR);
            Ok(Attempt::Verified(caller))
        }
        // Locked, with the second factor: good for this call, never remembered.
        FirstFactor::BothPassed => {
            let mut ev = caller.signon(now)?;
            ev.actor.scheme = ActorScheme::NativeOtp;
            state.store.record(&ev).await?;
            Ok(Attempt::Verified(caller))
        }
        FirstFactor::NeedsBoth | FirstFactor::Refused { .. } => Ok(Attempt::Refused),
    }
}
