//! The job queue on SQLite.

use async_trait::async_trait;
use cctv_core::jobs::*;
use cctv_core::storage::{Cause, ProcessedDetection, StorageError};
use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;

use crate::intake::Which;
use crate::sql::{Sql, chunks_for};
use crate::{SqliteStore, lenient_json, map_err, parse_date, parse_opt_ts, parse_ts, ts};

fn queue(s: &str) -> Result<Queue, StorageError> {
    Queue::parse(s).ok_or_else(|| StorageError::Corrupt(format!("queue {s:?}").into()))
}

fn job_id(s: &str) -> Result<JobId, StorageError> {
    s.parse()
        .map_err(|e| StorageError::Corrupt(format!("job id {s:?}: {e}").into()))
}

impl SqliteStore {
    /// Moves up to `at_most` intake rows, oldest first, into the main `jobs` table as
    /// queued detection jobs (skipping jobs already done: with a `jobs` row or a detection
    /// row, processed before their intake row was deleted) and deletes them from the
    /// intake. Returns how many rows moved.
    pub(crate) async fn spill(
        &self,
        which: Which<'_>,
        at_most: usize,
    ) -> Result<usize, StorageError> {
        let single = matches!(which, Which::Id(_));
        let mut moved = 0;
        loop {
            let want = SPILL_LIMIT.min(at_most - moved);
            if want == 0 {
                return Ok(moved);
            }
            let rows = self.intake.waiting(which, want).await?;
            if rows.is_empty() {
                return Ok(moved);
            }
            let now = ts(Timestamp::now());
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let n = rows.len();
            let mut sql = Sql::default();
            sql.push("BEGIN IMMEDIATE; ");
            sql.values(
                "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, credential_id, \
                 created_at, updated_at) SELECT * FROM (",
                ") AS v WHERE v.column1 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM re_id_branch_detections d \
                 INDEXED BY re_id_branch_detections_job WHERE d.job_id = v.column1) ON CONFLICT (id) DO NOTHING",
                10,
                rows,
                chunks_for(n),
                |q, w| {
                    q.bind(w.id)
                        .bind(Queue::Detections.as_str())
                        .bind("detection")
                        .bind(Queue::Detections.priority())
                        .bind(w.payload)
                        .bind(i64::from(Queue::Detections.default_retry().max_attempts))
                        .bind(w.created_at.clone())
                        .bind(w.credential_id)
                        .bind(w.created_at)
                        .bind(now.clone());
                },
            );
            sql.push("COMMIT;");
            self.queue_write(async move |conn| {
                let done = sql.run(conn).await;
                if done.is_err() {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                }
                done
            })
            .await?;
            // The queued rows on disk before the intake's go (see `wal_sync.rs`).
            if let Some(wal) = &self.wal_sync {
                wal.sync_through(wal.committed()).await.map_err(|e| {
                    StorageError::Unavailable(Cause::with_source("syncing the main file", e))
                })?;
            }
            self.intake.remove(ids).await?;
            moved += n;
            if single || n < want {
                return Ok(moved);
            }
        }
    }
}

