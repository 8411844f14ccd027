//! Retention: files, thumbnails and registry rows older than the retention go, references
//! to them in `event_logs` are cleared, and old log files are pruned (daily,
//! 90 days by default).
//!
//! The registry drives file deletion, so a file is only ever deleted because a registry
//! row says it is old, and the row goes only after its blob is gone (or provably never
//! existed): a failed delete leaves the row for the next run instead of an orphan on disk.
//! Work goes in slices (one transaction each) so the single SQLite writer is never held
//! for long.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::files::int;
use cctv_core::Core;
use cctv_core::blob::BlobError;
use cctv_core::records::tables::{EVENT_LOG_FILES, STORAGE_FILES};
use cctv_core::records::{Filter, ListQuery, Order, WriteOp};
use cctv_core::storage::StorageError;

/// What [`cleanup`] works on.
#[derive(Debug, Clone)]
pub struct CleanupSettings {
    /// Files and logs older than this go (default 90 days).
    pub retention: Duration,
    /// `<data_dir>/logs`: every file below it is pruned by the date in its name
    /// (`YYYY-MM-DD.log`), or by modification time when the name has no date.
    pub logs_dir: Option<PathBuf>,
    /// Registry rows handled per transaction.
    pub slice: u32,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 24 * 3600),
            logs_dir: None,
            slice: 500,
        }
    }
}

/// What a run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Registry rows deleted (their blobs are gone).
    pub files_deleted: u64,
    /// Event logs whose image or thumbnail reference was cleared.
    pub event_references_cleared: u64,
    /// Blobs that could not be deleted (kept, with their rows, for the next run).
    pub failures: u64,
    pub log_files_deleted: u64,
}

/// Deletes what is older than `settings.retention` at `now`.
pub async fn cleanup(
    core: &Core,
    settings: &CleanupSettings,
    now: Timestamp,
) -> Result<CleanupReport, StorageError> {
    let retention = SignedDuration::try_from(settings.retention)
        .map_err(|_| StorageError::Rejected("retention out of range".into()))?;
    let cutoff = now
        .checked_sub(retention)
        .map_err(|_| StorageError::Rejected("retention out of range".into()))?;
    let mut report = CleanupReport::default();
    let store = core.storage();
    let mut after = 0i64;
    loop {
        let query = ListQuery {
            filters: vec![
                Filter::Lt("created_at", Value::from(cutoff.to_string())),
                Filter::Ge("id", Value::from(after + 1)),
            ],
            order: Order::asc("id"),
            page: 1,
            per_page: settings.slice.max(1),
        };
        let (rows, _) = store.list_records(&STORAGE_FILES, &query).await?;
        let Some(last) = rows.last() else { break };
        after = int(last, "id").unwrap_or(after + 1);
        let mut ids = Vec::new();
        let mut paths = Vec::new();
        for row in &rows {
            let (Some(id), Some(path)) =
                (int(row, "id"), row.get("file_path").and_then(Value::as_str))
            else {
                continue;
            };
            let deleted = match core.blobs() {
                Some(blobs) => blobs.delete(path).await,
                None => Err(BlobError::Unavailable("no blob store configured".into())),
            };
            match deleted {
                // An invalid path cannot name a blob: the row alone is stale.
                Ok(()) | Err(BlobError::NotFound) | Err(BlobError::InvalidPath(_)) => {
                    ids.push(Value::from(id));
                    paths.push(Value::from(path));
                }
                Err(e) => {
                    tracing::warn!(error = %e, path, "deleting an expired file failed; kept for the next run");
                    report.failures += 1;
                }
            }
        }
        if ids.is_empty() {
            continue;
        }
        let cleared = |column: &'static str| WriteOp::Update {
            table: &EVENT_LOG_FILES,
            changes: Map::from_iter([(column.to_owned(), Value::Null)]),
            filters: vec![Filter::In(column, paths.clone())],
        };
        let done = store
            .apply(&[
                cleared("image_path"),
                cleared("thumbnail_path"),
                WriteOp::Delete {
                    table: &STORAGE_FILES,
                    filters: vec![Filter::In("id", ids)],
                },
            ])
            .await?;
        report.event_references_cleared += (done[0] + done[1]).max(0) as u64;
        report.files_deleted += done[2].max(0) as u64;
    }
    if let Some(dir) = settings.logs_dir.clone() {
        let cutoff_day = cutoff.to_zoned_datetime(core.timezone().clone()).date();
        report.log_files_deleted =
            tokio::task::spawn_blocking(move || prune_logs(&dir, cutoff, cutoff_day))
                .await
                .unwrap_or(0);
    }
    tracing::info!(?report, %cutoff, "file cleanup finished");
    Ok(report)
}

/// Deletes log files dated (by name) before `cutoff_day`, or modified before `cutoff`
/// when the name carries no date. Returns how many were deleted.
fn prune_logs(dir: &Path, cutoff: Timestamp, cutoff_day: jiff::civil::Date) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            deleted += prune_logs(&path, cutoff, cutoff_day);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let name = entry.file_name();
        let named_day = name
            .to_str()
            .and_then(|n| n.get(..10))
            .and_then(|d| d.parse::<jiff::civil::Date>().ok());
        let old = match named_day {
            Some(day) => day < cutoff_day,
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| Timestamp::try_from(t).ok())
                .is_some_and(|t| t < cutoff),
        };
        if old {
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "pruning a log file failed")
                }
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_pruned_by_the_date_in_their_name() {
        let dir = tempfile_dir();
        let sub = dir.join("api_requests");
        std::fs::create_dir_all(&sub).unwrap();
        for name in [
            "2026-01-01.log",
            "2026-03-31.log",
            "2026-04-01.log",
            "notes.txt",
        ] {
            std::fs::write(sub.join(name), "x").unwrap();
        }
        let cutoff: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let deleted = prune_logs(&dir, cutoff, "2026-04-01".parse().unwrap());
        assert_eq!(deleted, 2);
        let mut left: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["2026-04-01.log", "notes.txt"], "fresh files stay");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cctv-prune-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
