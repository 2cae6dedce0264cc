//! Throttling of password guesses, with the `governor` crate's keyed GCRA
//! limiters: sign-in attempts per client network and per account, and password
//! changes (which also check a password, with Argon2) per client network and per
//! user. Every key involved must have room for an attempt to go ahead.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginLimiter {
    by_client: DefaultKeyedRateLimiter<IpAddr>,
    by_account: DefaultKeyedRateLimiter<String>,
    password_changes: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginLimiter {
    /// `per_minute` attempts per account (and password changes per user); a
    /// client network gets five times as many, since several people may share
    /// one address.
    pub fn new(per_minute: u32) -> LoginLimiter {
        let account = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let client = NonZeroU32::new(per_minute.saturating_mul(5)).unwrap_or(NonZeroU32::MIN);
        LoginLimiter {
            by_client: RateLimiter::keyed(Quota::per_minute(client)),
            by_account: RateLimiter::keyed(Quota::per_minute(account)),
            password_changes: RateLimiter::keyed(Quota::per_minute(account)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one sign-in attempt; `Err(seconds)` says how long until the next
    /// is allowed. The account is keyed the way the account lookup reads an
    /// email, so spaces or capitals around it do not open a fresh bucket.
    pub fn check(&self, client: IpAddr, email: &str) -> Result<(), u64> {
        self.take(&self.by_client, &client_network(client))?;
        self.take(&self.by_account, &crate::accounts::normalize_email(email))
    }

    /// Takes one password-change attempt by a signed-in user.
    pub fn check_password_change(&self, client: IpAddr, user_id: &str) -> Result<(), u64> {
        self.take(&self.by_client, &client_network(client))?;
        self.take(&self.password_changes, &user_id.to_string())
    }

    fn take<K>(&self, limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), u64>
    where
        K: Clone + Eq + std::hash::Hash,
    {
        let now = self.clock.now();
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(now).as_secs().max(1))
    }

    /// Forgets keys whose limits have refilled (keeps memory bounded).
    pub fn shrink(&self) {
        self.by_client.retain_recent();
        self.by_account.retain_recent();
        self.password_changes.retain_recent();
        self.by_client.shrink_to_fit();
        self.by_account.shrink_to_fit();
        self.password_changes.shrink_to_fit();
    }
}

/// The unit one client is throttled as: an IPv4 address, or an IPv6 /64 (the
/// smallest network a provider hands a customer, so a host can pick any of 2^64
/// addresses in it). IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
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
    fn spaces_around_an_email_do_not_open_a_new_bucket() {
        let limiter = LoginLimiter::new(2);
        let ip: IpAddr = [10, 0, 0, 2].into();
        assert!(limiter.check(ip, "viewer@example.com").is_ok());
        assert!(limiter.check(ip, " viewer@example.com").is_ok());
        assert!(limiter.check(ip, "\tVIEWER@example.com \n").is_err());
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

    #[test]
    fn ipv6_clients_are_throttled_per_slash_64() {
        let limiter = LoginLimiter::new(1);
        for n in 0..5u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, n, n, n, n + 1));
            assert!(limiter.check(ip, &format!("user{n}@example.com")).is_ok());
        }
        let same_64: IpAddr = "2001:db8:0:7:ffff::1".parse().expect("ip");
        assert!(limiter.check(same_64, "user9@example.com").is_err());
        let next_64: IpAddr = "2001:db8:0:8::1".parse().expect("ip");
        assert!(limiter.check(next_64, "user9@example.com").is_ok());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_network(mapped), IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn password_changes_are_throttled_per_user() {
        let limiter = LoginLimiter::new(2);
        let ip: IpAddr = [10, 0, 0, 3].into();
        assert!(limiter.check_password_change(ip, "user-1").is_ok());
        assert!(limiter.check_password_change(ip, "user-1").is_ok());
        assert!(limiter.check_password_change(ip, "user-1").is_err());
        assert!(limiter.check_password_change(ip, "user-2").is_ok());
    }
}
