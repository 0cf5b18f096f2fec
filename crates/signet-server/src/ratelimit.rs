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
//!
//! Strangers at the same address (a NAT, a proxy signetd does not know)
//! can spend a principal's budget there by naming it, so an attempt that
//! carries what a stranger cannot have is judged by less (`Proof`): a
//! browser's device cookie by nothing here (its own budget is in the
//! store), a second factor by the ceiling alone (the account's budgets in
//! the store bound its guessing). Client secrets are checked before the
//! limiter is asked: a right one always passes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use signet_core::clock::UnixTime;

pub const WINDOW: i64 = 300;
/// Failures of one principal from one address before it is blocked there.
pub const PRINCIPAL_MAX: u32 = 10;
/// Failures from one address, across principals, before those that failed are blocked.
pub const ADDRESS_MAX: u32 = 30;
/// Failures from one address before only principals that succeeded there may go on.
pub const CEILING: u32 = 300;
const MAX_TRACKED: usize = 100_000;
/// Anonymous failures the trail takes from one address in a window.
pub const ANONYMOUS_PER_ADDRESS: u32 = 30;
/// Anonymous failures the trail takes in all in a window, on one instance.
pub const ANONYMOUS_PER_WINDOW: u32 = 300;

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

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::ClientAuthentication, Kind::SignOn, Kind::DeviceCode, Kind::Basic, Kind::Token];

    /// Its name in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Kind::ClientAuthentication => "client_authentication",
            Kind::SignOn => "sign_on",
            Kind::DeviceCode => "device_code",
            Kind::Basic => "basic",
            Kind::Token => "token",
        }
    }
}

/// What an attempt carries besides what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Nothing a stranger could not send.
    None,
    /// A second factor, or a password and a second factor together.
    SecondFactor,
    /// A device cookie of the account it names.
    Device,
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
    /// Anonymous failures recorded in the trail per address, and in all
    /// (`may_record`).
    recorded: HashMap<IpAddr, Window>,
    recorded_all: Option<Window>,
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
    /// Attempts refused, by kind (`Kind::ALL`'s order), for the metrics.
    blocks: [AtomicU64; Kind::ALL.len()],
    /// Attempts an account's lock in the store refused unchecked (`lockout`).
    lock_refusals: AtomicU64,
}

impl FailureLimiter {
    /// Seconds to wait before `principal` may try a credential of `kind`
    /// from `ip` again, if it must wait.
    pub fn blocked(&self, ip: IpAddr, kind: Kind, principal: Option<&str>, now: UnixTime) -> Option<u64> {
        self.blocked_with(ip, kind, principal, Proof::None, now)
    }

    /// `blocked`, for an attempt that carries `proof`.
    pub fn blocked_with(
        &self,
        ip: IpAddr,
        kind: Kind,
        principal: Option<&str>,
        proof: Proof,
        now: UnixTime,
    ) -> Option<u64> {
        let wait = self.judge(ip, kind, principal, proof, now);
        if wait.is_some() {
            let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            self.blocks[i].fetch_add(1, Ordering::Relaxed);
        }
        wait
    }

    /// Whether `blocked` would refuse `principal` now, without counting a
    /// refusal: for a caller that only decides how much work to do.
    pub fn would_block(&self, ip: IpAddr, kind: Kind, principal: Option<&str>, now: UnixTime) -> bool {
        self.judge(ip, kind, principal, Proof::None, now).is_some()
    }

    /// Attempts refused so far, by kind.
    pub fn blocks(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL.iter().zip(&self.blocks).map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
    }

