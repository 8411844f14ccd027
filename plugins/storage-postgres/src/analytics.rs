//! Visitor analytics on PostgreSQL: the visit rows of a range (index-only through
//! `re_id_branch_days_visits`) and the hourly counts. The rules are in
//! `cctv_core::analytics`.

use async_trait::async_trait;
use cctv_core::analytics::{AnalyticsStore, DayRange, VisitRow};
use cctv_core::storage::StorageError;
use jiff::civil::Date;
use sqlx::Row;

use crate::{PgStore, from_pg_date, map_err, pg_date};

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn visit_rows(&self, range: DayRange) -> Result<Vec<VisitRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT re_id, detection_date, branch_id,
                    (extract(epoch FROM first_detected_at) * 1000000)::bigint,
                    (extract(epoch FROM last_detected_at) * 1000000)::bigint, detections
             FROM re_id_branch_days WHERE detection_date BETWEEN $1 AND $2",
        )
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(VisitRow {
                    re_id: r.get(0),
                    date: from_pg_date(r.get(1))?,
                    branch_id: r.get(2),
                    first_us: r.get(3),
                    last_us: r.get(4),
                    detections: r.get(5),
                })
            })
            .collect()
    }

    async fn hour_counts(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(Date, i8, i64)>, StorageError> {
        let rows = sqlx::query(
            "SELECT detection_date, detection_hour, sum(detections)::bigint FROM hour_counts
             WHERE detection_date BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR branch_id = ANY($3))
             GROUP BY detection_date, detection_hour",
        )
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .bind(branches.map(<[i64]>::to_vec))
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
