//! The job queue on PostgreSQL (`FOR UPDATE SKIP LOCKED` claims).

use async_trait::async_trait;
use cctv_core::jobs::*;
use cctv_core::storage::{ProcessedDetection, StorageError};
use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PgStore, from_odt, from_opt_odt, from_pg_date, map_err, odt};

fn queue(s: &str) -> Result<Queue, StorageError> {
    Queue::parse(s).ok_or_else(|| StorageError::Corrupt(format!("queue {s:?}").into()))
}

#[async_trait]
impl JobQueue for PgStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<(), StorageError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.id.0).collect();
        let queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
        let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
        let priorities: Vec<i16> = jobs.iter().map(|j| j.queue.priority()).collect();
        let payloads: Vec<Value> = jobs.iter().map(|j| j.payload.clone()).collect();
        let max: Vec<i32> = jobs.iter().map(|j| j.max_attempts as i32).collect();
        let available: Vec<OffsetDateTime> = jobs.iter().map(|j| odt(j.available_at)).collect();
        sqlx::query(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at)
             SELECT u.*, $8, $8 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::jsonb[], $6::int[], $7::timestamptz[]) AS u",
        )
        .bind(ids)
        .bind(queues)
        .bind(kinds)
        .bind(priorities)
        .bind(payloads)
        .bind(max)
        .bind(available)
        .bind(odt(Timestamp::now()))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn claim(
        &self,
        q: Queue,
        lease: &Lease,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StorageError> {
        let now = odt(now);
        let rows = sqlx::query(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, updated_at = $3
             WHERE id IN (SELECT id FROM jobs
                          WHERE queue = $4 AND status = 'queued' AND available_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY priority, available_at LIMIT $5 FOR UPDATE SKIP LOCKED)
             RETURNING id, queue, kind, payload, attempts, max_attempts",
        )
        .bind(&lease.owner)
        .bind(odt(lease.until))
        .bind(now)
        .bind(q.as_str())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut jobs = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in &rows {
            let id = JobId(row.get("id"));
            match row.try_get::<Value, _>("payload") {
                Ok(payload) => jobs.push(ClaimedJob {
                    id,
                    queue: queue(row.get("queue"))?,
                    kind: row.get("kind"),
                    payload,
                    attempts: row.get::<i32, _>("attempts") as u32,
                    max_attempts: row.get::<i32, _>("max_attempts") as u32,
                }),
                Err(e) => unreadable.push((id, format!("unreadable payload: {e}"))),
            }
        }
        // A payload that cannot be read will never succeed: it goes to failed jobs with
        // its error, and the claim goes on with the others.
        for (id, error) in unreadable {
            tracing::warn!(job_id = %id, %error, "job failed: payload cannot be decoded");
            self.fail(id, &error, None, from_odt(now)).await?;
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    async fn complete(
        &self,
        id: JobId,
        result: Value,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "WITH done AS (
               UPDATE jobs SET status = 'completed', result = $1, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL,
                               finished_at = $2, updated_at = $2
               WHERE id = $3 AND status = 'queued' RETURNING queue)
             INSERT INTO job_completions (queue, second, completed) SELECT queue, $4, 1 FROM done
             ON CONFLICT (queue, second) DO UPDATE SET completed = job_completions.completed + 1",
        )
        .bind(result)
        .bind(odt(now))
        .bind(id.0)
        .bind(now.as_second())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let error: String = error.chars().take(2000).collect();
        let sql = match retry_at {
            Some(_) => {
                "UPDATE jobs SET attempts = attempts + 1, last_error = $1, available_at = $2, lease_owner = NULL, lease_until = NULL,
                                 updated_at = $3
                 WHERE id = $4 AND status = 'queued'"
            }
            None => {
                "UPDATE jobs SET attempts = attempts + 1, last_error = $1, status = 'failed', lease_owner = NULL, lease_until = NULL,
                                 finished_at = $2, updated_at = $3
                 WHERE id = $4 AND status = 'queued'"
            }
        };
        sqlx::query(sql)
            .bind(error)
            .bind(odt(retry_at.unwrap_or(now)))
            .bind(odt(now))
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn extend_lease(
        &self,
        id: JobId,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1, updated_at = $2
             WHERE id = $3 AND status = 'queued' AND lease_owner = $4 AND lease_until IS NOT NULL",
        )
        .bind(odt(lease.until))
        .bind(odt(now))
        .bind(id.0)
        .bind(&lease.owner)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_leases(&self, owner: Option<&str>) -> Result<u64, StorageError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL
             WHERE status = 'queued' AND lease_owner IS NOT NULL AND ($1::text IS NULL OR lease_owner = $1)",
        )
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StorageError> {
        // A counted detection's job on its first attempt has no `jobs` row once processed:
        // its detection row answers (see `processing::complete`), unless the horizon of
        // pruned answers has passed it. A `jobs` row, where there is one, comes first.
        // Rows written before detection rows kept `received_at` have their `jobs` rows.
        let row = sqlx::query(
            "SELECT * FROM (
               SELECT 0 AS source, id, queue, kind, status, attempts, max_attempts, last_error, result,
                      credential_id, created_at, available_at, finished_at, lease_until,
                      NULL::bigint AS detection_id, NULL::bigint AS event_log_id, NULL::date AS detection_date
               FROM jobs WHERE id = $1
               UNION ALL
               SELECT 1, job_id, $2, 'detection', 'completed', 1, $3, NULL, NULL,
                      coalesce(credential_id, 0), received_at, received_at, created_at, NULL,
                      id, event_log_id, detection_date
               FROM re_id_branch_detections
               WHERE job_id = $1 AND received_at IS NOT NULL
                 AND job_id >= coalesce((SELECT before_id FROM detection_job_horizon), '00000000-0000-0000-0000-000000000000')
             ) answers ORDER BY source LIMIT 1",
        )
        .bind(id.0)
        .bind(Queue::Detections.as_str())
        .bind(Queue::Detections.default_retry().max_attempts as i32)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let status: &str = row.get("status");
        let lease_until = from_opt_odt(row.get("lease_until"));
        let state = match status {
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            _ if lease_until.is_some_and(|l| l > Timestamp::now()) => JobState::Processing,
            _ => JobState::Queued,
        };
        let result = match row.get::<Option<i64>, _>("detection_id") {
            Some(detection_id) => Some(ProcessedDetection::counted_answer(
                id,
                from_pg_date(row.get("detection_date"))?,
                detection_id,
                row.get("event_log_id"),
            )?),
            None => crate::lenient_json(&row, "result"),
        };
        let credential_id: i64 = row.get("credential_id");
        Ok(Some(JobRecord {
            id: JobId(row.get("id")),
            queue: queue(row.get("queue"))?,
            kind: row.get("kind"),
            state,
            attempts: row.get::<i32, _>("attempts") as u32,
            max_attempts: row.get::<i32, _>("max_attempts") as u32,
            last_error: row.get("last_error"),
            result,
            credential_id: (credential_id != 0).then_some(credential_id),
            created_at: from_odt(row.get("created_at")),
            available_at: from_odt(row.get("available_at")),
            finished_at: from_opt_odt(row.get("finished_at")),
        }))
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, StorageError> {
        let rows = sqlx::query(
            "SELECT queue, 'queued', count(*) FROM jobs WHERE status = 'queued' GROUP BY queue
             UNION ALL SELECT queue, 'failed', count(*) FROM jobs WHERE status = 'failed' GROUP BY queue",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut depths: Vec<QueueDepth> = Queue::ALL
            .iter()
            .map(|q| QueueDepth {
                queue: *q,
                queued: 0,
                failed: 0,
            })
            .collect();
        for row in rows {
            let q = queue(row.get(0))?;
            let state: &str = row.get(1);
            let n = row.get::<i64, _>(2) as u64;
            if let Some(d) = depths.iter_mut().find(|d| d.queue == q) {
                if state == "queued" {
                    d.queued = n
                } else {
                    d.failed = n
                }
            }
        }
        Ok(depths)
    }

    async fn prune_completed(&self, before: Timestamp, limit: usize) -> Result<u64, StorageError> {
        // Before the rows go: the count leaves out answers that are `jobs` rows. The rows
        // go only below the horizon: above it, a retried or keyed job whose row was
        // deleted would be answered from its detection row, wrongly.
        let (forgotten, horizon) = self.forget_detection_jobs(before, limit).await?;
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE id < $1 AND status = 'completed' LIMIT $2)",
        )
        .bind(horizon)
        .bind(limit as i64)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        sqlx::query("DELETE FROM job_completions WHERE second < $1")
            .bind(Timestamp::now().as_second() - 3600)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() + forgotten)
    }
}

