//! Revoked access tokens, families and subjects, from the store's revocation feed.

use std::collections::HashMap;
use std::sync::RwLock;

use signet_core::clock::UnixTime;
use signet_core::model::ACCESS_TOKEN_TTL;
use signet_core::token::AccessClaims;
use signet_store::{Store, StoreError};

use crate::error::InternalError;

pub const REVOCATION_POLL: i64 = 1;
/// Overlap of successive polls, for clocks that differ between instances.
const SKEW: i64 = 5;

#[derive(Default)]
struct RevocationState {
    /// Revoked access tokens, with their expiry.
    jtis: HashMap<String, UnixTime>,
    /// Revoked families, with the time of revocation.
    grants: HashMap<String, UnixTime>,
    /// Subjects whose tokens issued at or before the time are revoked.
    subjects: HashMap<String, UnixTime>,
    /// The time of the last poll; `None` before the first.
    polled_at: Option<UnixTime>,
}

#[derive(Default)]
pub struct Revocations {
    state: RwLock<RevocationState>,
    poll: tokio::sync::Mutex<()>,
}

impl Revocations {
    /// Whether an access token is revoked: by its own `jti`, its family, or
    /// its subject (issued at or before the subject's revocation).
    /// A poisoned cache answers neither way: a token is not taken as
    /// unrevoked on a list a panic may have left half-written.
    pub async fn is_revoked(&self, store: &Store, token: &AccessClaims, now: UnixTime) -> Result<bool, InternalError> {
        self.refresh(store, now).await?;
        let s = self.state.read().map_err(|_| InternalError::Broken("the revocation cache is poisoned"))?;
        Ok(s.jtis.contains_key(&token.jti)
            || token.gid.as_deref().is_some_and(|g| s.grants.contains_key(g))
            || s.subjects.get(&token.sub).is_some_and(|at| token.iat <= *at))
    }

    /// The time of the latest revocation of `subject`'s tokens this instance
    /// knows of, after polling the feed if a poll is due: what a cached
    /// application is checked against (`Clients::get_marked`).
    pub async fn subject_mark(
        &self,
        store: &Store,
        subject: &str,
        now: UnixTime,
    ) -> Result<Option<UnixTime>, InternalError> {
        self.refresh(store, now).await?;
        let s = self.state.read().map_err(|_| InternalError::Broken("the revocation cache is poisoned"))?;
        Ok(s.subjects.get(subject).copied())
    }

    async fn refresh(&self, store: &Store, now: UnixTime) -> Result<(), StoreError> {
        let due = |s: &RevocationState| s.polled_at.is_none_or(|t| now - t >= REVOCATION_POLL || now < t);
        if !self.state.read().map(|s| due(&s)).unwrap_or(true) {
            return Ok(());
        }
        // One poll at a time; the others wait for it rather than repeat it.
        let _poll = self.poll.lock().await;
        let since = match self.state.read().map(|s| (due(&s), s.polled_at)) {
            Ok((false, _)) => return Ok(()),
            Ok((true, Some(t))) => t.min(now) - SKEW,
            _ => now - ACCESS_TOKEN_TTL - SKEW,
        };
        let revoked = store.revocations_since(since).await?;
        if let Ok(mut s) = self.state.write() {
            s.jtis.extend(revoked.jtis);
            s.grants.extend(revoked.grants);
            s.subjects.extend(revoked.subjects);
            s.subjects.retain(|_, at| *at > now - ACCESS_TOKEN_TTL - SKEW);
            // Nothing older can matter: the tokens it covers have expired.
            s.jtis.retain(|_, exp| *exp > now);
            s.grants.retain(|_, at| *at > now - ACCESS_TOKEN_TTL - SKEW);
            s.polled_at = Some(now);
        }
        Ok(())
    }

    /// A revocation made here: effective at once on this instance.
    pub fn revoked_jti(&self, jti: &str, expires_at: UnixTime) {
        if let Ok(mut s) = self.state.write() {
            s.jtis.insert(jti.to_owned(), expires_at);
        }
    }

    pub fn revoked_grant(&self, grant: &str, at: UnixTime) {
        if let Ok(mut s) = self.state.write() {
            s.grants.insert(grant.to_owned(), at);
        }
    }

    /// Every token of `subject` issued at or before `at`.
    pub fn revoked_subject(&self, subject: &str, at: UnixTime) {
        if let Ok(mut s) = self.state.write() {
            s.subjects.insert(subject.to_owned(), at);
        }
    }

    /// Something was revoked in the store by a path that did not say what:
    /// the next check polls.
    pub fn stale(&self) {
        if let Ok(mut s) = self.state.write()
            && let Some(t) = s.polled_at.as_mut()
        {
            *t -= REVOCATION_POLL;
        }
    }
}
