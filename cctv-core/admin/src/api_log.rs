//! The API access log: one JSON line per `/api` request in
//! `<data_dir>/logs/api_requests/YYYY-MM-DD.log`, and its daily fold into
//! `api_usage_summary`.
//!
//! The line format lives here, in one type, because two sides must agree on it: the HTTP
//! layer writes it and [`aggregate_day`] reads it. It has no field that could carry a
//! secret — no headers, no bodies, no query strings — so redaction cannot be forgotten:
//! who called is the credential *id* or the user *id*, what was called is the route
//! template (`api/v1/person/{re_id}`), not the raw path.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::files::tables::API_USAGE_SUMMARY;
use cctv_core::records::{Filter, RecordStore, WriteOp};
use cctv_core::storage::{Cause, StorageError};

/// One request, as written to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogLine {
    /// RFC 3339 in the configured timezone (the file's day is this local date).
    pub timestamp: String,
    pub request_id: String,
    /// The device credential that authenticated the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<i64>,
    /// The person whose bearer token authenticated the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Route template without the leading slash, e.g. `api/v1/person/{re_id}`.
    pub endpoint: String,
    pub method: String,
    pub status: u16,
    pub duration_ms: f64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Every log file of `day` in `dir`: `dir/<day>.log` (one node) and `dir/<node>/<day>.log`
/// (each node of several sharing the directory writes its own, since appends from
/// several hosts to one file may interleave on network filesystems). Sorted.
pub(crate) fn day_files(dir: &Path, day: Date) -> std::io::Result<Vec<PathBuf>> {
    let name = format!("{day}.log");
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            let nested = path.join(&name);
            if nested.is_file() {
                files.push(nested);
            }
        } else if entry.file_name().to_str() == Some(name.as_str()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The lines of `files` one after the other, streamed (a day of API requests can be
/// gigabytes). A newline after each file keeps a torn last line of one file from running
/// into the first line of the next.
pub(crate) fn open_all(files: &[PathBuf]) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut reader: Box<dyn BufRead + Send> = Box::new(std::io::empty());
    for file in files {
        let next = std::io::BufReader::new(std::fs::File::open(file)?);
        let joined = std::io::Read::chain(reader, next);
        reader = Box::new(std::io::Read::chain(joined, &b"\n"[..]));
    }
    Ok(reader)
}

/// One summary row before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct UsageRow {
    /// 0: requests without a device credential.
    pub credential_id: i64,
    pub endpoint: String,
    pub method: String,
    pub total: u64,
    pub success: u64,
    pub errors: u64,
    pub avg_ms: u64,
    pub max_ms: u64,
    pub min_ms: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// What [`aggregate_day`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AggregateReport {
    pub lines: u64,
    /// Lines that were not valid JSON of [`AccessLogLine`] (a torn last line after a crash).
    pub skipped: u64,
    pub rows: u64,
}

