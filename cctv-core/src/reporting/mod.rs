//! Counting reports: the seam that stores them and the pure maths that computes them.
//!
//! Ingest marks `(branch, date)` report days dirty in its transaction, so the reporting side
//! only has to regenerate what changed ([`Reporting`]).
//!
//! The maths is pure and streaming: a storage backend feeds raw detection rows, one at a
//! time, to an accumulator and gets a serialisable report back. Memory is bounded by the
//! number of distinct persons, devices and branches, never by the number of rows, so a month
//! of a busy estate can be computed (or exported) straight from a database cursor.
//!
//! - [`DailyAccumulator`] → [`DailyReport`]: one local calendar day (of one branch, or overall);
//! - [`MonthlyAccumulator`] → [`MonthlyReport`]: one calendar month, persons counted distinct
//!   over the whole month (the original system took the largest daily count instead);
//! - [`DashboardAccumulator`] → [`DashboardReport`]: any date range, zero-filled daily trend;
//! - [`calendar`]: day and month boundaries in the configured timezone (DST-safe).
//!
//! A detection belongs to the local date, and hour, of its `detected_at` in the configured
//! timezone; callers query rows in `[start, end)` from [`local_day_bounds`] or
//! [`month_bounds`], and an accumulator refuses a row outside its period.
//!
//! ```
//! use cctv_core::jiff::{civil::date, tz::TimeZone};
//! use cctv_core::reporting::{DailyAccumulator, DetectionRow};
//!
//! let tz = TimeZone::get("Asia/Jakarta").unwrap();
//! let mut day = DailyAccumulator::new(date(2026, 11, 28), tz);
//! day.push(&DetectionRow {
//!     re_id: "person-1".into(),
//!     branch_id: 1,
//!     device_id: "cam-1".into(),
//!     detected_at: "2026-11-27T17:30:00Z".parse().unwrap(), // 00:30 in Jakarta
//!     detected_count: 2,
//! })
//! .unwrap();
//! let report = day.finish();
//! assert_eq!((report.unique_persons, report.peak_hour), (1, Some(0)));
//! ```

pub mod calendar;
mod daily;
mod dashboard;
mod monthly;
mod tally;

#[cfg(test)]
mod tests;

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

pub use self::calendar::{days_counted, local_day_bounds, month_bounds, month_days};
pub use self::daily::{DailyAccumulator, DailyReport, DeviceStats, HourStats, PersonStats};
pub use self::dashboard::{
    BranchStats, DashboardAccumulator, DashboardReport, MAX_DASHBOARD_DAYS, TrendDay,
};
pub use self::monthly::{DayStats, MonthlyAccumulator, MonthlyReport};

/// One row of `re_id_branch_detections` as the reports read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionRow {
    pub re_id: String,
    pub branch_id: i64,
    pub device_id: String,
    pub detected_at: Timestamp,
    /// The people count the device reported with this detection.
    pub detected_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("no such report")]
    NotFound,
    #[error("report input rejected: {0}")]
    Rejected(String),
    #[error("report storage unavailable: {0}")]
    Unavailable(String),
}

/// A report day that ingest marked for regeneration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirtyReportDay {
    pub date: Date,
    pub branch_id: i64,
}

/// Generates and reads counting reports.
#[async_trait]
pub trait Reporting: Send + Sync + fmt::Debug + 'static {
    /// Report days marked dirty by ingest, oldest first.
    async fn dirty_days(&self, limit: usize) -> Result<Vec<DirtyReportDay>, ReportError>;

    /// (Re)generates the daily report of one branch (or overall with `None`) and returns its data.
    async fn generate_daily(
        &self,
        date: Date,
        branch_id: Option<i64>,
    ) -> Result<Value, ReportError>;
}
