//! Daily WhatsApp delivery summary: folds `logs/whatsapp_messages/YYYY-MM-DD.log` into
//! `whatsapp_delivery_summary`, one row per (date, branch, device).
//!
//! The rules are the original system's over our line statuses:
//! `total_sent` = lines (every logged attempt, suppressed sends included);
//! `total_delivered` = `sent`; `total_failed` = `failed`; `total_pending` = the rest
//! (`retrying`, `suppressed`); `unique_recipients` = distinct recipients;
//! `messages_with_image` = lines with `image`; `avg_delivery_time_ms` = rounded mean
//! `latency_ms` of the lines that have one (`None` when none do).
//!
//! [`aggregate_day`] is idempotent: it replaces the day's rows in one transaction. The
//! CLI's `cctv aggregate --date D` calls it; a scheduler calls the same function at 01:30.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::{Map, Value};

use super::delivery_log::{DeliveryLine, LineStatus, log_path};
use cctv_core::records::ColumnType::{Date as DateCol, Int, Text};
use cctv_core::records::{Filter, RecordStore, Table, WriteOp, col};
use cctv_core::storage::StorageError;

pub static WHATSAPP_DELIVERY_SUMMARY: Table = Table {
    name: "whatsapp_delivery_summary",
    columns: &[
        col("summary_date", DateCol),
        col("branch_id", Int),
        col("device_id", Text),
        col("total_sent", Int),
        col("total_delivered", Int),
        col("total_failed", Int),
        col("total_pending", Int),
        col("avg_delivery_time_ms", Int),
        col("unique_recipients", Int),
        col("messages_with_image", Int),
    ],
    search: &[],
};

/// One summary row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliverySummary {
    pub summary_date: Date,
    pub branch_id: i64,
    pub device_id: String,
    pub total_sent: i64,
    pub total_delivered: i64,
    pub total_failed: i64,
    pub total_pending: i64,
    pub avg_delivery_time_ms: Option<i64>,
    pub unique_recipients: i64,
    pub messages_with_image: i64,
}

/// What one aggregation run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AggregateReport {
    pub date: Date,
    /// `false` when the day has no log file (existing rows are then left alone).
    pub file_found: bool,
    pub lines: usize,
    /// Lines that were not a valid JSON log line (ignored).
    pub skipped: usize,
    pub rows: Vec<DeliverySummary>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    #[error("reading {path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Default)]
struct Acc {
    lines: i64,
    sent: i64,
    failed: i64,
    pending: i64,
    latency_sum: u128,
    latency_n: u128,
    recipients: HashSet<String>,
    images: i64,
}

/// Pure: the summary rows of one day's lines (sorted by branch, device) and the number
/// of lines that could not be read.
pub(crate) fn summarise<'a>(
    date: Date,
    lines: impl IntoIterator<Item = &'a str>,
) -> (Vec<DeliverySummary>, usize) {
    let mut groups: BTreeMap<(i64, String), Acc> = BTreeMap::new();
    let mut skipped = 0;
    for raw in lines {
        if raw.trim().is_empty() {
            continue;
        }
        let Ok(line) = serde_json::from_str::<DeliveryLine>(raw) else {
            skipped += 1;
            continue;
        };
        let acc = groups.entry((line.branch_id, line.device_id)).or_default();
        acc.lines += 1;
        match line.status {
            LineStatus::Sent => acc.sent += 1,
            LineStatus::Failed => acc.failed += 1,
            LineStatus::Retrying | LineStatus::Suppressed => acc.pending += 1,
        }
        if let Some(ms) = line.latency_ms {
            acc.latency_sum += u128::from(ms);
            acc.latency_n += 1;
        }
        acc.recipients.insert(line.recipient);
        acc.images += i64::from(line.image);
    }
    let rows = groups
        .into_iter()
        .map(|((branch_id, device_id), a)| DeliverySummary {
            summary_date: date,
            branch_id,
            device_id,
            total_sent: a.lines,
            total_delivered: a.sent,
            total_failed: a.failed,
            total_pending: a.pending,
            avg_delivery_time_ms: (a.latency_n > 0).then(|| {
                i64::try_from((a.latency_sum + a.latency_n / 2) / a.latency_n).unwrap_or(i64::MAX)
            }),
            unique_recipients: a.recipients.len() as i64,
            messages_with_image: a.images,
        })
        .collect();
    (rows, skipped)
}

fn record(s: &DeliverySummary) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("summary_date".into(), s.summary_date.to_string().into());
    r.insert("branch_id".into(), s.branch_id.into());
    r.insert("device_id".into(), s.device_id.clone().into());
    r.insert("total_sent".into(), s.total_sent.into());
    r.insert("total_delivered".into(), s.total_delivered.into());
    r.insert("total_failed".into(), s.total_failed.into());
    r.insert("total_pending".into(), s.total_pending.into());
    r.insert("avg_delivery_time_ms".into(), s.avg_delivery_time_ms.into());
    r.insert("unique_recipients".into(), s.unique_recipients.into());
    r.insert("messages_with_image".into(), s.messages_with_image.into());
    r
}

/// Folds the log files of `date` in `dir` (every node's, see `crate::api_log::day_files`)
/// into the summary table, replacing that day's rows.
pub async fn aggregate_day(
    store: &dyn RecordStore,
    dir: &Path,
    date: Date,
) -> Result<AggregateReport, AggregateError> {
    let io = |e: std::io::Error| AggregateError::Io {
        path: log_path(dir, date).display().to_string(),
        message: e.to_string(),
    };
    let files = {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || crate::api_log::day_files(&dir, date))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)?
    };
    if files.is_empty() {
        return Ok(AggregateReport {
            date,
            file_found: false,
            lines: 0,
            skipped: 0,
            rows: Vec::new(),
        });
    }
    // A day of messages is small next to a day of API requests: read it whole.
    let mut content = String::new();
    for file in &files {
        let bytes = tokio::fs::read(file).await.map_err(io)?;
        content.push_str(&String::from_utf8_lossy(&bytes));
        if !content.ends_with('\n') {
            content.push('\n');
        }
    }
    let lines = content.lines().filter(|l| !l.trim().is_empty()).count();
    let (rows, skipped) = summarise(date, content.lines());
    let mut ops = vec![WriteOp::Delete {
        table: &WHATSAPP_DELIVERY_SUMMARY,
        filters: vec![Filter::Eq("summary_date", Value::from(date.to_string()))],
    }];
    ops.extend(rows.iter().map(|r| WriteOp::Insert {
        table: &WHATSAPP_DELIVERY_SUMMARY,
        record: record(r),
        link: None,
    }));
    store.apply(&ops).await?;
    Ok(AggregateReport {
        date,
        file_found: true,
        lines,
        skipped,
        rows,
    })
}
