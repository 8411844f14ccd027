//! The job queue: named queues, job states, retry schedules and the [`JobQueue`] trait.
//!
//! The queue lives in the database, so a job is durable as soon as its row commits. A job
//! is "claimed" by a lease (owner + expiry): a worker that dies leaves its lease to expire
//! and the job is claimed again; completion happens in the same transaction as the job's
//! effects, so a job is never completed twice.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::storage::error::StorageError;

/// A job's id: a UUID v7, so ids sort by creation time (index-friendly inserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl JobId {
    /// The smallest id a job created at `at` can have: ids below it were created earlier
    /// (UUID v7 starts with the creation time in milliseconds).
    pub fn first_at(at: Timestamp) -> Self {
        let ms = at.as_millisecond().max(0) as u64;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        bytes[6] = 0x70;
        bytes[8] = 0x80;
        Self(Uuid::from_bytes(bytes))
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The named queues, highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Queue {
    Critical,
    Detections,
    Notifications,
    Images,
    Reports,
    Maintenance,
}

impl Queue {
    pub const ALL: [Queue; 6] = [
        Queue::Critical,
        Queue::Detections,
        Queue::Notifications,
        Queue::Images,
        Queue::Reports,
        Queue::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Detections => "detections",
            Self::Notifications => "notifications",
            Self::Images => "images",
            Self::Reports => "reports",
            Self::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// Lower runs first.
    pub fn priority(self) -> i16 {
        self as i16
    }

    /// Default retry schedule of this queue.
    pub fn default_retry(self) -> RetryPolicy {
        let secs: &[u64] = match self {
            Self::Detections | Self::Images => &[10, 30, 60],
            Self::Notifications => &[30, 60, 120, 300, 600],
            Self::Reports => &[30, 60, 120],
            Self::Critical | Self::Maintenance => &[10, 60],
        };
        let max_attempts = match self {
            Self::Notifications => 5,
            Self::Maintenance | Self::Critical => 2,
            _ => 3,
        };
        RetryPolicy {
            backoff: secs.iter().map(|s| Duration::from_secs(*s)).collect(),
            max_attempts,
        }
    }
}

/// How often a job is tried and how long to wait between tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Wait after the 1st, 2nd, … failed attempt; the last entry repeats.
    pub backoff: Vec<Duration>,
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts` failed ones, or `None` when exhausted.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let index = (attempts.max(1) - 1) as usize;
        Some(
            self.backoff
                .get(index)
                .or(self.backoff.last())
                .copied()
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// What a client sees of a job (`GET /api/v1/detection/status/{job_id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Processing,
    Completed,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// A stored job as the status endpoint and the admin views show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub queue: Queue,
    pub kind: String,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub result: Option<Value>,
    pub credential_id: Option<i64>,
    pub created_at: Timestamp,
    pub available_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub queue: Queue,
    pub kind: String,
    pub payload: Value,
    pub max_attempts: u32,
    pub available_at: Timestamp,
}

impl NewJob {
    pub fn new(queue: Queue, kind: &str, payload: Value, available_at: Timestamp) -> Self {
        Self {
            id: JobId::new(),
            queue,
            kind: kind.to_owned(),
            payload,
            max_attempts: queue.default_retry().max_attempts,
            available_at,
        }
    }
}

/// A job handed to a worker by [`JobQueue::claim`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: JobId,
    pub queue: Queue,
    pub kind: String,
    pub payload: Value,
    /// Attempts made before this one.
    pub attempts: u32,
    pub max_attempts: u32,
}

/// A claim on a job by a worker node until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: Timestamp,
}

/// Pending work per queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queue: Queue,
    pub queued: u64,
    pub failed: u64,
}

/// The durable job queue.
#[async_trait]
pub trait JobQueue: Send + Sync + fmt::Debug + 'static {
    /// Makes jobs durable (one transaction).
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<(), StorageError>;

    /// Leases up to `limit` due jobs of `queue` that nobody holds.
    async fn claim(
        &self,
        queue: Queue,
        lease: &Lease,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StorageError>;

    /// Marks a claimed job completed with its result; `false` if it was not pending any more.
    async fn complete(
        &self,
        id: JobId,
        result: Value,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
    async fn fail(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StorageError>;

    /// Heartbeat of a running job: moves its lease to `lease.until` if `lease.owner` still
    /// holds it and the job is not settled. `false` when the lease was lost (the job was
    /// completed, failed or released, or claimed by another owner): the caller should not
    /// expect its result to count. A worker whose job runs longer than its lease calls
    /// this periodically, so the job is not claimed a second time while it runs; a dead
    /// worker stops extending and the job is claimed again once the lease ends.
    async fn extend_lease(
        &self,
        id: JobId,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Gives up leases: all of them (`None`, at start of a single-node store) or one owner's.
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64, StorageError>;

    async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StorageError>;

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, StorageError>;

    /// Deletes up to `limit` completed jobs created before `before` (their effects are in
    /// the domain tables; the rows only served status queries and idempotency). Returns
    /// how many were deleted.
    async fn prune_completed(&self, before: Timestamp, limit: usize) -> Result<u64, StorageError>;
}

/// Why a job attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// Try again on the queue's retry schedule.
    Retry(String),
    /// Will never succeed (unknown kind, malformed payload): failed at once.
    Permanent(String),
}

/// A storage error fails a job for good when retrying cannot help (the backend lacks the
/// capability the job needs); otherwise the job is retried.
impl From<StorageError> for JobFailure {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unsupported(_) => Self::Permanent(e.to_string()),
            e => Self::Retry(e.to_string()),
        }
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retry(m) | Self::Permanent(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_retries_follow_10_30_then_give_up_after_three_attempts() {
        let p = Queue::Detections.default_retry();
        assert_eq!(p.delay_after(1), Some(Duration::from_secs(10)));
        assert_eq!(p.delay_after(2), Some(Duration::from_secs(30)));
        assert_eq!(p.delay_after(3), None);
    }

    #[test]
    fn notification_retries_use_five_attempts() {
        let p = Queue::Notifications.default_retry();
        assert_eq!(p.delay_after(4), Some(Duration::from_secs(300)));
        assert_eq!(p.delay_after(5), None);
    }

    #[test]
    fn first_at_bounds_ids_created_later() {
        let before = JobId::new();
        let boundary = JobId::first_at(Timestamp::now() + jiff::SignedDuration::from_millis(5));
        std::thread::sleep(std::time::Duration::from_millis(10));
        let after = JobId::new();
        assert!(before < boundary && boundary < after);
        assert!(
            before.to_string() < boundary.to_string(),
            "text order is time order too"
        );
    }

    #[test]
    fn job_ids_round_trip_and_sort_by_time() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<JobId>().unwrap(), a);
    }
}
