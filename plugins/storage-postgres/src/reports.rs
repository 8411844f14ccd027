//! Reports on PostgreSQL: detection pages by keyset, stored reports and staleness.

use std::collections::HashMap;

use async_trait::async_trait;
use cctv_admin::reporting::{
    DetectionRow, ReportKey, ReportKind, ReportStore, RowCursor, RowRange, StoredReport,
};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use time::OffsetDateTime;

use crate::{PgStore, from_odt, from_pg_date, map_err, odt, pg_date};

/// `branch_key` of a report: 0 for the overall one (`branch_id` NULL).
fn branch_key(branch: Option<i64>) -> i64 {
    branch.unwrap_or(0)
}

fn stored(row: &sqlx::postgres::PgRow) -> Result<StoredReport, StorageError> {
    let kind: String = row.get("report_type");
    let count = |c: &str| row.get::<i64, _>(c).max(0) as u64;
    Ok(StoredReport {
        key: ReportKey {
            kind: ReportKind::parse(&kind)
                .ok_or_else(|| StorageError::Corrupt(format!("report type {kind:?}").into()))?,
            date: from_pg_date(row.get("report_date"))?,
            branch_id: row.get("branch_id"),
        },
        total_detections: count("total_detections"),
        unique_persons: count("unique_persons"),
        total_detected_count: row.get("total_detected_count"),
        unique_devices: count("unique_devices"),
        total_events: count("total_events"),
        data: row.get("report_data"),
        generated_at: from_odt(row.get("generated_at")),
    })
}

/// The four reports a `(date, branch)` mark affects.
fn affected(date: Date, branch: i64) -> [ReportKey; 4] {
    [
        ReportKey::daily(date, Some(branch)),
        ReportKey::daily(date, None),
        ReportKey::monthly(date, Some(branch)),
        ReportKey::monthly(date, None),
    ]
}

