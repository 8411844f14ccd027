//! The jobs of the `reports` queue: their kinds and payloads.
//!
//! Payloads are small fixed-shape JSON, serialised the same way every time, so that
//! [`QueueAdmin::enqueue_unique`](crate::queue_ops::QueueAdmin::enqueue_unique) can
//! recognise a request for a report that is already queued.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ReportError, ReportKey, ReportKind};
use cctv_core::jobs::{NewJob, Queue};

/// A job of the `reports` queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportJob {
    /// `generate_daily {date, branch_id}` (`branch_id` null: the overall report).
    GenerateDaily { date: Date, branch_id: Option<i64> },
    /// `generate_monthly {year, month, branch_id}`.
    GenerateMonthly {
        year: i16,
        month: i8,
        branch_id: Option<i64>,
    },
    /// `refresh_dirty {}`: enqueue a generation for every stale report.
    RefreshDirty,
}

#[derive(Serialize, Deserialize)]
struct DailyArgs {
    date: Date,
    branch_id: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct MonthlyArgs {
    year: i16,
    month: i8,
    branch_id: Option<i64>,
}

impl ReportJob {
    pub(crate) const GENERATE_DAILY: &'static str = "generate_daily";
    pub(crate) const GENERATE_MONTHLY: &'static str = "generate_monthly";
    pub(crate) const REFRESH_DIRTY: &'static str = "refresh_dirty";

    /// The job that regenerates `key`.
    pub fn generate(key: ReportKey) -> Self {
        match key.kind {
            ReportKind::Daily => Self::GenerateDaily {
                date: key.date,
                branch_id: key.branch_id,
            },
            ReportKind::Monthly => Self::GenerateMonthly {
                year: key.date.year(),
                month: key.date.month(),
                branch_id: key.branch_id,
            },
        }
    }

    /// The report this job generates (`None` for the refresh).
    pub(crate) fn key(&self) -> Result<Option<ReportKey>, ReportError> {
        Ok(match *self {
            Self::GenerateDaily { date, branch_id } => Some(ReportKey::daily(date, branch_id)),
            Self::GenerateMonthly {
                year,
                month,
                branch_id,
            } => {
                let first = Date::new(year, month, 1)
                    .map_err(|e| ReportError::Rejected(format!("month: {e}")))?;
                Some(ReportKey::monthly(first, branch_id))
            }
            Self::RefreshDirty => None,
        })
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::GenerateDaily { .. } => Self::GENERATE_DAILY,
            Self::GenerateMonthly { .. } => Self::GENERATE_MONTHLY,
            Self::RefreshDirty => Self::REFRESH_DIRTY,
        }
    }

    pub(crate) fn payload(&self) -> Value {
        let value = match *self {
            Self::GenerateDaily { date, branch_id } => {
                serde_json::to_value(DailyArgs { date, branch_id })
            }
            Self::GenerateMonthly {
                year,
                month,
                branch_id,
            } => serde_json::to_value(MonthlyArgs {
                year,
                month,
                branch_id,
            }),
            Self::RefreshDirty => Ok(json!({})),
        };
        value.unwrap_or(Value::Null)
    }

    /// Reads a claimed job back; an unknown kind or a malformed payload is `Rejected`
    /// (it would fail on every attempt).
    pub(crate) fn parse(kind: &str, payload: &Value) -> Result<Self, ReportError> {
        let bad = |e: serde_json::Error| ReportError::Rejected(format!("{kind} payload: {e}"));
        match kind {
            Self::GENERATE_DAILY => {
                let a: DailyArgs = serde_json::from_value(payload.clone()).map_err(bad)?;
                Ok(Self::GenerateDaily {
                    date: a.date,
                    branch_id: a.branch_id,
                })
            }
            Self::GENERATE_MONTHLY => {
                let a: MonthlyArgs = serde_json::from_value(payload.clone()).map_err(bad)?;
                let job = Self::GenerateMonthly {
                    year: a.year,
                    month: a.month,
                    branch_id: a.branch_id,
                };
                job.key()?;
                Ok(job)
            }
            Self::REFRESH_DIRTY => Ok(Self::RefreshDirty),
            other => Err(ReportError::Rejected(format!(
                "unknown report job {other:?}"
            ))),
        }
    }

    /// A job on the `reports` queue due at `now`.
    pub fn new_job(&self, now: Timestamp) -> NewJob {
        NewJob::new(Queue::Reports, self.kind(), self.payload(), now)
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn every_job_reads_back_from_its_kind_and_payload() {
        for job in [
            ReportJob::GenerateDaily {
                date: date(2026, 11, 28),
                branch_id: Some(3),
            },
            ReportJob::GenerateDaily {
                date: date(2026, 11, 28),
                branch_id: None,
            },
            ReportJob::GenerateMonthly {
                year: 2026,
                month: 2,
                branch_id: None,
            },
            ReportJob::RefreshDirty,
        ] {
            assert_eq!(ReportJob::parse(job.kind(), &job.payload()).unwrap(), job);
        }
    }

    #[test]
    fn a_monthly_job_for_month_13_or_an_unknown_kind_is_rejected() {
        let bad = json!({"year": 2026, "month": 13, "branch_id": null});
        assert!(matches!(
            ReportJob::parse("generate_monthly", &bad),
            Err(ReportError::Rejected(_))
        ));
        assert!(matches!(
            ReportJob::parse("send_fax", &json!({})),
            Err(ReportError::Rejected(_))
        ));
    }

    #[test]
    fn the_monthly_job_of_a_key_names_its_month() {
        let key = ReportKey::monthly(date(2026, 2, 17), Some(4));
        let job = ReportJob::generate(key);
        assert_eq!(
            job.payload(),
            json!({"year": 2026, "month": 2, "branch_id": 4})
        );
        assert_eq!(
            job.key().unwrap(),
            Some(ReportKey::monthly(date(2026, 2, 1), Some(4)))
        );
    }
}