/// Folds log lines into one row per (credential, endpoint, method). Status < 400 counts
/// as success.
pub(crate) fn summarise(reader: impl BufRead) -> (Vec<UsageRow>, AggregateReport) {
    let mut report = AggregateReport::default();
    let mut groups: BTreeMap<(i64, String, String), (UsageRow, f64)> = BTreeMap::new();
    for line in reader.lines() {
        let Ok(line) = line else {
            report.skipped += 1;
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let Ok(entry) = serde_json::from_str::<AccessLogLine>(&line) else {
            report.skipped += 1;
            continue;
        };
        report.lines += 1;
        let credential = entry.credential_id.unwrap_or(0);
        let (row, total_ms) = groups
            .entry((credential, entry.endpoint.clone(), entry.method.clone()))
            .or_insert_with(|| {
                (
                    UsageRow {
                        credential_id: credential,
                        endpoint: entry.endpoint.clone(),
                        method: entry.method.clone(),
                        min_ms: u64::MAX,
                        ..UsageRow::default()
                    },
                    0.0,
                )
            });
        let ms = entry.duration_ms.max(0.0);
        row.total += 1;
        if entry.status < 400 {
            row.success += 1;
        } else {
            row.errors += 1;
        }
        row.max_ms = row.max_ms.max(ms.round() as u64);
        row.min_ms = row.min_ms.min(ms.round() as u64);
        row.request_bytes += entry.request_bytes;
        row.response_bytes += entry.response_bytes;
        *total_ms += ms;
    }
    let rows: Vec<UsageRow> = groups
        .into_values()
        .map(|(mut row, total_ms)| {
            row.avg_ms = (total_ms / row.total as f64).round() as u64;
            row
        })
        .collect();
    report.rows = rows.len() as u64;
    (rows, report)
}

/// Rebuilds `api_usage_summary` for `day` from its log files (every node's, see
/// `day_files`), in one transaction: running it twice gives the same rows (idempotent),
/// and a re-run after more lines were written replaces the day's rows. No file means no
/// requests that day.
pub async fn aggregate_day(
    store: &dyn RecordStore,
    logs_dir: &Path,
    day: Date,
) -> Result<AggregateReport, StorageError> {
    let dir = logs_dir.join("api_requests");
    let (rows, report) = tokio::task::spawn_blocking(move || {
        day_files(&dir, day)
            .and_then(|files| open_all(&files))
            .map(summarise)
            .map_err(|e| {
                StorageError::Unavailable(Cause::with_source(
                    format!("reading {}", dir.display()),
                    e,
                ))
            })
    })
    .await
    .map_err(|e| StorageError::Unavailable(e.to_string().into()))??;
    let day_value = Value::from(day.to_string());
    let mut ops = vec![WriteOp::Delete {
        table: &API_USAGE_SUMMARY,
        filters: vec![Filter::Eq("summary_date", day_value.clone())],
    }];
    for row in &rows {
        let record = Map::from_iter([
            (
                "api_credential_id".to_owned(),
                Value::from(row.credential_id),
            ),
            ("summary_date".to_owned(), day_value.clone()),
            ("endpoint".to_owned(), Value::from(row.endpoint.clone())),
            ("method".to_owned(), Value::from(row.method.clone())),
            ("total_requests".to_owned(), Value::from(row.total)),
            ("success_requests".to_owned(), Value::from(row.success)),
            ("error_requests".to_owned(), Value::from(row.errors)),
            ("avg_response_time_ms".to_owned(), Value::from(row.avg_ms)),
            ("max_response_time_ms".to_owned(), Value::from(row.max_ms)),
            ("min_response_time_ms".to_owned(), Value::from(row.min_ms)),
            ("request_bytes".to_owned(), Value::from(row.request_bytes)),
            ("response_bytes".to_owned(), Value::from(row.response_bytes)),
        ]);
        ops.push(WriteOp::Insert {
            table: &API_USAGE_SUMMARY,
            record,
            link: None,
        });
    }
    store.apply(&ops).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(credential: Option<i64>, endpoint: &str, status: u16, ms: f64) -> String {
        serde_json::to_string(&AccessLogLine {
            timestamp: "2026-11-28T08:00:00+07:00".into(),
            request_id: "r".into(),
            credential_id: credential,
            user_id: None,
            endpoint: endpoint.into(),
            method: "GET".into(),
            status,
            duration_ms: ms,
            request_bytes: 10,
            response_bytes: 100,
            ip: None,
        })
        .unwrap()
    }

    #[test]
    fn lines_fold_into_one_row_per_credential_endpoint_and_method() {
        let text = [
            line(Some(7), "api/v1/detections", 200, 2.0),
            line(Some(7), "api/v1/detections", 500, 6.0),
            line(None, "api/v1/detections", 401, 1.0),
            "{torn".to_owned(),
        ]
        .join("\n");
        let (rows, report) = summarise(text.as_bytes());
        assert_eq!(
            report,
            AggregateReport {
                lines: 3,
                skipped: 1,
                rows: 2
            }
        );
        let seven = rows.iter().find(|r| r.credential_id == 7).unwrap();
        assert_eq!((seven.total, seven.success, seven.errors), (2, 1, 1));
        assert_eq!((seven.min_ms, seven.avg_ms, seven.max_ms), (2, 4, 6));
        assert_eq!((seven.request_bytes, seven.response_bytes), (20, 200));
        let anonymous = rows.iter().find(|r| r.credential_id == 0).unwrap();
        assert_eq!((anonymous.total, anonymous.errors), (1, 1));
    }

    #[test]
    fn every_nodes_file_of_the_day_is_read_and_nothing_else() {
        let dir =
            std::env::temp_dir().join(format!("cctv-daylogs-{}", uuid::Uuid::new_v4().simple()));
        let day: Date = "2026-11-28".parse().unwrap();
        for (path, lines) in [
            ("2026-11-28.log", 2),
            ("node-a/2026-11-28.log", 3),
            ("node-b/2026-11-28.log", 4),
            ("node-b/2026-11-27.log", 50),
            ("2026-11-29.log", 50),
        ] {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            // No newline at the end: the next file's first line must not run into it.
            let text = vec![line(Some(1), "api/v1/detections", 200, 1.0); lines].join("\n");
            std::fs::write(file, text).unwrap();
        }
        let files = day_files(&dir, day).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        let (rows, report) = summarise(open_all(&files).unwrap());
        assert_eq!((report.lines, report.skipped), (9, 0));
        assert_eq!(rows[0].total, 9);
        assert!(day_files(&dir.join("missing"), day).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
