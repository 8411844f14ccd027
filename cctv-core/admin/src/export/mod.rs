//! Exports as CSV (always) or XLSX (feature `xlsx`).
//!
//! - Reports: the same numbers as the API. A report becomes a list of [`Sheet`]s
//!   (summary, then its breakdowns); each format lays them out its own way. Reports are
//!   already aggregates (24 hours, 31 days, a device or branch list), so a sheet is small
//!   whatever the number of detections behind it.
//! - Rows ([`RowExport`]: person-days, event logs, detections): streamed. Storage is read a
//!   keyset page at a time ([`ExportStore`]) and every row goes straight to a
//!   [`TableSink`] ([`CsvSink`], `XlsxSink` in constant-memory mode), so exporting a
//!   million rows holds a few pages in memory, never the result set ([`export_rows`]).

mod csv;
mod rows;
mod stream;
#[cfg(feature = "xlsx")]
mod xlsx;

use crate::reporting::{DailyReport, DashboardReport, MonthlyReport};

pub use self::csv::{CsvWriter, neutralise, write_csv};
pub use self::rows::{
    DateCursor, DetectionExportFilter, DetectionExportRow, EVENT_TYPES, EventExportFilter,
    EventExportRow, ExportStore, PersonExportFilter, PersonExportRow, RowExport, TimeCursor,
    local_range,
};
pub use self::stream::{CsvSink, ExportError, PAGE_ROWS, PAGES_IN_FLIGHT, TableSink, export_rows};
#[cfg(feature = "xlsx")]
pub use self::xlsx::{XLSX_MAX_ROWS, XlsxSink, write_xlsx};

/// One value of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
    Empty,
}

impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_owned())
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

/// A titled table.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

fn summary(rows: Vec<(&'static str, Cell)>) -> Sheet {
    Sheet {
        name: "Summary",
        headers: vec!["Metric", "Value"],
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![Cell::from(k), v])
            .collect(),
    }
}

fn text(v: impl ToString) -> Cell {
    Cell::Text(v.to_string())
}

/// `scope`: the branch name, or "Overall".
pub fn daily_sheets(r: &DailyReport, scope: &str) -> Vec<Sheet> {
    vec![
        summary(vec![
            ("Scope", scope.into()),
            ("Date", text(r.date)),
            ("Total detections", r.total_detections.into()),
            ("Unique persons", r.unique_persons.into()),
            ("Total detected count", r.total_detected_count.into()),
            ("Unique devices", r.unique_devices.into()),
            ("Total events", r.total_events.into()),
            ("Peak hour", r.peak_hour.map(i64::from).into()),
        ]),
        Sheet {
            name: "Hourly",
            headers: vec!["Hour", "Detections", "Detected count", "Unique persons"],
            rows: r
                .hourly_breakdown
                .iter()
                .map(|h| {
                    vec![
                        Cell::Int(i64::from(h.hour)),
                        h.detections.into(),
                        h.detected_count.into(),
                        h.unique_persons.into(),
                    ]
                })
                .collect(),
        },
        Sheet {
            name: "Devices",
            headers: vec!["Device", "Detections", "Detected count", "Unique persons"],
            rows: r
                .device_breakdown
                .iter()
                .map(|d| {
                    vec![
                        d.device_id.as_str().into(),
                        d.detections.into(),
                        d.detected_count.into(),
                        d.unique_persons.into(),
                    ]
                })
                .collect(),
        },
        Sheet {
            name: "Top persons",
            headers: vec![
                "Re-ID",
                "Detections",
                "Detected count",
                "First detected",
                "Last detected",
            ],
            rows: r
                .top_persons
                .iter()
                .map(|p| {
                    vec![
                        p.re_id.as_str().into(),
                        p.detections.into(),
                        p.detected_count.into(),
                        text(p.first_detected_at),
                        text(p.last_detected_at),
                    ]
                })
                .collect(),
        },
    ]
}

/// `branch_name` names branches in the branch breakdown.
pub fn monthly_sheets(
    r: &MonthlyReport,
    scope: &str,
    branch_name: impl Fn(i64) -> String,
) -> Vec<Sheet> {
    vec![
        summary(vec![
            ("Scope", scope.into()),
            ("Month", r.month.as_str().into()),
            ("Total detections", r.total_detections.into()),
            ("Unique persons", r.unique_persons.into()),
            ("Total detected count", r.total_detected_count.into()),
            ("Unique devices", r.unique_devices.into()),
            ("Total events", r.total_events.into()),
            (
                "Average detections per day",
                Cell::Float(r.avg_detections_per_day),
            ),
            ("Busiest day", r.busiest_day.map(|d| d.to_string()).into()),
        ]),
        Sheet {
            name: "Daily",
            headers: vec![
                "Date",
                "Detections",
                "Detected count",
                "Unique persons",
                "Events",
            ],
            rows: r
                .daily_breakdown
                .iter()
                .map(|d| {
                    vec![
                        text(d.date),
                        d.detections.into(),
                        d.detected_count.into(),
                        d.unique_persons.into(),
                        d.events.into(),
                    ]
                })
                .collect(),
        },
        Sheet {
            name: "Branches",
            headers: vec![
                "Branch ID",
                "Branch",
                "Detections",
                "Detected count",
                "Unique persons",
            ],
            rows: r
                .branch_breakdown
                .iter()
                .map(|b| {
                    vec![
                        b.branch_id.into(),
                        branch_name(b.branch_id).into(),
                        b.detections.into(),
                        b.detected_count.into(),
                        b.unique_persons.into(),
                    ]
                })
                .collect(),
        },
    ]
}

pub fn dashboard_sheets(r: &DashboardReport, branch_name: impl Fn(i64) -> String) -> Vec<Sheet> {
    vec![
        summary(vec![
            ("From", text(r.date_from)),
            ("To", text(r.date_to)),
            ("Total detections", r.total_detections.into()),
            ("Unique persons", r.unique_persons.into()),
            ("Active branches", r.unique_branches.into()),
            ("Active devices", r.unique_devices.into()),
            ("Total events", r.total_events.into()),
        ]),
        Sheet {
            name: "Daily trend",
            headers: vec!["Date", "Detections", "Detected count", "Events"],
            rows: r
                .daily_trend
                .iter()
                .map(|d| {
                    vec![
                        text(d.date),
                        d.detections.into(),
                        d.detected_count.into(),
                        d.events.into(),
                    ]
                })
                .collect(),
        },
        Sheet {
            name: "Top branches",
            headers: vec![
                "Branch ID",
                "Branch",
                "Detections",
                "Detected count",
                "Unique persons",
            ],
            rows: r
                .top_branches
                .iter()
                .map(|b| {
                    vec![
                        b.branch_id.into(),
                        branch_name(b.branch_id).into(),
                        b.detections.into(),
                        b.detected_count.into(),
                        b.unique_persons.into(),
                    ]
                })
                .collect(),
        },
    ]
}
