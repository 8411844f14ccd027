//! Login throttling per account and per client address: at most `max_failures` attempts
//! are evaluated within `window`, counting the ones still being checked. A password check
//! is slow (argon2), so an attempt is *reserved* before it and settled after it: forty
//! concurrent attempts cannot all pass the gate before the first failure is recorded. A
//! success clears the account's record. In memory: each node throttles on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// Attempts reserved and not settled yet.
    in_flight: u32,
    since: Instant,
}

/// Failure counters keyed by `account:<email>` and `ip:<address>`.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<String, Failures>>,
}

/// One reserved login attempt. Settle it with `Attempt::failed` or
/// `Attempt::succeeded`; dropped unsettled (the check errored), it frees its slot.
#[derive(Debug)]
#[must_use = "an attempt holds a slot until it is settled"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: [String; 2],
    settled: bool,
}

impl Attempt<'_> {
    /// The password was wrong: the attempt counts as a failure.
    pub(crate) fn failed(mut self) {
        self.settle(true);
    }

    /// The login succeeded: the account's record is cleared.
    pub(crate) fn succeeded(mut self) {
        self.settle(false);
        let mut map = self.throttle.lock();
        map.remove(&self.keys[0]);
    }

    fn settle(&mut self, failed: bool) {
        self.settled = true;
        let mut map = self.throttle.lock();
        for key in &self.keys {
            if let Some(entry) = map.get_mut(key) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                if failed {
                    entry.count += 1;
                }
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(false);
        }
    }
}

impl LoginThrottle {
    pub(crate) fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            failures: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves an attempt for this account from this address, or `Err(retry_after)` when
    /// failures plus attempts in flight already reach the limit for either of them.
    pub(crate) fn begin(&self, email: &str, ip: &str) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let window = self.settings.window;
        let keys = [account_key(email), ip_key(ip)];
        let mut map = self.lock();
        // Bound memory under a spray of random e-mails: expired records go first.
        if map.len() > 100_000 {
            map.retain(|_, f| f.in_flight > 0 || now.duration_since(f.since) < window);
        }
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(f) = map.get_mut(key) {
                let elapsed = now.duration_since(f.since);
                if elapsed >= window {
                    f.count = 0;
                    f.since = now;
                } else if f.count + f.in_flight >= self.settings.max_failures {
                    wait = wait.max((window - elapsed).max(Duration::from_secs(1)));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in &keys {
            map.entry(key.clone())
                .or_insert(Failures {
                    count: 0,
                    in_flight: 0,
                    since: now,
                })
                .in_flight += 1;
        }
        drop(map);
        Ok(Attempt {
            throttle: self,
            keys,
            settled: false,
        })
    }
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Login failures counted where every node sees them (a database), in front of each
/// node's [`LoginThrottle`]: without it, an attacker spreading guesses over *n* nodes
/// gets *n* times the attempts.
///
/// An attempt is counted against both keys (`account:<email>`, `ip:<address>`) before
/// the password is checked, all or nothing, and only while both are under the limit; a
/// success then clears the account and refunds the address. An attempt whose check
/// errors stays counted (the safe side).
#[async_trait::async_trait]
pub trait SharedLoginAttempts: Send + Sync + std::fmt::Debug + 'static {
    /// Counts one attempt against every key, or `Err(retry_after)` when one of them has
    /// `max_failures` attempts within `window` already (then nothing is counted).
    async fn begin(
        &self,
        keys: &[String],
        max_failures: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, cctv_core::storage::StorageError>;

    /// The login succeeded: forget `clear`, take one attempt back from `refund`.
    async fn succeeded(
        &self,
        clear: &str,
        refund: &str,
    ) -> Result<(), cctv_core::storage::StorageError>;
}

/// The keys one login attempt counts against: the account, then the client address.
pub fn attempt_keys(email: &str, ip: &str) -> [String; 2] {
    [account_key(email), ip_key(ip)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_sixth_attempt_is_refused_until_the_window_passes() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for _ in 0..5 {
            t.begin("a@b.c", "1.1.1.1").unwrap().failed();
        }
        let wait = t.begin("a@b.c", "9.9.9.9").unwrap_err();
        assert_eq!(wait, Duration::from_secs(900));
        tokio::time::advance(Duration::from_secs(901)).await;
        assert!(t.begin("a@b.c", "9.9.9.9").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_in_flight_count_against_the_limit() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        let held: Vec<Attempt<'_>> = (0..5)
            .map(|_| t.begin("a@b.c", "1.1.1.1").unwrap())
            .collect();
        assert!(
            t.begin("a@b.c", "2.2.2.2").is_err(),
            "five checks are already running"
        );
        drop(held);
        assert!(
            t.begin("a@b.c", "2.2.2.2").is_ok(),
            "unsettled attempts free their slot"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_spraying_accounts_is_locked_out() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for i in 0..5 {
            t.begin(&format!("user{i}@b.c"), "2.2.2.2")
                .unwrap()
                .failed();
        }
        assert!(t.begin("fresh@b.c", "2.2.2.2").is_err());
        assert!(t.begin("fresh@b.c", "3.3.3.3").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_clears_the_account() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for _ in 0..4 {
            t.begin("a@b.c", "1.1.1.1").unwrap().failed();
        }
        t.begin("a@b.c", "1.1.1.1").unwrap().succeeded();
        t.begin("a@b.c", "4.4.4.4").unwrap().failed();
        assert!(t.begin("a@b.c", "4.4.4.4").is_ok());
    }
}
