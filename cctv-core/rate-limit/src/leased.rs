//! One limit shared by several nodes, without a round trip per request.
//!
//! The shared counter only ever grants what is left of the hour's limit, so all nodes
//! together never let more than the limit through. A node leases a slice of what is left
//! (a sixteenth, at most [`MAX_LEASE`], at least what the request needs) and spends it
//! locally; when it runs out it leases again. Slices shrink as the hour's allowance runs
//! low, down to one request, so near the limit the nodes hand out the last requests one
//! by one. A slice a node has not used for [`IDLE_RETURN`] goes back to the shared
//! counter, so an idle node cannot keep a busy one below its limit for long: the slack is
//! at most the unused slices of other nodes, for at most that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::time::Instant;

use super::{RateDecision, RequestLimiter, hour_window};

/// The largest slice one lease takes.
pub(crate) const MAX_LEASE: u32 = 256;
/// How long an unused slice stays with a node.
pub(crate) const IDLE_RETURN: Duration = Duration::from_secs(1);
/// How long after a failed lease requests are allowed without trying the counter again.
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(1);

/// Why the shared counter could not be reached or updated (the store's own error).
pub type AllowanceError = Box<dyn std::error::Error + Send + Sync>;

/// The shared counter: requests granted per credential and hour, across all nodes.
#[async_trait]
pub trait AllowanceStore: Send + Sync + std::fmt::Debug + 'static {
    /// Grants up to `want` more requests of `credential_id` in hour `window`, never
    /// beyond `limit` in all. Returns what was granted and the hour's total afterwards.
    async fn lease(
        &self,
        credential_id: i64,
        window: i64,
        limit: u32,
        want: u32,
    ) -> Result<(u32, u32), AllowanceError>;

    /// Hands `n` granted but unused requests back.
    async fn give_back(
        &self,
        credential_id: i64,
        window: i64,
        n: u32,
    ) -> Result<(), AllowanceError>;

    /// Forgets the counters of hours before `window`.
    async fn forget_before(&self, window: i64) -> Result<(), AllowanceError>;
}

/// What one node holds of a credential's hour.
#[derive(Debug, Clone, Copy)]
struct Slice {
    window: i64,
    /// Leased and not spent yet.
    left: u32,
    /// The hour's total granted (all nodes) when this node last leased.
    granted_total: u32,
    last_used: Instant,
    /// The shared counter had nothing left: refuse without asking it again until then
    /// (another node may hand an idle slice back meanwhile).
    exhausted_until: Option<Instant>,
}

/// A [`RequestLimiter`] over an [`AllowanceStore`]; see the module documentation.
#[derive(Debug)]
pub struct LeasedLimiter {
    store: Arc<dyn AllowanceStore>,
    slices: Mutex<HashMap<i64, Slice>>,
    /// One lease at a time per credential. When a slice runs out under load, every
    /// request in flight finds it empty at once; without this each leased on its own, and
    /// each waited in turn for the shared row's lock and its commit (on PostgreSQL ~4 ms a
    /// lease at 6,500 requests/s). Now they wait for the one lease and spend from it.
    leasing: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Until when the shared counter is taken as unreachable (after a failed lease):
    /// requests queued at the gate are then allowed at once instead of each trying again
    /// (and each waiting for the database's timeout in turn).
    down_until: Mutex<Option<Instant>>,
}

impl LeasedLimiter {
    /// The limiter, and a task (on the current Tokio runtime) that hands idle slices back
    /// and forgets past hours; it ends when the limiter is dropped.
    pub fn start(store: Arc<dyn AllowanceStore>) -> Arc<Self> {
        let limiter = Arc::new(Self::new(store));
        tokio::spawn(return_idle(Arc::downgrade(&limiter)));
        limiter
    }

    /// The limiter alone: whoever holds it calls [`Self::return_idle_slices`].
    pub(crate) fn new(store: Arc<dyn AllowanceStore>) -> Self {
        Self {
            store,
            slices: Mutex::default(),
            leasing: Mutex::default(),
            down_until: Mutex::default(),
        }
    }

