//! Scheduler slots and queue operations on SQLite.

use async_trait::async_trait;
use cctv_admin::queue_ops::{FailedJob, QueueAdmin, QueueStats};
use cctv_admin::schedule::{ScheduleRun, ScheduleStore};
use cctv_core::jobs::{JobId, NewJob, Queue};
use cctv_core::query::{Page, PageRequest};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use sqlx::Row;

use crate::{SqliteStore, lenient_json, map_err, parse_opt_ts, parse_ts, ts};

fn queue(s: &str) -> Result<Queue, StorageError> {
    Queue::parse(s).ok_or_else(|| StorageError::Corrupt(format!("queue {s:?}").into()))
}

fn stats_entry(stats: &mut [QueueStats], q: &str) -> Result<Option<usize>, StorageError> {
    let q = queue(q)?;
    Ok(stats.iter().position(|s| s.queue == q))
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn claim_slot(
        &self,
        task: &str,
        slot: Timestamp,
        node: &str,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO schedule_runs (task, slot, node, started_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(task)
        .bind(ts(slot))
        .bind(node)
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_slot(&self, task: &str, slot: Timestamp) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM schedule_runs WHERE task = ? AND slot = ?")
            .bind(task)
            .bind(ts(slot))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn last_runs(&self) -> Result<Vec<ScheduleRun>, StorageError> {
        let rows = sqlx::query(
            "SELECT task, slot, node, started_at FROM schedule_runs s
             WHERE slot = (SELECT max(slot) FROM schedule_runs WHERE task = s.task) ORDER BY task",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleRun {
                    task: r.get("task"),
                    slot: parse_ts(r.get("slot"))?,
                    node: r.get("node"),
                    started_at: parse_ts(r.get("started_at"))?,
                })
            })
            .collect()
    }

    async fn prune_schedule_runs(&self, before: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM schedule_runs WHERE slot < ?")
            .bind(ts(before))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl QueueAdmin for SqliteStore {
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
        let now_s = ts(now);
        let pending = sqlx::query(
            "SELECT queue, count(*) AS n, coalesce(sum(lease_until > ?), 0) AS running, min(created_at) AS oldest
             FROM jobs WHERE status = 'queued' GROUP BY queue",
        )
        .bind(&now_s)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        for r in pending {
            if let Some(i) = stats_entry(&mut stats, r.get("queue"))? {
                stats[i].pending = r.get::<i64, _>("n") as u64;
                stats[i].running = r.get::<i64, _>("running") as u64;
                stats[i].oldest_pending_at = parse_opt_ts(r.get("oldest"))?;
            }
        }
        // Accepted detections not yet processed wait in the intake (in memory: running).
        let intake = self.intake.stats().await?;
        if let Some(i) = stats_entry(&mut stats, Queue::Detections.as_str())? {
            let s = &mut stats[i];
            s.pending += intake.pending;
            s.running += intake.in_memory;
            s.oldest_pending_at = match (s.oldest_pending_at, intake.oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let counts = sqlx::query(
            "SELECT queue, 'failed' AS what, count(*) AS n FROM jobs WHERE status = 'failed' GROUP BY queue
             UNION ALL
             SELECT queue, 'done', sum(completed) FROM job_completions WHERE second > ? GROUP BY queue",
        )
        .bind(now.as_second() - 60)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        for r in counts {
            if let Some(i) = stats_entry(&mut stats, r.get("queue"))? {
                let n = r.get::<i64, _>("n") as u64;
                if r.get::<&str, _>("what") == "failed" {
                    stats[i].failed = n;
                } else {
                    stats[i].processed_last_minute = n;
                }
            }
        }
        Ok(stats)
    }

    async fn failed_jobs(&self, page: PageRequest) -> Result<Page<FailedJob>, StorageError> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'failed'")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT id, queue, kind, attempts, last_error, payload, created_at, finished_at FROM jobs
             WHERE status = 'failed' ORDER BY finished_at DESC, id DESC LIMIT ? OFFSET ?",
        )
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| {
                let id: &str = r.get("id");
                let payload: &str = r.get("payload");
                Ok(FailedJob {
                    id: id
                        .parse()
                        .map_err(|e| StorageError::Corrupt(format!("job id: {e}").into()))?,
                    queue: queue(r.get("queue"))?,
                    kind: r.get("kind"),
                    attempts: r.get::<i64, _>("attempts") as u32,
                    error: r.get("last_error"),
                    payload: lenient_json(Some(payload.to_owned()), "payload")
                        .unwrap_or(serde_json::Value::Null),
                    created_at: parse_ts(r.get("created_at"))?,
                    failed_at: parse_opt_ts(r.get("finished_at"))?,
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
        let now = ts(now);
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, available_at = ?, lease_owner = NULL, lease_until = NULL,
                             finished_at = NULL, updated_at = ?
             WHERE status = 'failed' AND (? IS NULL OR id = ?)",
        )
        .bind(&now)
        .bind(&now)
        .bind(id.map(|i| i.to_string()))
        .bind(id.map(|i| i.to_string()))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn delete_failed(&self, id: JobId) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = ? AND status = 'failed'")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_failed(&self, before: Timestamp) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'failed' AND finished_at < ?")
            .bind(ts(before))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn enqueue_unique(&self, job: &NewJob) -> Result<JobId, StorageError> {
        let now = ts(Timestamp::now());
        let payload = job.payload.to_string();
        // One statement: SQLite has one writer, so the check and the insert cannot interleave.
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
             WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE queue = ? AND kind = ? AND status = 'queued' AND payload = ?)",
        )
        .bind(job.id.to_string())
        .bind(job.queue.as_str())
        .bind(&job.kind)
        .bind(job.queue.priority())
        .bind(&payload)
        .bind(i64::from(job.max_attempts))
        .bind(ts(job.available_at))
        .bind(&now)
        .bind(&now)
        .bind(job.queue.as_str())
        .bind(&job.kind)
        .bind(&payload)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        if inserted.rows_affected() == 1 {
            return Ok(job.id);
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE queue = ? AND kind = ? AND status = 'queued' AND payload = ? LIMIT 1",
        )
        .bind(job.queue.as_str())
        .bind(&job.kind)
        .bind(&payload)
        .fetch_optional(&self.writer)
        .await
        .map_err(map_err)?;
        match existing {
            Some(id) => id
                .parse()
                .map_err(|e| StorageError::Corrupt(format!("job id: {e}").into())),
            // It was claimed and finished between the two statements: queue this one.
            None => {
                cctv_core::jobs::JobQueue::enqueue(self, std::slice::from_ref(job)).await?;
                Ok(job.id)
            }
        }
    }
}
