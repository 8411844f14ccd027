//! Visitor analytics on SQLite: each aggregation is one statement over the visit rows
//! (`re_id_branch_days`, kept by processing with first/last detection and detection count)
//! or the hourly counts (`hour_counts`). Branch lists are bound as one JSON array
//! (`NULL`: every branch), so each statement is prepared once.
//!
//! Timestamps are stored as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see `codec::ts`): whole
//! seconds come from `unixepoch`, the microseconds from the fixed position 21, which makes
//! a dwell time exact to the microsecond before it is rounded down to seconds.

use async_trait::async_trait;
use cctv_core::analytics::{AnalyticsStore, DayRange, VisitDayRow};
use cctv_core::storage::StorageError;
use jiff::civil::Date;
use sqlx::Row;

use crate::{SqliteStore, map_err, parse_date};

fn branches_json(branches: Option<&[i64]>) -> Option<String> {
    branches.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
}

/// `?3`: the JSON branch list or `NULL`.
const IN_BRANCHES: &str = "(?3 IS NULL OR branch_id IN (SELECT value FROM json_each(?3)))";

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn visit_days(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
        lookback_days: u32,
    ) -> Result<Vec<VisitDayRow>, StorageError> {
        // Every person-day from the look-back before `from` on, each with the person's
        // previous day seen (any branch); then the days of the range at the branches.
        let rows = sqlx::query(
            "WITH pd AS (
                 SELECT DISTINCT re_id, detection_date AS d FROM re_id_branch_days
                 WHERE detection_date >= date(?1, '-' || ?4 || ' days') AND detection_date <= ?2),
             m AS (SELECT re_id, d, lag(d) OVER (PARTITION BY re_id ORDER BY d) AS prev FROM pd)
             SELECT m.d, count(*),
                    coalesce(sum(m.prev IS NOT NULL AND m.prev >= date(m.d, '-' || ?4 || ' days')), 0)
             FROM m
             WHERE m.d >= ?1 AND (?3 IS NULL OR EXISTS (
                 SELECT 1 FROM re_id_branch_days b
                 WHERE b.re_id = m.re_id AND b.detection_date = m.d
                   AND b.branch_id IN (SELECT value FROM json_each(?3))))
             GROUP BY m.d ORDER BY m.d",
        )
        .bind(range.from.to_string())
        .bind(range.to.to_string())
        .bind(branches_json(branches))
        .bind(i64::from(lookback_days))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(VisitDayRow {
                    date: parse_date(&r.get::<String, _>(0))?,
                    persons: r.get(1),
                    returning: r.get(2),
                })
            })
            .collect()
    }

    async fn dwell_seconds(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(i64, i64)>, StorageError> {
        let sql = format!(
            "SELECT s, count(*) FROM (
                 SELECT ((unixepoch(last_detected_at) - unixepoch(first_detected_at)) * 1000000
                         + CAST(substr(last_detected_at, 21, 6) AS INTEGER)
                         - CAST(substr(first_detected_at, 21, 6) AS INTEGER)) / 1000000 AS s
                 FROM re_id_branch_days
                 WHERE detection_date >= ?1 AND detection_date <= ?2 AND {IN_BRANCHES}
                   AND detections >= 2 AND first_detected_at IS NOT NULL AND last_detected_at IS NOT NULL)
             GROUP BY s ORDER BY s"
        );
        pairs(self, &sql, range, branches).await
    }

    async fn transitions(&self, range: DayRange) -> Result<Vec<(i64, i64, i64)>, StorageError> {
        let rows = sqlx::query(
            "SELECT prev, branch_id, count(*) FROM (
                 SELECT branch_id, lag(branch_id) OVER (
                     PARTITION BY re_id, detection_date
                     ORDER BY first_detected_at NULLS LAST, branch_id) AS prev
                 FROM re_id_branch_days WHERE detection_date >= ?1 AND detection_date <= ?2)
             WHERE prev IS NOT NULL GROUP BY prev, branch_id",
        )
        .bind(range.from.to_string())
        .bind(range.to.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    async fn visit_frequency(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(i64, i64)>, StorageError> {
        let sql = format!(
            "SELECT n, count(*) FROM (
                 SELECT count(DISTINCT detection_date) AS n FROM re_id_branch_days
                 WHERE detection_date >= ?1 AND detection_date <= ?2 AND {IN_BRANCHES}
                 GROUP BY re_id)
             GROUP BY n"
        );
        pairs(self, &sql, range, branches).await
    }

    async fn hour_counts(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(Date, i8, i64)>, StorageError> {
        let sql = format!(
            "SELECT detection_date, detection_hour, sum(detections) FROM hour_counts
             WHERE detection_date >= ?1 AND detection_date <= ?2 AND {IN_BRANCHES}
             GROUP BY detection_date, detection_hour"
        );
        let rows = sqlx::query(&sql)
            .bind(range.from.to_string())
            .bind(range.to.to_string())
            .bind(branches_json(branches))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let hour: i64 = r.get(1);
                Ok((
                    parse_date(&r.get::<String, _>(0))?,
                    i8::try_from(hour).unwrap_or(-1),
                    r.get(2),
                ))
            })
            .collect()
    }
}

/// Runs a `(key, count)` aggregation bound to `range` and `branches`.
async fn pairs(
    store: &SqliteStore,
    sql: &str,
    range: DayRange,
    branches: Option<&[i64]>,
) -> Result<Vec<(i64, i64)>, StorageError> {
    let rows = sqlx::query(sql)
        .bind(range.from.to_string())
        .bind(range.to.to_string())
        .bind(branches_json(branches))
        .fetch_all(&store.reader)
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
