//! Visitor analytics on SQLite: the visit rows of a range, one key range of the membership
//! table (`re_id_branch_days` is ordered by day), packed per day, and the hourly counts.
//! The rules are in `cctv_admin::analytics`.
//!
//! Timestamps are stored as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see `codec::ts`): whole seconds
//! come from `unixepoch`, the microseconds from the fixed position 21, so the instants
//! reach the core as exact integers without parsing text in Rust.

use async_trait::async_trait;
use cctv_admin::analytics::{AnalyticsStore, DayRange, VisitRow};
use cctv_core::storage::StorageError;
use jiff::civil::Date;
use sqlx::Row;

use crate::{SqliteStore, map_err, parse_date};

fn micros(column: &str) -> String {
    format!("unixepoch({column}) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER)")
}

/// The visits of a range of days (`?1` to `?2`), one row per day.
fn visits_sql() -> String {
    format!(
        "SELECT detection_date,
                json_group_array(json_array(re_id, branch_id, {}, {}, detections))
         FROM re_id_branch_days
         WHERE detection_date >= ?1 AND detection_date <= ?2
         GROUP BY detection_date",
        micros("first_detected_at"),
        micros("last_detected_at")
    )
}

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn visit_rows(&self, range: DayRange) -> Result<Vec<VisitRow>, StorageError> {
        // One row per day, its visits as one JSON array: handing 100,000 rows one by one
        // from the database thread to the async side cost four times the query itself.
        let days = sqlx::query(&visits_sql())
            .bind(range.from.to_string())
            .bind(range.to.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        type Packed = (String, i64, Option<i64>, Option<i64>, i64);
        let mut out = Vec::new();
        for day in &days {
            let date = parse_date(day.get::<&str, _>(0))?;
            let visits: Vec<Packed> = serde_json::from_str(day.get::<&str, _>(1))
                .map_err(|e| StorageError::Corrupt(format!("visits of {date}: {e}").into()))?;
            out.extend(visits.into_iter().map(
                |(re_id, branch_id, first_us, last_us, detections)| VisitRow {
                    re_id,
                    date,
                    branch_id,
                    first_us,
                    last_us,
                    detections,
                },
            ));
        }
        Ok(out)
    }

    async fn hour_counts(
        &self,
        range: DayRange,
        branches: Option<&[i64]>,
    ) -> Result<Vec<(Date, i8, i64)>, StorageError> {
        let rows = sqlx::query(
            "SELECT detection_date, detection_hour, sum(detections) FROM hour_counts
             WHERE detection_date >= ?1 AND detection_date <= ?2
               AND (?3 IS NULL OR branch_id IN (SELECT value FROM json_each(?3)))
             GROUP BY detection_date, detection_hour",
        )
        .bind(range.from.to_string())
        .bind(range.to.to_string())
        .bind(branches.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteSettings;

    /// A range of days is one key range of the table: no secondary index, no sort.
    #[tokio::test]
    async fn visits_of_a_range_are_one_primary_key_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteSettings::new(dir.path().join("cctv.db")))
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", visits_sql()))
            .bind("2026-11-01")
            .bind("2026-11-30")
            .fetch_all(&store.reader)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("detail"))
            .collect();
        assert_eq!(
            plan,
            ["SEARCH re_id_branch_days USING PRIMARY KEY (detection_date>? AND detection_date<?)"],
        );
    }
}
