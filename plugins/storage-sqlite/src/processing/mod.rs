//! Processing detections on SQLite: load the state of a batch's keys, let the core plan
//! the batch ([`Plan::new`] holds every rule), apply the plan — all in one transaction.
//!
//! There is one writer connection, so every transaction here is serialised: the state read
//! at the start is still true at the end, and the plan's predicted membership facts are
//! exact (no row locks, and unchanged membership rows are not written at all).
//!
//! The writer remembers the person-days it processed ([`cache`]), so a batch reads from
//! the database only the state of person-days it has not seen, while nothing else has
//! written the file since.
//!
//! A transaction's statements are built by [`Sql`]: each writes or reads up to 128 rows
//! and is prepared once, because sqlx runs SQLite on a worker thread and every statement
//! is a round trip to it (per-row statements, not SQLite itself, would bound ingest
//! throughput), and parsing large statements anew for every batch cost the writer about a
//! quarter of its time. Key lookups join a `VALUES` list, which SQLite answers
//! with index seeks (a row-value `IN (VALUES …)` would scan the table).

mod cache;

use std::collections::HashSet;

use async_trait::async_trait;
use cctv_core::detection::DetectionJob;
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, DetectionOutcome, IngestStore, ProcessedDetection, StorageError,
};
use cctv_processing::{
    BatchKeys, PersonDayChange, PersonDayState, Plan, ProcessingState, image_metadata,
};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use crate::sql::{Sql, Streamed, chunks_for, streamed};
use crate::{SqliteStore, day, lenient_json, map_err, parse_date, ts};
pub(crate) use cache::StateCache;
use cache::{DayKey, ReadDays, STAMP_SQL, Stamp};

fn text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

/// A job's `detection_data` as its detection and event-log rows store it (the text it
/// was validated as).
fn detection_data(job: &DetectionJob) -> Option<String> {
    job.detection_data.as_ref().map(|t| t.as_str().to_owned())
}

#[async_trait]
impl IngestStore for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn accept_detections(
        &self,
        batch: &[AcceptItem],
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        self.intake.accept(batch, self.durable_sync, now).await
    }

    async fn process_detections(
        &self,
        batch: &[PreparedDetection],
        now: Timestamp,
    ) -> Result<Vec<ProcessedDetection>, StorageError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        // Only the holder of the one writer connection processes, so the memory is
        // taken here and put back after the commit; a failed batch leaves none.
        let cache = self
            .processing_cache
            .lock()
            .map(|mut c| c.take())
            .unwrap_or(None);
        let result = process(&mut conn, batch, cache, now).await;
        let result = match result {
            Ok((results, cache)) => {
                if let Ok(mut slot) = self.processing_cache.lock() {
                    *slot = Some(cache);
                }
                Ok(results)
            }
            Err(e) => {
                rollback(&mut conn).await;
                Err(e)
            }
        };
        drop(conn);
        if result.is_ok() {
            // The jobs are completed in the main file: their intake rows can go, once
            // that is on disk if commits that back a 202 are synced (`wal_sync.rs`). Off
            // the worker's path; a row left behind is skipped when it is spilled.
            let intake = self.intake.clone();
            let synced = self.wal_sync.clone().map(|w| (w.committed(), w));
            let ids: Vec<String> = batch.iter().map(|d| d.job.job_id.to_string()).collect();
            tokio::spawn(async move {
                if let Some((commit, wal)) = synced
                    && let Err(e) = wal.sync_through(commit).await
                {
                    tracing::warn!(error = %e, "syncing the main file failed: processed detections stay in the intake");
                    return;
                }
                if let Err(e) = intake.remove(ids).await {
                    tracing::debug!(error = %e, "removing processed detections from the intake failed");
                }
            });
        }
        result
    }
}

