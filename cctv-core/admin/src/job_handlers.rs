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

use crate::AdminCore;
use crate::reporting::{ReportError, ReportJob, ReportService, Reporting};
use crate::schedule::MaintenanceJob;
use cctv_core::Core;
use cctv_core::jobs::{ClaimedJob, JobFailure, Queue};

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
                .queue_admin()?
                .enqueue_unique(&ReportJob::generate(*key).new_job(now))
                .await
                .map_err(|e| JobFailure::Retry(e.to_string()))?;
        }
        Ok(json!({"enqueued": stale.len()}))
    }
}

/// Failed jobs are kept this long for the admin to inspect (the original pruned
/// after 168 hours).
const FAILED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Scheduler slots are kept this long (history for the admin schedule view).
const SLOT_RETENTION: Duration = Duration::from_secs(35 * 24 * 3600);

/// Where the maintenance jobs find their files (the binary sets both; an embedder that
/// leaves one out gets those jobs completed as `{"skipped": …}` with a log line).
#[derive(Debug, Clone, Default)]
pub struct MaintenanceConfig {
    /// File cleanup and API access-log aggregation.
    pub files: Option<crate::files::FileJobs>,
    /// Directory of the WhatsApp message log (`YYYY-MM-DD.log`).
    pub whatsapp_log_dir: Option<std::path::PathBuf>,
    /// Months of detections and event-log rows kept where the backend partitions them by
    /// month (PostgreSQL); `None`: kept for ever.
    pub partition_retention_months: Option<u32>,
}

/// The `maintenance` queue: failed-job pruning, log aggregation (API access log and
/// WhatsApp message log of a day into their summaries) and file cleanup. Stream health
/// runs in its own actor, so a scheduled `stream_health` job only records that.
#[derive(Debug, Clone)]
pub struct MaintenanceJobHandler {
    core: Core,
    config: MaintenanceConfig,
}

impl MaintenanceJobHandler {
    pub fn new(core: Core) -> Self {
        Self::with_config(core, MaintenanceConfig::default())
    }

    pub fn with_config(core: Core, config: MaintenanceConfig) -> Self {
        Self { core, config }
    }

    fn skipped(&self, job: &str, why: &str) -> Value {
        tracing::info!(job, why, "maintenance job skipped");
        json!({"skipped": why})
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
        if job.kind == crate::ops_alerts::JOB_KIND {
            return crate::ops_alerts::send(&self.core, &job.payload).await;
        }
        let parsed = MaintenanceJob::parse(&job.kind, &job.payload).ok_or_else(|| {
            JobFailure::Permanent(format!("unknown maintenance job {:?}", job.kind))
        })?;
        let retry = |e: cctv_core::storage::StorageError| JobFailure::Retry(e.to_string());
        match parsed {
            MaintenanceJob::PruneFailedJobs => {
                let jobs = self
                    .core
                    .queue_admin()?
                    .prune_failed(ago(FAILED_RETENTION))
                    .await
                    .map_err(retry)?;
                let slots = self
                    .core
                    .schedule_store()?
                    .prune_schedule_runs(ago(SLOT_RETENTION))
                    .await
                    .map_err(retry)?;
                Ok(json!({"failed_jobs_deleted": jobs, "schedule_slots_deleted": slots}))
            }
            MaintenanceJob::AggregateLogs { date } => {
                let mut result = serde_json::Map::new();
                match &self.config.files {
                    Some(files) => {
                        let api = crate::api_log::aggregate_day(
                            self.core.storage().as_ref(),
                            &files.logs_dir,
                            date,
                        )
                        .await
                        .map_err(|e| JobFailure::Retry(e.to_string()))?;
                        result.insert("api_usage".into(), json!(api));
                    }
                    None => {
                        result.insert(
                            "api_usage".into(),
                            self.skipped("aggregate_logs", "no logs directory configured"),
                        );
                    }
                }
                match &self.config.whatsapp_log_dir {
                    Some(dir) => {
                        let wa = crate::notify::summary::aggregate_day(
                            self.core.storage().as_ref(),
                            dir,
                            date,
                        )
                        .await
                        .map_err(|e| JobFailure::Retry(e.to_string()))?;
                        result.insert("whatsapp".into(), json!(wa));
                    }
                    None => {
                        result.insert(
                            "whatsapp".into(),
                            self.skipped("aggregate_logs", "no message log directory configured"),
                        );
                    }
                }
                Ok(Value::Object(result))
            }
            MaintenanceJob::CleanupFiles => match &self.config.files {
                Some(files) => match files
                    .run(&self.core, crate::files::jobs::CLEANUP_FILES, &json!({}))
                    .await
                {
                    Some(r) => r.map_err(retry),
                    None => Err(JobFailure::Permanent("cleanup is not handled".into())),
                },
                None => Ok(self.skipped("cleanup_files", "no storage settings configured")),
            },
            MaintenanceJob::MaintainPartitions => {
                let today = jiff::Timestamp::now()
                    .to_zoned_datetime(self.core.timezone().clone())
                    .date();
                let report = self
                    .core
                    .schedule_store()?
                    .maintain_partitions(today, self.config.partition_retention_months)
                    .await
                    .map_err(retry)?;
                if !report.dropped.is_empty() {
                    tracing::info!(dropped = ?report.dropped, "partitions past their retention dropped");
                }
                Ok(json!(report))
            }
            MaintenanceJob::StreamHealth => Ok(self.skipped(
                "stream_health",
                "stream health runs in the stream health actor ([streams] settings)",
            )),
        }
    }
}
