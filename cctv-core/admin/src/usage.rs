//! What the daily summaries say over a range of days: API usage per credential and
//! endpoint, and WhatsApp deliveries per branch, with a series by day for charts.
//!
//! The summaries are written by the daily log aggregation (from every node's logs); this
//! module only reads them, so a report is as fresh as the last aggregation and says
//! which days it covers. Both readers page through the rows of the range; a range is
//! at most `MAX_RANGE_DAYS` days, which bounds the rows read.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::Value;

use crate::files::tables::API_USAGE_SUMMARY;
use crate::notify::summary::WHATSAPP_DELIVERY_SUMMARY;
use cctv_core::records::{Filter, ListQuery, Order, Record, RecordStore, Table};
use cctv_core::storage::StorageError;

/// The longest range a report covers: the same year and a day as a dashboard.
pub(crate) const MAX_RANGE_DAYS: u32 = crate::reporting::MAX_DASHBOARD_DAYS;
/// Rows read per page.
const PAGE: u32 = 1_000;
/// Most rows one report reads (a summary has a row per credential × endpoint × method ×
/// day; this is thousands of routes a day for a year).
const MAX_ROWS: usize = 1_000_000;

/// An inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayRange {
    pub from: Date,
    pub to: Date,
}

impl DayRange {
    /// `from..=to`; refused when reversed or longer than `MAX_RANGE_DAYS`.
    pub fn new(from: Date, to: Date) -> Result<Self, String> {
        if from > to {
            return Err("date_from must not be after date_to".into());
        }
        let days = i64::from((to - from).get_days()) + 1;
        if days > i64::from(MAX_RANGE_DAYS) {
            return Err(format!(
                "A range covers at most {MAX_RANGE_DAYS} days (this one has {days})"
            ));
        }
        Ok(Self { from, to })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        let to = self.to;
        self.from
            .series(jiff::Span::new().days(1))
            .take_while(move |d| *d <= to)
    }
}

fn int(row: &Record, column: &str) -> i64 {
    row.get(column).and_then(Value::as_i64).unwrap_or(0)
}

fn date(row: &Record) -> Option<Date> {
    row.get("summary_date")?.as_str()?.get(..10)?.parse().ok()
}

/// Every row of `table` in `range` matching `extra`.
async fn rows(
    store: &dyn RecordStore,
    table: &'static Table,
    range: DayRange,
    extra: Vec<Filter>,
) -> Result<Vec<Record>, StorageError> {
    let next_day = range
        .to
        .checked_add(jiff::Span::new().days(1))
        .map_err(|e| StorageError::Rejected(e.to_string()))?;
    let mut filters = vec![
        Filter::Ge("summary_date", Value::from(range.from.to_string())),
        Filter::Lt("summary_date", Value::from(next_day.to_string())),
    ];
    filters.extend(extra);
    let mut out = Vec::new();
    for page in 1.. {
        let query = ListQuery {
            filters: filters.clone(),
            order: Order::asc("id"),
            page,
            per_page: PAGE,
        };
        let (batch, _) = store.list_records(table, &query).await?;
        let done = batch.len() < PAGE as usize;
        out.extend(batch);
        if out.len() > MAX_ROWS {
            return Err(StorageError::Rejected(
                "The range holds too many summary rows; choose a shorter one".into(),
            ));
        }
        if done {
            break;
        }
    }
    Ok(out)
}

/// Requests of one day, one credential or one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestTotals {
    pub requests: i64,
    pub success: i64,
    pub errors: i64,
    /// Mean response time, weighted by requests; `None` without requests.
    pub avg_response_time_ms: Option<i64>,
    pub max_response_time_ms: Option<i64>,
    #[serde(skip)]
    weighted_ms: i64,
}

