//! Scheduler slots and queue operations on PostgreSQL.

use async_trait::async_trait;
use cctv_admin::queue_ops::{FailedJob, QueueAdmin, QueueStats};
use cctv_admin::schedule::{PartitionReport, ScheduleRun, ScheduleStore};
use cctv_core::jobs::{JobId, NewJob, Queue};
use cctv_core::query::{Page, PageRequest};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PgStore, from_odt, from_opt_odt, lenient_json, map_err, odt};

fn queue(s: &str) -> Result<Queue, StorageError> {
    Queue::parse(s).ok_or_else(|| StorageError::Corrupt(format!("queue {s:?}").into()))
}

#[async_trait]
impl ScheduleStore for PgStore {
    async fn maintain_partitions(
        &self,
        today: jiff::civil::Date,
        keep_months: Option<u32>,
    ) -> Result<PartitionReport, StorageError> {
        self.maintain_month_partitions(today, keep_months).await
    }

    async fn claim_slot(
        &self,
        task: &str,
        slot: Timestamp,
        node: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO schedule_runs (task, slot, node, started_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(task)
        .bind(odt(slot))
        .bind(node)
        .bind(odt(now))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_slot(&self, task: &str, slot: Timestamp) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM schedule_runs WHERE task = $1 AND slot = $2")
            .bind(task)
            .bind(odt(slot))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn last_runs(&self) -> Result<Vec<ScheduleRun>, StorageError> {
        let rows: Vec<(String, OffsetDateTime, String, OffsetDateTime)> = sqlx::query_as(
            "SELECT DISTINCT ON (task) task, slot, node, started_at FROM schedule_runs ORDER BY task, slot DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(task, slot, node, started_at)| ScheduleRun {
                task,
                slot: from_odt(slot),
                node,
                started_at: from_odt(started_at),
            })
            .collect())
    }

    async fn prune_schedule_runs(&self, before: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM schedule_runs WHERE slot < $1")
            .bind(odt(before))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl QueueAdmin for PgStore {
    async fn queue_stats(&self, now: Timestamp) -> Result<Vec<QueueStats>, StorageError> {
        let mut stats: Vec<QueueStats> = Queue::ALL
            .iter()
            .map(|q| QueueStats {
                queue: *q,
                pending: 0,
                running: 0,
                failed: 0,
                processed_last_minute: 0,
                oldest_pending_at: None,
            })
            .collect();
        let rows = sqlx::query(
            "SELECT queue, count(*) AS pending, count(*) FILTER (WHERE lease_until > $1) AS running,
                    min(created_at) AS oldest, 0::bigint AS failed, 0::bigint AS done
             FROM jobs WHERE status = 'queued' GROUP BY queue
             UNION ALL
             SELECT queue, 0, 0, NULL, count(*), 0 FROM jobs WHERE status = 'failed' GROUP BY queue
             UNION ALL
             SELECT queue, 0, 0, NULL, 0, sum(completed)::bigint FROM job_completions WHERE second > $2 GROUP BY queue",
        )
        .bind(odt(now))
        .bind(now.as_second() - 60)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        for r in rows {
            let q = queue(r.get("queue"))?;
            let Some(s) = stats.iter_mut().find(|s| s.queue == q) else {
                continue;
            };
            s.pending += r.get::<i64, _>("pending") as u64;
            s.running += r.get::<i64, _>("running") as u64;
            s.failed += r.get::<i64, _>("failed") as u64;
            s.processed_last_minute += r.get::<i64, _>("done") as u64;
            if let Some(oldest) = from_opt_odt(r.get("oldest")) {
                s.oldest_pending_at = Some(oldest);
            }
        }
        Ok(stats)
    }

    async fn failed_jobs(&self, page: PageRequest) -> Result<Page<FailedJob>, StorageError> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'failed'")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT id, queue, kind, attempts, last_error, payload, created_at, finished_at FROM jobs
             WHERE status = 'failed' ORDER BY finished_at DESC, id DESC LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(FailedJob {
                    id: JobId(r.get("id")),
                    queue: queue(r.get("queue"))?,
                    kind: r.get("kind"),
                    attempts: r.get::<i32, _>("attempts") as u32,
                    error: r.get("last_error"),
                    payload: lenient_json(r, "payload").unwrap_or(serde_json::Value::Null),
                    created_at: from_odt(r.get("created_at")),
                    failed_at: from_opt_odt(r.get("finished_at")),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page {
            items,
            total: total as u64,
            page,
        })
    }

    async fn retry_failed(&self, id: Option<JobId>, now: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, available_at = $1, lease_owner = NULL, lease_until = NULL,
                             finished_at = NULL, updated_at = $1
             WHERE status = 'failed' AND ($2::uuid IS NULL OR id = $2)",
        )
        .bind(odt(now))
        .bind(id.map(|i| i.0))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn delete_failed(&self, id: JobId) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND status = 'failed'")
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_failed(&self, before: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'failed' AND finished_at < $1")
            .bind(odt(before))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn enqueue_unique(&self, job: &NewJob) -> Result<JobId, StorageError> {
        // The advisory lock (per queue, kind and payload) makes check-then-insert atomic
        // across connections and nodes; it is released at commit.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!(
                "{}|{}|{}",
                job.queue.as_str(),
                job.kind,
                job.payload
            ))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let existing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE queue = $1 AND kind = $2 AND status = 'queued' AND payload = $3 LIMIT 1",
        )
        .bind(job.queue.as_str())
        .bind(&job.kind)
        .bind(&job.payload)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(id) = existing {
            tx.commit().await.map_err(map_err)?;
            return Ok(JobId(id));
        }
        let now = odt(Timestamp::now());
        sqlx::query(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(job.id.0)
        .bind(job.queue.as_str())
        .bind(&job.kind)
        .bind(job.queue.priority())
        .bind(&job.payload)
        .bind(job.max_attempts as i32)
        .bind(odt(job.available_at))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(job.id)
    }
}
