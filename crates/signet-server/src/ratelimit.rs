//! Per-address limits on failures: wrong passwords, codes, client secrets and
//! user codes. Only failures count, so a worker doing thousands of successful
//! grants a second from one address is never slowed. The window is per
//! instance; account lockout, which must hold across instances, is in the store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use signet_core::clock::UnixTime;

pub const WINDOW: i64 = 300;
pub const MAX_FAILURES: u32 = 30;
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct FailureLimiter {
    seen: Mutex<HashMap<IpAddr, (UnixTime, u32)>>,
}

impl FailureLimiter {
    /// Seconds to wait if `ip` has used up its failures, else `None`.
    pub fn blocked(&self, ip: IpAddr, now: UnixTime) -> Option<u64> {
        let seen = self.seen.lock().ok()?;
        let (start, n) = *seen.get(&ip)?;
        (now - start < WINDOW && n >= MAX_FAILURES).then(|| (start + WINDOW - now).max(1) as u64)
    }

    pub fn fail(&self, ip: IpAddr, now: UnixTime) {
        let Ok(mut seen) = self.seen.lock() else { return };
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, (start, _)| now - *start < WINDOW);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now - entry.0 >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_too_many_failures_until_the_window_passes() {
        let l = FailureLimiter::default();
        let ip: IpAddr = [127, 0, 0, 9].into();
        let other: IpAddr = [127, 0, 0, 10].into();
        for _ in 0..MAX_FAILURES - 1 {
            l.fail(ip, 100);
        }
        assert_eq!(l.blocked(ip, 100), None);
        l.fail(ip, 100);
        assert_eq!(l.blocked(ip, 150), Some((WINDOW - 50) as u64));
        assert_eq!(l.blocked(other, 150), None);
        assert_eq!(l.blocked(ip, 100 + WINDOW), None);
    }
}
