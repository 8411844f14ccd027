//! Month partitions of the detections and the event log.
//!
//! Both tables are range-partitioned by their local date, one partition per month named
//! `<table>_YYYY_MM`, plus a default partition for a row whose month has none yet (the
//! migration that introduced them explains the layout). This module keeps the months
//! ahead of time — the SQL function `cctv_month_partition` creates one month, moving any
//! of its rows out of the default partition — and drops whole months past retention.
//!
//! Dropping a partition is one catalog change instead of millions of row deletions. It
//! takes a short exclusive lock on the parent table, so the scheduled task runs it at
//! night; writers wait for the lock, they do not fail.

use cctv_core::storage::StorageError;
use jiff::Span;
use jiff::civil::Date;

use crate::{PgStore, map_err};

/// The partitioned tables and their partition keys.
const TABLES: [(&str, &str); 2] = [
    ("re_id_branch_detections", "detection_date"),
    ("event_logs", "event_date"),
];

/// Months after the current one whose partitions exist ahead of time.
const AHEAD_MONTHS: i64 = 3;

/// The month a partition of `table` holds, from its name; `None` for the default
/// partition or anything else.
#[cfg_attr(not(feature = "admin"), allow(dead_code))]
fn month_of(table: &str, partition: &str) -> Option<Date> {
    let suffix = partition.strip_prefix(table)?.strip_prefix('_')?;
    let (year, month) = suffix.split_once('_')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    Date::new(year.parse().ok()?, month.parse().ok()?, 1).ok()
}

fn months(n: i64) -> Result<Span, StorageError> {
    Span::new()
        .try_months(n)
        .map_err(|e| StorageError::Rejected(e.to_string()))
}

impl PgStore {
    /// Creates the partitions of `today`'s month and the [`AHEAD_MONTHS`] after it that
    /// are missing; the names of those created.
    pub(crate) async fn ensure_partitions(&self, today: Date) -> Result<Vec<String>, StorageError> {
        let first = today.first_of_month();
        let mut created = Vec::new();
        for (table, key) in TABLES {
            for ahead in 0..=AHEAD_MONTHS {
                let month = first
                    .checked_add(months(ahead)?)
                    .map_err(|e| StorageError::Rejected(e.to_string()))?;
                let made: bool =
                    sqlx::query_scalar("SELECT cctv_month_partition($1, $2, $3::date)")
                        .bind(table)
                        .bind(key)
                        .bind(month.to_string())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                if made {
                    created.push(format!("{table}_{}", month.strftime("%Y_%m")));
                }
            }
        }
        Ok(created)
    }

    /// Drops every month partition before `cutoff` (the first day of a month), with the
    /// deliveries of its events, and deletes rows before `cutoff` from the default
    /// partitions; the names of the partitions dropped.
    #[cfg(feature = "admin")]
    pub(crate) async fn drop_partitions_before(
        &self,
        cutoff: Date,
    ) -> Result<Vec<String>, StorageError> {
        let mut dropped = Vec::new();
        for (table, key) in TABLES {
            let partitions: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = to_regclass($1) ORDER BY 1",
            )
            .bind(table)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
            for partition in partitions {
                // Only names of the form <table>_YYYY_MM get here, so quoting them is safe.
                if month_of(table, &partition).is_none_or(|month| month >= cutoff) {
                    continue;
                }
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                if table == "event_logs" {
                    sqlx::query(&format!(
                        "DELETE FROM notification_deliveries d USING \"{partition}\" e \
                         WHERE d.event_log_id = e.id"
                    ))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                sqlx::query(&format!("DROP TABLE \"{partition}\""))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                dropped.push(partition);
            }
            // Rows of those months that never had a partition (the delete trigger takes
            // their deliveries).
            sqlx::query(&format!(
                "DELETE FROM {table}_default WHERE {key} < $1::date"
            ))
            .bind(cutoff.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        }
        Ok(dropped)
    }

    /// See [`cctv_admin::schedule::ScheduleStore::maintain_partitions`].
    #[cfg(feature = "admin")]
    pub(crate) async fn maintain_month_partitions(
        &self,
        today: Date,
        keep_months: Option<u32>,
    ) -> Result<cctv_admin::schedule::PartitionReport, StorageError> {
        let created = self.ensure_partitions(today).await?;
        let dropped = match keep_months.filter(|&n| n > 0) {
            Some(n) => {
                let cutoff = today
                    .first_of_month()
                    .checked_sub(months(i64::from(n) - 1)?)
                    .map_err(|e| StorageError::Rejected(e.to_string()))?;
                self.drop_partitions_before(cutoff).await?
            }
            None => Vec::new(),
        };
        Ok(cctv_admin::schedule::PartitionReport { created, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_partitions_are_read_from_their_names_only() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(
            month_of("event_logs", "event_logs_2026_12"),
            Some(d("2026-12-01"))
        );
        assert_eq!(
            month_of("re_id_branch_detections", "re_id_branch_detections_2025_01"),
            Some(d("2025-01-01"))
        );
        for other in [
            "event_logs_default",
            "event_logs_2026_13",
            "event_logs_26_12",
            "event_logs2026_12",
            "re_id_branch_detections_2026_12",
        ] {
            assert_eq!(month_of("event_logs", other), None, "{other}");
        }
    }
}
