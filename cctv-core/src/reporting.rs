//! Reporting seam: daily and monthly counting reports (filled by the reporting issue).
//! Ingest already marks `(branch, date)` report days dirty in its transaction, so the
//! reporting side only has to regenerate what changed.

use std::fmt;

use async_trait::async_trait;
use jiff::civil::Date;
use serde_json::Value;

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
