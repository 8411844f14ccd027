//! Visitor analytics on PostgreSQL: the visit rows of a range (index-only through
//! `re_id_branch_days_visits`) and the hourly counts. The rules are in
//! `cctv_admin::analytics`.

use async_trait::async_trait;
use cctv_admin::analytics::{AnalyticsStore, DayRange, VisitRow};
use cctv_core::storage::StorageError;
use jiff::civil::Date;
use sqlx::Row;
use time::OffsetDateTime;

use crate::{PgStore, from_pg_date, map_err, pg_date};

/// Queries per [`AnalyticsStore::visit_rows`]: a range is read as up to this many
/// consecutive chunks on separate connections at once, so the server scans and the client
/// decodes in parallel (and a long range holds no more connections than this).
const CHUNKS: i64 = 4;

/// Microseconds since the Unix epoch (`timestamptz` is decoded as it comes, no SQL
/// arithmetic: `extract(epoch …)` is `numeric` and cost most of the query).
fn unix_us(t: Option<OffsetDateTime>) -> Option<i64> {
    t.and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1000).ok())
}

impl PgStore {
    async fn visit_chunk(&self, from: Date, to: Date) -> Result<Vec<VisitRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT re_id, detection_date, branch_id, first_detected_at, last_detected_at, detections
             FROM re_id_branch_days WHERE detection_date BETWEEN $1 AND $2",
        )
        .bind(pg_date(from))
        .bind(pg_date(to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(VisitRow {
                    re_id: r.get(0),
                    date: from_pg_date(r.get(1))?,
                    branch_id: r.get(2),
                    first_us: unix_us(r.get(3)),
                    last_us: unix_us(r.get(4)),
                    detections: r.get(5),
                })
            })
            .collect()
    }
}

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn visit_rows(&self, range: DayRange) -> Result<Vec<VisitRow>, StorageError> {
        let days = i64::from((range.to - range.from).get_days()) + 1;
        let per_chunk = (days + CHUNKS - 1) / CHUNKS;
        let mut chunks = Vec::new();
        let mut start = range.from;
        while start <= range.to {
            let end = start
                .checked_add(jiff::Span::new().days(per_chunk - 1))
                .map_or(range.to, |e| e.min(range.to));
            chunks.push(self.visit_chunk(start, end));
            match end.tomorrow() {
                Ok(next) => start = next,
                Err(_) => break,
            }
        }
        let mut rows = Vec::new();
        for chunk in futures_util::future::try_join_all(chunks).await? {
            rows.extend(chunk);
        }
        Ok(rows)
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