impl RequestTotals {
    fn add(&mut self, row: &Record) {
        let requests = int(row, "total_requests");
        self.requests += requests;
        self.success += int(row, "success_requests");
        self.errors += int(row, "error_requests");
        self.weighted_ms += int(row, "avg_response_time_ms").saturating_mul(requests);
        if let Some(max) = row.get("max_response_time_ms").and_then(Value::as_i64) {
            self.max_response_time_ms = Some(self.max_response_time_ms.map_or(max, |m| m.max(max)));
        }
        self.avg_response_time_ms = (self.requests > 0).then(|| self.weighted_ms / self.requests);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageDay {
    pub date: Date,
    #[serde(flatten)]
    pub totals: RequestTotals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageByCredential {
    /// 0: requests without a device credential (people's API calls, refused keys).
    pub credential_id: i64,
    #[serde(flatten)]
    pub totals: RequestTotals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageByEndpoint {
    pub endpoint: String,
    pub method: String,
    #[serde(flatten)]
    pub totals: RequestTotals,
}

/// API usage over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub range: DayRange,
    pub totals: RequestTotals,
    /// Every day of the range, zeros included.
    pub days: Vec<UsageDay>,
    pub credentials: Vec<UsageByCredential>,
    /// Busiest first.
    pub endpoints: Vec<UsageByEndpoint>,
}

/// API usage in `range`, of one credential or all.
pub async fn api_usage(
    store: &dyn RecordStore,
    range: DayRange,
    credential_id: Option<i64>,
) -> Result<UsageReport, StorageError> {
    let extra = credential_id
        .map(|id| vec![Filter::Eq("api_credential_id", Value::from(id))])
        .unwrap_or_default();
    let rows = rows(store, &API_USAGE_SUMMARY, range, extra).await?;
    let mut totals = RequestTotals::default();
    let mut days: BTreeMap<Date, RequestTotals> = range
        .days()
        .map(|d| (d, RequestTotals::default()))
        .collect();
    let mut credentials: BTreeMap<i64, RequestTotals> = BTreeMap::new();
    let mut endpoints: BTreeMap<(String, String), RequestTotals> = BTreeMap::new();
    for row in &rows {
        totals.add(row);
        if let Some(day) = date(row).and_then(|d| days.get_mut(&d)) {
            day.add(row);
        }
        credentials
            .entry(int(row, "api_credential_id"))
            .or_default()
            .add(row);
        let text = |c: &str| row.get(c).and_then(Value::as_str).unwrap_or("").to_owned();
        endpoints
            .entry((text("endpoint"), text("method")))
            .or_default()
            .add(row);
    }
    let mut endpoints: Vec<UsageByEndpoint> = endpoints
        .into_iter()
        .map(|((endpoint, method), totals)| UsageByEndpoint {
            endpoint,
            method,
            totals,
        })
        .collect();
    endpoints.sort_by_key(|e| std::cmp::Reverse(e.totals.requests));
    Ok(UsageReport {
        range,
        totals,
        days: days
            .into_iter()
            .map(|(date, totals)| UsageDay { date, totals })
            .collect(),
        credentials: credentials
            .into_iter()
            .map(|(credential_id, totals)| UsageByCredential {
                credential_id,
                totals,
            })
            .collect(),
        endpoints,
    })
}

/// Messages of one day or one branch, as the message log counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryTotals {
    /// Every logged attempt (the summary's `total_sent`), suppressed sends included.
    pub attempts: i64,
    /// Accepted by the provider.
    pub delivered: i64,
    /// Refused, or failed on the last attempt.
    pub failed: i64,
    /// Still to be retried, or held back by the cooldown.
    pub pending: i64,
    pub with_image: i64,
}

impl DeliveryTotals {
    fn add(&mut self, row: &Record) {
        self.attempts += int(row, "total_sent");
        self.delivered += int(row, "total_delivered");
        self.failed += int(row, "total_failed");
        self.pending += int(row, "total_pending");
        self.with_image += int(row, "messages_with_image");
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryDay {
    pub date: Date,
    #[serde(flatten)]
    pub totals: DeliveryTotals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryByBranch {
    pub branch_id: i64,
    #[serde(flatten)]
    pub totals: DeliveryTotals,
}

/// WhatsApp deliveries over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    pub range: DayRange,
    pub totals: DeliveryTotals,
    /// Every day of the range, zeros included.
    pub days: Vec<DeliveryDay>,
    pub branches: Vec<DeliveryByBranch>,
}

/// WhatsApp deliveries in `range`, of one branch or all.
pub async fn deliveries(
    store: &dyn RecordStore,
    range: DayRange,
    branch_id: Option<i64>,
) -> Result<DeliveryReport, StorageError> {
    let extra = branch_id
        .map(|id| vec![Filter::Eq("branch_id", Value::from(id))])
        .unwrap_or_default();
    let rows = rows(store, &WHATSAPP_DELIVERY_SUMMARY, range, extra).await?;
    let mut totals = DeliveryTotals::default();
    let mut days: BTreeMap<Date, DeliveryTotals> = range
        .days()
        .map(|d| (d, DeliveryTotals::default()))
        .collect();
    let mut branches: BTreeMap<i64, DeliveryTotals> = BTreeMap::new();
    for row in &rows {
        totals.add(row);
        if let Some(day) = date(row).and_then(|d| days.get_mut(&d)) {
            day.add(row);
        }
        branches.entry(int(row, "branch_id")).or_default().add(row);
    }
    Ok(DeliveryReport {
        range,
        totals,
        days: days
            .into_iter()
            .map(|(date, totals)| DeliveryDay { date, totals })
            .collect(),
        branches: branches
            .into_iter()
            .map(|(branch_id, totals)| DeliveryByBranch { branch_id, totals })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_ordered_and_at_most_a_year() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert!(DayRange::new(d("2026-12-02"), d("2026-12-01")).is_err());
        assert!(DayRange::new(d("2025-12-01"), d("2026-12-01")).is_ok());
        assert!(DayRange::new(d("2025-11-30"), d("2026-12-01")).is_err());
        let r = DayRange::new(d("2026-02-27"), d("2026-03-01")).unwrap();
        assert_eq!(
            r.days().collect::<Vec<_>>(),
            [d("2026-02-27"), d("2026-02-28"), d("2026-03-01")]
        );
    }

    #[test]
    fn request_totals_weight_the_mean_by_requests() {
        let row = |n: i64, avg: i64, max: i64| -> Record {
            serde_json::from_value(serde_json::json!({
                "total_requests": n, "success_requests": n, "error_requests": 0,
                "avg_response_time_ms": avg, "max_response_time_ms": max,
            }))
            .unwrap()
        };
        let mut t = RequestTotals::default();
        t.add(&row(3, 10, 20));
        t.add(&row(1, 50, 90));
        assert_eq!(t.requests, 4);
        assert_eq!(t.avg_response_time_ms, Some(20));
        assert_eq!(t.max_response_time_ms, Some(90));
    }
}
