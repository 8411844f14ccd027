//! Operating the job queue: what is waiting, running and failed, and the admin's actions
//! on failed jobs (retry one or all, discard, prune). Separate from `JobQueue`
//! (cctv_core::jobs::JobQueue) because workers never need it.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use cctv_core::jobs::{JobId, NewJob, Queue};
use cctv_core::query::{Page, PageRequest};
use cctv_core::storage::StorageError;

/// Default pending jobs above which a queue raises an alert.
pub const DEFAULT_ALERT_THRESHOLD: u64 = 10_000;

/// The state of one queue at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub queue: Queue,
    /// Queued jobs, due or waiting for a retry time.
    pub pending: u64,
    /// Pending jobs held by a live lease (a worker is on them).
    pub running: u64,
    pub failed: u64,
    /// Jobs completed in the minute before the instant.
    pub processed_last_minute: u64,
    /// The creation time of the oldest pending job.
    pub oldest_pending_at: Option<Timestamp>,
}

/// A job that exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedJob {
    pub id: JobId,
    pub queue: Queue,
    pub kind: String,
    pub attempts: u32,
    pub error: Option<String>,
    pub payload: Value,
    pub created_at: Timestamp,
    pub failed_at: Option<Timestamp>,
}

/// At most this many characters of a payload are shown in a list.
const SUMMARY_CHARS: usize = 200;

impl FailedJob {
    /// The payload as compact JSON, cut to a readable length (a detection payload can
    /// carry kilobytes of features).
    pub fn payload_summary(&self) -> String {
        let text = self.payload.to_string();
        if text.chars().count() <= SUMMARY_CHARS {
            return text;
        }
        let mut cut: String = text.chars().take(SUMMARY_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// Remembers which queues are above the threshold, so that an alert is raised once when a
/// queue crosses it and cleared once when it drops back (not repeated every sample).
#[derive(Debug)]
pub struct QueueAlarm {
    threshold: u64,
    alerting: std::sync::Mutex<std::collections::BTreeSet<Queue>>,
}

/// A queue crossed the threshold: `alert` is true going above, false coming back below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmChange {
    pub queue: Queue,
    pub pending: u64,
    pub threshold: u64,
    pub alert: bool,
}

impl QueueAlarm {
    pub fn new(threshold: u64) -> Self {
        Self {
            threshold,
            alerting: Default::default(),
        }
    }

    /// The number above which a queue alerts.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Whether `pending` jobs are above the threshold.
    pub fn is_above(&self, pending: u64) -> bool {
        pending > self.threshold
    }

    /// The queues whose alert state changed since the previous sample (pending jobs).
    pub fn observe(&self, stats: &[QueueStats]) -> Vec<AlarmChange> {
        self.observe_values(stats.iter().map(|s| (s.queue, s.pending)))
    }

    /// [`Self::observe`] over any per-queue number (failed jobs, say); `pending` of a
    /// change is that number.
    pub fn observe_values(
        &self,
        values: impl IntoIterator<Item = (Queue, u64)>,
    ) -> Vec<AlarmChange> {
        let mut alerting = self.alerting.lock().unwrap_or_else(|p| p.into_inner());
        let mut changes = Vec::new();
        for (queue, value) in values {
            let above = self.is_above(value);
            let changed = if above {
                alerting.insert(queue)
            } else {
                alerting.remove(&queue)
            };
            if changed {
                changes.push(AlarmChange {
                    queue,
                    pending: value,
                    threshold: self.threshold,
                    alert: above,
                });
            }
        }
        changes
    }

    /// Whether `queue` is alerting as of the last sample.
    pub fn is_alerting(&self, queue: Queue) -> bool {
        self.alerting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&queue)
    }
}

/// The admin side of the queue.
#[async_trait]
pub trait QueueAdmin: Send + Sync + fmt::Debug + 'static {
    /// One entry per queue of [`Queue::ALL`], in that order.
    async fn queue_stats(&self, now: Timestamp) -> Result<Vec<QueueStats>, StorageError>;

    /// Failed jobs, most recently failed first.
    async fn failed_jobs(&self, page: PageRequest) -> Result<Page<FailedJob>, StorageError>;

    /// Puts failed jobs back in their queue with fresh attempts, due at `now`: one
    /// (`Some(id)`) or all. Returns how many moved.
    async fn retry_failed(&self, id: Option<JobId>, now: Timestamp) -> Result<u64, StorageError>;

    /// Discards one failed job; `false` when no failed job has that id.
    async fn delete_failed(&self, id: JobId) -> Result<bool, StorageError>;

    /// Discards failed jobs that failed before `before`.
    async fn prune_failed(&self, before: Timestamp) -> Result<u64, StorageError>;

    /// Enqueues `job` unless a queued job of the same queue, kind and payload exists;
    /// returns the id of the job that will do the work (the existing one or `job`'s).
    async fn enqueue_unique(&self, job: &NewJob) -> Result<JobId, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(payload: Value) -> FailedJob {
        FailedJob {
            id: JobId::new(),
            queue: Queue::Reports,
            kind: "k".into(),
            attempts: 3,
            error: None,
            payload,
            created_at: Timestamp::UNIX_EPOCH,
            failed_at: None,
        }
    }

    fn stats(queue: Queue, pending: u64) -> QueueStats {
        QueueStats {
            queue,
            pending,
            running: 0,
            failed: 0,
            processed_last_minute: 0,
            oldest_pending_at: None,
        }
    }

    #[test]
    fn the_alarm_fires_once_above_the_threshold_and_clears_once_below_it() {
        let alarm = QueueAlarm::new(10);
        assert!(
            alarm.observe(&[stats(Queue::Reports, 10)]).is_empty(),
            "at the threshold is fine"
        );
        let up = alarm.observe(&[stats(Queue::Reports, 11), stats(Queue::Images, 3)]);
        assert_eq!(up.len(), 1);
        assert!(up[0].alert && up[0].queue == Queue::Reports && up[0].pending == 11);
        assert!(
            alarm.observe(&[stats(Queue::Reports, 50)]).is_empty(),
            "not repeated"
        );
        let down = alarm.observe(&[stats(Queue::Reports, 2)]);
        assert_eq!(down.len(), 1);
        assert!(!down[0].alert);
        assert!(alarm.observe(&[stats(Queue::Reports, 2)]).is_empty());
    }

    #[test]
    fn a_short_payload_is_summarised_whole() {
        let job = failed(serde_json::json!({"date": "2026-11-28"}));
        assert_eq!(job.payload_summary(), r#"{"date":"2026-11-28"}"#);
    }

    #[test]
    fn a_long_payload_is_cut_to_200_characters_and_an_ellipsis() {
        let job = failed(serde_json::json!({"x": "é".repeat(500)}));
        let summary = job.payload_summary();
        assert_eq!(summary.chars().count(), 201);
        assert!(summary.ends_with('…') && summary.starts_with(r#"{"x":"éé"#));
    }
}
