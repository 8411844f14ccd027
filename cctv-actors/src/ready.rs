//! The in-memory hand-off between the ingest batcher and the detection workers.
//!
//! A job is leased to this node when it is committed only if a slot here was reserved
//! for it first; the batcher pushes it after the commit, so workers process fresh
//! detections straight from memory. When the queue is full, jobs are committed without a
//! lease and the workers claim them from the database instead: memory stays bounded and
//! nothing is lost, only slower.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cctv_core::detection::DetectionJob;
use tokio::sync::Notify;

/// A detection job and the attempts already made on it.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub job: DetectionJob,
    pub attempts: u32,
    /// 0 for an ordinary job. A job back from a batch that panicked goes in a batch of at
    /// most this many such jobs: half its last batch. Halving again at each panic finds
    /// the job that panics in a few batches (a bisection: 14 for a batch of 8,192), and it
    /// then fails alone while the others are applied.
    pub after_panic: u32,
}

impl WorkItem {
    pub fn new(job: DetectionJob, attempts: u32) -> Self {
        Self {
            job,
            attempts,
            after_panic: 0,
        }
    }
}

#[derive(Debug)]
pub struct ReadyQueue {
    items: Mutex<VecDeque<WorkItem>>,
    /// Reserved plus queued slots.
    used: AtomicUsize,
    capacity: usize,
    pub(crate) notify: Notify,
}

impl ReadyQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            used: AtomicUsize::new(0),
            capacity,
            notify: Notify::new(),
        }
    }

    /// Reserves up to `n` slots; returns how many were reserved.
    pub fn try_reserve(&self, n: usize) -> usize {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let take = n.min(self.capacity.saturating_sub(used));
            if take == 0 {
                return 0;
            }
            match self.used.compare_exchange_weak(
                used,
                used + take,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(actual) => used = actual,
            }
        }
    }

    /// Gives back reserved slots that will not be pushed (the commit failed).
    pub fn unreserve(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Pushes items whose slots were reserved.
    pub fn push_reserved(&self, items: impl IntoIterator<Item = WorkItem>) {
        self.items.lock().expect("ready queue lock").extend(items);
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Puts a batch that panicked back at the front (a worker restarting), each job marked
    /// with half the batch's size as its [`WorkItem::after_panic`], taking a slot for
    /// each. Capacity is not checked: the batch may hold jobs claimed from the database
    /// besides those taken from here, so the queue can run over by up to one batch until
    /// the next `take`.
    pub fn requeue_front(&self, items: Vec<WorkItem>) {
        let n = items.len();
        let half = u32::try_from(n.div_ceil(2)).unwrap_or(u32::MAX).max(1);
        let mut queue = self.items.lock().expect("ready queue lock");
        for mut item in items.into_iter().rev() {
            item.after_panic = half;
            queue.push_front(item);
        }
        self.used.fetch_add(n, Ordering::AcqRel);
        drop(queue);
        self.notify.notify_one();
    }

    /// Takes up to `max` items, freeing their slots. Jobs back from a batch that panicked
    /// sit at the front, where [`Self::requeue_front`] puts them, and go without the others,
    /// at most as many as the first one's [`WorkItem::after_panic`].
    pub fn take(&self, max: usize) -> Vec<WorkItem> {
        let mut queue = self.items.lock().expect("ready queue lock");
        let n = match queue.front() {
            Some(first) if first.after_panic > 0 => queue
                .iter()
                .take(max.min(first.after_panic as usize))
                .take_while(|w| w.after_panic > 0)
                .count(),
            _ => max.min(queue.len()),
        };
        let batch: Vec<WorkItem> = queue.drain(..n).collect();
        drop(queue);
        self.used.fetch_sub(batch.len(), Ordering::AcqRel);
        batch
    }

    /// Free slots (neither reserved nor queued).
    pub fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.used.load(Ordering::Acquire))
    }

    pub fn len(&self) -> usize {
        self.items.lock().expect("ready queue lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_bound_the_queue() {
        let q = ReadyQueue::new(3);
        assert_eq!(q.try_reserve(2), 2);
        assert_eq!(q.try_reserve(2), 1);
        assert_eq!(q.try_reserve(1), 0);
        q.unreserve(1);
        assert_eq!(q.try_reserve(5), 1);
    }

    fn item(re_id: &str) -> WorkItem {
        let job = serde_json::from_value(serde_json::json!({
            "job_id": uuid::Uuid::new_v4(),
            "re_id": re_id,
            "branch_id": 1,
            "device_id": "D",
            "detected_count": 1,
            "detected_at": "2026-11-28T08:00:00Z",
            "received_at": "2026-11-28T08:00:00Z",
        }))
        .expect("a detection job");
        WorkItem::new(job, 0)
    }

    fn re_ids(items: &[WorkItem]) -> Vec<&str> {
        items.iter().map(|w| w.job.re_id.as_str()).collect()
    }

    #[test]
    fn a_panicked_batch_comes_back_first_in_halves_then_the_rest() {
        let q = ReadyQueue::new(10);
        assert_eq!(q.try_reserve(2), 2);
        q.push_reserved([item("fresh-1"), item("fresh-2")]);
        let back: Vec<WorkItem> = (1..=5).map(|i| item(&format!("back-{i}"))).collect();
        q.requeue_front(back);
        assert_eq!(q.len(), 7);
        let first = q.take(10);
        assert_eq!(re_ids(&first), ["back-1", "back-2", "back-3"]);
        assert!(first.iter().all(|w| w.after_panic == 3));
        // That half panics too: its halves come back ahead of the other half.
        q.requeue_front(first);
        assert_eq!(re_ids(&q.take(10)), ["back-1", "back-2"]);
        // What is left of a half goes with the next jobs back from a panic, never with
        // ordinary ones, and never in a batch larger than the first job's mark.
        assert_eq!(re_ids(&q.take(10)), ["back-3", "back-4"]);
        assert_eq!(re_ids(&q.take(10)), ["back-5"]);
        let rest = q.take(10);
        assert_eq!(re_ids(&rest), ["fresh-1", "fresh-2"]);
        assert!(rest.iter().all(|w| w.after_panic == 0));
        // A batch smaller than its mark is what is left of it: a lone job is taken alone.
        q.requeue_front(vec![item("alone")]);
        assert_eq!(q.take(10)[0].after_panic, 1);
        assert_eq!(q.room(), 10);
    }
}
