//! Reports on SQLite: detection pages by keyset, stored reports and staleness.

use std::collections::HashMap;

use async_trait::async_trait;
use cctv_admin::reporting::{
    DetectionRow, ReportKey, ReportKind, ReportStore, RowCursor, RowRange, StoredReport,
};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;

use crate::{SqliteStore, map_err, parse_date, parse_ts, ts};

/// `branch_key` of a report: 0 for the overall one (`branch_id` NULL).
pub(crate) fn branch_key(branch: Option<i64>) -> i64 {
    branch.unwrap_or(0)
}

/// The `AND branch_id IN (…)` clause of a range, bound as a JSON array.
fn branch_clause(range: &RowRange) -> (&'static str, Option<String>) {
    match &range.branches {
        None => ("", None),
        Some(ids) => (
            " AND branch_id IN (SELECT value FROM json_each(?))",
            Some(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())),
        ),
    }
}

fn stored(row: &sqlx::sqlite::SqliteRow) -> Result<StoredReport, StorageError> {
    let kind: String = row.get("report_type");
    let branch: Option<i64> = row.get("branch_id");
    let data: String = row.get("report_data");
    let count = |c: &str| row.get::<i64, _>(c).max(0) as u64;
    Ok(StoredReport {
        key: ReportKey {
            kind: ReportKind::parse(&kind)
                .ok_or_else(|| StorageError::Corrupt(format!("report type {kind:?}").into()))?,
            date: parse_date(row.get("report_date"))?,
            branch_id: branch,
        },
        total_detections: count("total_detections"),
        unique_persons: count("unique_persons"),
        total_detected_count: row.get("total_detected_count"),
        unique_devices: count("unique_devices"),
        total_events: count("total_events"),
        data: serde_json::from_str(&data)
            .map_err(|e| StorageError::Corrupt(format!("report_data: {e}").into()))?,
        generated_at: parse_ts(row.get("generated_at"))?,
    })
}

/// The four reports a `(date, branch)` mark affects.
pub(crate) fn affected(date: Date, branch: i64) -> [ReportKey; 4] {
    [
        ReportKey::daily(date, Some(branch)),
        ReportKey::daily(date, None),
        ReportKey::monthly(date, Some(branch)),
        ReportKey::monthly(date, None),
    ]
}

#[async_trait]
impl ReportStore for SqliteStore {
    /// Small pages: each is one index seek on this machine (no round trip to amortise),
    /// while the driver copies every value of a page into an allocation of its own. The
    /// 8 daily reports of a day of 665,000 detections took as long with 1,000 rows as with
    /// 5,000 (about 5.4 s), at a peak 8 to 17 MB lower (BENCHMARKS.md, session 19).
    fn detection_page_rows(&self) -> usize {
        1_000
    }