#[async_trait]
impl ReportStore for PgStore {
    async fn detection_page(
        &self,
        range: &RowRange,
        after: Option<RowCursor>,
        limit: usize,
    ) -> Result<Vec<(RowCursor, DetectionRow)>, StorageError> {
        let cursor = after.unwrap_or(RowCursor {
            detected_at: range.start,
            id: i64::MIN,
        });
        let rows = sqlx::query(
            "SELECT id, re_id, branch_id, device_id, detection_timestamp, detected_count
             FROM re_id_branch_detections
             WHERE detection_timestamp >= $1 AND detection_timestamp < $2
               AND ($3::bigint[] IS NULL OR branch_id = ANY($3))
               AND (detection_timestamp, id) > ($4, $5)
             ORDER BY detection_timestamp, id LIMIT $6",
        )
        .bind(odt(range.start))
        .bind(odt(range.end))
        .bind(range.branches.as_deref())
        .bind(odt(cursor.detected_at))
        .bind(cursor.id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| {
                let at = from_odt(r.get("detection_timestamp"));
                (
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
                )
            })
            .collect())
    }

    async fn count_events(&self, range: &RowRange) -> Result<u64, StorageError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM event_logs WHERE event_timestamp >= $1 AND event_timestamp < $2
               AND ($3::bigint[] IS NULL OR branch_id = ANY($3))",
        )
        .bind(odt(range.start))
        .bind(odt(range.end))
        .bind(range.branches.as_deref())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(n.max(0) as u64)
    }

    async fn report(&self, key: &ReportKey) -> Result<Option<StoredReport>, StorageError> {
        let row = sqlx::query(
            "SELECT report_type, report_date, branch_id, total_detections, unique_persons, total_detected_count,
                    unique_devices, total_events, report_data, generated_at
             FROM counting_reports WHERE report_type = $1 AND report_date = $2 AND branch_key = $3",
        )
        .bind(key.kind.as_str())
        .bind(pg_date(key.date))
        .bind(branch_key(key.branch_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(stored).transpose()
    }

    async fn upsert_report(&self, r: &StoredReport) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO counting_reports (report_type, report_date, branch_id, total_detections, unique_persons,
                 total_detected_count, unique_devices, total_events, report_data, generated_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
             ON CONFLICT (report_type, report_date, branch_key) DO UPDATE SET
                 total_detections = EXCLUDED.total_detections, unique_persons = EXCLUDED.unique_persons,
                 total_detected_count = EXCLUDED.total_detected_count, unique_devices = EXCLUDED.unique_devices,
                 total_events = EXCLUDED.total_events, report_data = EXCLUDED.report_data,
                 generated_at = EXCLUDED.generated_at, updated_at = EXCLUDED.updated_at",
        )
        .bind(r.key.kind.as_str())
        .bind(pg_date(r.key.date))
        .bind(r.key.branch_id)
        .bind(r.total_detections as i64)
        .bind(r.unique_persons as i64)
        .bind(r.total_detected_count)
        .bind(r.unique_devices as i64)
        .bind(r.total_events as i64)
        .bind(&r.data)
        .bind(odt(r.generated_at))
        .bind(odt(Timestamp::now()))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn expand_dirty_days(&self, limit: usize) -> Result<u64, StorageError> {
        let marks: Vec<(time::Date, i64, OffsetDateTime)> = sqlx::query_as(
            "SELECT report_date, branch_id, marked_at FROM report_dirty_days ORDER BY report_date LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        if marks.is_empty() {
            return Ok(0);
        }
        let mut stale: HashMap<ReportKey, OffsetDateTime> = HashMap::new();
        for (date, branch, marked_at) in &marks {
            for key in affected(from_pg_date(*date)?, *branch) {
                let entry = stale.entry(key).or_insert(*marked_at);
                *entry = (*entry).max(*marked_at);
            }
        }
        // A fixed order, so that concurrent expansions lock rows in the same order.
        let mut stale: Vec<(ReportKey, OffsetDateTime)> = stale.into_iter().collect();
        stale.sort_by_key(|(k, _)| *k);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO report_stale (report_type, report_date, branch_key, version, marked_at)
             SELECT u.t, u.d, u.b, 1, u.m FROM UNNEST($1::text[], $2::date[], $3::bigint[], $4::timestamptz[]) AS u(t, d, b, m)
             ON CONFLICT (report_type, report_date, branch_key) DO UPDATE SET
                 version = report_stale.version + 1, marked_at = EXCLUDED.marked_at",
        )
        .bind(stale.iter().map(|(k, _)| k.kind.as_str()).collect::<Vec<_>>())
        .bind(stale.iter().map(|(k, _)| pg_date(k.date)).collect::<Vec<_>>())
        .bind(stale.iter().map(|(k, _)| branch_key(k.branch_id)).collect::<Vec<_>>())
        .bind(stale.iter().map(|(_, m)| *m).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // Only marks not re-marked since they were read: a newer mark stays for the next pass.
        sqlx::query(
            "DELETE FROM report_dirty_days d USING UNNEST($1::date[], $2::bigint[], $3::timestamptz[]) AS u(d, b, m)
             WHERE d.report_date = u.d AND d.branch_id = u.b AND d.marked_at = u.m",
        )
        .bind(marks.iter().map(|m| m.0).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.1).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.2).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(marks.len() as u64)
    }

    async fn has_dirty_days(
        &self,
        from: Date,
        to: Date,
        branch: Option<i64>,
    ) -> Result<bool, StorageError> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM report_dirty_days
                            WHERE report_date BETWEEN $1 AND $2 AND ($3::bigint IS NULL OR branch_id = $3))",
        )
        .bind(pg_date(from))
        .bind(pg_date(to))
        .bind(branch)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn stale_version(&self, key: &ReportKey) -> Result<Option<i64>, StorageError> {
        sqlx::query_scalar(
            "SELECT version FROM report_stale WHERE report_type = $1 AND report_date = $2 AND branch_key = $3",
        )
        .bind(key.kind.as_str())
        .bind(pg_date(key.date))
        .bind(branch_key(key.branch_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn clear_stale(&self, key: &ReportKey, version: i64) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "DELETE FROM report_stale WHERE report_type = $1 AND report_date = $2 AND branch_key = $3 AND version = $4",
        )
        .bind(key.kind.as_str())
        .bind(pg_date(key.date))
        .bind(branch_key(key.branch_id))
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn stale_reports(
        &self,
        kind: ReportKind,
        limit: usize,
    ) -> Result<Vec<ReportKey>, StorageError> {
        let rows: Vec<(time::Date, i64)> = sqlx::query_as(
            "SELECT report_date, branch_key FROM report_stale WHERE report_type = $1
             ORDER BY report_date, branch_key LIMIT $2",
        )
        .bind(kind.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(|(date, branch)| {
                Ok(ReportKey {
                    kind,
                    date: from_pg_date(date)?,
                    branch_id: (branch != 0).then_some(branch),
                })
            })
            .collect()
    }
}
