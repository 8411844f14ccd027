//! # cctv-rate-limit
//!
//! Hourly request limits per credential: a fixed window aligned to the clock hour, as the
//! original system and its device fleet expect (`X-RateLimit-Reset` = next top of hour).
//!
//! [`HourlyLimiter`] counts in one process (a `cctv_core::Core` uses it unless given
//! another [`RequestLimiter`]). Several nodes share one limit through
//! [`LeasedLimiter`]: each node leases part of the hour's allowance from a shared counter
//! (an [`AllowanceStore`], e.g. a row in PostgreSQL) and spends it locally, so most
//! requests pay no round trip, and the nodes together never let more than the limit
//! through.
//!
//! Nothing here knows the domain: a credential is an id with a limit.

mod leased;
mod local;

use async_trait::async_trait;
use jiff::Timestamp;

pub use leased::{AllowanceError, AllowanceStore, LeasedLimiter};
pub use local::HourlyLimiter;

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix time of the window's end.
    pub reset_at: i64,
}

impl RateDecision {
    /// Seconds until the window resets, for `Retry-After`.
    pub fn retry_after(&self, now: Timestamp) -> i64 {
        (self.reset_at - now.as_second()).max(1)
    }
}

/// Counts requests of credentials against their hourly limits.
#[async_trait]
pub trait RequestLimiter: Send + Sync + std::fmt::Debug + 'static {
    /// Counts `n` requests of `credential_id` at once (a batch upload costs one per item):
    /// all of them when they fit in what is left of the hour, none otherwise. A refused
    /// decision's `remaining` is what is still left, so a client can send a smaller batch.
    /// `n = 0` counts nothing and is allowed while anything is left.
    async fn take(&self, credential_id: i64, limit: u32, n: u32, now: Timestamp) -> RateDecision;
}

/// The hour `now` falls in (hours since the epoch) and the unix time it ends.
pub(crate) fn hour_window(now: Timestamp) -> (i64, i64) {
    let window = now.as_second().div_euclid(3600);
    (window, (window + 1) * 3600)
}
