//! Durable acceptance (group commit) and batched processing of detections.
//!
//! There is one writer connection, so every transaction here is serialised: reading the
//! current state and then writing it back is race-free without row locks.
//!
//! Each transaction is one multi-statement query (accept) or two (process: read, then
//! write and commit), built by [`Sql`]: sqlx runs SQLite on a worker thread and every
//! query is a round trip to it, so per-statement or per-row queries, not SQLite itself,
//! would bound ingest throughput. Key lookups join a `VALUES` list, which SQLite answers
//! with index seeks (a row-value `IN (VALUES …)` would scan the table).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cctv_core::day_counts::{day_count_deltas, device_day_deltas};
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::{PreparedDetection, group_person_days, merge_features};
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, DetectionOutcome, IngestStore, ProcessedDetection, StorageError,
};
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

use crate::sql::{Sql, chunks_for, run};
use crate::{SqliteStore, map_err, ts};

fn text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

#[async_trait]
impl IngestStore for SqliteStore {
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
        let result = process(&mut conn, batch, now).await;
        if result.is_err() {
            rollback(&mut conn).await;
        }
        drop(conn);
        if result.is_ok() {
            // The jobs are completed in the main file: their intake rows can go. Off the
            // worker's path; a row left behind by a crash is skipped when it is spilled.
            let intake = self.intake.clone();
            let ids: Vec<String> = batch.iter().map(|d| d.job.job_id.to_string()).collect();
            tokio::spawn(async move {
                if let Err(e) = intake.remove(ids).await {
                    tracing::debug!(error = %e, "removing processed detections from the intake failed");
                }
            });
        }
        result
    }
}

