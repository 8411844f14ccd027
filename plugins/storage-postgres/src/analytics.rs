//! Visitor analytics on PostgreSQL: each aggregation is one statement over the visit rows
//! (`re_id_branch_days`, kept by processing with first/last detection and detection count)
//! or the hourly counts (`hour_counts`). `$3` is the branch list (`NULL`: every branch).

use async_trait::async_trait;
use cctv_core::analytics::{AnalyticsStore, DayRange, VisitDayRow};
use cctv_core::storage::StorageError;
use jiff::civil::Date;
use sqlx::Row;

use crate::{PgStore, from_pg_date, map_err, pg_date};

const IN_BRANCHES: &str = "($3::bigint[] IS NULL OR branch_id = ANY($3))";

fn list(branches: Option<&[i64]>) -> Option<Vec<i64>> {
    branches.map(<[i64]>::to_vec)
}

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn visit_days(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
        lookback_days: u32,
    ) -> Result<Vec<VisitDayRow>, StorageError> {
        // Every person-day from the look-back before `from` on (the primary key's order),
        // each with the person's previous day seen at any branch; then the range's days
        // at the branches.
        let rows = sqlx::query(
            "WITH pd AS (
                 SELECT DISTINCT re_id, detection_date AS d FROM re_id_branch_days
                 WHERE detection_date >= $1::date - $4::int AND detection_date <= $2),
             m AS (SELECT re_id, d, lag(d) OVER (PARTITION BY re_id ORDER BY d) AS prev FROM pd)
             SELECT m.d, count(*), count(*) FILTER (WHERE m.prev >= m.d - $4::int)
             FROM m
             WHERE m.d >= $1 AND ($3::bigint[] IS NULL OR EXISTS (
                 SELECT 1 FROM re_id_branch_days b
                 WHERE b.re_id = m.re_id AND b.detection_date = m.d AND b.branch_id = ANY($3)))
             GROUP BY m.d ORDER BY m.d",
        )
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .bind(list(branches))
        .bind(i32::try_from(lookback_days).unwrap_or(i32::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(VisitDayRow {
                    date: from_pg_date(r.get(0))?,
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
                 SELECT floor(extract(epoch FROM last_detected_at - first_detected_at))::bigint AS s
                 FROM re_id_branch_days
                 WHERE detection_date BETWEEN $1 AND $2 AND {IN_BRANCHES}
                   AND detections >= 2 AND first_detected_at IS NOT NULL AND last_detected_at IS NOT NULL) v
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
                 FROM re_id_branch_days WHERE detection_date BETWEEN $1 AND $2) v
             WHERE prev IS NOT NULL GROUP BY prev, branch_id",
        )
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .fetch_all(&self.pool)
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
                 SELECT count(DISTINCT detection_date)::bigint AS n FROM re_id_branch_days
                 WHERE detection_date BETWEEN $1 AND $2 AND {IN_BRANCHES}
                 GROUP BY re_id) v
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
            "SELECT detection_date, detection_hour, sum(detections)::bigint FROM hour_counts
             WHERE detection_date BETWEEN $1 AND $2 AND {IN_BRANCHES}
             GROUP BY detection_date, detection_hour"
        );
        let rows = sqlx::query(&sql)
            .bind(pg_date(range.from))
            .bind(pg_date(range.to))
            .bind(list(branches))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let hour: i16 = r.get(1);
                Ok((
                    from_pg_date(r.get(0))?,
                    i8::try_from(hour).unwrap_or(-1),
                    r.get(2),
                ))
            })
            .collect()
    }
}

/// Runs a `(key, count)` aggregation bound to `range` and `branches`.
async fn pairs(
    store: &PgStore,
    sql: &str,
    range: DayRange,
    branches: Option<&[i64]>,
) -> Result<Vec<(i64, i64)>, StorageError> {
    let rows = sqlx::query(sql)
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .bind(list(branches))
        .fetch_all(&store.pool)
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
