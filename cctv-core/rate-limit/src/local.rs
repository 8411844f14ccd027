//! Counting in one process: one atomic per credential, so it adds no I/O to a request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use jiff::Timestamp;

use super::{RateDecision, RequestLimiter};

/// One counter per credential: high 32 bits = window (hours since epoch), low 32 = count.
#[derive(Debug, Default)]
pub struct HourlyLimiter {
    counters: RwLock<HashMap<i64, Arc<AtomicU64>>>,
}

impl HourlyLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a request of `credential_id` against `limit` at `now`.
    #[cfg(test)]
    fn check(&self, credential_id: i64, limit: u32, now: Timestamp) -> RateDecision {
        self.take(credential_id, limit, 1, now)
    }

    /// Counts `n` requests of `credential_id` at once (a batch upload costs one per item):
    /// all of them when they fit in what is left of the hour, none otherwise, atomically
    /// against concurrent callers. A refused decision's `remaining` is what is still left,
    /// so a client can send a smaller batch. `n = 0` counts nothing and is allowed while
    /// anything is left.
    pub(crate) fn take(
        &self,
        credential_id: i64,
        limit: u32,
        n: u32,
        now: Timestamp,
    ) -> RateDecision {
        let (window, reset_at) = super::hour_window(now);
        let counter = self.counter(credential_id);
        let mut current = counter.load(Ordering::Relaxed);
        loop {
            let (w, count) = ((current >> 32) as i64, (current & 0xFFFF_FFFF) as u32);
            let count = if w == window { count } else { 0 };
            let left = limit.saturating_sub(count);
            if left == 0 || n > left {
                return RateDecision {
                    allowed: false,
                    limit,
                    remaining: left,
                    reset_at,
                };
            }
            let decision = RateDecision {
                allowed: true,
                limit,
                remaining: left - n,
                reset_at,
            };
            if n == 0 {
                return decision;
            }
            let next = ((window as u64) << 32) | u64::from(count + n);
            match counter.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return decision,
                Err(actual) => current = actual,
            }
        }
    }

    fn counter(&self, credential_id: i64) -> Arc<AtomicU64> {
        if let Some(c) = self
            .counters
            .read()
            .expect("limiter lock")
            .get(&credential_id)
        {
            return c.clone();
        }
        self.counters
            .write()
            .expect("limiter lock")
            .entry(credential_id)
            .or_default()
            .clone()
    }
}

#[async_trait]
impl RequestLimiter for HourlyLimiter {
    async fn take(&self, credential_id: i64, limit: u32, n: u32, now: Timestamp) -> RateDecision {
        HourlyLimiter::take(self, credential_id, limit, n, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_an_hour_and_resets_at_the_next() {
        let limiter = HourlyLimiter::new();
        let t: Timestamp = "2026-11-28T10:15:00Z".parse().unwrap();
        let first = limiter.check(1, 2, t);
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        assert_eq!(
            first.reset_at,
            "2026-11-28T11:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_second()
        );
        assert!(limiter.check(1, 2, t).allowed);
        let third = limiter.check(1, 2, t);
        assert!(!third.allowed);
        assert_eq!(third.retry_after(t), 45 * 60);
        assert!(
            limiter.check(2, 2, t).allowed,
            "other credentials count separately"
        );
        assert!(
            limiter
                .check(1, 2, "2026-11-28T11:00:01Z".parse().unwrap())
                .allowed
        );
    }

    #[test]
    fn a_batch_is_counted_whole_or_not_at_all() {
        let limiter = HourlyLimiter::new();
        let t: Timestamp = "2026-11-28T10:15:00Z".parse().unwrap();
        let peek = limiter.take(1, 10, 0, t);
        assert!(peek.allowed);
        assert_eq!(peek.remaining, 10, "a peek counts nothing");
        let first = limiter.take(1, 10, 7, t);
        assert!(first.allowed);
        assert_eq!(first.remaining, 3);
        let too_many = limiter.take(1, 10, 4, t);
        assert!(!too_many.allowed);
        assert_eq!(
            too_many.remaining, 3,
            "a refused batch leaves the allowance as it was"
        );
        let fits = limiter.take(1, 10, 3, t);
        assert!(fits.allowed);
        assert_eq!(fits.remaining, 0);
        assert!(
            !limiter.take(1, 10, 0, t).allowed,
            "nothing left: a peek is refused"
        );
        assert!(!limiter.check(1, 10, t).allowed);
        assert!(
            !limiter.take(2, 10, 11, t).allowed,
            "a batch larger than the whole limit never fits"
        );
        assert_eq!(limiter.take(2, 10, 0, t).remaining, 10);
    }

    #[test]
    fn concurrent_batches_never_exceed_the_limit() {
        let limiter = Arc::new(HourlyLimiter::new());
        let t: Timestamp = "2026-11-28T10:15:00Z".parse().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let l = limiter.clone();
                std::thread::spawn(move || {
                    let n = 1 + i % 3;
                    (0..1000).filter(|_| l.take(9, 2999, n, t).allowed).count() as u32 * n
                })
            })
            .collect();
        let taken: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(taken <= 2999, "{taken}");
        assert!(
            taken >= 2997,
            "only a remainder smaller than a batch is left: {taken}"
        );
    }

    #[test]
    fn concurrent_requests_never_exceed_the_limit() {
        let limiter = Arc::new(HourlyLimiter::new());
        let t: Timestamp = "2026-11-28T10:15:00Z".parse().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let l = limiter.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| l.check(7, 3000, t).allowed).count()
                })
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(allowed, 3000);
    }
}
