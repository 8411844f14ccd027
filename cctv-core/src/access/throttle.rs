//! Login throttling per account and per client address: after `max_failures` failed
//! attempts within `window`, further attempts are refused until the window has passed
//! since the first failure. A success clears the account's record. In memory: each node
//! throttles on its own (an attacker spreading attempts over N nodes gets N× the budget,
//! still far below what brute force needs).

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
    since: Instant,
}

/// Failure counters keyed by `account:<email>` and `ip:<address>`.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            failures: Mutex::default(),
        }
    }

    /// `Err(retry_after)` when the account or the address is locked out.
    pub fn check(&self, email: &str, ip: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for key in [account_key(email), ip_key(ip)] {
            if let Some(f) = map.get(&key) {
                let elapsed = now.duration_since(f.since);
                if f.count >= self.settings.max_failures && elapsed < self.settings.window {
                    wait = wait.max(self.settings.window - elapsed);
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn record_failure(&self, email: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a spray of random e-mails: expired records go first.
        if map.len() > 100_000 {
            let window = self.settings.window;
            map.retain(|_, f| now.duration_since(f.since) < window);
        }
        for key in [account_key(email), ip_key(ip)] {
            let entry = map.entry(key).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.duration_since(entry.since) >= self.settings.window {
                *entry = Failures {
                    count: 0,
                    since: now,
                };
            }
            entry.count += 1;
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&account_key(email));
    }
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_sixth_attempt_is_refused_until_the_window_passes() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for _ in 0..5 {
            assert!(t.check("a@b.c", "1.1.1.1").is_ok());
            t.record_failure("a@b.c", "1.1.1.1");
        }
        let wait = t.check("a@b.c", "9.9.9.9").unwrap_err();
        assert_eq!(wait, Duration::from_secs(900));
        tokio::time::advance(Duration::from_secs(901)).await;
        assert!(t.check("a@b.c", "9.9.9.9").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn one_address_spraying_accounts_is_locked_out() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for i in 0..5 {
            t.record_failure(&format!("user{i}@b.c"), "2.2.2.2");
        }
        assert!(t.check("fresh@b.c", "2.2.2.2").is_err());
        assert!(t.check("fresh@b.c", "3.3.3.3").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_clears_the_account() {
        let t = LoginThrottle::new(ThrottleSettings::default());
        for _ in 0..4 {
            t.record_failure("a@b.c", "1.1.1.1");
        }
        t.record_success("a@b.c");
        t.record_failure("a@b.c", "4.4.4.4");
        assert!(t.check("a@b.c", "4.4.4.4").is_ok());
    }
}
