//! The storage seam of visitor analytics: aggregations a backend answers in its own
//! query language, each small (a row per day, per dwell second, per branch pair, per
//! frequency or per hour), so no answer moves a visit list out of the database.

use std::fmt;

use async_trait::async_trait;
use jiff::civil::Date;

use crate::storage::StorageError;
pub use crate::usage::DayRange;

/// A day's persons at the asked branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitDayRow {
    pub date: Date,
    /// Distinct persons with a visit at the branches that day.
    pub persons: i64,
    /// Of those, persons with a visit at any branch on one of the look-back days before.
    pub returning: i64,
}

/// Optional capability of a backend: the aggregations behind the analytics reports.
/// `branches: None` is every branch. Definitions: the [module docs](super).
#[async_trait]
pub trait AnalyticsStore: Send + Sync + fmt::Debug + 'static {
    /// Days of `range` with visits at `branches`, in date order (days without any are
    /// left out).
    async fn visit_days(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
        lookback_days: u32,
    ) -> Result<Vec<VisitDayRow>, StorageError>;

    /// `(dwell seconds, visits)` of the visits with two or more detections, ascending.
    async fn dwell_seconds(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(i64, i64)>, StorageError>;

    /// `(from branch, to branch, transitions)` over every branch, any order.
    async fn transitions(&self, range: DayRange) -> Result<Vec<(i64, i64, i64)>, StorageError>;

    /// `(distinct days seen, persons)` of the persons seen at `branches`, any order.
    async fn visit_frequency(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(i64, i64)>, StorageError>;

    /// `(date, local hour, detections)` at `branches`, any order.
    async fn hour_counts(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(Date, i8, i64)>, StorageError>;
}