    async fn detection_page(
        &self,
        range: &RowRange,
        after: Option<RowCursor>,
        limit: usize,
    ) -> Result<Vec<(RowCursor, DetectionRow)>, StorageError> {
        let (clause, branches) = branch_clause(range);
        let sql = format!(
            "SELECT id, re_id, branch_id, device_id, detection_timestamp, detected_count
             FROM re_id_branch_detections
             WHERE detection_timestamp >= ? AND detection_timestamp < ?{clause}
               AND (detection_timestamp, id) > (?, ?)
             ORDER BY detection_timestamp, id LIMIT ?"
        );
        let cursor = after.unwrap_or(RowCursor {
            detected_at: range.start,
            id: i64::MIN,
        });
        // The lower bound is the cursor's time, not the range's start: SQLite seeks the
        // index on the first lower bound a query states, so with the start every page
        // scanned the range again from its beginning (quadratic in a day's detections).
        let lower = range.start.max(cursor.detected_at);
        let mut q = sqlx::query(&sql).bind(ts(lower)).bind(ts(range.end));
        if let Some(b) = branches {
            q = q.bind(b);
        }
        let rows = q
            .bind(ts(cursor.detected_at))
            .bind(cursor.id)
            .bind(limit as i64)
            .fetch_all(&self.reporter)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let at = parse_ts(r.get("detection_timestamp"))?;
                Ok((
                    RowCursor {
                        detected_at: at,
                        id: r.get("id"),
                    },
                    DetectionRow {
                        re_id: r.get("re_id"),
                        branch_id: r.get("branch_id"),
                        device_id: r.get("device_id"),
                        detected_at: at,
                        detected_count: r.get("detected_count"),
                    },
                ))
            })
            .collect()
    }

    async fn count_events(&self, range: &RowRange) -> Result<u64, StorageError> {
        let (clause, branches) = branch_clause(range);
        let sql = format!(
            "SELECT count(*) FROM event_logs WHERE event_timestamp >= ? AND event_timestamp < ?{clause}"
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql)
            .bind(ts(range.start))
            .bind(ts(range.end));
        if let Some(b) = branches {
            q = q.bind(b);
        }
        Ok(q.fetch_one(&self.reporter).await.map_err(map_err)?.max(0) as u64)
    }

    async fn report(&self, key: &ReportKey) -> Result<Option<StoredReport>, StorageError> {
        let row = sqlx::query(
            "SELECT report_type, report_date, branch_id, total_detections, unique_persons, total_detected_count,
                    unique_devices, total_events, report_data, generated_at
             FROM counting_reports WHERE report_type = ? AND report_date = ? AND branch_key = ?",
        )
        .bind(key.kind.as_str())
        .bind(key.date.to_string())
        .bind(branch_key(key.branch_id))
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        row.as_ref().map(stored).transpose()
    }

    async fn upsert_report(&self, r: &StoredReport) -> Result<(), StorageError> {
        let now = ts(Timestamp::now());
        sqlx::query(
            "INSERT INTO counting_reports (report_type, report_date, branch_id, total_detections, unique_persons,
                 total_detected_count, unique_devices, total_events, report_data, generated_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (report_type, report_date, branch_key) DO UPDATE SET
                 total_detections = excluded.total_detections, unique_persons = excluded.unique_persons,
                 total_detected_count = excluded.total_detected_count, unique_devices = excluded.unique_devices,
                 total_events = excluded.total_events, report_data = excluded.report_data,
                 generated_at = excluded.generated_at, updated_at = excluded.updated_at",
        )
        .bind(r.key.kind.as_str())
        .bind(r.key.date.to_string())
        .bind(r.key.branch_id)
        .bind(r.total_detections as i64)
        .bind(r.unique_persons as i64)
        .bind(r.total_detected_count)
        .bind(r.unique_devices as i64)
        .bind(r.total_events as i64)
        .bind(r.data.to_string())
        .bind(ts(r.generated_at))
        .bind(&now)
        .bind(&now)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn expand_dirty_days(&self, limit: usize) -> Result<u64, StorageError> {
        let marks = sqlx::query(
            "SELECT report_date, branch_id, marked_at FROM report_dirty_days ORDER BY report_date LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        if marks.is_empty() {
            return Ok(0);
        }
        let mut stale: HashMap<ReportKey, String> = HashMap::new();
        for m in &marks {
            let marked_at: String = m.get("marked_at");
            for key in affected(parse_date(m.get("report_date"))?, m.get("branch_id")) {
                let entry = stale.entry(key).or_default();
                if *entry < marked_at {
                    *entry = marked_at.clone();
                }
            }
        }
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        for (key, marked_at) in &stale {
            sqlx::query(
                "INSERT INTO report_stale (report_type, report_date, branch_key, version, marked_at) VALUES (?, ?, ?, 1, ?)
                 ON CONFLICT (report_type, report_date, branch_key) DO UPDATE SET
                     version = report_stale.version + 1, marked_at = excluded.marked_at",
            )
            .bind(key.kind.as_str())
            .bind(key.date.to_string())
            .bind(branch_key(key.branch_id))
            .bind(marked_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for m in &marks {
            // Only if not re-marked since it was read: a newer mark stays for the next pass.
            sqlx::query("DELETE FROM report_dirty_days WHERE report_date = ? AND branch_id = ? AND marked_at = ?")
                .bind(m.get::<String, _>("report_date"))
                .bind(m.get::<i64, _>("branch_id"))
                .bind(m.get::<String, _>("marked_at"))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(marks.len() as u64)
    }

    async fn has_dirty_days(
        &self,
        from: Date,
        to: Date,
        branch: Option<i64>,
    ) -> Result<bool, StorageError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM report_dirty_days WHERE report_date BETWEEN ? AND ? AND (? IS NULL OR branch_id = ?) LIMIT 1",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(branch)
        .bind(branch)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn stale_version(&self, key: &ReportKey) -> Result<Option<i64>, StorageError> {
        sqlx::query_scalar(
            "SELECT version FROM report_stale WHERE report_type = ? AND report_date = ? AND branch_key = ?",
        )
        .bind(key.kind.as_str())
        .bind(key.date.to_string())
        .bind(branch_key(key.branch_id))
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)
    }

    async fn clear_stale(&self, key: &ReportKey, version: i64) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "DELETE FROM report_stale WHERE report_type = ? AND report_date = ? AND branch_key = ? AND version = ?",
        )
        .bind(key.kind.as_str())
        .bind(key.date.to_string())
        .bind(branch_key(key.branch_id))
        .bind(version)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn stale_reports(
        &self,
        kind: ReportKind,
        limit: usize,
    ) -> Result<Vec<ReportKey>, StorageError> {
        let rows = sqlx::query(
            "SELECT report_date, branch_key FROM report_stale WHERE report_type = ?
             ORDER BY report_date, branch_key LIMIT ?",
        )
        .bind(kind.as_str())
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let branch: i64 = r.get("branch_key");
                Ok(ReportKey {
                    kind,
                    date: parse_date(r.get("report_date"))?,
                    branch_id: (branch != 0).then_some(branch),
                })
            })
            .collect()
    }
}