    /// The gate that lets one lease of `credential_id` run at a time.
    fn lease_gate(&self, credential_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.leasing.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(credential_id).or_default().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Slice>> {
        self.slices.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spends `n` from the local slice when it holds enough.
    fn spend(&self, credential_id: i64, window: i64, limit: u32, n: u32) -> Option<RateDecision> {
        let mut slices = self.lock();
        let slice = slices.get_mut(&credential_id)?;
        if slice.window != window {
            return None;
        }
        if slice.left < n || (n == 0 && slice.left == 0) {
            let exhausted = slice.exhausted_until.is_some_and(|t| Instant::now() < t);
            return exhausted.then(|| decision(false, limit, slice, window));
        }
        slice.left -= n;
        slice.last_used = Instant::now();
        Some(decision(true, limit, slice, window))
    }

    /// Hands back every slice unused for [`IDLE_RETURN`], and those of past hours.
    pub(crate) async fn return_idle_slices(&self, now: Timestamp) {
        let (window, _) = hour_window(now);
        let idle: Vec<(i64, Slice)> = {
            let mut slices = self.lock();
            let due: Vec<i64> = slices
                .iter()
                .filter(|(_, s)| {
                    s.window != window || (s.left > 0 && s.last_used.elapsed() >= IDLE_RETURN)
                })
                .map(|(id, _)| *id)
                .collect();
            due.into_iter()
                .filter_map(|id| slices.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (credential_id, slice) in idle {
            if slice.left > 0
                && slice.window == window
                && let Err(e) = self
                    .store
                    .give_back(credential_id, slice.window, slice.left)
                    .await
            {
                tracing::warn!(error = %e, credential_id, "handing back an unused rate allowance failed");
            }
        }
    }
}

/// The remaining figure a node can give: what was left of the hour at its last lease,
/// less what it spent since. Other nodes' spending since then is not known here.
fn decision(allowed: bool, limit: u32, slice: &Slice, window: i64) -> RateDecision {
    let unspent_elsewhere = limit.saturating_sub(slice.granted_total);
    RateDecision {
        allowed,
        limit,
        remaining: unspent_elsewhere + slice.left,
        reset_at: (window + 1) * 3600,
    }
}

/// How much to lease when `need` more are needed and `granted_total` of `limit` is out.
fn lease_size(limit: u32, granted_total: u32, need: u32) -> u32 {
    let left = limit.saturating_sub(granted_total);
    (left / 16).clamp(1, MAX_LEASE).max(need)
}

#[async_trait]
impl RequestLimiter for LeasedLimiter {
    async fn take(&self, credential_id: i64, limit: u32, n: u32, now: Timestamp) -> RateDecision {
        let (window, reset_at) = hour_window(now);
        if let Some(d) = self.spend(credential_id, window, limit, n) {
            return d;
        }
        let gate = self.lease_gate(credential_id);
        let _turn = gate.lock().await;
        // A lease that ran while this request waited may have left enough.
        if let Some(d) = self.spend(credential_id, window, limit, n) {
            return d;
        }
        let (held, known_total) = match self.lock().get(&credential_id) {
            Some(s) if s.window == window => (s.left, s.granted_total),
            _ => (0, 0),
        };
        let need = n.saturating_sub(held).max(1);
        let want = lease_size(limit, known_total, need);
        // The shared counter is out of reach: serve rather than refuse every device; the
        // limit holds again when it is back.
        let allow = RateDecision {
            allowed: true,
            limit,
            remaining: limit.saturating_sub(known_total),
            reset_at,
        };
        let down = *self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_some_and(|until| Instant::now() < until) {
            return allow;
        }
        let (granted, total) = match self.store.lease(credential_id, window, limit, want).await {
            Ok(g) => g,
            Err(e) => {
                *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + DOWN_FOR);
                tracing::warn!(error = %e, credential_id, "rate limit counter unavailable; request allowed");
                return allow;
            }
        };
        let mut slices = self.lock();
        let fresh = Slice {
            window,
            left: 0,
            granted_total: 0,
            last_used: Instant::now(),
            exhausted_until: None,
        };
        let slice = slices.entry(credential_id).or_insert(fresh);
        if slice.window != window {
            *slice = fresh;
        }
        slice.left += granted;
        slice.granted_total = slice.granted_total.max(total);
        slice.last_used = Instant::now();
        slice.exhausted_until = (total >= limit).then(|| Instant::now() + IDLE_RETURN);
        let fits = if n == 0 {
            slice.left > 0
        } else {
            slice.left >= n
        };
        if fits {
            slice.left -= n;
        }
        decision(fits, limit, slice, window)
    }
}

async fn return_idle(limiter: Weak<LeasedLimiter>) {
    let mut tick = tokio::time::interval(IDLE_RETURN / 2);
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        let now = Timestamp::now();
        limiter.return_idle_slices(now).await;
        ticks += 1;
        if ticks.is_multiple_of(1200) {
            let (window, _) = hour_window(now);
            if let Err(e) = limiter.store.forget_before(window - 1).await {
                tracing::warn!(error = %e, "forgetting past rate-limit hours failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared counter in memory, counting round trips.
    #[derive(Debug, Default)]
    struct Counter {
        granted: Mutex<HashMap<(i64, i64), u32>>,
        leases: std::sync::atomic::AtomicU32,
    }

    #[async_trait]
    impl AllowanceStore for Counter {
        async fn lease(
            &self,
            id: i64,
            window: i64,
            limit: u32,
            want: u32,
        ) -> Result<(u32, u32), AllowanceError> {
            self.leases
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A round trip: other requests run meanwhile.
            tokio::task::yield_now().await;
            let mut map = self.granted.lock().unwrap();
            let used = map.entry((id, window)).or_default();
            let g = want.min(limit.saturating_sub(*used));
            *used += g;
            Ok((g, *used))
        }
        async fn give_back(&self, id: i64, window: i64, n: u32) -> Result<(), AllowanceError> {
            let mut map = self.granted.lock().unwrap();
            let used = map.entry((id, window)).or_default();
            *used = used.saturating_sub(n);
            Ok(())
        }
        async fn forget_before(&self, window: i64) -> Result<(), AllowanceError> {
            self.granted
                .lock()
                .unwrap()
                .retain(|(_, w), _| *w >= window);
            Ok(())
        }
    }

    fn t() -> Timestamp {
        "2026-12-03T10:15:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn two_nodes_together_let_exactly_the_limit_through() {
        let counter = Arc::new(Counter::default());
        let a = LeasedLimiter::new(counter.clone());
        let b = LeasedLimiter::new(counter.clone());
        let leases = || counter.leases.load(std::sync::atomic::Ordering::Relaxed);
        let mut allowed = 0;
        let mut leases_to_limit = 0;
        for i in 0..1500 {
            let node = if i % 3 == 0 { &a } else { &b };
            if node.take(1, 1000, 1, t()).await.allowed {
                allowed += 1;
                if allowed == 1000 {
                    leases_to_limit = leases();
                }
            }
        }
        assert_eq!(allowed, 1000);
        assert!(
            leases_to_limit < 200,
            "most requests are served from a slice: {leases_to_limit} leases"
        );
        assert!(
            leases() - leases_to_limit <= 4,
            "refusals are local: {} more leases",
            leases() - leases_to_limit
        );
    }

    #[tokio::test]
    async fn requests_finding_the_slice_empty_together_share_one_lease() {
        let counter = Arc::new(Counter::default());
        let limiter = Arc::new(LeasedLimiter::new(counter.clone()));
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let limiter = limiter.clone();
            requests.spawn(async move { limiter.take(5, 1_000_000, 1, t()).await.allowed });
        }
        let allowed = requests.join_all().await;
        assert!(allowed.iter().all(|a| *a));
        assert_eq!(
            counter.leases.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "one lease of {MAX_LEASE} serves all 32"
        );
    }

    /// A counter that cannot be reached, counting the attempts.
    #[derive(Debug, Default)]
    struct Unreachable(std::sync::atomic::AtomicU32);

    #[async_trait]
    impl AllowanceStore for Unreachable {
        async fn lease(
            &self,
            _: i64,
            _: i64,
            _: u32,
            _: u32,
        ) -> Result<(u32, u32), AllowanceError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::task::yield_now().await;
            Err("connection refused".into())
        }
        async fn give_back(&self, _: i64, _: i64, _: u32) -> Result<(), AllowanceError> {
            Err("connection refused".into())
        }
        async fn forget_before(&self, _: i64) -> Result<(), AllowanceError> {
            Err("connection refused".into())
        }
    }

    #[tokio::test]
    async fn requests_queued_behind_a_failed_lease_are_allowed_without_trying_again() {
        let store = Arc::new(Unreachable::default());
        let limiter = Arc::new(LeasedLimiter::new(store.clone()));
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let limiter = limiter.clone();
            requests.spawn(async move { limiter.take(5, 100, 1, t()).await.allowed });
        }
        assert!(requests.join_all().await.iter().all(|a| *a));
        assert_eq!(store.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_small_limit_is_handed_out_one_by_one() {
        let counter = Arc::new(Counter::default());
        let a = LeasedLimiter::new(counter.clone());
        let b = LeasedLimiter::new(counter.clone());
        let mut allowed = 0;
        for i in 0..8 {
            let node = if i % 2 == 0 { &a } else { &b };
            let d = node.take(7, 2, 1, t()).await;
            if d.allowed {
                allowed += 1;
            } else {
                assert_eq!(d.remaining, 0);
                assert_eq!(d.retry_after(t()), 45 * 60);
            }
        }
        assert_eq!(allowed, 2);
    }

    #[tokio::test]
    async fn a_batch_fits_whole_or_not_at_all_and_idle_slices_go_back() {
        let counter = Arc::new(Counter::default());
        let a = LeasedLimiter::new(counter.clone());
        let b = LeasedLimiter::new(counter.clone());
        assert!(a.take(3, 100, 1, t()).await.allowed);
        // A holds the rest of its slice; B cannot have more than what is left in all.
        assert!(!b.take(3, 100, 100, t()).await.allowed);
        assert!(b.take(3, 100, 60, t()).await.allowed);
        // A's idle slice goes back, and then B can have all that is left.
        tokio::time::sleep(IDLE_RETURN).await;
        a.return_idle_slices(t()).await;
        b.return_idle_slices(t()).await;
        assert!(b.take(3, 100, 39, t()).await.allowed);
        assert!(!b.take(3, 100, 1, t()).await.allowed);
        assert!(!a.take(3, 100, 1, t()).await.allowed);
    }

    #[tokio::test]
    async fn the_next_hour_starts_afresh() {
        let counter = Arc::new(Counter::default());
        let a = LeasedLimiter::new(counter);
        assert!(a.take(5, 1, 1, t()).await.allowed);
        assert!(!a.take(5, 1, 1, t()).await.allowed);
        let next: Timestamp = "2026-12-03T11:00:01Z".parse().unwrap();
        assert!(a.take(5, 1, 1, next).await.allowed);
    }
}
