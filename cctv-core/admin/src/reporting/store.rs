//! The storage seam of reports: raw rows in, stored reports out, and staleness.
//!
//! Rows are read a page at a time by a keyset cursor `(detected_at, id)`, so a month of a
//! busy estate streams through an accumulator without ever being held in memory.
//!
//! Staleness is race-free without clocks: ingest marks `(date, branch)` in its transaction;
//! [`ReportStore::expand_dirty_days`] turns each mark into stale rows of the four reports it
//! affects (branch and overall, daily and monthly), each with a version that grows on every
//! re-mark. A generation reads the version *before* reading rows and, after storing the
//! report, deletes the stale row only if the version is unchanged: a detection committed
//! after the rows were read always leaves the report stale.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DetectionRow;
use cctv_core::storage::StorageError;

/// Daily or monthly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Daily,
    Monthly,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "daily" => Some(Self::Daily),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }
}

/// Which report: a daily one by its local date, a monthly one by the first day of its
/// month; `branch_id: None` is the overall report of all branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportKey {
    pub kind: ReportKind,
    pub date: Date,
    pub branch_id: Option<i64>,
}

impl ReportKey {
    pub fn daily(date: Date, branch_id: Option<i64>) -> Self {
        Self {
            kind: ReportKind::Daily,
            date,
            branch_id,
        }
    }

    /// The monthly report of the month that contains `date`.
    pub fn monthly(date: Date, branch_id: Option<i64>) -> Self {
        Self {
            kind: ReportKind::Monthly,
            date: date.first_of_month(),
            branch_id,
        }
    }

    /// The local dates whose detections this report covers (both included).
    pub(crate) fn dates(&self) -> (Date, Date) {
        match self.kind {
            ReportKind::Daily => (self.date, self.date),
            ReportKind::Monthly => (self.date.first_of_month(), self.date.last_of_month()),
        }
    }
}

impl fmt::Display for ReportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.branch_id {
            Some(b) => write!(f, "{} {} branch {b}", self.kind.as_str(), self.date),
            None => write!(f, "{} {} overall", self.kind.as_str(), self.date),
        }
    }
}

/// A row of `counting_reports`: the headline numbers as columns, everything in `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredReport {
    pub key: ReportKey,
    pub total_detections: u64,
    pub unique_persons: u64,
    pub total_detected_count: i64,
    pub unique_devices: u64,
    pub total_events: u64,
    /// A [`DailyReport`](super::DailyReport) or [`MonthlyReport`](super::MonthlyReport).
    pub data: Value,
    pub generated_at: Timestamp,
}

/// Position after a detection row, in `(detected_at, id)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowCursor {
    pub detected_at: Timestamp,
    pub id: i64,
}

/// Detections with `start <= detected_at < end`, of some branches (`None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRange {
    pub start: Timestamp,
    pub end: Timestamp,
    pub branches: Option<Vec<i64>>,
}

/// Raw rows and stored reports.
#[async_trait]
pub trait ReportStore: Send + Sync + fmt::Debug + 'static {
    /// How many detections a report asks [`Self::detection_page`] for at once: the trade
    /// between a query's round trip and the driver's copy of a page, which the report holds
    /// while it reads the page. 5,000 unless the store knows better.
    fn detection_page_rows(&self) -> usize {
        5_000
    }

    /// Up to `limit` detections of `range` after `after`, in `(detected_at, id)` order.
    async fn detection_page(
        &self,
        range: &RowRange,
        after: Option<RowCursor>,
        limit: usize,
    ) -> Result<Vec<(RowCursor, DetectionRow)>, StorageError>;

    /// Event logs with `start <= event_timestamp < end` of some branches (`None`: all).
    async fn count_events(&self, range: &RowRange) -> Result<u64, StorageError>;

    async fn report(&self, key: &ReportKey) -> Result<Option<StoredReport>, StorageError>;

    /// Inserts or replaces the report with the same key.
    async fn upsert_report(&self, report: &StoredReport) -> Result<(), StorageError>;

    /// Turns up to `limit` of ingest's `(date, branch)` marks into stale rows of the
    /// reports they affect, deleting each mark that was not re-marked meanwhile. Returns
    /// how many marks were expanded.
    async fn expand_dirty_days(&self, limit: usize) -> Result<u64, StorageError>;

    /// Whether unexpanded marks exist for dates `from..=to` of `branch` (`None`: any).
    async fn has_dirty_days(
        &self,
        from: Date,
        to: Date,
        branch: Option<i64>,
    ) -> Result<bool, StorageError>;

    /// The stale row's version, `None` when the report is not stale.
    async fn stale_version(&self, key: &ReportKey) -> Result<Option<i64>, StorageError>;

    /// Deletes the stale row if its version is still `version`; `false` if re-marked.
    async fn clear_stale(&self, key: &ReportKey, version: i64) -> Result<bool, StorageError>;

    /// Up to `limit` stale reports of `kind`, oldest date first.
    async fn stale_reports(
        &self,
        kind: ReportKind,
        limit: usize,
    ) -> Result<Vec<ReportKey>, StorageError>;
}
