//! Operations: every change to signetd's configuration, one function each,
//! whichever API asked for it. An operation validates what it is given,
//! writes to the store with its audit event in the same transaction,
//! decides there what the change touches, and forgets what the change makes
//! stale in this instance's caches. Its error ([`OpError`]) says what went
//! wrong in no protocol's words; each API answers it in its own body.
//!
//! An operation takes an [`Authorized`] caller, which only [`authorize`]
//! makes, so no change can be reached without the role policy's say. A
//! handler then reads extract, authorize, operate, respond:
//!
//! ```ignore
//! let by = ops::authorize(&state, &caller, Resource::Environments, Action::Write).await?;
//! let environment = ops::environments::create(&state, &by, &new.name).await?;
//! ```

pub mod accounts;
pub mod applications;
mod audit;
pub mod audit_trail;
pub mod bulk;
pub mod certificates;
pub mod claim_mappings;
pub mod config_archive;
pub mod config_store;
pub mod enforcements;
pub mod environments;
pub mod identity_providers;
pub mod keys;
pub mod mfa_methods;
pub mod policies;
pub mod settings;
pub mod users;

use signet_core::audit::{self as trail, AuditEvent, Outcome, digest_of};
use signet_core::clock::UnixTime;
use signet_core::policy::{self, Action, Resource};
use signet_store::{StoreError, Written};

use crate::authn::{AuthnError, Caller};
use crate::state::AppState;
pub use audit::prune_audit;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The role policy refused the caller; the refusal is in the trail.
    #[error("{0}")]
    Denied(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    /// It would clash with what exists, or take away what must stay.
    #[error("{0}")]
    Conflict(String),
    /// The resource changed since the caller read it (`If-Match`).
    #[error("the resource changed since it was read")]
    Stale,
    /// The input is malformed: the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The input is well-formed but cannot be done: the message says why.
    #[error("{0}")]
    Unprocessable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Authn(#[from] AuthnError),
    /// signetd failed: logged by the API that answers, never sent.
    #[error("{0}")]
    Internal(String),
}

/// The server's own failures (the lockout's), as this layer's.
impl From<crate::error::InternalError> for OpError {
    fn from(e: crate::error::InternalError) -> OpError {
        match e {
            crate::error::InternalError::Store(e) => OpError::Store(e),
            e => OpError::internal(e),
        }
    }
}

/// Drawing an event's id failed: signetd's own failure.
impl From<signet_core::crypto::CryptoError> for OpError {
    fn from(e: signet_core::crypto::CryptoError) -> OpError {
        OpError::internal(e)
    }
}

impl OpError {
    pub fn internal(e: impl std::fmt::Display) -> OpError {
        OpError::Internal(e.to_string())
    }

    /// Malformed input, in the words of the error that found it.
    pub fn invalid(e: impl std::fmt::Display) -> OpError {
        OpError::Invalid(e.to_string())
    }

    /// Well-formed input that cannot be done, in the words of the error that found it.
    pub fn unprocessable(e: impl std::fmt::Display) -> OpError {
        OpError::Unprocessable(e.to_string())
    }
}

/// A caller the role policy allowed to do `action` to `resource`.
pub struct Authorized<'a> {
    caller: &'a Caller,
    resource: Resource,
    action: Action,
}

/// Asks the role policy whether `caller` may do `action` to `resource`. A
/// refusal is recorded in the trail and names what is missing. A caller
/// signed on with a password someone else set may only replace it.
pub async fn authorize<'a>(
    state: &AppState,
    caller: &'a Caller,
    resource: Resource,
    action: Action,
) -> Result<Authorized<'a>, OpError> {
    let decision = if caller.must_change_password && resource != Resource::OwnPassword {
        Err(policy::Denied::PasswordChangeRequired)
    } else {
        policy::decide(&caller.principal, resource, action)
    };
    let Err(denied) = decision else { return Ok(Authorized { caller, resource, action }) };
    let target = format!("{resource:?}:{action:?}");
    let mut ev = caller.event(trail::Action::AdminDenied, &target, state.now())?.with_outcome(Outcome::Denied);
    ev.digest = digest_of(&serde_json::json!({"denied": denied.to_string()}));
    state.store.record(&ev).await?;
    Err(OpError::Denied(denied.to_string()))
}

/// A resource's entity tag for its version, as the admin API sends it in
/// `ETag` and takes it back in `If-Match`.
pub fn etag(kind: &str, id: &str, version: i64) -> String {
    let digest = signet_core::crypto::sha256(format!("{kind}\0{id}\0{version}").as_bytes());
    format!("\"{}\"", trail::hex(&digest[..12]))
}

/// The version a write must still find: `None` when the caller sent no
/// `If-Match` (last writer wins, as without ETags), the current version
/// when `if_match` names it (or is `*`), and [`OpError::Stale`] otherwise.
pub fn expected(if_match: Option<&str>, kind: &str, id: &str, current: i64) -> Result<Option<i64>, OpError> {
    match if_match {
        None => Ok(None),
        Some(tags) if tag_matches(Some(tags), &etag(kind, id, current)) => Ok(Some(current)),
        Some(_) => Err(OpError::Stale),
    }
}

/// A versioned write's new version, or why there is none: another writer
/// came first, or the `kind` of thing is gone. (Only admin accounts answer
/// `LastUserAdmin`; elsewhere it cannot happen, and reads as gone.)
fn written(answer: Written, kind: &'static str) -> Result<i64, OpError> {
    match answer {
        Written::Done(version) => Ok(version),
        Written::Stale => Err(OpError::Stale),
        Written::Missing | Written::LastUserAdmin => Err(OpError::NotFound(kind)),
    }
}

/// Whether an `If-Match` (absent, `*`, or a list of tags) names `current`.
pub fn tag_matches(expected: Option<&str>, current: &str) -> bool {
    expected.is_none_or(|e| e == "*" || e.split(',').any(|t| t.trim().trim_start_matches("W/") == current))
}

impl Authorized<'_> {
    pub fn caller(&self) -> &Caller {
        self.caller
    }

    /// Whether this authorization is for what an operation does: one that
    /// is not is a handler's mistake, refused as signetd's own failure.
    fn covers(&self, resource: Resource, action: Action) -> Result<(), OpError> {
        if (self.resource, self.action) == (resource, action) {
            return Ok(());
        }
        Err(OpError::Internal(format!(
            "an operation on {resource:?}:{action:?} was given an authorization for {:?}:{:?}",
            self.resource, self.action
        )))
    }

    /// The event recording this caller's change, in `environment` if any, with the
    /// digest of what it changed (never a secret), where there is one.
    fn event(
        &self,
        action: trail::Action,
        environment: Option<&str>,
        target: &str,
        digest: Option<&serde_json::Value>,
        now: UnixTime,
    ) -> Result<AuditEvent, OpError> {
        let mut ev = self.caller.event(action, target, now)?;
        ev.environment_id = environment.map(str::to_owned);
        if let Some(changed) = digest {
            ev.digest = digest_of(changed);
        }
        Ok(ev)
    }
}
