//! Login throttling, per client IP and per account, with the `governor` crate's
//! keyed GCRA limiters. Both keys must have room for an attempt to go ahead.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginLimiter {
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginLimiter {
    /// `per_minute` attempts per account; an IP gets five times as many, since
    /// several people may share one address.
    pub fn new(per_minute: u32) -> LoginLimiter {
        let account = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let ip = NonZeroU32::new(per_minute.saturating_mul(5)).unwrap_or(NonZeroU32::MIN);
        LoginLimiter {
            by_ip: RateLimiter::keyed(Quota::per_minute(ip)),
            by_account: RateLimiter::keyed(Quota::per_minute(account)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt; `Err(seconds)` says how long until the next is allowed.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), u64> {
        let now = self.clock.now();
        let wait =
            |not_until: governor::NotUntil<_>| not_until.wait_time_from(now).as_secs().max(1);
        self.by_ip.check_key(&ip).map_err(wait)?;
        self.by_account
            .check_key(&account.to_lowercase())
            .map_err(wait)?;
        Ok(())
    }

    /// Forgets keys whose limits have refilled (keeps memory bounded).
    pub fn shrink(&self) {
        self.by_ip.retain_recent();
        self.by_account.retain_recent();
        self.by_ip.shrink_to_fit();
        self.by_account.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_its_quota() {
        let limiter = LoginLimiter::new(3);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(limiter.check(ip, "a@example.com").is_ok());
        }
        let wait = limiter.check(ip, "A@example.com").expect_err("throttled");
        assert!(wait >= 1);
        // Another account from the same address still has room.
        assert!(limiter.check(ip, "b@example.com").is_ok());
    }

    #[test]
    fn an_ip_is_throttled_across_accounts() {
        let limiter = LoginLimiter::new(1);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for n in 0..5 {
            assert!(limiter.check(ip, &format!("user{n}@example.com")).is_ok());
        }
        assert!(limiter.check(ip, "user9@example.com").is_err());
    }
}
