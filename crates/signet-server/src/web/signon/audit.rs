//! The sign-on's entries in the audit trail.

use signet_core::audit::Action as Event;
use signet_core::audit::ActorScheme;
use signet_core::audit::Outcome;
use signet_core::audit::{Actor, ActorKind, AuditEvent};
use signet_core::crypto::CryptoError;
use signet_core::id::AccountId;
use signet_core::model::Account;

use crate::error::InternalError;
use crate::state::AppState;

/// An event by `account`, as a person signing on.
pub(crate) fn event(
    account: &Account,
    action: Event,
    target: String,
    ip: Option<std::net::IpAddr>,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let actor = Actor {
        kind: ActorKind::Person,
        id: account.id.to_string(),
        name: account.username.clone(),
        scheme: ActorScheme::Signon,
        client_id: None,
    };
    let mut ev = AuditEvent::new(actor, action, Some(account.environment_id.as_str()), &target, now)?;
    ev.source_ip = ip.map(|i| i.to_string());
    Ok(ev)
}

/// A failed sign-on of a known account, with the method that failed (RFC
/// 8176 `pwd` or `otp`). Unknown usernames are counted in metrics only, so
/// guessing names cannot fill the trail.
pub(super) fn failure(
    account: &Account,
    method: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, CryptoError> {
    let mut ev = event(account, Event::SignonFailure, account.id.to_string(), Some(ip), now)?;
    ev.actor.scheme = ActorScheme::Methods(vec![method.to_owned()]);
    ev.set_outcome(Outcome::Failure);
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

/// An event by the person `account_id` names, from `ip`, about `target`.
pub(super) async fn person_event(
    state: &AppState,
    account_id: &str,
    action: Event,
    target: String,
    ip: std::net::IpAddr,
    now: i64,
) -> Result<AuditEvent, InternalError> {
    let account = state
        .store
        .account(&AccountId::from(account_id))
        .await?
        .ok_or(InternalError::Broken("a signed-on account is gone"))?;
    let mut ev = event(&account, action, target, Some(ip), now)?;
    ev.set_outcome(Outcome::Success);
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}

/// An attempt refused unchecked because the account is locked: only the
/// lock's first is recorded (`Store::count_refused`).
pub(super) fn refused(account: &Account, ip: std::net::IpAddr, now: i64) -> Result<AuditEvent, CryptoError> {
    let mut ev = event(account, Event::SignonRefused, account.id.to_string(), Some(ip), now)?;
    ev.set_outcome(Outcome::Denied);
    ev.reason = Some("locked".into());
    ev.request_id = Some(crate::request_id());
    Ok(ev)
}