impl SqliteStore {
    /// The end of a claim: a payload that cannot be read will never succeed, so it goes
    /// to failed jobs with its error, and the claim goes on with the others.
    async fn settle_claim(
        &self,
        mut jobs: Vec<ClaimedJob>,
        unreadable: Vec<(JobId, String)>,
        now: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StorageError> {
        for (id, error) in unreadable {
            tracing::warn!(job_id = %id, %error, "job failed: payload cannot be decoded");
            self.fail(id, &error, None, now).await?;
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }
}

/// Most intake rows moved per transaction.
const SPILL_LIMIT: usize = 2_000;

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<(), StorageError> {
        let now = ts(Timestamp::now());
        let mut sql = Sql::default();
        sql.push("BEGIN IMMEDIATE; ");
        sql.values(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at) \
             SELECT * FROM (",
            ") AS v WHERE v.column1 IS NOT NULL",
            9,
            jobs.iter().collect(),
            chunks_for(jobs.len()),
            |q, j| {
                q.bind(j.id.to_string())
                    .bind(j.queue.as_str())
                    .bind(j.kind.clone())
                    .bind(j.queue.priority())
                    .bind(j.payload.to_string())
                    .bind(i64::from(j.max_attempts))
                    .bind(ts(j.available_at))
                    .bind(now.clone())
                    .bind(now.clone());
            },
        );
        sql.push("COMMIT;");
        self.queue_write(async move |conn| {
            let done = sql.run(conn).await;
            if done.is_err() {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
            done.map(|_| ())
        })
        .await
    }

    async fn claim(
        &self,
        q: Queue,
        lease: &Lease,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StorageError> {
        let mut jobs = Vec::new();
        let mut unreadable = Vec::new();
        if q == Queue::Detections {
            // Detections this node could not keep in memory wait in the intake: they come
            // first (the oldest accepted), taken back into memory where they are.
            for w in self.intake.take_waiting(limit).await? {
                let id = job_id(&w.id)?;
                match serde_json::from_str(&w.payload) {
                    Ok(payload) => jobs.push(ClaimedJob {
                        id,
                        queue: Queue::Detections,
                        kind: "detection".into(),
                        payload,
                        attempts: 0,
                        max_attempts: Queue::Detections.default_retry().max_attempts,
                    }),
                    Err(e) => unreadable.push((id, format!("unreadable payload: {e}"))),
                }
            }
        }
        let limit = limit.saturating_sub(jobs.len() + unreadable.len());
        if limit == 0 {
            return self.settle_claim(jobs, unreadable, now).await;
        }
        let now_s = ts(now);
        let claim = sqlx::query(
            "UPDATE jobs SET lease_owner = ?, lease_until = ?, updated_at = ?
             WHERE id IN (SELECT id FROM jobs
                          WHERE queue = ? AND status = 'queued' AND available_at <= ? AND (lease_until IS NULL OR lease_until < ?)
                          ORDER BY priority, available_at LIMIT ?)
             RETURNING id, queue, kind, payload, attempts, max_attempts",
        )
        .bind(&lease.owner)
        .bind(ts(lease.until))
        .bind(&now_s)
        .bind(q.as_str())
        .bind(&now_s)
        .bind(&now_s)
        .bind(limit as i64);
        let rows = self
            .queue_write(async move |conn| claim.fetch_all(&mut *conn).await)
            .await?;
        for row in &rows {
            let id = job_id(row.get("id"))?;
            let payload: String = row.get("payload");
            match serde_json::from_str(&payload) {
                Ok(payload) => jobs.push(ClaimedJob {
                    id,
                    queue: queue(row.get("queue"))?,
                    kind: row.get("kind"),
                    payload,
                    attempts: row.get::<i64, _>("attempts") as u32,
                    max_attempts: row.get::<i64, _>("max_attempts") as u32,
                }),
                Err(e) => unreadable.push((id, format!("unreadable payload: {e}"))),
            }
        }
        self.settle_claim(jobs, unreadable, now).await
    }

    async fn complete(
        &self,
        id: JobId,
        result: Value,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let now_s = ts(now);
        self.queue_write(async |conn| {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let queue: Option<String> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'completed', result = ?, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL,
                             finished_at = ?, updated_at = ?
             WHERE id = ? AND status = 'queued' RETURNING queue",
        )
        .bind(result.to_string())
        .bind(&now_s)
        .bind(&now_s)
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(queue) = &queue {
            sqlx::query(
                "INSERT INTO job_completions (queue, second, completed) VALUES (?, ?, 1)
                 ON CONFLICT (queue, second) DO UPDATE SET completed = completed + 1",
            )
            .bind(queue)
            .bind(now.as_second())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(queue.is_some())
        })
        .await
    }

    async fn fail(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        // A detection that failed straight from memory has no `jobs` row yet.
        self.spill(Which::Id(&id.to_string()), 1).await?;
        let now_s = ts(now);
        let error: String = error.chars().take(2000).collect();
        let sql = match retry_at {
            Some(_) => {
                "UPDATE jobs SET attempts = attempts + 1, last_error = ?, available_at = ?, lease_owner = NULL, lease_until = NULL,
                                 updated_at = ?
                 WHERE id = ? AND status = 'queued'"
            }
            None => {
                "UPDATE jobs SET attempts = attempts + 1, last_error = ?, status = 'failed', lease_owner = NULL, lease_until = NULL,
                                 finished_at = ?, updated_at = ?
                 WHERE id = ? AND status = 'queued'"
            }
        };
        let update = sqlx::query(sql)
            .bind(error)
            .bind(retry_at.map(ts).unwrap_or_else(|| now_s.clone()))
            .bind(&now_s)
            .bind(id.to_string());
        self.queue_write(async move |conn| update.execute(&mut *conn).await)
            .await?;
        Ok(())
    }

    async fn extend_lease(
        &self,
        id: JobId,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = ?, updated_at = ?
             WHERE id = ? AND status = 'queued' AND lease_owner = ? AND lease_until IS NOT NULL",
        )
        .bind(ts(lease.until))
        .bind(ts(now))
        .bind(id.to_string())
        .bind(&lease.owner);
        let done = self
            .queue_write(async move |conn| done.execute(&mut *conn).await)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_leases(&self, owner: Option<&str>) -> Result<u64, StorageError> {
        // Intake rows are held in the memory of this process (one node per SQLite file):
        // giving up leases hands them to the main queue as well.
        let spilled = self.spill(Which::All, usize::MAX).await? as u64;
        let done = match owner {
            None => sqlx::query("UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE status = 'queued' AND lease_owner IS NOT NULL")
                .execute(&self.writer)
                .await,
            Some(o) => sqlx::query("UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE status = 'queued' AND lease_owner = ?")
                .bind(o)
                .execute(&self.writer)
                .await,
        }
        .map_err(map_err)?;
        Ok(done.rows_affected() + spilled)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StorageError> {
        // A counted detection's job has no `jobs` row: its detection row answers (see
        // `processing::apply`), unless a `jobs` row exists (a retried job's). Rows written
        // before detection rows kept `received_at` have their `jobs` rows.
        let main_row = || async {
            sqlx::query(
                "SELECT * FROM (
                   SELECT 0 AS source, id, queue, kind, status, attempts, max_attempts, last_error, result,
                          credential_id, created_at, available_at, finished_at, lease_until,
                          NULL AS detection_id, NULL AS event_log_id, NULL AS detection_date
                   FROM jobs WHERE id = ?1
                   UNION ALL
                   SELECT 1, job_id, ?2, 'detection', 'completed', 1, ?3, NULL, NULL,
                          coalesce(credential_id, 0), received_at, received_at, created_at, NULL,
                          id, event_log_id, detection_date
                   FROM re_id_branch_detections INDEXED BY re_id_branch_detections_job
                   WHERE job_id = ?1 AND received_at IS NOT NULL
                     AND job_id >= (SELECT coalesce(max(before_id), '') FROM detection_job_horizon)
                 ) ORDER BY source LIMIT 1",
            )
            .bind(id.to_string())
            .bind(Queue::Detections.as_str())
            .bind(i64::from(Queue::Detections.default_retry().max_attempts))
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)
        };
        let row = match main_row().await? {
            Some(row) => row,
            None => match self.intake.job(id).await? {
                Some(job) => return Ok(Some(job)),
                // `spill` commits a job to the main table before it leaves the intake:
                // missed in both, it moved between the two reads and is here now.
                None => match main_row().await? {
                    Some(row) => row,
                    None => return Ok(None),
                },
            },
        };
        let status: &str = row.get("status");
        let lease_until = parse_opt_ts(row.get("lease_until"))?;
        let state = match status {
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            _ if lease_until.is_some_and(|l| l > Timestamp::now()) => JobState::Processing,
            _ => JobState::Queued,
        };
        let credential_id: i64 = row.get("credential_id");
        Ok(Some(JobRecord {
            id: job_id(row.get("id"))?,
            queue: queue(row.get("queue"))?,
            kind: row.get("kind"),
            state,
            attempts: row.get::<i64, _>("attempts") as u32,
            max_attempts: row.get::<i64, _>("max_attempts") as u32,
            last_error: row.get("last_error"),
            result: match row.get::<Option<i64>, _>("detection_id") {
                Some(detection_id) => Some(ProcessedDetection::counted_answer(
                    id,
                    parse_date(row.get("detection_date"))?,
                    detection_id,
                    row.get("event_log_id"),
                )?),
                None => lenient_json(row.get("result"), "result"),
            },
            credential_id: (credential_id != 0).then_some(credential_id),
            created_at: parse_ts(row.get("created_at"))?,
            available_at: parse_ts(row.get("available_at"))?,
            finished_at: parse_opt_ts(row.get("finished_at"))?,
        }))
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, StorageError> {
        let rows = sqlx::query(
            "SELECT queue, 'queued', count(*) FROM jobs WHERE status = 'queued' GROUP BY queue
             UNION ALL SELECT queue, 'failed', count(*) FROM jobs WHERE status = 'failed' GROUP BY queue",
        )
        .fetch_all(&self.reader)
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
                    d.queued += n
                } else {
                    d.failed = n
                }
            }
        }
        let intake = self.intake.stats().await?;
        if let Some(d) = depths.iter_mut().find(|d| d.queue == Queue::Detections) {
            d.queued += intake.pending;
        }
        Ok(depths)
    }

