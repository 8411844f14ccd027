//! Visitor analytics on PostgreSQL: the visit rows of a range (index-only through
//! `re_id_branch_days_visits`), packed per day, and the hourly counts. The rules are in
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
        // One row per day with its visits as parallel arrays: decoding 100,000 rows one by
        // one cost more than reading them.
        let days = sqlx::query(
            "SELECT detection_date, array_agg(re_id), array_agg(branch_id),
                    array_agg((extract(epoch FROM first_detected_at) * 1000000)::bigint),
                    array_agg((extract(epoch FROM last_detected_at) * 1000000)::bigint),
                    array_agg(detections)
             FROM re_id_branch_days WHERE detection_date BETWEEN $1 AND $2
             GROUP BY detection_date",
        )
        .bind(pg_date(range.from))
        .bind(pg_date(range.to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut out = Vec::new();
        for day in &days {
            let date = from_pg_date(day.get(0))?;
            let re_ids: Vec<String> = day.get(1);
            let branches: Vec<i64> = day.get(2);
            let first: Vec<Option<i64>> = day.get(3);
            let last: Vec<Option<i64>> = day.get(4);
            let detections: Vec<i64> = day.get(5);
            for (i, re_id) in re_ids.into_iter().enumerate() {
                out.push(VisitRow {
                    re_id,
                    date,
                    branch_id: branches.get(i).copied().unwrap_or_default(),
                    first_us: first.get(i).copied().flatten(),
                    last_us: last.get(i).copied().flatten(),
                    detections: detections.get(i).copied().unwrap_or_default(),
                });
            }
        }
        Ok(out)
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