/// Ends a transaction left open by a failed multi-statement query (no-op when none is).
async fn rollback(conn: &mut SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// What processing reads before it writes.
#[derive(Default)]
struct State {
    pending: HashSet<String>,
    days: HashMap<(String, String), (String, Option<String>)>,
    /// Branch rows of the batch's person-days, with whether each already counts.
    branch_days: HashMap<(String, String, i64), bool>,
    notify: HashSet<(i64, String)>,
    first_detection: i64,
    first_event: i64,
}

/// Opens the transaction and reads everything in one round trip; rows are tagged by
/// their first column.
async fn read_state(
    conn: &mut SqliteConnection,
    batch: &[PreparedDetection],
) -> Result<State, StorageError> {
    let ids: Vec<String> = batch.iter().map(|d| d.job.job_id.to_string()).collect();
    // Person-days of the whole batch (a superset of the pending jobs' days: harmless).
    let keys: Vec<(String, String)> = group_person_days(batch)
        .into_iter()
        .map(|d| (d.re_id, d.date.to_string()))
        .collect();
    let chunks = chunks_for(batch.len());
    let mut sql = Sql::default();
    sql.push("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; ");
    // Not done yet: no `jobs` row (straight from the intake) or a queued one (a retry).
    sql.values(
        "SELECT 'job', k.column1 FROM (",
        ") AS k LEFT JOIN jobs j ON j.id = k.column1 WHERE k.column1 IS NOT NULL AND (j.id IS NULL OR j.status = 'queued')",
        1,
        ids,
        chunks,
        |q, id| {
            q.bind(id);
        },
    );
    sql.values(
        "SELECT 'day', m.re_id, m.detection_date, m.status, m.appearance_features FROM (",
        ") AS k JOIN re_id_masters m ON m.re_id = k.column1 AND m.detection_date = k.column2",
        2,
        keys.clone(),
        chunks,
        |q, (r, d)| {
            q.bind(r).bind(d);
        },
    );
    sql.values(
        "SELECT 'branch', b.re_id, b.detection_date, b.branch_id, b.counted FROM (",
        ") AS k JOIN re_id_branch_days b ON b.re_id = k.column1 AND b.detection_date = k.column2",
        2,
        keys,
        chunks,
        |q, (r, d)| {
            q.bind(r).bind(d);
        },
    );
    sql.push(
        "SELECT 'ids', (SELECT coalesce(max(id), 0) + 1 FROM re_id_branch_detections), \
         (SELECT coalesce(max(id), 0) + 1 FROM event_logs); \
         SELECT 'notify', branch_id, device_id FROM branch_event_settings WHERE is_active = 1 AND whatsapp_enabled = 1;",
    );
    let mut state = State::default();
    for row in run!(sql).fetch_all(&mut *conn).await.map_err(map_err)? {
        match row.get::<&str, _>(0) {
            "job" => {
                state.pending.insert(row.get(1));
            }
            "day" => {
                state
                    .days
                    .insert((row.get(1), row.get(2)), (row.get(3), row.get(4)));
            }
            "branch" => {
                state
                    .branch_days
                    .insert((row.get(1), row.get(2), row.get(3)), row.get(4));
            }
            "ids" => (state.first_detection, state.first_event) = (row.get(1), row.get(2)),
            _ => {
                state.notify.insert((row.get(1), row.get(2)));
            }
        }
    }
    Ok(state)
}

async fn process(
    conn: &mut SqliteConnection,
    batch: &[PreparedDetection],
    now: Timestamp,
) -> Result<Vec<ProcessedDetection>, StorageError> {
    let now_second = now.as_second();
    let now = ts(now);
    let state = read_state(conn, batch).await?;
    let mut seen = HashSet::new();
    let live: Vec<&PreparedDetection> = batch
        .iter()
        .filter(|d| state.pending.contains(&d.job.job_id.to_string()) && seen.insert(d.job.job_id))
        .collect();

    let days = group_person_days(live.iter().copied());
    let day_keys: Vec<(String, String)> = days
        .iter()
        .map(|d| (d.re_id.clone(), d.date.to_string()))
        .collect();
    let inactive: Vec<bool> = day_keys
        .iter()
        .map(|k| {
            state
                .days
                .get(k)
                .is_some_and(|(status, _)| status == "inactive")
        })
        .collect();

    // Branch rows: every branch that saw the person that day; it counts towards the
    // person-day from its first tracked detection on. New rows feed the day totals.
    let mut branch_rows: Vec<(String, String, i64, bool)> = Vec::new();
    let mut new_branch_count = vec![0i64; days.len()];
    let mut first_at_branch = Vec::new();
    let mut first_of_day = Vec::new();
    let seen_days: HashSet<(&str, &str)> = state
        .branch_days
        .keys()
        .map(|(r, d, _)| (r.as_str(), d.as_str()))
        .collect();
    for (i, d) in days.iter().enumerate() {
        let key = &day_keys[i];
        let tracked = !inactive[i];
        if !seen_days.contains(&(key.0.as_str(), key.1.as_str())) {
            first_of_day.push(d.date);
        }
        for b in &d.branches {
            let row = (key.0.clone(), key.1.clone(), *b);
            let existing = state.branch_days.get(&row).copied();
            if existing.is_none() {
                first_at_branch.push((d.date, *b));
            }
            if tracked && existing != Some(true) {
                new_branch_count[i] += 1;
            }
            if existing.is_none() || (tracked && existing == Some(false)) {
                branch_rows.push((row.0, row.1, row.2, tracked));
            }
        }
    }
    let day_totals = day_count_deltas(live.iter().copied(), first_at_branch, first_of_day);
    let totals_chunks = chunks_for(day_totals.len());

    // Person-days: counters add, a branch counts once per day, times by min/max, features merge.
    let mut upserts = Vec::new();
    for (i, d) in days.iter().enumerate().filter(|(i, _)| !inactive[*i]) {
        let key = &day_keys[i];
        let new_branches = new_branch_count[i];
        let old = state
            .days
            .get(key)
            .and_then(|(_, f)| f.as_deref())
            .and_then(|f| serde_json::from_str(f).ok());
        let features = merge_features(old.as_ref(), d.features.as_ref());
        upserts.push((
            key.clone(),
            ts(d.first_at),
            text(&features),
            ts(d.last_at),
            new_branches,
            d.actual_count,
        ));
    }
    let mut tracked = vec![true; live.len()];
    for (_, day) in days.iter().enumerate().filter(|(i, _)| inactive[*i]) {
        for &m in &day.members {
            tracked[m] = false;
        }
    }

    let k = chunks_for(live.len());
    let mut sql = Sql::default();
    sql.values(
        "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT DO UPDATE SET counted = max(counted, excluded.counted)",
        4,
        branch_rows,
        k,
        |q, (r, d, b, counted)| {
            q.bind(r).bind(d).bind(b).bind(counted);
        },
    );
    // first/last/detection_time move by min/max (coalesce: a row made by a status edit has none).
    sql.values(
        "INSERT INTO re_id_masters (re_id, detection_date, detection_time, appearance_features, first_detected_at, \
         last_detected_at, total_detection_branch_count, total_actual_count, status, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (re_id, detection_date) DO UPDATE SET \
         total_actual_count = total_actual_count + excluded.total_actual_count, \
         total_detection_branch_count = total_detection_branch_count + excluded.total_detection_branch_count, \
         first_detected_at = min(coalesce(first_detected_at, excluded.first_detected_at), excluded.first_detected_at), \
         detection_time = min(coalesce(detection_time, excluded.detection_time), excluded.detection_time), \
         last_detected_at = max(coalesce(last_detected_at, excluded.last_detected_at), excluded.last_detected_at), \
         appearance_features = excluded.appearance_features, updated_at = excluded.updated_at",
        11,
        upserts,
        k,
        |q, ((re_id, date), first, features, last, branches, count)| {
            q.bind(re_id)
                .bind(date)
                .bind(first.clone())
                .bind(features)
                .bind(first)
                .bind(last)
                .bind(branches)
                .bind(count)
                .bind("active")
                .bind(now.clone())
                .bind(now.clone());
        },
    );

    // Row ids are assigned here (one writer), so each job's result can name its rows.
    let indexed: Vec<(usize, &PreparedDetection)> = live.iter().copied().enumerate().collect();
    let (first_detection, first_event) = (state.first_detection, state.first_event);
    let data: Vec<Option<String>> = live.iter().map(|d| text(&d.job.detection_data)).collect();
    sql.values(
        "INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date, \
         detection_hour, detected_count, detection_data, person_features, job_id, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ",
        13,
        indexed.clone(),
        k,
        |q, (i, d)| {
            let job = &d.job;
            q.bind(first_detection + i as i64)
                .bind(job.re_id.clone())
                .bind(job.branch_id)
                .bind(job.device_id.clone())
                .bind(ts(job.detected_at))
                .bind(d.date.to_string())
                .bind(i64::from(d.hour))
                .bind(i64::from(job.detected_count))
                .bind(data[i].clone())
                .bind(text(&job.person_features))
                .bind(job.job_id.to_string())
                .bind(now.clone())
                .bind(now.clone());
        },
    );
    sql.values(
        "INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, image_path, event_data, \
         event_timestamp, event_date, detection_id, job_id, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ",
        14,
        indexed.clone(),
        k,
        |q, (i, d)| {
            let job = &d.job;
            q.bind(first_event + i as i64)
                .bind(job.branch_id)
                .bind(job.device_id.clone())
                .bind(job.re_id.clone())
                .bind("detection")
                .bind(i64::from(job.detected_count))
                .bind(job.image.as_ref().map(|b| b.path.clone()))
                .bind(data[i].clone())
                .bind(ts(job.detected_at))
                .bind(d.date.to_string())
                .bind(first_detection + i as i64)
                .bind(job.job_id.to_string())
                .bind(now.clone())
                .bind(now.clone());
        },
    );

    // Outbox: notification and image jobs, image registry rows, dirty report days.
    let mut children: Vec<(Queue, &str, String)> = Vec::new();
    let mut files = Vec::new();
    for (i, d) in &indexed {
        let event_log_id = first_event + *i as i64;
        if tracked[*i]
            && state
                .notify
                .contains(&(d.job.branch_id, d.job.device_id.clone()))
        {
            children.push((
                Queue::Notifications,
                "notify_detection",
                json!({"event_log_id": event_log_id}).to_string(),
            ));
        }
        if let Some(image) = &d.job.image {
            children.push((
                Queue::Images,
                "process_image",
                json!({"event_log_id": event_log_id, "image_path": image.path}).to_string(),
            ));
            files.push((
                image.clone(),
                event_log_id,
                json!({"job_id": d.job.job_id, "kind": "event_image"}).to_string(),
            ));
        }
    }
    sql.values(
        "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, \
         metadata, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (file_path) DO NOTHING",
        11,
        files,
        k,
        |q, (image, event, meta)| {
            q.bind(image.path.clone())
                .bind(image.mime.clone())
                .bind(image.size as i64)
                .bind(image.width.map(i64::from))
                .bind(image.height.map(i64::from))
                .bind("local")
                .bind("event_logs")
                .bind(event)
                .bind(meta.clone())
                .bind(now.clone())
                .bind(now.clone());
        },
    );
    sql.values(
        "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ",
        9,
        children,
        2 * k,
        |q, (queue, kind, payload)| {
            q.bind(JobId::new().to_string())
                .bind(queue.as_str())
                .bind(kind.to_string())
                .bind(queue.priority())
                .bind(payload.clone())
                .bind(i64::from(queue.default_retry().max_attempts))
                .bind(now.clone())
                .bind(now.clone())
                .bind(now.clone());
        },
    );
    let dirty: Vec<(String, i64)> = live
        .iter()
        .map(|d| (d.date.to_string(), d.job.branch_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    sql.values(
        "INSERT INTO report_dirty_days (report_date, branch_id, marked_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = excluded.marked_at",
        3,
        dirty,
        k,
        |q, (date, branch)| {
            q.bind(date).bind(branch).bind(now.clone());
        },
    );

    sql.values(
        "INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons, events) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (detection_date, branch_id) DO UPDATE SET \
         detections = detections + excluded.detections, detected_count = detected_count + excluded.detected_count, \
         persons = persons + excluded.persons, events = events + excluded.events",
        6,
        day_totals,
        totals_chunks,
        |q, t| {
            q.bind(t.date.to_string())
                .bind(t.branch_key)
                .bind(t.detections)
                .bind(t.detected_count)
                .bind(t.persons)
                .bind(t.events);
        },
    );

    let device_totals = device_day_deltas(live.iter().copied());
    let device_chunks = chunks_for(device_totals.len());
    sql.values(
        "INSERT INTO device_day_counts (detection_date, branch_id, device_id, detections, detected_count) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (detection_date, branch_id, device_id) DO UPDATE SET \
         detections = detections + excluded.detections, detected_count = detected_count + excluded.detected_count",
        5,
        device_totals,
        device_chunks,
        |q, t| {
            q.bind(t.date.to_string())
                .bind(t.branch_id)
                .bind(t.device_id)
                .bind(t.detections)
                .bind(t.detected_count);
        },
    );

    // Complete the jobs in the same transaction as their effects.
    let mut results = Vec::with_capacity(batch.len());
    let mut completions = Vec::with_capacity(live.len());
    for (i, d) in &indexed {
        let result = ProcessedDetection {
            job_id: d.job.job_id,
            outcome: if tracked[*i] {
                DetectionOutcome::Counted
            } else {
                DetectionOutcome::TrackingDisabled
            },
            detection_date: d.date,
            detection_id: Some(first_detection + *i as i64),
            event_log_id: Some(first_event + *i as i64),
        };
        completions.push((
            d.job.job_id.to_string(),
            serde_json::to_string(&result).expect("result serializes"),
            d.job.credential_id.unwrap_or(0),
            ts(d.job.received_at),
        ));
        results.push(result);
    }
    if !live.is_empty() {
        sql.push(
            "INSERT INTO job_completions (queue, second, completed) VALUES ('detections', ?, ?) \
             ON CONFLICT (queue, second) DO UPDATE SET completed = completed + excluded.completed; ",
        );
        sql.bind(now_second).bind(live.len() as i64);
    }
    // A job straight from the intake gets its `jobs` row here, completed; a retried one
    // (already queued in `jobs`) is completed in place.
    let (priority, max_attempts) = (
        Queue::Detections.priority(),
        i64::from(Queue::Detections.default_retry().max_attempts),
    );
    sql.values(
        "INSERT INTO jobs (id, queue, kind, priority, payload, status, attempts, max_attempts, available_at, result, \
         credential_id, created_at, updated_at, finished_at) SELECT * FROM (",
        ") AS v WHERE v.column1 IS NOT NULL ON CONFLICT (id) DO UPDATE SET status = 'completed', \
         result = excluded.result, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL, \
         finished_at = excluded.finished_at, updated_at = excluded.updated_at",
        14,
        completions,
        k,
        |q, (id, result, credential, received)| {
            q.bind(id)
                .bind(Queue::Detections.as_str())
                .bind("detection")
                .bind(priority)
                .bind("{}")
                .bind("completed")
                .bind(1_i64)
                .bind(max_attempts)
                .bind(received.clone())
                .bind(result)
                .bind(credential)
                .bind(received)
                .bind(now.clone())
                .bind(now.clone());
        },
    );
    sql.push("COMMIT;");
    run!(sql).execute(&mut *conn).await.map_err(map_err)?;

    for d in batch {
        if !seen.contains(&d.job.job_id) {
            results.push(ProcessedDetection::already_processed(d));
        }
    }
    Ok(results)
}
