//! Row exports: person-days, event logs and detections, read from storage a keyset page
//! at a time ([`ExportStore`]) so an export of any size holds one page in memory.
//!
//! Each export is ordered by an indexed column and the row id, and a page continues
//! strictly after the last row of the previous one, so every row is written once even
//! while ingest keeps adding rows (rows added behind the cursor are simply not part of
//! this export).

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use super::Cell;
use cctv_core::estate::EstateSnapshot;
use cctv_core::storage::StorageError;

/// The event types an event log can have.
pub const EVENT_TYPES: [&str; 4] = ["detection", "alert", "motion", "manual"];

/// Which person-days to export. Dates are local dates; `branches: None` is every branch,
/// `Some(ids)` persons seen in one of them that day (`Some(vec![])` matches nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonExportFilter {
    pub date_from: Option<Date>,
    pub date_to: Option<Date>,
    pub branches: Option<Vec<i64>>,
    /// `active` or `inactive`.
    pub status: Option<String>,
    /// Exactly this re-id.
    pub re_id: Option<String>,
    /// Case-insensitive substring of the re-id or the person's name.
    pub search: Option<String>,
}

/// Which event logs to export: `start <= event_timestamp < end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventExportFilter {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub branches: Option<Vec<i64>>,
    pub device_id: Option<String>,
    /// One of [`EVENT_TYPES`].
    pub event_type: Option<String>,
    /// Case-insensitive substring of the re-id or the device id (the event list's search).
    pub search: Option<String>,
}

/// Which detections to export: `start <= detection_timestamp < end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectionExportFilter {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub branches: Option<Vec<i64>>,
    pub device_id: Option<String>,
    pub re_id: Option<String>,
}

/// `[start of from, end of to)` in the configured timezone, for the event and detection
/// filters (a missing date leaves that side open).
pub fn local_range(
    from: Option<Date>,
    to: Option<Date>,
    tz: &jiff::tz::TimeZone,
) -> Result<(Option<Timestamp>, Option<Timestamp>), crate::reporting::ReportError> {
    let start = from
        .map(|d| crate::reporting::local_day_bounds(d, tz).map(|b| b.0))
        .transpose()?;
    let end = to
        .map(|d| crate::reporting::local_day_bounds(d, tz).map(|b| b.1))
        .transpose()?;
    Ok((start, end))
}

/// Position after a person-day row, in `(detection_date, id)` order.
pub type DateCursor = (Date, i64);
/// Position after an event or detection row, in `(timestamp, id)` order.
pub type TimeCursor = (Timestamp, i64);

/// One row of `re_id_masters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonExportRow {
    pub id: i64,
    pub re_id: String,
    pub detection_date: Date,
    pub person_name: Option<String>,
    pub status: String,
    pub total_detection_branch_count: i64,
    pub total_actual_count: i64,
    pub first_detected_at: Option<Timestamp>,
    pub last_detected_at: Option<Timestamp>,
}

/// One row of `event_logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventExportRow {
    pub id: i64,
    pub event_timestamp: Timestamp,
    pub event_date: Date,
    pub branch_id: i64,
    pub device_id: String,
    pub re_id: Option<String>,
    pub event_type: String,
    pub detected_count: i64,
    pub notification_sent: bool,
    pub message_sent: bool,
    pub image_sent: bool,
    pub image_path: Option<String>,
}

/// One row of `re_id_branch_detections`; `detection_data` is the stored JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionExportRow {
    pub id: i64,
    pub detection_timestamp: Timestamp,
    pub detection_date: Date,
    pub re_id: String,
    pub branch_id: i64,
    pub device_id: String,
    pub detected_count: i64,
    pub detection_data: Option<String>,
}

/// Keyset pages of the exportable tables. Implemented by each storage backend.
#[async_trait]
pub trait ExportStore: Send + Sync + fmt::Debug + 'static {
    /// Up to `limit` person-days after `after`, in `(detection_date, id)` order.
    async fn person_export_page(
        &self,
        filter: &PersonExportFilter,
        after: Option<DateCursor>,
        limit: usize,
    ) -> Result<Vec<PersonExportRow>, StorageError>;

    /// Up to `limit` event logs after `after`, in `(event_timestamp, id)` order.
    async fn event_export_page(
        &self,
        filter: &EventExportFilter,
        after: Option<TimeCursor>,
        limit: usize,
    ) -> Result<Vec<EventExportRow>, StorageError>;

    /// Up to `limit` detections after `after`, in `(detection_timestamp, id)` order.
    async fn detection_export_page(
        &self,
        filter: &DetectionExportFilter,
        after: Option<TimeCursor>,
        limit: usize,
    ) -> Result<Vec<DetectionExportRow>, StorageError>;
}

/// One of the row exports with its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowExport {
    Persons(PersonExportFilter),
    Events(EventExportFilter),
    Detections(DetectionExportFilter),
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    Start,
    Date(DateCursor),
    Time(TimeCursor),
}