    async fn prune_completed(&self, before: Timestamp, limit: usize) -> Result<u64, StorageError> {
        // Before the rows go: the count leaves out answers that are `jobs` rows. The rows
        // go only below the horizon: above it, a retried or tracking-disabled job whose
        // row was deleted would be answered from its detection row, wrongly.
        let (forgotten, horizon) = self.forget_detection_jobs(before, limit).await?;
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE id < ? AND status = 'completed' LIMIT ?)",
        )
        .bind(horizon)
        .bind(limit as i64)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        // Keys of pruned jobs go too: a retry of such an old event counts again, as before.
        self.intake.prune_keys(before, limit).await?;
        sqlx::query("DELETE FROM job_completions WHERE second < ?")
            .bind(Timestamp::now().as_second() - 3600)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() + forgotten)
    }
}

impl SqliteStore {
    /// Moves the horizon of counted detections' job answers (they have no `jobs` rows to
    /// delete) towards `before`, past at most `limit` of them; returns how many it passed
    /// and the id below which every answer is forgotten (at most `before`'s first id).
    async fn forget_detection_jobs(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<(u64, String), StorageError> {
        let until = JobId::first_at(before).to_string();
        let from: String =
            sqlx::query_scalar("SELECT coalesce(max(before_id), '') FROM detection_job_horizon")
                .fetch_one(&self.reader)
                .await
                .map_err(map_err)?;
        if from >= until {
            return Ok((0, until));
        }
        // The answers in [from, until), in id order; rows from before the answers were
        // kept have no `received_at` and are stepped over (once: the horizon passes them).
        // A retried job's answer is its `jobs` row, which pruning deletes and counts.
        let answers = "FROM re_id_branch_detections d INDEXED BY re_id_branch_detections_job \
             WHERE job_id >= ?1 AND job_id < ?2 AND received_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = d.job_id)";
        // How many of them there are, up to `limit`; past `limit`, the horizon stops at
        // the first one it keeps.
        let (count, next): (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM (SELECT 1 {answers} LIMIT ?3)), \
                    (SELECT job_id {answers} ORDER BY job_id LIMIT 1 OFFSET ?3)"
        ))
        .bind(&from)
        .bind(&until)
        .bind(limit as i64)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        let horizon = next.unwrap_or(until);
        let stored = horizon.clone();
        self.queue_write(async move |conn| {
            sqlx::query(
                "INSERT INTO detection_job_horizon (id, before_id) VALUES (1, ?) \
                 ON CONFLICT (id) DO UPDATE SET before_id = max(before_id, excluded.before_id)",
            )
            .bind(stored)
            .execute(&mut *conn)
            .await
        })
        .await?;
        Ok((count as u64, horizon))
    }
}
