//! Per-address limits on failures: wrong passwords, codes, client secrets,
//! user codes and tokens. Only failures count, so a worker doing thousands
//! of successful grants a second from one address is never slowed. The
//! window is per instance; account lockout, which must hold across
//! instances, is in the store.
//!
//! Failures are counted per kind of credential (client authentication,
//! sign-on, device code, Basic, bearer token), each with its own budget, so
//! a noisy client cannot block a person's sign-on from the same address
//! (issue 15, finding 4). Within a kind:
//!
//! - a **principal** (a client id, a username) that failed `PRINCIPAL_MAX`
//!   times from an address is blocked there;
//! - once an address has `ADDRESS_MAX` failures across principals, it is
//!   blocked for the principals that failed there themselves, and for
//!   attempts that name none; a principal with no failure of its own from
//!   that address does not pay for the others' (a correct credential from
//!   behind the same NAT or proxy still works);
//! - password spraying, one guess at each of many principals, has no
//!   failures per principal to stop it, so past `CEILING` failures the
//!   address is blocked for every principal except those that succeeded
//!   from it in the window. Spraying is bounded at `CEILING` a window, and
//!   a client or person already at work from that address goes on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use signet_core::clock::UnixTime;

pub const WINDOW: i64 = 300;
/// Failures of one principal from one address before it is blocked there.
pub const PRINCIPAL_MAX: u32 = 10;
/// Failures from one address, across principals, before those that failed are blocked.
pub const ADDRESS_MAX: u32 = 30;
/// Failures from one address before only principals that succeeded there may go on.
pub const CEILING: u32 = 300;
const MAX_TRACKED: usize = 100_000;

/// What kind of credential failed; each kind has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Client secrets and client ids at the OAuth endpoints.
    ClientAuthentication,
    /// Passwords, second factors and upstream answers on the sign-on pages.
    SignOn,
    /// User codes typed on the device page.
    DeviceCode,
    /// HTTP Basic on the admin API (native, LDAP, RADIUS) and its second factors.
    Basic,
    /// Bearer and DPoP tokens, and client certificates, on the admin and Vault APIs.
    Token,
}

/// A count of failures since `start`.
#[derive(Clone, Copy)]
struct Window {
    start: UnixTime,
    failures: u32,
}

impl Window {
    fn current(self, now: UnixTime) -> u32 {
        if now - self.start < WINDOW { self.failures } else { 0 }
    }

    fn add(&mut self, now: UnixTime) {
        if now - self.start >= WINDOW {
            *self = Window { start: now, failures: 0 };
        }
        self.failures += 1;
    }

    fn wait(self, now: UnixTime) -> u64 {
        (self.start + WINDOW - now).max(1) as u64
    }
}

#[derive(Default)]
struct Seen {
    addresses: HashMap<(IpAddr, Kind), Window>,
    principals: HashMap<(IpAddr, Kind, String), Window>,
    /// Principals that succeeded from an address, and when.
    succeeded: HashMap<(IpAddr, Kind, String), UnixTime>,
}

#[derive(Default)]
pub struct FailureLimiter {
    seen: Mutex<Seen>,
    /// Whether any failure was ever counted: until then a success takes no lock.
    any: AtomicBool,
}

impl FailureLimiter {
    /// Seconds to wait before `principal` may try a credential of `kind`
    /// from `ip` again, if it must wait.
    pub fn blocked(&self, ip: IpAddr, kind: Kind, principal: Option<&str>, now: UnixTime) -> Option<u64> {
        let seen = self.seen.lock().ok()?;
        let address = seen.addresses.get(&(ip, kind)).copied()?;
        let total = address.current(now);
        let own = principal
            .and_then(|p| seen.principals.get(&(ip, kind, p.to_owned())).copied())
            .filter(|w| w.current(now) > 0);
        if let Some(own) = own
            && own.current(now) >= PRINCIPAL_MAX
        {
            return Some(own.wait(now));
        }
        if total < ADDRESS_MAX {
            return None;
        }
        let Some(principal) = principal else { return Some(address.wait(now)) };
        if own.is_some() {
            return Some(address.wait(now));
        }
        let known = seen.succeeded.get(&(ip, kind, principal.to_owned())).is_some_and(|at| now - at < WINDOW);
        (total >= CEILING && !known).then(|| address.wait(now))
    }