impl PgStore {
    /// Moves the horizon of counted detections' job answers (they have no `jobs` rows to
    /// delete) towards `before`, past at most `limit` of them; returns how many it passed
    /// and the id below which every answer is forgotten (at most `before`'s first id).
    async fn forget_detection_jobs(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<(u64, Uuid), StorageError> {
        let until = JobId::first_at(before).0;
        let from: Uuid = sqlx::query_scalar(
            "SELECT coalesce((SELECT before_id FROM detection_job_horizon), '00000000-0000-0000-0000-000000000000')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        if from >= until {
            return Ok((0, until));
        }
        // The answers in [from, until) in id order, one past `limit`: the horizon stops at
        // that one. Rows from before the answers were kept have no `received_at` and are
        // stepped over (once: the horizon passes them). A retried or keyed job's answer is
        // its `jobs` row, which the delete after this counts.
        let answers: Vec<Uuid> = sqlx::query_scalar(
            "SELECT job_id FROM re_id_branch_detections d
             WHERE job_id >= $1 AND job_id < $2 AND received_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = d.job_id)
             ORDER BY job_id LIMIT $3",
        )
        .bind(from)
        .bind(until)
        .bind(limit as i64 + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let horizon = answers.get(limit).copied().unwrap_or(until);
        sqlx::query(
            "INSERT INTO detection_job_horizon (id, before_id) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET before_id = GREATEST(detection_job_horizon.before_id, EXCLUDED.before_id)",
        )
        .bind(horizon)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok((answers.len().min(limit) as u64, horizon))
    }
}