impl SqliteStore {
    /// Runs `op` on the writer connection, keeping the processing memory valid across
    /// it (see `cache.rs`). For writes to the job queue, the intake hand-over and
    /// credential use, which are frequent: `op` must never write `re_id_masters` or
    /// `re_id_branch_days`, the tables the memory mirrors. Any other write on the writer
    /// simply makes the next batch read everything again.
    pub(crate) async fn queue_write<T>(
        &self,
        op: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StorageError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let changes = "SELECT total_changes()";
        let before: i64 = sqlx::query_scalar(changes)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        let result = op(&mut conn).await;
        let after: i64 = sqlx::query_scalar(changes)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        if let Ok(mut slot) = self.processing_cache.lock()
            && let Some(cache) = slot.as_mut()
        {
            cache.carry(before, after);
        }
        result.map_err(map_err)
    }
}

/// Ends a transaction left open by a failed multi-statement query (no-op when none is).
async fn rollback(conn: &mut SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// The state of a batch's keys, and where the next row ids start.
struct Loaded {
    state: ProcessingState,
    first_detection: i64,
    first_event: i64,
    /// The remembered state, when it was still valid and used.
    cache: Option<StateCache>,
    /// Person-days read from the database (the rest came from the memory).
    read: usize,
    /// The rows of those person-days, as read, for the memory.
    read_days: ReadDays,
    /// Jobs of the batch with a queued `jobs` row (retries).
    queued: HashSet<JobId>,
}

/// Opens the transaction and reads, in one round trip, what the memory does not hold;
/// rows are tagged by their first column. When the memory turns out stale, a second
/// round trip reads the rest.
async fn load(
    conn: &mut SqliteConnection,
    keys: BatchKeys,
    cache: Option<StateCache>,
) -> Result<Loaded, StorageError> {
    let chunks = chunks_for(keys.jobs.len().max(keys.person_days.len()));
    let ids: Vec<String> = keys.jobs.iter().map(JobId::to_string).collect();
    let (known, unknown) = match &cache {
        Some(cache) => cache.partition(keys.person_days),
        None => (Vec::new(), keys.person_days),
    };
    let mut sql = Sql::default();
    sql.push("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; ");
    sql.push(STAMP_SQL);
    // A job is pending unless it has a detection row (a counted detection's job has no
    // `jobs` row, see `apply`) or its `jobs` row is completed or failed. A job straight
    // from the intake has neither; a retry has a queued `jobs` row, which its completion
    // must update. Only those rows are read back: usually none.
    sql.values(
        "SELECT iif(j.status = 'queued', 'queued', 'done'), k.column1 FROM (",
        ") AS k JOIN jobs j ON j.id = k.column1",
        1,
        ids.clone(),
        chunks,
        |q, id| {
            q.bind(id);
        },
    );
    sql.values(
        "SELECT 'done', k.column1 FROM (",
        ") AS k JOIN re_id_branch_detections d INDEXED BY re_id_branch_detections_job ON d.job_id = k.column1",
        1,
        ids,
        chunks,
        |q, id| {
            q.bind(id);
        },
    );
    read_person_days(&mut sql, &unknown);
    sql.push(
        "SELECT 'ids', (SELECT coalesce(max(id), 0) + 1 FROM re_id_branch_detections), \
         (SELECT coalesce(max(id), 0) + 1 FROM event_logs); \
         SELECT 'notify', branch_id, device_id FROM branch_event_settings WHERE is_active = 1 AND (whatsapp_enabled = 1 OR webhook_enabled = 1);",
    );
    let mut loaded = Loaded {
        state: ProcessingState {
            pending: keys.jobs.into_iter().collect(),
            ..ProcessingState::default()
        },
        first_detection: 1,
        first_event: 1,
        cache: None,
        read: unknown.len(),
        read_days: ReadDays::new(),
        queued: HashSet::new(),
    };
    let stamp = read_rows(sql.run(conn).await.map_err(map_err)?, &mut loaded)?;
    let cache = cache.filter(|c| {
        let valid = stamp.is_some_and(|s| c.is_valid_at(s));
        if !valid {
            tracing::debug!(remembered = ?c.stamp(), now = ?stamp, "something else wrote the file: the processing memory is dropped");
        }
        valid
    });
    match cache {
        Some(cache) => {
            cache.fill(&known, &mut loaded.state);
            loaded.cache = Some(cache);
        }
        None if !known.is_empty() => {
            let mut sql = Sql::default();
            read_person_days(&mut sql, &known);
            loaded.read += known.len();
            read_rows(sql.run(conn).await.map_err(map_err)?, &mut loaded)?;
        }
        None => {}
    }
    Ok(loaded)
}

/// Adds the statements that read the person-days `days` and their memberships.
fn read_person_days(sql: &mut Sql, days: &[(String, Date)]) {
    if days.is_empty() {
        return;
    }
    let chunks = chunks_for(days.len());
    let days: Vec<(String, String)> = days.iter().map(|(r, d)| (r.clone(), day(*d))).collect();
    sql.values(
        "SELECT 'day', m.re_id, m.detection_date, m.status, m.appearance_features FROM (",
        ") AS k JOIN re_id_masters m ON m.re_id = k.column1 AND m.detection_date = k.column2",
        2,
        days.clone(),
        chunks,
        |q, (r, d)| {
            q.bind(r).bind(d);
        },
    );
    sql.values(
        "SELECT 'branch', b.re_id, b.detection_date, b.branch_id, b.counted FROM (",
        // The table is ordered by day: without the index, a key would scan its whole day.
        ") AS k JOIN re_id_branch_days b INDEXED BY re_id_branch_days_person \
         ON b.re_id = k.column1 AND b.detection_date = k.column2",
        2,
        days,
        chunks,
        |q, (r, d)| {
            q.bind(r).bind(d);
        },
    );
}

/// Reads tagged rows into `loaded`; the stamp, if one was read.
fn read_rows(rows: Vec<SqliteRow>, loaded: &mut Loaded) -> Result<Option<Stamp>, StorageError> {
    let mut stamp = None;
    let (state, read) = (&mut loaded.state, &mut loaded.read_days);
    for row in rows {
        match row.get::<&str, _>(0) {
            "done" => {
                state.pending.remove(&job_id(row.get(1))?);
            }
            "queued" => {
                loaded.queued.insert(job_id(row.get(1))?);
            }
            "day" => {
                let key: DayKey = (row.get(1), parse_date(row.get(2))?);
                let features: Option<String> = row.get(4);
                let inactive = row.get::<&str, _>(3) == "inactive";
                let day = read.entry(key.clone()).or_default();
                (day.inactive, day.features) = (inactive, features.clone());
                state.person_days.insert(
                    key,
                    PersonDayState {
                        inactive,
                        appearance_features: lenient_json(features, "appearance_features"),
                    },
                );
            }
            "branch" => {
                let (re_id, date): DayKey = (row.get(1), parse_date(row.get(2))?);
                let (branch, counted) = (row.get(3), row.get(4));
                state
                    .memberships
                    .insert((re_id.clone(), date, branch), counted);
                read.entry((re_id, date))
                    .or_default()
                    .branches
                    .push((branch, counted));
            }
            "ids" => (loaded.first_detection, loaded.first_event) = (row.get(1), row.get(2)),
            "stamp" => stamp = Some(read_stamp(&row)),
            _ => {
                state.notify.insert((row.get(1), row.get(2)));
            }
        }
    }
    Ok(stamp)
}

fn read_stamp(row: &SqliteRow) -> Stamp {
    Stamp {
        changes: row.get(1),
        data_version: row.get(2),
    }
}

fn job_id(s: &str) -> Result<JobId, StorageError> {
    s.parse()
        .map_err(|e| StorageError::Corrupt(format!("job id {s:?}: {e}").into()))
}

async fn process(
    conn: &mut SqliteConnection,
    batch: &[PreparedDetection],
    cache: Option<StateCache>,
    now: Timestamp,
) -> Result<(Vec<ProcessedDetection>, StateCache), StorageError> {
    // The writer waits while the state is loaded and the plan computed; the statements
    // then run while the rest are built. The phases are logged at debug level so a
    // profile can tell them apart.
    let started = std::time::Instant::now();
    let keys = BatchKeys::of(batch);
    let days = keys.person_days.len();
    let mut loaded = load(conn, keys, cache).await?;
    let loaded_at = started.elapsed();
    let plan = Plan::new(batch, &loaded.state);
    let planned_at = started.elapsed();
    // Row ids are assigned here (one writer), so each job's result can name its rows.
    let ids: Vec<(i64, i64)> = (0..plan.detections.len() as i64)
        .map(|i| (loaded.first_detection + i, loaded.first_event + i))
        .collect();
    // The person-days' changes, and their features as written: the statements and the
    // memory both take them.
    let changes = plan.person_days(plan.predicted_facts());
    let features: Vec<Option<String>> = changes.iter().map(|c| text(&c.features)).collect();
    // The statements run while the rest are built (`streamed`): `build_us` is the time
    // until the last was built, `run_us` the time from the plan to the commit.
    let (p, c, f, i, q) = (&plan, &changes, &features, &ids, &loaded.queued);
    let (built_at, rows) = streamed(conn, |sql| async move {
        apply(sql, p, c, f, i, q, now).await;
        started.elapsed()
    })
    .await
    .map_err(map_err)?;
    let stamp = rows
        .iter()
        .find(|row| row.get::<&str, _>(0) == "stamp")
        .map(read_stamp)
        .ok_or_else(|| StorageError::Corrupt("the processing transaction read no stamp".into()))?;
    let cache = StateCache::after_commit(
        loaded.cache.take(),
        std::mem::take(&mut loaded.read_days),
        changes,
        features,
        &plan.memberships,
        stamp,
    );
    tracing::debug!(
        batch = batch.len(),
        person_days = days,
        read_from_database = loaded.read,
        load_us = loaded_at.as_micros() as u64,
        plan_us = (planned_at - loaded_at).as_micros() as u64,
        build_us = (built_at - planned_at).as_micros() as u64,
        run_us = (started.elapsed() - planned_at).as_micros() as u64,
        "processing transaction"
    );
    Ok((plan.results(&ids), cache))
}

/// Builds the statements that write the plan, ending with the commit, into `sql`.
async fn apply(
    mut sql: Streamed,
    plan: &Plan<'_>,
    changes: &[PersonDayChange],
    features: &[Option<String>],
    ids: &[(i64, i64)],
    queued: &HashSet<JobId>,
    now: Timestamp,
) {
    let now_second = now.as_second();
    let now = ts(now);
    let facts = plan.predicted_facts();
    // Each table gets the chunks its own rows need, none for no rows: a chunk of padding
    // alone cost a round trip to the writer thread and 128 rows of NULL binds (images,
    // child jobs and dirty days are few or none in most batches).
    let k = chunks_for(plan.detections.len());
    // A text the writer would copy again in almost every row is bound once per statement
    // (`c.day`) and its rows bind NULL: the batch's day (nearly every detection of a batch
    // has it), a last time equal to the first (a membership or person-day seen once in the
    // batch), a time of receipt equal to the device's time (a device that sends none).
    // Binding a text costs the writer a copy into memory it allocates and frees again.
    let batch_date = plan.detections.first().map(|d| d.date);
    let batch_day = batch_date.map(day);
    let day_or_batch = |date: Date| (Some(date) != batch_date).then(|| day(date));
    let unless_same = |t: Timestamp, same_as: Timestamp| (t != same_as).then(|| ts(t));
    // Every membership is written: its visit figures move on each detection.
    sql.values_then(
        "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted, first_detected_at, \
         last_detected_at, detections) SELECT v.column1, coalesce(v.column2, c.day), v.column3, v.column4, \
         v.column5, coalesce(v.column6, v.column5), v.column7 FROM (",
        ") AS v, (SELECT ? AS day) AS c WHERE v.column1 IS NOT NULL ON CONFLICT DO UPDATE SET counted = max(counted, excluded.counted), \
         first_detected_at = min(coalesce(first_detected_at, excluded.first_detected_at), excluded.first_detected_at), \
         last_detected_at = max(coalesce(last_detected_at, excluded.last_detected_at), excluded.last_detected_at), \
         detections = detections + excluded.detections",
        7,
        plan.memberships.iter().collect(),
        chunks_for(plan.memberships.len()),
        |q, m| {
            q.bind(m.re_id.clone())
                .bind(day_or_batch(m.date))
                .bind(m.branch_id)
                .bind(m.counted)
                .bind(ts(m.first_at))
                .bind(unless_same(m.last_at, m.first_at))
                .bind(m.detections);
        },
        |q| {
            q.bind(batch_day.clone());
        },
    )
    .await;
    // first/last/detection_time move by min/max (coalesce: a row made by a status edit has none).
    // The status and the time, the same in every row, are written by the statement (see above).
    sql.values_then(
        "INSERT INTO re_id_masters (re_id, detection_date, detection_time, appearance_features, first_detected_at, \
         last_detected_at, total_detection_branch_count, total_actual_count, status, created_at, updated_at) \
         SELECT v.column1, coalesce(v.column2, c.day), v.column3, v.column4, v.column3, coalesce(v.column5, v.column3), \
         v.column6, v.column7, 'active', c.now, c.now FROM (",
        ") AS v, (SELECT ? AS now, ? AS day) AS c WHERE v.column1 IS NOT NULL ON CONFLICT (re_id, detection_date) DO UPDATE SET \
         total_actual_count = total_actual_count + excluded.total_actual_count, \
         total_detection_branch_count = total_detection_branch_count + excluded.total_detection_branch_count, \
         first_detected_at = min(coalesce(first_detected_at, excluded.first_detected_at), excluded.first_detected_at), \
         detection_time = min(coalesce(detection_time, excluded.detection_time), excluded.detection_time), \
         last_detected_at = max(coalesce(last_detected_at, excluded.last_detected_at), excluded.last_detected_at), \
         appearance_features = excluded.appearance_features, updated_at = excluded.updated_at",
        7,
        changes.iter().zip(features).collect(),
        chunks_for(changes.len()),
        |q, (d, features)| {
            q.bind(d.re_id.clone())
                .bind(day_or_batch(d.date))
                .bind(ts(d.first_at))
                .bind(features.clone())
                .bind(unless_same(d.last_at, d.first_at))
                .bind(d.branch_count)
                .bind(d.actual_count);
        },
        |q| {
            q.bind(now.clone()).bind(batch_day.clone());
        },
    )
    .await;
    let rows: Vec<(usize, &PreparedDetection)> =
        plan.detections.iter().copied().enumerate().collect();
    sql.values_then(
        "INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date, \
         detection_hour, detected_count, detection_data, person_features, job_id, credential_id, received_at, \
         event_log_id, created_at, updated_at) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, \
         coalesce(v.column6, c.day), v.column7, v.column8, v.column9, v.column10, v.column11, v.column12, \
         coalesce(v.column13, v.column5), v.column14, c.now, c.now FROM (",
        ") AS v, (SELECT ? AS now, ? AS day) AS c WHERE v.column1 IS NOT NULL ",
        14,
        rows,
        k,
        |q, (i, d)| {
            let job = &d.job;
            q.bind(ids[i].0)
                .bind(job.re_id.clone())
                .bind(job.branch_id)
                .bind(job.device_id.clone())
                .bind(ts(job.detected_at))
                .bind(day_or_batch(d.date))
                .bind(i64::from(d.hour))
                .bind(i64::from(job.detected_count))
                .bind(detection_data(job))
                .bind(text(&job.person_features))
                .bind(job.job_id.to_string())
                .bind(job.credential_id)
                .bind(unless_same(job.received_at, job.detected_at))
                .bind(ids[i].1);
        },
        |q| {
            q.bind(now.clone()).bind(batch_day.clone());
        },
    )
    .await;
    // Each detection's event-log row repeats most of its detection row, so it is copied
    // from there (the ids of both are consecutive, see `process`) instead of binding the
    // same texts again. One statement per `CHUNK` ids, each run on its own so its text is
    // prepared once: a single statement for a batch of 8,192 held ~12 MB more of the
    // server's peak memory. A detection with an image (from the multipart upload) gets
    // its path by the `UPDATE` after: one more write of its row, beside storing the image.
    for range in ids.chunks(crate::sql::CHUNK) {
        let (Some(first), Some(last)) = (range.first(), range.last()) else {
            continue;
        };
        sql.push(
            "INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, event_data, \
             event_timestamp, event_date, detection_id, job_id, created_at, updated_at) \
             SELECT d.id + ?, d.branch_id, d.device_id, d.re_id, 'detection', d.detected_count, d.detection_data, \
             d.detection_timestamp, d.detection_date, d.id, d.job_id, d.created_at, d.updated_at \
             FROM re_id_branch_detections d WHERE d.id BETWEEN ? AND ? ORDER BY d.id",
        )
        .bind(first.1 - first.0)
        .bind(first.0)
        .bind(last.0);
        sql.end_statement().await;
    }
    let files: Vec<_> = plan.images().collect();
    let file_chunks = chunks_for(files.len());
    sql.values(
        "UPDATE event_logs SET image_path = v.column2 FROM (",
        ") AS v WHERE event_logs.id = v.column1",
        2,
        files.clone(),
        file_chunks,
        |q, (i, image)| {
            q.bind(ids[i].1).bind(image.path.clone());
        },
    )
    .await;
    sql.values(
        "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, \
         metadata, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (file_path) DO NOTHING",
        11,
        files,
        file_chunks,
        |q, (i, image)| {
            q.bind(image.path.clone())
                .bind(image.mime.clone())
                .bind(image.size as i64)
                .bind(image.width.map(i64::from))
                .bind(image.height.map(i64::from))
                .bind("local")
                .bind("event_logs")
                .bind(ids[i].1)
                .bind(image_metadata(plan.detections[i]).to_string())
                .bind(now.clone())
                .bind(now.clone());
        },
    )
    .await;
    sql.values(
        "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ",
        9,
        plan.children.iter().collect(),
        chunks_for(plan.children.len()),
        |q, c| {
            q.bind(JobId::new().to_string())
                .bind(c.queue.as_str())
                .bind(c.kind)
                .bind(c.queue.priority())
                .bind(c.payload(ids[c.detection].1).to_string())
                .bind(i64::from(c.queue.default_retry().max_attempts))
                .bind(now.clone())
                .bind(now.clone())
                .bind(now.clone());
        },
    )
    .await;
    sql.values(
        "INSERT INTO report_dirty_days (report_date, branch_id, marked_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = excluded.marked_at",
        3,
        plan.dirty_days.clone(),
        chunks_for(plan.dirty_days.len()),
        |q, (date, branch)| {
            q.bind(day(date)).bind(branch).bind(now.clone());
        },
    )
    .await;
    let day_totals = plan.day_counts(facts);
    let totals_chunks = chunks_for(day_totals.len());
    sql.values(
        "INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons, events) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (detection_date, branch_id) DO UPDATE SET \
         detections = detections + excluded.detections, detected_count = detected_count + excluded.detected_count, \
         persons = persons + excluded.persons, events = events + excluded.events",
        6,
        day_totals,
        totals_chunks,
        |q, t| {
            q.bind(day(t.date))
                .bind(t.branch_key)
                .bind(t.detections)
                .bind(t.detected_count)
                .bind(t.persons)
                .bind(t.events);
        },
    )
    .await;
    let device_chunks = chunks_for(plan.device_counts.len());
    sql.values(
        "INSERT INTO device_day_counts (detection_date, branch_id, device_id, detections, detected_count) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (detection_date, branch_id, device_id) DO UPDATE SET \
         detections = detections + excluded.detections, detected_count = detected_count + excluded.detected_count",
        5,
        plan.device_counts.clone(),
        device_chunks,
        |q, t| {
            q.bind(day(t.date))
                .bind(t.branch_id)
                .bind(t.device_id)
                .bind(t.detections)
                .bind(t.detected_count);
        },
    )
    .await;
    sql.values(
        "INSERT INTO hour_counts (detection_date, branch_id, detection_hour, detections) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (detection_date, branch_id, detection_hour) DO UPDATE SET \
         detections = detections + excluded.detections",
        4,
        plan.hour_counts.iter().collect(),
        chunks_for(plan.hour_counts.len()),
        |q, t| {
            q.bind(day(t.date))
                .bind(t.branch_id)
                .bind(i64::from(t.hour))
                .bind(t.detections);
        },
    )
    .await;
    if !plan.detections.is_empty() {
        sql.push(
            "INSERT INTO job_completions (queue, second, completed) VALUES ('detections', ?, ?) \
             ON CONFLICT (queue, second) DO UPDATE SET completed = completed + excluded.completed; ",
        )
        .bind(now_second)
        .bind(plan.detections.len() as i64);
    }
    // Complete the jobs in the same transaction as their effects. A counted detection's
    // job straight from the intake is complete with its detection row, which holds what
    // its status answer needs (`JobQueue::job`): no `jobs` row is written for it, about a
    // quarter of the writer's work per detection. Any other outcome gets its `jobs` row
    // here, completed with its result; a retried job is completed in place.
    let completions: Vec<(String, String, i64, String)> = plan
        .results(ids)
        .into_iter()
        .zip(&plan.detections)
        .filter(|(result, d)| {
            result.outcome != DetectionOutcome::Counted || queued.contains(&d.job.job_id)
        })
        .map(|(result, d)| {
            (
                d.job.job_id.to_string(),
                result.to_json(),
                d.job.credential_id.unwrap_or(0),
                ts(d.job.received_at),
            )
        })
        .collect();
    let completion_chunks = chunks_for(completions.len());
    let (priority, max_attempts) = (
        Queue::Detections.priority(),
        i64::from(Queue::Detections.default_retry().max_attempts),
    );
    // The constants are literals of the statement (a fixed text per queue, so it is still
    // prepared once); the time is bound once per statement.
    let completed = format!(
        "INSERT INTO jobs (id, queue, kind, priority, payload, status, attempts, max_attempts, available_at, result, \
         credential_id, created_at, updated_at, finished_at) \
         SELECT v.column1, '{queue}', 'detection', {priority}, '{{}}', 'completed', 1, {max_attempts}, v.column2, \
         v.column3, v.column4, v.column2, c.now, c.now FROM (",
        queue = Queue::Detections.as_str(),
    );
    sql.values_then(
        &completed,
        ") AS v, (SELECT ? AS now) AS c WHERE v.column1 IS NOT NULL ON CONFLICT (id) DO UPDATE SET status = 'completed', \
         result = excluded.result, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, \
         finished_at = excluded.finished_at, updated_at = excluded.updated_at",
        4,
        completions,
        completion_chunks,
        |q, (id, result, credential, received)| {
            q.bind(id).bind(received).bind(result).bind(credential);
        },
        |q| {
            q.bind(now.clone());
        },
    )
    .await;
    // Read inside the transaction, with the write lock held: see `cache`.
    sql.push(STAMP_SQL);
    sql.push("COMMIT;");
    sql.finish().await;
}

#[cfg(test)]
mod tests;