    pub fn fail(&self, ip: IpAddr, kind: Kind, principal: Option<&str>, now: UnixTime) {
        self.any.store(true, Ordering::Relaxed);
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.addresses.len() + seen.principals.len() + seen.succeeded.len() >= MAX_TRACKED {
            seen.addresses.retain(|_, w| now - w.start < WINDOW);
            seen.principals.retain(|_, w| now - w.start < WINDOW);
            seen.succeeded.retain(|_, at| now - *at < WINDOW);
        }
        seen.addresses.entry((ip, kind)).or_insert(Window { start: now, failures: 0 }).add(now);
        if let Some(p) = principal {
            seen.principals.entry((ip, kind, p.to_owned())).or_insert(Window { start: now, failures: 0 }).add(now);
        }
    }

    /// A principal authenticated from `ip`: its failures there are forgiven,
    /// and it goes on working there whatever others do. Kept only while the
    /// address has failures, so a busy worker costs nothing here.
    pub fn succeeded(&self, ip: IpAddr, kind: Kind, principal: &str, now: UnixTime) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut seen) = self.seen.lock() else { return };
        let key = (ip, kind, principal.to_owned());
        seen.principals.remove(&key);
        let failing = seen.addresses.get(&(ip, kind)).is_some_and(|w| w.current(now) > 0);
        if failing && seen.succeeded.len() < MAX_TRACKED {
            seen.succeeded.insert(key, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [127, 0, 0, 9];

    fn ip() -> IpAddr {
        IP.into()
    }

    #[test]
    fn a_principal_is_blocked_after_its_own_failures_until_the_window_passes() {
        let l = FailureLimiter::default();
        for _ in 0..PRINCIPAL_MAX - 1 {
            l.fail(ip(), Kind::SignOn, Some("ada"), 100);
        }
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("ada"), 100), None);
        l.fail(ip(), Kind::SignOn, Some("ada"), 100);
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("ada"), 150), Some((WINDOW - 50) as u64));
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("bob"), 150), None, "another principal");
        assert_eq!(l.blocked([127, 0, 0, 10].into(), Kind::SignOn, Some("ada"), 150), None, "another address");
        assert_eq!(l.blocked(ip(), Kind::Basic, Some("ada"), 150), None, "another kind");
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("ada"), 100 + WINDOW), None);
    }

    #[test]
    fn an_address_over_its_budget_blocks_those_that_failed_not_the_others() {
        let l = FailureLimiter::default();
        for n in 0..ADDRESS_MAX {
            l.fail(ip(), Kind::ClientAuthentication, Some(&format!("noisy-{}", n % 3)), 100);
        }
        assert!(l.blocked(ip(), Kind::ClientAuthentication, Some("noisy-1"), 101).is_some());
        assert!(l.blocked(ip(), Kind::ClientAuthentication, None, 101).is_some(), "naming nobody");
        assert_eq!(
            l.blocked(ip(), Kind::ClientAuthentication, Some("worker"), 101),
            None,
            "a principal without failures"
        );
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("noisy-1"), 101), None, "sign-on has its own budget");
        assert_eq!(l.blocked(ip(), Kind::Basic, Some("administrator"), 101), None);
    }

    #[test]
    fn spraying_stops_at_the_ceiling_except_for_who_already_works_there() {
        let l = FailureLimiter::default();
        l.fail(ip(), Kind::SignOn, Some("early"), 100);
        l.succeeded(ip(), Kind::SignOn, "early", 100);
        // The early failure counts towards the ceiling too.
        for n in 0..CEILING - 1 {
            let fresh = format!("user-{n}");
            assert_eq!(l.blocked(ip(), Kind::SignOn, Some(&fresh), 100), None, "guess {n} is tried");
            l.fail(ip(), Kind::SignOn, Some(&fresh), 100);
        }
        assert!(l.blocked(ip(), Kind::SignOn, Some("user-next"), 100).is_some(), "spraying is bounded");
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("early"), 100), None, "who succeeded here goes on");
        assert_eq!(l.blocked(ip(), Kind::SignOn, Some("user-next"), 100 + WINDOW), None);
    }

    #[test]
    fn success_forgives_a_principals_own_failures() {
        let l = FailureLimiter::default();
        for _ in 0..PRINCIPAL_MAX {
            l.fail(ip(), Kind::Basic, Some("ada"), 100);
        }
        assert!(l.blocked(ip(), Kind::Basic, Some("ada"), 100).is_some());
        l.succeeded(ip(), Kind::Basic, "ada", 100);
        assert_eq!(l.blocked(ip(), Kind::Basic, Some("ada"), 100), None);
    }
}
