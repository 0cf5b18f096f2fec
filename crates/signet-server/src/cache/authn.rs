//! What admin authentication (`crate::authn`) remembers on this instance.
//! Every map is keyed by an HMAC under a key of this instance's own, so it
//! never holds anything a password or a token could be recovered from.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signet_core::clock::UnixTime;
use signet_core::crypto::{hmac_sha256, random_bytes};
use signet_core::id::EnvironmentId;
use signet_core::token::AccessClaims;

use super::TtlCache;
use crate::config::admin_auth::AuthSettings;

const MAX_ENTRIES: usize = 1024;
/// How long this instance trusts the authentication settings it read.
const SETTINGS_FRESH_FOR: Duration = Duration::from_secs(1);

/// A Basic password that verified for an admin account at a version.
#[derive(Clone)]
pub struct VerifiedPassword {
    pub account_id: String,
    pub version: i64,
}

/// A bearer token whose signature, issuer and audience were checked.
#[derive(Clone)]
pub struct VerifiedToken {
    pub env_id: String,
    /// The key that signed it: once retired, the token is no longer good.
    pub kid: String,
    pub claims: AccessClaims,
}

pub struct Authn {
    key: [u8; 32],
    /// Verified Basic credentials, while the account's version is unchanged.
    pub passwords: TtlCache<[u8; 32], VerifiedPassword>,
    /// Verified bearer tokens, until they expire, so a script's calls do not
    /// pay a signature check each; revocation is still checked on every call.
    pub tokens: TtlCache<[u8; 32], VerifiedToken>,
    /// Sign-ons recorded lately, so an automation calling every second does
    /// not write an event per call.
    pub announced: TtlCache<[u8; 32], ()>,
    /// Directory sign-ons that passed a login enforcement lately, by person
    /// and address.
    pub mfa_passed: TtlCache<[u8; 32], ()>,
    /// The Administrators environment's id: an import on another instance
    /// may replace the environment.
    pub administrators: TtlCache<(), EnvironmentId>,
    /// Settings from the config file, which then override the store's.
    pub from_file: Option<Arc<AuthSettings>>,
    /// The store's settings and when they were read.
    settings: Mutex<Option<(Instant, Arc<AuthSettings>)>>,
    /// Unauthenticated calls logged in the current minute: (minute, count).
    logged: Mutex<(UnixTime, u32)>,
}

/// Log lines about unauthenticated calls per minute; the rest are counted in
/// metrics only, so a flood cannot flood the log (or the audit trail, which
/// records only authenticated principals).
const LOGGED_PER_MINUTE: u32 = 10;

/// Whether to log an unauthenticated call.
#[derive(Debug, PartialEq, Eq)]
pub enum LogLine {
    Log,
    /// Say first how many were left out of the minute before, then log.
    LogAfterSuppressed(u32),
    Suppress,
}

impl Authn {
    pub fn new(from_file: Option<AuthSettings>) -> Authn {
        Authn {
            key: random_bytes::<32>().unwrap_or([7; 32]),
            passwords: TtlCache::new(MAX_ENTRIES),
            tokens: TtlCache::new(MAX_ENTRIES),
            announced: TtlCache::new(MAX_ENTRIES),
            mfa_passed: TtlCache::new(MAX_ENTRIES),
            administrators: TtlCache::new(1),
            from_file: from_file.map(Arc::new),
            settings: Mutex::new(None),
            logged: Mutex::new((0, 0)),
        }
    }

    /// The key a credential is remembered under.
    pub fn key_of(&self, credential: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.key, credential)
    }

    /// Forgets what this instance remembered about admin accounts and
    /// tokens, after it replaced the configuration.
    pub fn forget(&self) {
        self.administrators.clear();
        self.passwords.clear();
        self.tokens.clear();
        self.forget_settings();
    }

    pub fn settings(&self) -> Option<Arc<AuthSettings>> {
        let cached = self.settings.lock().ok()?;
        cached.as_ref().filter(|(at, _)| at.elapsed() < SETTINGS_FRESH_FOR).map(|(_, s)| s.clone())
    }

    pub fn keep_settings(&self, settings: AuthSettings) -> Arc<AuthSettings> {
        let settings = Arc::new(settings);
        if let Ok(mut cached) = self.settings.lock() {
            *cached = Some((Instant::now(), settings.clone()));
        }
        settings
    }

    /// After a change on this instance: the next request reads the store.
    pub fn forget_settings(&self) {
        if let Ok(mut cached) = self.settings.lock() {
            *cached = None;
        }
    }

    /// Counts an unauthenticated call and says whether to log it.
    pub fn log_unauthenticated(&self, now: UnixTime) -> LogLine {
        let Ok(mut logged) = self.logged.lock() else { return LogLine::Suppress };
        let minute = now / 60;
        let mut suppressed = 0;
        if logged.0 != minute {
            suppressed = logged.1.saturating_sub(LOGGED_PER_MINUTE);
            *logged = (minute, 0);
        }
        logged.1 += 1;
        match (logged.1 <= LOGGED_PER_MINUTE, suppressed) {
            (false, _) => LogLine::Suppress,
            (true, 0) => LogLine::Log,
            (true, n) => LogLine::LogAfterSuppressed(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Authn, LOGGED_PER_MINUTE, LogLine};

    #[test]
    fn unauthenticated_calls_are_logged_a_few_a_minute() {
        let authn = Authn::new(None);
        for _ in 0..LOGGED_PER_MINUTE {
            assert_eq!(authn.log_unauthenticated(60), LogLine::Log);
        }
        assert_eq!(authn.log_unauthenticated(61), LogLine::Suppress);
        assert_eq!(authn.log_unauthenticated(62), LogLine::Suppress);
        assert_eq!(authn.log_unauthenticated(120), LogLine::LogAfterSuppressed(2));
        assert_eq!(authn.log_unauthenticated(121), LogLine::Log);
    }
}
