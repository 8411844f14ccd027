//! The intake: accepted detections not yet processed, in a second SQLite file.
//!
//! SQLite has one writer per file. With accepted jobs in the main file, every accept
//! commit (the one that backs a 202, fsynced) waited behind the processing transaction in
//! progress and vice versa, and the writer's thread idled through every hand-off between
//! them. The intake file has its own writer, so accepting and processing run side by side.
//!
//! Exactly once across two files, without a distributed commit:
//! - a detection is durable once its intake row is committed (before the 202);
//! - processing decides "not done yet" from the **main** file (no detection row with the
//!   job's id, and no `jobs` row or a queued one) and writes the effects, which complete
//!   the job (a counted detection's row is its completion), in one main transaction;
//! - only then is the intake row deleted, and, when commits that back a 202 are synced,
//!   only once the main file's WAL is synced too (`wal_sync.rs`): the processing commit
//!   itself is not. A crash of the process in between leaves a row whose job is already
//!   completed: moving it to the main queue (`spill`) skips it. After a power cut before
//!   that sync the job is not completed, and `spill` queues it again.
//!
//! Rows handed to this node's in-memory queue are `in_memory`. The others (memory was
//! full) wait here until a worker of this node has room: its claim takes them back
//! (marking them `in_memory`), as if they had fitted at first, instead of moving them to
//! the main queue and claiming them from there (three more writes per detection, which
//! made draining a backlog slower than processing). After a restart, all of them are moved
//! into the main `jobs` table as queued jobs, where the workers claim them like any retry;
//! so is a job that fails. Idempotency keys live here too
//! (`intake_keys`), so "seen before?" and "store it" are one transaction.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use cctv_core::jobs::{JobId, JobRecord, JobState, Queue};
use cctv_core::storage::{AcceptItem, AcceptOutcome, StorageError};
use jiff::Timestamp;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::{CHUNK, Sql, chunks_for};
use crate::{map_err, parse_ts, ts};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS intake (
    id            TEXT PRIMARY KEY,
    payload       TEXT NOT NULL,
    credential_id INTEGER NOT NULL,
    in_memory     INTEGER NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intake_waiting ON intake (id) WHERE in_memory = 0;
CREATE TABLE IF NOT EXISTS intake_keys (
    credential_id   INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (credential_id, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS intake_keys_created ON intake_keys (created_at);
";

/// The intake file's schema version (`PRAGMA user_version`). 1: keys are scoped
/// (`e/…` per device, `k/…` per credential, see `DetectionJob::dedup_key`) and carry the
/// request fingerprint.
const VERSION: i64 = 1;

/// Version 0 → 1: the fingerprint column, and the old unscoped keys rewritten as event ids
/// of their job's device: found in the intake row, in the main queue's payload, or — for a
/// processed job, whose `jobs` row keeps no payload — in its detection row (one pass over
/// the detections, probing the keys' job ids).
const UPGRADE_TO_1: &str = "
CREATE TEMP TABLE key_jobs (job TEXT PRIMARY KEY, dev TEXT);
INSERT OR IGNORE INTO key_jobs (job) SELECT job_id FROM intake_keys;
UPDATE key_jobs SET dev = (SELECT json_extract(i.payload, '$.device_id') FROM intake i WHERE i.id = key_jobs.job);
UPDATE key_jobs SET dev = (SELECT json_extract(j.payload, '$.device_id') FROM main_file.jobs j WHERE j.id = key_jobs.job)
  WHERE dev IS NULL;
UPDATE key_jobs SET dev = d.device_id
  FROM (SELECT job_id, device_id FROM main_file.re_id_branch_detections
        WHERE job_id IN (SELECT job FROM key_jobs WHERE dev IS NULL)) AS d
  WHERE d.job_id = key_jobs.job AND key_jobs.dev IS NULL;
CREATE TEMP TABLE old_keys AS SELECT * FROM intake_keys;
DROP TABLE intake_keys;
CREATE TABLE intake_keys (
    credential_id   INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    request_hash    TEXT,
    PRIMARY KEY (credential_id, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX intake_keys_created ON intake_keys (created_at);
INSERT OR IGNORE INTO intake_keys (credential_id, idempotency_key, job_id, created_at)
  SELECT o.credential_id, 'e/' || length(k.dev) || '/' || k.dev || '/' || o.idempotency_key, o.job_id, o.created_at
  FROM old_keys o JOIN key_jobs k ON k.job = o.job_id WHERE k.dev IS NOT NULL;
DROP TABLE old_keys;
DROP TABLE key_jobs;
PRAGMA user_version = 1;
";

/// Most rows deleted per statement.
const SPILL_CHUNK: usize = 2_000;

/// The intake file: one writer connection (accept commits and deletes), and read-only
/// connections so that status polls and queue monitoring never wait behind a commit.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    pub(crate) writer: SqlitePool,
    reader: SqlitePool,
    checkpointer: SqlitePool,
}

/// An intake row on its way to the main `jobs` table.
pub(crate) struct Waiting {
    pub id: String,
    pub payload: String,
    pub credential_id: i64,
    pub created_at: String,
}

impl Waiting {
    /// A row of `SELECT id, payload, credential_id, created_at …`.
    fn from_row(r: &sqlx::sqlite::SqliteRow) -> Self {
        Self {
            id: r.get(0),
            payload: r.get(1),
            credential_id: r.get(2),
            created_at: r.get(3),
        }
    }
}

/// Intake counts for queue monitoring.
pub(crate) struct IntakeStats {
    pub pending: u64,
    // Read by the queue administration only (the `admin` feature).
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub in_memory: u64,
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub oldest: Option<Timestamp>,
}

/// `data/cctv.db` → `data/cctv-intake.db`.
pub(crate) fn intake_path(main: &Path) -> std::path::PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cctv".into());
    main.with_file_name(format!("{stem}-intake.db"))
}

impl Intake {
    /// Opens (creating) the intake file next to `main`; `fresh` says it was just created.
    pub(crate) async fn open(main: &Path, fsync: bool) -> Result<(Self, bool), StorageError> {
        let path = intake_path(main);
        let fresh = !path.exists();
        crate::create_private_file(&path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(map_err)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if fsync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            // Page cache per connection, in KiB. The intake is a queue: rows are appended
            // at one end and deleted from the other within seconds, so its hot pages are
            // few; larger caches only filled with pages of a backlog (measured: ~40 MB of
            // the server's peak RSS with four 16 MiB caches). The writer's is set below.
            .pragma("cache_size", "-2048")
            .pragma("wal_autocheckpoint", "0")
            .statement_cache_capacity(64);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .idle_timeout(None)
            .max_lifetime(None)
            // The writer cuts a reset WAL back to its limit (see `checkpoint_loop`).
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-8192")
                    .pragma("journal_size_limit", crate::WAL_SIZE_LIMIT.to_string()),
            )
            .await
            .map_err(map_err)?;
        sqlx::raw_sql(SCHEMA)
            .execute(&writer)
            .await
            .map_err(map_err)?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        tokio::spawn(crate::checkpoint_loop(checkpointer.clone()));
        let reader = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.read_only(true))
            .await
            .map_err(map_err)?;
        Ok((
            Self {
                writer,
                reader,
                checkpointer,
            },
            fresh,
        ))
    }

    /// Brings an intake file made by an older version up to [`VERSION`]. A fresh file is
    /// made at the current version (after [`Self::import_keys`]).
    pub(crate) async fn upgrade(&self, main: &Path, fresh: bool) -> Result<(), StorageError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        if version >= VERSION {
            return Ok(());
        }
        if fresh {
            sqlx::raw_sql(
                "ALTER TABLE intake_keys ADD COLUMN request_hash TEXT; PRAGMA user_version = 1;",
            )
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            return Ok(());
        }
        sqlx::query("ATTACH DATABASE ? AS main_file")
            .bind(main.to_string_lossy().into_owned())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let upgraded = sqlx::raw_sql(&format!("BEGIN IMMEDIATE; {UPGRADE_TO_1} COMMIT;"))
            .execute(&mut *conn)
            .await;
        if upgraded.is_err() {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        let detached = sqlx::query("DETACH DATABASE main_file")
            .execute(&mut *conn)
            .await;
        upgraded.map_err(map_err)?;
        detached.map_err(map_err)?;
        tracing::info!("intake file upgraded: idempotency keys scoped per device");
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
        self.checkpointer.close().await;
    }

    /// Copies the idempotency keys of detection jobs from the main file (a database made
    /// before the intake existed), so a retried event is still recognised.
    pub(crate) async fn import_keys(&self, main: &Path) -> Result<(), StorageError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        sqlx::query("ATTACH DATABASE ? AS main_file")
            .bind(main.to_string_lossy().into_owned())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let copied = sqlx::query(
            "INSERT OR IGNORE INTO intake_keys (credential_id, idempotency_key, job_id, created_at)
             SELECT credential_id, idempotency_key, id, created_at FROM main_file.jobs
             WHERE queue = 'detections' AND idempotency_key IS NOT NULL",
        )
        .execute(&mut *conn)
        .await;
        let detached = sqlx::query("DETACH DATABASE main_file")
            .execute(&mut *conn)
            .await;
        copied.map_err(map_err)?;
        detached.map_err(map_err)?;
        Ok(())
    }

    /// Stores a group of detections in one transaction (group commit, fsynced when the
    /// store is durable); items whose `(credential, event_id)` was seen are duplicates.
    pub(crate) async fn accept(
        &self,
        batch: &[AcceptItem],
        durable_sync: &str,
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        let now = ts(now);
        // A group commit of up to a chunk (every group commit of single detections under
        // load) is one round trip to SQLite's thread; a larger one, one per statement.
        let mut sql = if batch.len() <= CHUNK {
            Sql::one_text()
        } else {
            Sql::default()
        };
        sql.push(durable_sync).push("BEGIN IMMEDIATE; ");
        // The lookup runs before the inserts, so it finds exactly the keys stored earlier.
        let keys: Vec<Option<String>> = batch.iter().map(|i| i.job.dedup_key()).collect();
        let keyed: Vec<(i64, String, String, Option<String>)> = batch
            .iter()
            .zip(&keys)
            .filter_map(|(i, key)| {
                key.clone().map(|k| {
                    (
                        i.job.credential_id.unwrap_or(0),
                        k,
                        i.job.job_id.to_string(),
                        i.job.request_hash.clone(),
                    )
                })
            })
            .collect();
        let key_chunks = chunks_for(keyed.len());
        sql.values(
            "SELECT k.credential_id, k.idempotency_key, k.job_id, k.request_hash FROM (",
            ") AS v JOIN intake_keys k ON k.credential_id = v.column1 AND k.idempotency_key = v.column2",
            2,
            keyed.iter().map(|(c, k, _, _)| (*c, k.clone())).collect(),
            key_chunks,
            |q, (c, k)| {
                q.bind(c).bind(k);
            },
        );
        sql.values(
            "INSERT INTO intake_keys (credential_id, idempotency_key, job_id, created_at, request_hash) SELECT * FROM (",
            ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT DO NOTHING",
            5,
            keyed,
            key_chunks,
            |q, (c, k, id, hash)| {
                q.bind(c).bind(k).bind(id).bind(now.clone()).bind(hash);
            },
        );
        let mut payloads = Vec::with_capacity(batch.len());
        for item in batch {
            payloads.push(
                serde_json::to_string(&item.job)
                    .map_err(|e| StorageError::Rejected(e.to_string()))?,
            );
        }
        let rows: Vec<(&AcceptItem, String, Option<String>)> = batch
            .iter()
            .zip(payloads)
            .zip(keys.iter().cloned())
            .map(|((item, payload), key)| (item, payload, key))
            .collect();
        // A job whose key was seen is not stored: its key row names another job id, so
        // the insert keeps only rows whose key row (if any) is their own.
        sql.values(
            "INSERT INTO intake (id, payload, credential_id, in_memory, created_at) \
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5 FROM (",
            ") AS v WHERE v.column1 IS NOT NULL AND (v.column6 IS NULL OR EXISTS \
             (SELECT 1 FROM intake_keys k WHERE k.credential_id = v.column3 AND k.idempotency_key = v.column6 \
              AND k.job_id = v.column1))",
            6,
            rows,
            chunks_for(batch.len()),
            |q, (item, payload, key)| {
                let job = &item.job;
                q.bind(job.job_id.to_string())
                    .bind(payload)
                    .bind(job.credential_id.unwrap_or(0))
                    .bind(item.lease.is_some())
                    // A detection job was created when its request was received, whichever
                    // backend holds it and whether or not it was processed yet.
                    .bind(ts(job.received_at))
                    .bind(key);
            },
        );
        sql.push("COMMIT;");
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let found = match sql.run(&mut conn).await {
            Ok(found) => found,
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(map_err(e));
            }
        };
        let existing: HashMap<(i64, String), (String, Option<String>)> = found
            .iter()
            .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
            .collect();
        // Two items of one batch with the same key: the first is stored, the others are
        // its duplicates.
        let mut first_in_batch: HashMap<(i64, String), &AcceptItem> = HashMap::new();
        batch
            .iter()
            .zip(keys)
            .map(|(item, key)| {
                let Some(key) = key.map(|k| (item.job.credential_id.unwrap_or(0), k)) else {
                    return Ok(AcceptOutcome::Accepted);
                };
                if let Some((id, hash)) = existing.get(&key) {
                    return id
                        .parse::<JobId>()
                        .map(|original| AcceptOutcome::Duplicate {
                            original,
                            request_hash: hash.clone(),
                        })
                        .map_err(|e| StorageError::Corrupt(format!("job id: {e}").into()));
                }
                match first_in_batch.get(&key) {
                    Some(first) => Ok(AcceptOutcome::Duplicate {
                        original: first.job.job_id,
                        request_hash: first.job.request_hash.clone(),
                    }),
                    None => {
                        first_in_batch.insert(key, item);
                        Ok(AcceptOutcome::Accepted)
                    }
                }
            })
            .collect()
    }

    /// Forgets processed jobs (their completions are committed in the main file).
    pub(crate) async fn remove(&self, ids: Vec<String>) -> Result<(), StorageError> {
        for chunk in ids.chunks(SPILL_CHUNK) {
            let mut sql = Sql::default();
            sql.push("PRAGMA synchronous = NORMAL; ");
            sql.values(
                "DELETE FROM intake WHERE id IN (SELECT column1 FROM (",
                "))",
                1,
                chunk.to_vec(),
                chunks_for(chunk.len()),
                |q, id| {
                    q.bind(id);
                },
            );
            let mut conn = self.writer.acquire().await.map_err(map_err)?;
            sql.run(&mut conn).await.map_err(map_err)?;
        }
        Ok(())
    }

    /// Up to `limit` rows to move to the main queue: every row (recovery after a restart,
    /// giving up leases) or the given one (a job that failed).
    pub(crate) async fn waiting(
        &self,
        which: Which<'_>,
        limit: usize,
    ) -> Result<Vec<Waiting>, StorageError> {
        let rows =
            match which {
                Which::All => sqlx::query(
                    "SELECT id, payload, credential_id, created_at FROM intake ORDER BY id LIMIT ?",
                )
                .bind(limit as i64)
                .fetch_all(&self.writer)
                .await,
                Which::Id(id) => {
                    sqlx::query(
                        "SELECT id, payload, credential_id, created_at FROM intake WHERE id = ?",
                    )
                    .bind(id)
                    .fetch_all(&self.writer)
                    .await
                }
            }
            .map_err(map_err)?;
        Ok(rows.iter().map(Waiting::from_row).collect())
    }

    /// Takes back up to `limit` waiting rows, oldest first, into this node's memory.
    pub(crate) async fn take_waiting(&self, limit: usize) -> Result<Vec<Waiting>, StorageError> {
        let rows = sqlx::query(
            "UPDATE intake SET in_memory = 1 WHERE id IN \
             (SELECT id FROM intake WHERE in_memory = 0 ORDER BY id LIMIT ?) \
             RETURNING id, payload, credential_id, created_at",
        )
        .bind(limit as i64)
        .fetch_all(&self.writer)
        .await
        .map_err(map_err)?;
        let mut waiting: Vec<Waiting> = rows.iter().map(Waiting::from_row).collect();
        waiting.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(waiting)
    }

    /// The job of an intake row, for the status endpoint: queued, or processing when this
    /// node holds it in memory.
    pub(crate) async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StorageError> {
        let Some(row) =
            sqlx::query("SELECT credential_id, in_memory, created_at FROM intake WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?
        else {
            return Ok(None);
        };
        let created_at = parse_ts(row.get(2))?;
        let credential_id: i64 = row.get(0);
        Ok(Some(JobRecord {
            id,
            queue: Queue::Detections,
            kind: "detection".into(),
            state: if row.get::<bool, _>(1) {
                JobState::Processing
            } else {
                JobState::Queued
            },
            attempts: 0,
            max_attempts: Queue::Detections.default_retry().max_attempts,
            last_error: None,
            result: None,
            credential_id: (credential_id != 0).then_some(credential_id),
            created_at,
            available_at: created_at,
            finished_at: None,
        }))
    }

    pub(crate) async fn stats(&self) -> Result<IntakeStats, StorageError> {
        let row = sqlx::query(
            "SELECT count(*), coalesce(sum(in_memory), 0), min(created_at) FROM intake",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        Ok(IntakeStats {
            pending: row.get::<i64, _>(0).max(0) as u64,
            in_memory: row.get::<i64, _>(1).max(0) as u64,
            oldest: row
                .get::<Option<String>, _>(2)
                .map(|s| parse_ts(&s))
                .transpose()?,
        })
    }

    /// Drops idempotency keys older than `before` (their jobs are pruned too).
    pub(crate) async fn prune_keys(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<u64, StorageError> {
        let done = sqlx::query(
            "DELETE FROM intake_keys WHERE (credential_id, idempotency_key) IN
               (SELECT credential_id, idempotency_key FROM intake_keys WHERE created_at < ? LIMIT ?)",
        )
        .bind(ts(before))
        .bind(limit as i64)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

/// Which intake rows [`Intake::waiting`] returns.
#[derive(Clone, Copy)]
pub(crate) enum Which<'a> {
    All,
    Id(&'a str),
}
