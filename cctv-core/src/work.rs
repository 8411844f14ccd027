//! What the `reports` and `maintenance` queue workers do with a claimed job.
//!
//! The handlers are plain async code over [`Core`]; `cctv-actors` runs them in supervised
//! workers that claim, retry and fail jobs. A handler says whether a failure is worth
//! retrying ([`JobFailure::Retry`]) or never will succeed ([`JobFailure::Permanent`]).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::Core;
use crate::jobs::{ClaimedJob, Queue};
use crate::reporting::{ReportError, ReportJob, ReportService, Reporting};
use crate::schedule::MaintenanceJob;

/// Why a job attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// Try again on the queue's retry schedule.
    Retry(String),
    /// Will never succeed (unknown kind, malformed payload): failed at once.
    Permanent(String),
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry(m) | Self::Permanent(m) => f.write_str(m),
        }
    }
}

impl From<ReportError> for JobFailure {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Rejected(m) => Self::Permanent(m),
            other => Self::Retry(other.to_string()),
        }
    }
}

/// Handles the jobs of one queue.
#[async_trait]
pub trait JobHandler: Send + Sync + fmt::Debug + 'static {
    fn queue(&self) -> Queue;
    /// Does the job's work; the value is stored as the job's result.
    async fn handle(&self, job: &ClaimedJob) -> Result<Value, JobFailure>;
}

/// Stale reports enqueued by one refresh; the next refresh (5 minutes later) takes the rest.
const REFRESH_BATCH: usize = 1_000;

/// The `reports` queue: generate a report, or enqueue every stale one.
#[derive(Debug, Clone)]
pub struct ReportJobHandler {
    core: Core,
    reports: ReportService,
}

impl ReportJobHandler {
    pub fn new(core: Core) -> Self {
        Self {
            reports: ReportService::new(core.clone()),
            core,
        }
    }
}

#[async_trait]
impl JobHandler for ReportJobHandler {
    fn queue(&self) -> Queue {
        Queue::Reports
    }

    async fn handle(&self, job: &ClaimedJob) -> Result<Value, JobFailure> {
        let parsed = ReportJob::parse(&job.kind, &job.payload)?;
        if let Some(key) = parsed.key()? {
            let report = self.reports.generate(key).await?;
            return Ok(json!({
                "report": key.to_string(),
                "total_detections": report.total_detections,
                "unique_persons": report.unique_persons,
            }));
        }
        let stale = self.reports.stale_reports(REFRESH_BATCH).await?;
        let now = Timestamp::now();
        for key in &stale {
            self.core
                .storage()
                .enqueue_unique(&ReportJob::generate(*key).new_job(now))
                .await
                .map_err(|e| JobFailure::Retry(e.to_string()))?;
        }
        Ok(json!({"enqueued": stale.len()}))
    }
}

/// Failed jobs are kept this long for the admin to inspect (SPEC §6, the original pruned
/// after 168 hours).
const FAILED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Scheduler slots are kept this long (history for the admin schedule view).
const SLOT_RETENTION: Duration = Duration::from_secs(35 * 24 * 3600);

/// The `maintenance` queue. Failed-job pruning is done here; log aggregation, file cleanup
/// and stream health belong to components this build does not contain yet, so their jobs
/// complete as logged no-ops with `{"skipped": …}` in the result (never as fake success).
#[derive(Debug, Clone)]
pub struct MaintenanceJobHandler {
    core: Core,
}

impl MaintenanceJobHandler {
    pub fn new(core: Core) -> Self {
        Self { core }
    }
}

fn ago(d: Duration) -> Timestamp {
    Timestamp::now() - SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO)
}

#[async_trait]
impl JobHandler for MaintenanceJobHandler {
    fn queue(&self) -> Queue {
        Queue::Maintenance
    }

    async fn handle(&self, job: &ClaimedJob) -> Result<Value, JobFailure> {
        let parsed = MaintenanceJob::parse(&job.kind, &job.payload).ok_or_else(|| {
            JobFailure::Permanent(format!("unknown maintenance job {:?}", job.kind))
        })?;
        let retry = |e: crate::storage::StorageError| JobFailure::Retry(e.to_string());
        match parsed {
            MaintenanceJob::PruneFailedJobs => {
                let storage = self.core.storage();
                let jobs = storage
                    .prune_failed(ago(FAILED_RETENTION))
                    .await
                    .map_err(retry)?;
                let slots = storage
                    .prune_schedule_runs(ago(SLOT_RETENTION))
                    .await
                    .map_err(retry)?;
                Ok(json!({"failed_jobs_deleted": jobs, "schedule_slots_deleted": slots}))
            }
            other => {
                // Info, not warn: stream health comes due every minute.
                tracing::info!(
                    job = other.kind(),
                    "maintenance job skipped: this build has no implementation for it yet"
                );
                Ok(json!({"skipped": "not implemented in this build"}))
            }
        }
    }
}
