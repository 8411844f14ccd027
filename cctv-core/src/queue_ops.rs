//! Operating the job queue: what is waiting, running and failed, and the admin's actions
//! on failed jobs (retry one or all, discard, prune). Separate from [`JobQueue`]
//! (crate::jobs::JobQueue) because workers never need it.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::jobs::{JobId, NewJob, Queue};
use crate::query::{Page, PageRequest};
use crate::storage::StorageError;

/// Default pending jobs above which a queue raises an alert (SPEC §6).
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