    /// An attempt the account's lock refused without checking it: counted
    /// beside this limiter's own refusals, for the metrics.
    pub fn refused_by_lock(&self) {
        self.lock_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts accounts' locks refused so far.
    pub fn lock_refusals(&self) -> u64 {
        self.lock_refusals.load(Ordering::Relaxed)
    }

    fn judge(&self, ip: IpAddr, kind: Kind, principal: Option<&str>, proof: Proof, now: UnixTime) -> Option<u64> {
        if proof == Proof::Device {
            return None;
        }
        let seen = self.seen.lock().ok()?;
        let address = seen.addresses.get(&(ip, kind)).copied()?;
        let total = address.current(now);
        if proof == Proof::SecondFactor {
            let known = principal
                .is_some_and(|p| seen.succeeded.get(&(ip, kind, p.to_owned())).is_some_and(|at| now - at < WINDOW));
            return (total >= CEILING && !known).then(|| address.wait(now));
        }
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

    /// Whether a failure that names no known person (an unknown directory
    /// user, a federated sign-on that reached no account) may go in the
    /// trail: up to `ANONYMOUS_PER_ADDRESS` from an address and
    /// `ANONYMOUS_PER_WINDOW` in all in a window, on each instance; the rest
    /// are counted in the metrics and logged, so an anonymous flood from any
    /// number of addresses cannot grow the trail without bound.
    pub fn may_record(&self, ip: IpAddr, now: UnixTime) -> bool {
        let Ok(mut seen) = self.seen.lock() else { return false };
        if seen.recorded.len() >= MAX_TRACKED {
            seen.recorded.retain(|_, w| now - w.start < WINDOW);
        }
        let all = seen.recorded_all.get_or_insert(Window { start: now, failures: 0 });
        if now - all.start >= WINDOW && all.failures > ANONYMOUS_PER_WINDOW {
            tracing::warn!(
                suppressed = all.failures - ANONYMOUS_PER_WINDOW,
                "anonymous sign-on failures left out of the audit trail in the last window (see the metrics)"
            );
        }
        all.add(now);
        let over_all = all.failures > ANONYMOUS_PER_WINDOW;
        let w = seen.recorded.entry(ip.to_canonical()).or_insert(Window { start: now, failures: 0 });
        w.add(now);
        w.failures <= ANONYMOUS_PER_ADDRESS && !over_all
    }

    /// Forgets a principal's failures everywhere (an administrator unlocked
    /// its account: what strangers spent in its name is given back).
    pub fn forgive(&self, principal: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.principals.retain(|(_, _, p), _| p != principal);
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
        let blocks: Vec<_> = l.blocks().filter(|(_, n)| *n > 0).collect();
        assert_eq!(blocks, vec![(Kind::SignOn, 1)], "each refusal is counted by kind, and only refusals");
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

    /// Found by the review of issue 15's fixes: ten strangers' failures in
    /// the administrator's name, from the administrator's own address.
    #[test]
    fn what_strangers_cannot_send_is_judged_by_less() {
        let l = FailureLimiter::default();
        for _ in 0..ADDRESS_MAX {
            l.fail(ip(), Kind::SignOn, Some("administrator"), 100);
        }
        assert!(l.blocked(ip(), Kind::SignOn, Some("administrator"), 100).is_some());
        assert_eq!(l.blocked_with(ip(), Kind::SignOn, Some("administrator"), Proof::Device, 100), None);
        assert_eq!(l.blocked_with(ip(), Kind::SignOn, Some("administrator"), Proof::SecondFactor, 100), None);
        for n in 0..CEILING {
            l.fail(ip(), Kind::SignOn, Some(&format!("spray-{n}")), 100);
        }
        assert!(
            l.blocked_with(ip(), Kind::SignOn, Some("administrator"), Proof::SecondFactor, 100).is_some(),
            "not past the ceiling"
        );
        assert_eq!(l.blocked_with(ip(), Kind::SignOn, Some("administrator"), Proof::Device, 100), None);
        l.forgive("administrator");
        assert!(l.seen.lock().unwrap().principals.keys().all(|(_, _, p)| p != "administrator"));
    }

    #[test]
    fn anonymous_failures_are_recorded_within_a_bound() {
        let l = FailureLimiter::default();
        let recorded = (0..100).filter(|_| l.may_record(ip(), 100)).count();
        assert_eq!(recorded, ANONYMOUS_PER_ADDRESS as usize, "from one address");
        assert!(l.may_record(ip(), 100 + WINDOW), "again in the next window");
        // From many addresses: bounded in all.
        let many = (0..2000u32).filter(|n| l.may_record(IpAddr::from(n.to_be_bytes()), 200 + WINDOW)).count();
        assert_eq!(many, ANONYMOUS_PER_WINDOW as usize - 1);
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
