//! What each scheduled task does: enqueue the jobs that carry out its work.
//!
//! Report tasks enqueue `reports` jobs; the other tasks enqueue a `maintenance` job
//! ([`MaintenanceJob`]) for the worker that owns that work.

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{Span, Timestamp};
use serde_json::{Value, json};

use super::{TaskName, TaskRunner};
use crate::AdminCore;
use crate::reporting::{ReportJob, ReportKey};
use cctv_core::Core;
use cctv_core::estate::RecordStatus;
use cctv_core::jobs::{NewJob, Queue};

/// The jobs of the `maintenance` queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceJob {
    /// Fold the API access and WhatsApp logs of `date` into their summaries.
    AggregateLogs { date: Date },
    /// Delete stored files past their retention.
    CleanupFiles,
    /// Discard failed jobs older than a week and scheduler slots older than five weeks.
    PruneFailedJobs,
    /// Check the health of every stream.
    StreamHealth,
    /// Create the coming months' partitions and drop those past their retention.
    MaintainPartitions,
}

impl MaintenanceJob {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::AggregateLogs { .. } => "aggregate_logs",
            Self::CleanupFiles => "cleanup_files",
            Self::PruneFailedJobs => "prune_failed_jobs",
            Self::StreamHealth => "stream_health",
            Self::MaintainPartitions => "maintain_partitions",
        }
    }

    pub(crate) fn payload(&self) -> Value {
        match self {
            Self::AggregateLogs { date } => json!({"date": date}),
            _ => json!({}),
        }
    }

    pub(crate) fn parse(kind: &str, payload: &Value) -> Option<Self> {
        Some(match kind {
            "aggregate_logs" => Self::AggregateLogs {
                date: payload.get("date")?.as_str()?.parse().ok()?,
            },
            "cleanup_files" => Self::CleanupFiles,
            "prune_failed_jobs" => Self::PruneFailedJobs,
            "stream_health" => Self::StreamHealth,
            "maintain_partitions" => Self::MaintainPartitions,
            _ => return None,
        })
    }

    pub(crate) fn new_job(&self, now: Timestamp) -> NewJob {
        NewJob::new(Queue::Maintenance, self.kind(), self.payload(), now)
    }
}

/// Runs tasks by enqueueing jobs in the core's storage.
#[derive(Debug, Clone)]
pub struct JobTaskRunner {
    core: Core,
}

impl JobTaskRunner {
    pub fn new(core: Core) -> Self {
        Self { core }
    }

    /// The overall report and one per active branch.
    fn scopes(&self) -> Vec<Option<i64>> {
        let estate = self.core.estate();
        let mut branches: Vec<i64> = estate
            .branches
            .values()
            .filter(|b| b.status == RecordStatus::Active)
            .map(|b| b.id)
            .collect();
        branches.sort_unstable();
        std::iter::once(None)
            .chain(branches.into_iter().map(Some))
            .collect()
    }

    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<(), String> {
        for job in &jobs {
            self.core
                .queue_admin()
                .map_err(|e| e.to_string())?
                .enqueue_unique(job)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[async_trait]
impl TaskRunner for JobTaskRunner {
    async fn run(&self, task: TaskName, slot: Timestamp) -> Result<(), String> {
        let now = Timestamp::now();
        let local = self.core.timezone().to_datetime(slot).date();
        let yesterday = local
            .checked_sub(Span::new().days(1))
            .map_err(|e| e.to_string())?;
        let jobs = match task {
            TaskName::ReportRefresh => vec![ReportJob::RefreshDirty.new_job(now)],
            TaskName::DailyReports => self
                .scopes()
                .into_iter()
                .map(|b| ReportJob::generate(ReportKey::daily(yesterday, b)).new_job(now))
                .collect(),
            TaskName::MonthlyReports => {
                let last_month = local
                    .first_of_month()
                    .checked_sub(Span::new().days(1))
                    .map_err(|e| e.to_string())?;
                self.scopes()
                    .into_iter()
                    .map(|b| ReportJob::generate(ReportKey::monthly(last_month, b)).new_job(now))
                    .collect()
            }
            TaskName::LogAggregation => {
                vec![MaintenanceJob::AggregateLogs { date: yesterday }.new_job(now)]
            }
            TaskName::FileCleanup => vec![MaintenanceJob::CleanupFiles.new_job(now)],
            TaskName::FailedJobPruning => vec![MaintenanceJob::PruneFailedJobs.new_job(now)],
            TaskName::StreamHealth => vec![MaintenanceJob::StreamHealth.new_job(now)],
            TaskName::PartitionMaintenance => {
                vec![MaintenanceJob::MaintainPartitions.new_job(now)]
            }
        };
        self.enqueue(jobs).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_jobs_read_back_from_kind_and_payload() {
        let date: Date = "2026-11-30".parse().unwrap();
        for job in [
            MaintenanceJob::AggregateLogs { date },
            MaintenanceJob::CleanupFiles,
            MaintenanceJob::PruneFailedJobs,
            MaintenanceJob::StreamHealth,
            MaintenanceJob::MaintainPartitions,
        ] {
            assert_eq!(MaintenanceJob::parse(job.kind(), &job.payload()), Some(job));
        }
        assert_eq!(MaintenanceJob::parse("aggregate_logs", &json!({})), None);
    }
}
