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

    /// Puts items back at the front (a worker restarting with its batch), taking a slot
    /// for each. Capacity is not checked: the batch may hold jobs claimed from the
    /// database besides those taken from here, so the queue can run over by up to one
    /// batch until the next `take`.
    pub fn requeue_front(&self, items: Vec<WorkItem>) {
        let n = items.len();
        let mut queue = self.items.lock().expect("ready queue lock");
        for item in items.into_iter().rev() {
            queue.push_front(item);
        }
        self.used.fetch_add(n, Ordering::AcqRel);
        drop(queue);
        self.notify.notify_one();
    }

    /// Takes up to `max` items, freeing their slots.
    pub fn take(&self, max: usize) -> Vec<WorkItem> {
        let mut queue = self.items.lock().expect("ready queue lock");
        let n = max.min(queue.len());
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
}
