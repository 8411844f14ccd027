//! The ingest seam between the HTTP layer and the actors that make detections durable.

use std::fmt;

use async_trait::async_trait;

use crate::detection::DetectionJob;
use crate::jobs::JobId;

/// The answer to a submitted detection: durable when this returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub job_id: JobId,
    /// The idempotency key was seen before: `job_id` is the original job, nothing new was
    /// stored.
    pub duplicate: bool,
    /// A duplicate whose original request was a different one (another fingerprint): the
    /// key was reused, not retried.
    pub conflict: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Too much work queued in memory: the client should retry shortly (503).
    #[error("ingest is overloaded")]
    Overloaded,
    /// The store could not make the detection durable (503).
    #[error("ingest unavailable: {0}")]
    Unavailable(String),
    /// The ingest pipeline is shutting down (503).
    #[error("ingest is shutting down")]
    ShuttingDown,
}

/// Accepts detections; returns only once the job is durable (group commit behind it).
#[async_trait]
pub trait IngestSink: Send + Sync + fmt::Debug + 'static {
    async fn submit(&self, job: DetectionJob) -> Result<Submitted, IngestError>;

    /// Submits a batch upload's jobs together and answers for each, in order, once all of
    /// them are durable. Copies of one idempotency key within `jobs` answer like retries
    /// of the first (duplicate, or conflict when their fingerprints differ).
    ///
    /// The default submits one job after the other: correct, but one commit per job, and
    /// on an error the jobs before it stay stored. A sink that group-commits should put
    /// the whole batch in one commit (the actor pipeline's handle does), which also makes
    /// it all or nothing.
    async fn submit_many(&self, jobs: Vec<DetectionJob>) -> Result<Vec<Submitted>, IngestError> {
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            answers.push(self.submit(job).await?);
        }
        Ok(answers)
    }
}
