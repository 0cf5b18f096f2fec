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
    feed: FeedStatus,
}

/// How far behind the feed is on this instance, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStatus {
    /// When the last poll succeeded; `None` before the first.
    pub succeeded_at: Option<UnixTime>,
    /// When the newest entry applied from the feed was revoked.
    pub newest_at: Option<UnixTime>,
    /// Seconds from that entry's revocation to the poll that applied it.
    /// `None` until a poll brings an entry newer than those the first found.
    pub newest_lag: Option<i64>,
    pub polls: u64,
    pub errors: u64,
}

impl FeedStatus {
    /// A poll at `now` succeeded, bringing entries whose newest was revoked at `newest`.
    fn polled(&mut self, now: UnixTime, newest: Option<UnixTime>) {
        // The first poll reads back a whole token lifetime: its entries are
        // older than this instance, not late.
        let first = self.succeeded_at.is_none();
        if let Some(at) = newest
            && self.newest_at.is_none_or(|seen| at > seen)
        {
            self.newest_at = Some(at);
            self.newest_lag = (!first).then_some((now - at).max(0)).or(self.newest_lag);
        }
        self.succeeded_at = Some(now);
        self.polls += 1;
    }
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
        let revoked = match store.revocations_since(since).await {
            Ok(revoked) => revoked,
            Err(e) => {
                if let Ok(mut s) = self.state.write() {
                    s.feed.errors += 1;
                }
                return Err(e);
            }
        };
        if let Ok(mut s) = self.state.write() {
            s.feed.polled(now, revoked.newest);
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

    /// How far behind the feed is here.
    pub fn feed_status(&self) -> FeedStatus {
        self.state.read().map(|s| s.feed).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::FeedStatus;

    #[test]
    fn the_lag_is_that_of_entries_newer_than_the_first_poll_found() {
        let mut feed = FeedStatus::default();
        feed.polled(1000, Some(400));
        assert_eq!((feed.succeeded_at, feed.newest_lag), (Some(1000), None), "old entries are not late");
        feed.polled(1001, Some(400));
        assert_eq!(feed.newest_lag, None, "seen again through the overlap");
        feed.polled(1003, Some(1001));
        assert_eq!((feed.newest_at, feed.newest_lag), (Some(1001), Some(2)));
        feed.polled(1004, None);
        assert_eq!((feed.succeeded_at, feed.newest_lag, feed.polls), (Some(1004), Some(2), 4), "nothing new");
    }
}
