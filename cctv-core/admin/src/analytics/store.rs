//! The storage seam of visitor analytics: a backend reads the visit rows of a range of
//! days and the hourly detection counts; every rule (new vs returning, dwell, flows,
//! frequency, weekday and hour) is applied here, once for every backend.
//! A visit row is small (person, day, branch, two instants, a count), and a range is at
//! most a year, so a report reads one indexed range and keeps nothing else.

use std::fmt;

use async_trait::async_trait;
use jiff::civil::Date;

pub use crate::usage::DayRange;
use cctv_core::storage::StorageError;

/// One visit: a person at a branch on a local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    pub re_id: String,
    pub date: Date,
    pub branch_id: i64,
    /// First and last detection, in microseconds since the Unix epoch (`None` for a
    /// visit recorded before visits kept their times and whose detections are gone).
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    pub detections: i64,
}

/// Optional capability of a backend: what the analytics reports read.
#[async_trait]
pub trait AnalyticsStore: Send + Sync + fmt::Debug + 'static {
    /// Every visit of `range` at every branch, in any order.
    async fn visit_rows(&self, range: DayRange) -> Result<Vec<VisitRow>, StorageError>;

    /// `(date, local hour, detections)` at `branches` (`None`: all), any order.
    async fn hour_counts(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(Date, i8, i64)>, StorageError>;
}
