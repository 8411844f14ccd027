//! The scheduler of timed tasks: which tasks exist, when they are due, and how
//! each slot runs exactly once across nodes and after downtime.
//!
//! - A *slot* is one due instant of a task ([`Cadence`]). Before running a slot a node
//!   inserts the row `(task, slot)` ([`ScheduleStore::claim_slot`]); the primary key lets
//!   one node win, so several nodes sharing a database run each slot once.
//! - Missed slots (the process was down) are found from the last claimed slot of each task,
//!   looking back at most [`ScheduleSettings::catch_up`]. Calendar tasks (daily reports,
//!   monthly reports, …) run every missed slot once; interval tasks (the 5-minute refresh,
//!   the 1-minute health check) run only the latest, since one run covers all the others.
//! - Running a task only enqueues jobs ([`TaskRunner`]): the work itself has the queue's
//!   retries and failed-job handling. If enqueueing fails the claim is released, so the
//!   next tick tries the slot again.
//! - Time comes from a [`Clock`], so tests drive the scheduler with paused tokio time.

mod cadence;
mod enqueue;
mod runner;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

pub use self::cadence::Cadence;
pub use self::enqueue::{JobTaskRunner, MaintenanceJob};
pub use self::runner::{Clock, Scheduler, SystemClock, TokioClock};
use cctv_core::storage::StorageError;

/// The closed set of scheduled tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskName {
    /// Regenerate reports that ingest made stale.
    ReportRefresh,
    /// Daily reports of yesterday, every branch and overall.
    DailyReports,
    /// Fold yesterday's API and WhatsApp logs into their summaries.
    LogAggregation,
    /// Delete stored files past their retention.
    FileCleanup,
    /// Monthly reports of the previous month, every branch and overall.
    MonthlyReports,
    /// Discard failed jobs older than a week.
    FailedJobPruning,
    /// Check every stream's health.
    StreamHealth,
    /// Create the coming months' partitions, drop those past their retention.
    PartitionMaintenance,
}

impl TaskName {
    pub(crate) const ALL: [TaskName; 8] = [
        TaskName::ReportRefresh,
        TaskName::DailyReports,
        TaskName::LogAggregation,
        TaskName::FileCleanup,
        TaskName::MonthlyReports,
        TaskName::FailedJobPruning,
        TaskName::StreamHealth,
        TaskName::PartitionMaintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReportRefresh => "report_refresh",
            Self::DailyReports => "daily_reports",
            Self::LogAggregation => "log_aggregation",
            Self::FileCleanup => "file_cleanup",
            Self::MonthlyReports => "monthly_reports",
            Self::FailedJobPruning => "failed_job_pruning",
            Self::StreamHealth => "stream_health",
            Self::PartitionMaintenance => "partition_maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Its default cadence.
    pub(crate) fn default_cadence(self) -> Cadence {
        let daily = |hour, minute| Cadence::Daily { hour, minute };
        match self {
            Self::ReportRefresh => Cadence::EveryMinutes(5),
            Self::DailyReports => daily(1, 0),
            Self::LogAggregation => daily(1, 30),
            Self::FileCleanup => daily(2, 0),
            Self::MonthlyReports => Cadence::Monthly {
                day: 1,
                hour: 2,
                minute: 0,
            },
            Self::FailedJobPruning => Cadence::Weekly {
                weekday: jiff::civil::Weekday::Sunday,
                hour: 0,
                minute: 0,
            },
            Self::StreamHealth => Cadence::EveryMinutes(1),
            Self::PartitionMaintenance => daily(3, 0),
        }
    }
}

/// What the scheduler runs, in which timezone, and how far back it catches up.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// Tasks and their cadences; a task left out never runs.
    pub tasks: Vec<(TaskName, Cadence)>,
    pub timezone: TimeZone,
    /// Slots older than this are not caught up after downtime.
    pub catch_up: Duration,
    /// Identifies this node in `schedule_runs`.
    pub node_id: String,
}

impl ScheduleSettings {
    /// Every task at its default cadence.
    pub fn defaults(timezone: TimeZone, node_id: impl Into<String>) -> Self {
        Self {
            tasks: TaskName::ALL
                .into_iter()
                .map(|t| (t, t.default_cadence()))
                .collect(),
            timezone,
            catch_up: Duration::from_secs(7 * 24 * 3600),
            node_id: node_id.into(),
        }
    }
}

/// The latest claimed slot of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRun {
    pub task: String,
    pub slot: Timestamp,
    pub node: String,
    pub started_at: Timestamp,
}

/// A task as `GET /api/v1/admin/schedule` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskOverview {
    pub task: TaskName,
    pub cadence: String,
    pub last_run: Option<ScheduleRun>,
    pub next_run: Timestamp,
}

/// The slots table.
#[async_trait]
pub trait ScheduleStore: Send + Sync + fmt::Debug + 'static {
    /// Inserts `(task, slot)`; `true` when this call inserted it (this node runs the slot).
    async fn claim_slot(
        &self,
        task: &str,
        slot: Timestamp,
        node: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError>;

    /// Gives a slot back (running it failed), so that it is tried again.
    async fn release_slot(&self, task: &str, slot: Timestamp) -> Result<(), StorageError>;

    /// The latest claimed slot of every task that has one.
    async fn last_runs(&self) -> Result<Vec<ScheduleRun>, StorageError>;

    /// Deletes slots before `before`.
    async fn prune_schedule_runs(&self, before: Timestamp) -> Result<u64, StorageError>;

    /// Keeps time-partitioned tables ready: partitions for the month of `today` and the
    /// next ones exist afterwards, and with `keep_months = Some(n)` (n ≥ 1) whole months
    /// before the n-th month back from `today`'s are dropped (detections, event-log rows
    /// and their deliveries). Backends without partitions do nothing.
    async fn maintain_partitions(
        &self,
        today: jiff::civil::Date,
        keep_months: Option<u32>,
    ) -> Result<PartitionReport, StorageError> {
        let _ = (today, keep_months);
        Ok(PartitionReport::default())
    }
}

/// What [`ScheduleStore::maintain_partitions`] changed: partition (table) names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    pub created: Vec<String>,
    pub dropped: Vec<String>,
}

/// Starts the work of a slot (in practice: enqueues jobs).
#[async_trait]
pub trait TaskRunner: Send + Sync + fmt::Debug + 'static {
    async fn run(&self, task: TaskName, slot: Timestamp) -> Result<(), String>;
}

/// Overviews from the last runs and the cadences, next runs computed from `now`.
pub fn overview(
    settings: &ScheduleSettings,
    last_runs: &[ScheduleRun],
    now: Timestamp,
) -> Vec<TaskOverview> {
    let by_task: HashMap<&str, &ScheduleRun> =
        last_runs.iter().map(|r| (r.task.as_str(), r)).collect();
    settings
        .tasks
        .iter()
        .map(|(task, cadence)| TaskOverview {
            task: *task,
            cadence: cadence.to_string(),
            last_run: by_task.get(task.as_str()).map(|r| (*r).clone()),
            next_run: cadence.next_after(now, &settings.timezone),
        })
        .collect()
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::from_hours(24 * 7))
}

#[cfg(test)]
mod tests;

/// Per-task cursors: the last slot this node has dealt with (run, or seen claimed).
type Cursors = Arc<Mutex<HashMap<TaskName, Timestamp>>>;