fn ts(t: Timestamp) -> Cell {
    Cell::Text(t.to_string())
}

fn flag(b: bool) -> Cell {
    Cell::Text(if b { "yes" } else { "no" }.to_owned())
}

impl RowExport {
    /// The sheet name, also the start of the file name.
    pub(crate) fn title(&self) -> &'static str {
        match self {
            Self::Persons(_) => "Persons",
            Self::Events(_) => "Event logs",
            Self::Detections(_) => "Detections",
        }
    }

    /// `Persons` → `persons`, for file names.
    pub fn slug(&self) -> &'static str {
        match self {
            Self::Persons(_) => "persons",
            Self::Events(_) => "event_logs",
            Self::Detections(_) => "detections",
        }
    }

    pub(crate) fn headers(&self) -> &'static [&'static str] {
        match self {
            Self::Persons(_) => &[
                "Re-ID",
                "Date",
                "Name",
                "Status",
                "Branches",
                "Detected count",
                "First detected (UTC)",
                "Last detected (UTC)",
            ],
            Self::Events(_) => &[
                "ID",
                "Time (UTC)",
                "Date",
                "Branch ID",
                "Branch",
                "Device ID",
                "Device",
                "Re-ID",
                "Event type",
                "Detected count",
                "Notification sent",
                "Message sent",
                "Image sent",
                "Image path",
            ],
            Self::Detections(_) => &[
                "ID",
                "Time (UTC)",
                "Date",
                "Re-ID",
                "Branch ID",
                "Branch",
                "Device ID",
                "Device",
                "Detected count",
                "Detection data",
            ],
        }
    }

    /// The next page as cells, and where the page after it starts (`None`: this was the
    /// last one).
    pub(crate) async fn page(
        &self,
        store: &dyn ExportStore,
        estate: &EstateSnapshot,
        after: Cursor,
        limit: usize,
    ) -> Result<(Vec<Vec<Cell>>, Option<Cursor>), StorageError> {
        let branch = |id: i64| -> Cell {
            estate
                .branches
                .get(&id)
                .map_or(Cell::Empty, |b| b.branch_name.as_str().into())
        };
        let device = |id: &str| -> Cell {
            estate
                .devices
                .get(id)
                .map_or(Cell::Empty, |d| d.device_name.as_str().into())
        };
        let time_after = match after {
            Cursor::Time(c) => Some(c),
            _ => None,
        };
        let (cells, next, full) = match self {
            Self::Persons(f) => {
                let date_after = match after {
                    Cursor::Date(c) => Some(c),
                    _ => None,
                };
                let rows = store.person_export_page(f, date_after, limit).await?;
                let next = rows.last().map(|r| Cursor::Date((r.detection_date, r.id)));
                let full = rows.len() >= limit;
                let cells = rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            Cell::Text(r.re_id),
                            Cell::Text(r.detection_date.to_string()),
                            r.person_name.into(),
                            Cell::Text(r.status),
                            Cell::Int(r.total_detection_branch_count),
                            Cell::Int(r.total_actual_count),
                            r.first_detected_at.map_or(Cell::Empty, ts),
                            r.last_detected_at.map_or(Cell::Empty, ts),
                        ]
                    })
                    .collect();
                (cells, next, full)
            }
            Self::Events(f) => {
                let rows = store.event_export_page(f, time_after, limit).await?;
                let next = rows.last().map(|r| Cursor::Time((r.event_timestamp, r.id)));
                let full = rows.len() >= limit;
                let cells = rows
                    .into_iter()
                    .map(|r| {
                        let name = device(&r.device_id);
                        vec![
                            Cell::Int(r.id),
                            ts(r.event_timestamp),
                            Cell::Text(r.event_date.to_string()),
                            Cell::Int(r.branch_id),
                            branch(r.branch_id),
                            Cell::Text(r.device_id),
                            name,
                            r.re_id.into(),
                            Cell::Text(r.event_type),
                            Cell::Int(r.detected_count),
                            flag(r.notification_sent),
                            flag(r.message_sent),
                            flag(r.image_sent),
                            r.image_path.into(),
                        ]
                    })
                    .collect();
                (cells, next, full)
            }
            Self::Detections(f) => {
                let rows = store.detection_export_page(f, time_after, limit).await?;
                let next = rows
                    .last()
                    .map(|r| Cursor::Time((r.detection_timestamp, r.id)));
                let full = rows.len() >= limit;
                let cells = rows
                    .into_iter()
                    .map(|r| {
                        let name = device(&r.device_id);
                        vec![
                            Cell::Int(r.id),
                            ts(r.detection_timestamp),
                            Cell::Text(r.detection_date.to_string()),
                            Cell::Text(r.re_id),
                            Cell::Int(r.branch_id),
                            branch(r.branch_id),
                            Cell::Text(r.device_id),
                            name,
                            Cell::Int(r.detected_count),
                            r.detection_data.into(),
                        ]
                    })
                    .collect();
                (cells, next, full)
            }
        };
        Ok((cells, next.filter(|_| full)))
    }
}
