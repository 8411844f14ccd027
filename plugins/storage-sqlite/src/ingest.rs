//! Durable acceptance (group commit) and batched processing of detections.
//!
//! There is one writer connection, so every transaction here is serialised: reading the
//! current state and then writing it back is race-free without row locks.
//!
//! Each statement takes the whole batch as **one JSON parameter** read with `json_each`,
//! so a transaction costs the same few statements whatever its size. sqlx runs SQLite on a
//! worker thread and every statement is a round trip to it; with one statement per row
//! (or per small chunk) those hand-offs, not SQLite, were the limit of ingest throughput.
//! The statements are constant text, prepared once per connection.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::{PreparedDetection, group_person_days, merge_features};
use cctv_core::storage::{AcceptItem, AcceptOutcome, DetectionOutcome, IngestStore, ProcessedDetection, StorageError};
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

use crate::{SqliteStore, map_err, ts};

/// `json_extract(value, '$[i]')`: column `i` of a row of the batch.
macro_rules! col {
    ($i:literal) => {
        concat!("json_extract(value, '$[", $i, "]')")
    };
}

/// Accept in one round trip: the duplicate lookup runs before the insert in the same
/// transaction, and the insert skips exactly the keys it found.
///
/// Parameters: `?1` = `{"rows": [...], "keys": [...]}`, `?2` = now, `?3` = priority,
/// `?4` = max attempts. (Every sub-statement uses a prefix `?1..?k` of the parameters:
/// sqlx stops binding at a gap, so a statement using only `?5` would lose later ones.)
const ACCEPT: &str = concat!(
    "BEGIN IMMEDIATE; ",
    "SELECT j.credential_id, j.idempotency_key, j.id FROM json_each(?1, '$.keys') k JOIN jobs j ",
    "ON j.credential_id = json_extract(k.value, '$[0]') AND j.idempotency_key = json_extract(k.value, '$[1]') ",
    "AND j.idempotency_key IS NOT NULL; ",
    "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, lease_owner, lease_until, ",
    "credential_id, idempotency_key, created_at, updated_at) SELECT ",
    col!(0), ", 'detections', 'detection', ?3, ", col!(1), ", ?4, ?2, ", col!(2), ", ", col!(3), ", ",
    col!(4), ", ", col!(5), ", ?2, ?2 FROM json_each(?1, '$.rows') n WHERE ", col!(5), " IS NULL OR NOT EXISTS ",
    "(SELECT 1 FROM jobs j WHERE j.credential_id = ", col!(4), " AND j.idempotency_key = ", col!(5), "); ",
    "COMMIT;"
);

#[async_trait]
impl IngestStore for SqliteStore {
    async fn accept_detections(&self, batch: &[AcceptItem], now: Timestamp) -> Result<Vec<AcceptOutcome>, StorageError> {
        let mut rows = Vec::with_capacity(batch.len());
        let mut keys = Vec::new();
        for item in batch {
            let job = &item.job;
            let payload = serde_json::to_value(job).map_err(|e| StorageError::Rejected(e.to_string()))?;
            rows.push(json!([
                job.job_id.to_string(),
                payload,
                item.lease.as_ref().map(|l| l.owner.clone()),
                item.lease.as_ref().map(|l| ts(l.until)),
                job.credential_id.unwrap_or(0),
                job.event_id,
            ]));
            if let Some(key) = &job.event_id {
                keys.push(json!([job.credential_id.unwrap_or(0), key]));
            }
        }
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let found = sqlx::query(ACCEPT)
            .bind(json!({"rows": rows, "keys": keys}).to_string())
            .bind(ts(now))
            .bind(Queue::Detections.priority())
            .bind(i64::from(Queue::Detections.default_retry().max_attempts))
            .fetch_all(&mut *conn)
            .await;
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                rollback(&mut conn).await;
                return Err(map_err(e));
            }
        };
        let existing: HashMap<(i64, String), String> = found.iter().map(|r| ((r.get(0), r.get(1)), r.get(2))).collect();
        batch
            .iter()
            .map(|item| {
                let key = item.job.event_id.clone().map(|k| (item.job.credential_id.unwrap_or(0), k));
                match key.and_then(|k| existing.get(&k)) {
                    Some(id) => id
                        .parse::<JobId>()
                        .map(AcceptOutcome::Duplicate)
                        .map_err(|e| StorageError::Corrupt(format!("job id: {e}"))),
                    None => Ok(AcceptOutcome::Accepted),
                }
            })
            .collect()
    }

    async fn process_detections(&self, batch: &[PreparedDetection], now: Timestamp) -> Result<Vec<ProcessedDetection>, StorageError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let result = process(&mut conn, batch, now).await;
        if result.is_err() {
            rollback(&mut conn).await;
        }
        result
    }
}

/// Ends a transaction left open by a failed multi-statement query (no-op when none is).
async fn rollback(conn: &mut SqliteConnection) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// Everything processing needs to read, in one round trip that also opens the
/// transaction: rows are tagged by their first column.
const READ_STATE: &str = concat!(
    "BEGIN IMMEDIATE; ",
    "SELECT 'job', j.id FROM json_each(?1, '$.jobs') k JOIN jobs j ON j.id = k.value WHERE j.status = 'queued'; ",
    "SELECT 'day', m.re_id, m.detection_date, m.status, m.appearance_features FROM json_each(?1, '$.days') k JOIN re_id_masters m ",
    "ON m.re_id = json_extract(k.value, '$[0]') AND m.detection_date = json_extract(k.value, '$[1]'); ",
    "SELECT 'branch', b.re_id, b.detection_date, b.branch_id FROM json_each(?1, '$.days') k JOIN re_id_branch_days b ",
    "ON b.re_id = json_extract(k.value, '$[0]') AND b.detection_date = json_extract(k.value, '$[1]'); ",
    "SELECT 'ids', (SELECT coalesce(max(id), 0) + 1 FROM re_id_branch_detections), (SELECT coalesce(max(id), 0) + 1 FROM event_logs); ",
    "SELECT 'notify', branch_id, device_id FROM branch_event_settings WHERE is_active = 1 AND whatsapp_enabled = 1;"
);

/// Every write of a batch and the commit, in one round trip. `?1` is one JSON object
/// (`branch_days`, `days`, `rows`, `files`, `children`, `dirty`, `done`: arrays, empty when
/// there is nothing to write), `?2` is the time.
const WRITE_BATCH: &str = concat!(
    "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id) SELECT ",
    col!(0), ", ", col!(1), ", ", col!(2), " FROM json_each(?1, '$.branch_days') WHERE true ON CONFLICT DO NOTHING; ",
    // first/last/detection_time move by min/max (coalesce: a row made by a status edit has none).
    "INSERT INTO re_id_masters (re_id, detection_date, detection_time, appearance_features, first_detected_at, ",
    "last_detected_at, total_detection_branch_count, total_actual_count, status, created_at, updated_at) SELECT ",
    col!(0), ", ", col!(1), ", ", col!(2), ", ", col!(3), ", ", col!(2), ", ", col!(4), ", ", col!(5), ", ", col!(6),
    ", 'active', ?2, ?2 FROM json_each(?1, '$.days') WHERE true ",
    "ON CONFLICT (re_id, detection_date) DO UPDATE SET ",
    "total_actual_count = total_actual_count + excluded.total_actual_count, ",
    "total_detection_branch_count = total_detection_branch_count + excluded.total_detection_branch_count, ",
    "first_detected_at = min(coalesce(first_detected_at, excluded.first_detected_at), excluded.first_detected_at), ",
    "detection_time = min(coalesce(detection_time, excluded.detection_time), excluded.detection_time), ",
    "last_detected_at = max(coalesce(last_detected_at, excluded.last_detected_at), excluded.last_detected_at), ",
    "appearance_features = excluded.appearance_features, updated_at = excluded.updated_at; ",
    "INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date, detection_hour, ",
    "detected_count, detection_data, person_features, job_id, created_at, updated_at) SELECT ",
    col!(0), ", ", col!(1), ", ", col!(2), ", ", col!(3), ", ", col!(4), ", ", col!(5), ", ", col!(6), ", ", col!(7), ", ",
    col!(8), ", ", col!(9), ", ", col!(10), ", ?2, ?2 FROM json_each(?1, '$.rows'); ",
    "INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, image_path, event_data, ",
    "event_timestamp, event_date, detection_id, job_id, created_at, updated_at) SELECT ",
    col!(12), ", ", col!(2), ", ", col!(3), ", ", col!(1), ", 'detection', ", col!(7), ", ", col!(11), ", ", col!(8), ", ",
    col!(4), ", ", col!(5), ", ", col!(0), ", ", col!(10), ", ?2, ?2 FROM json_each(?1, '$.rows'); ",
    "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, ",
    "metadata, created_at, updated_at) SELECT ",
    col!(0), ", ", col!(1), ", ", col!(2), ", ", col!(3), ", ", col!(4), ", 'local', 'event_logs', ", col!(5), ", ", col!(6),
    ", ?2, ?2 FROM json_each(?1, '$.files') WHERE true ON CONFLICT (file_path) DO NOTHING; ",
    "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at) SELECT ",
    col!(0), ", ", col!(1), ", ", col!(2), ", ", col!(3), ", ", col!(4), ", ", col!(5), ", ?2, ?2, ?2 FROM json_each(?1, '$.children'); ",
    "INSERT INTO report_dirty_days (report_date, branch_id, marked_at) SELECT ", col!(0), ", ", col!(1),
    ", ?2 FROM json_each(?1, '$.dirty') WHERE true ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = excluded.marked_at; ",
    "UPDATE jobs SET status = 'completed', result = json_extract(k.value, '$[1]'), attempts = attempts + 1, ",
    "lease_owner = NULL, lease_until = NULL, finished_at = ?2, updated_at = ?2 ",
    "FROM json_each(?1, '$.done') k WHERE jobs.id = json_extract(k.value, '$[0]'); ",
    "COMMIT;"
);

async fn process(conn: &mut SqliteConnection, batch: &[PreparedDetection], now: Timestamp) -> Result<Vec<ProcessedDetection>, StorageError> {
    let now_s = ts(now);
    let ids: Vec<String> = batch.iter().map(|d| d.job.job_id.to_string()).collect();
    // Person-days of the whole batch (a superset of the pending jobs' days: harmless).
    let all_days = group_person_days(batch);
    let day_keys: Vec<Value> = all_days.iter().map(|d| json!([d.re_id, d.date.to_string()])).collect();
    let state = json!({"jobs": ids, "days": day_keys}).to_string();

    let mut pending = HashSet::new();
    let mut existing: HashMap<(String, String), (String, Option<String>)> = HashMap::new();
    let mut counted_branches: HashSet<(String, String, i64)> = HashSet::new();
    let mut notify_pairs: HashSet<(i64, String)> = HashSet::new();
    let (mut first_detection, mut first_event) = (1i64, 1i64);
    for row in sqlx::query(READ_STATE).bind(state).fetch_all(&mut *conn).await.map_err(map_err)? {
        match row.get::<&str, _>(0) {
            "job" => {
                pending.insert(row.get::<String, _>(1));
            }
            "day" => {
                existing.insert((row.get(1), row.get(2)), (row.get(3), row.get(4)));
            }
            "branch" => {
                counted_branches.insert((row.get(1), row.get(2), row.get(3)));
            }
            "ids" => (first_detection, first_event) = (row.get(1), row.get(2)),
            _ => {
                notify_pairs.insert((row.get(1), row.get(2)));
            }
        }
    }

    let mut seen = HashSet::new();
    let live: Vec<&PreparedDetection> =
        batch.iter().filter(|d| pending.contains(&d.job.job_id.to_string()) && seen.insert(d.job.job_id)).collect();
    let mut results = Vec::with_capacity(batch.len());

    let days = group_person_days(live.iter().copied());
    let day_keys: Vec<(String, String)> = days.iter().map(|d| (d.re_id.clone(), d.date.to_string())).collect();
    let inactive: Vec<bool> =
        day_keys.iter().map(|k| existing.get(k).is_some_and(|(status, _)| status == "inactive")).collect();

    // Person-days: counters add, a branch counts once per day, times by min/max, features merge.
    let mut branch_rows = Vec::new();
    let mut upserts = Vec::new();
    for (i, d) in days.iter().enumerate().filter(|(i, _)| !inactive[*i]) {
        let key = &day_keys[i];
        let mut new_branches = 0;
        for b in &d.branches {
            if !counted_branches.contains(&(key.0.clone(), key.1.clone(), *b)) {
                new_branches += 1;
                branch_rows.push(json!([key.0, key.1, b]));
            }
        }
        let old = existing.get(key).and_then(|(_, f)| f.as_deref()).and_then(|f| serde_json::from_str(f).ok());
        let features = merge_features(old.as_ref(), d.features.as_ref());
        upserts.push(json!([key.0, key.1, ts(d.first_at), features, ts(d.last_at), new_branches, d.actual_count]));
    }
    let mut tracked = vec![true; live.len()];
    for (i, day) in days.iter().enumerate() {
        if inactive[i] {
            for &m in &day.members {
                tracked[m] = false;
            }
        }
    }

    // Row ids are assigned here (one writer), so each job's result can name its rows.
    let mut rows = Vec::with_capacity(live.len());
    let mut children = Vec::new();
    let mut files = Vec::new();
    let mut dirty: HashSet<(String, i64)> = HashSet::new();
    let mut completions = Vec::with_capacity(live.len());
    for (i, d) in live.iter().enumerate() {
        let job = &d.job;
        let (detection_id, event_log_id) = (first_detection + i as i64, first_event + i as i64);
        rows.push(json!([
            detection_id,
            job.re_id,
            job.branch_id,
            job.device_id,
            ts(job.detected_at),
            d.date.to_string(),
            d.hour,
            job.detected_count,
            job.detection_data,
            job.person_features,
            job.job_id.to_string(),
            job.image.as_ref().map(|b| b.path.clone()),
            event_log_id,
        ]));
        if tracked[i] && notify_pairs.contains(&(job.branch_id, job.device_id.clone())) {
            children.push(child(Queue::Notifications, "notify_detection", json!({"event_log_id": event_log_id})));
        }
        if let Some(image) = &job.image {
            children.push(child(Queue::Images, "process_image", json!({"event_log_id": event_log_id, "image_path": image.path})));
            files.push(json!([image.path, image.mime, image.size, image.width, image.height, event_log_id,
                json!({"job_id": job.job_id, "kind": "event_image"})]));
        }
        dirty.insert((d.date.to_string(), job.branch_id));
        let result = ProcessedDetection {
            job_id: job.job_id,
            outcome: if tracked[i] { DetectionOutcome::Counted } else { DetectionOutcome::TrackingDisabled },
            detection_date: d.date,
            detection_id: Some(detection_id),
            event_log_id: Some(event_log_id),
        };
        completions.push(json!([job.job_id.to_string(), serde_json::to_value(&result).expect("result serializes")]));
        results.push(result);
    }
    let dirty: Vec<Value> = dirty.into_iter().map(|(date, branch)| json!([date, branch])).collect();

    let writes = json!({
        "branch_days": branch_rows,
        "days": upserts,
        "rows": rows,
        "files": files,
        "children": children,
        "dirty": dirty,
        "done": completions,
    });
    sqlx::query(WRITE_BATCH)
        .bind(writes.to_string())
        .bind(&now_s)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;

    for d in batch {
        if !seen.contains(&d.job.job_id) {
            results.push(ProcessedDetection {
                job_id: d.job.job_id,
                outcome: DetectionOutcome::AlreadyProcessed,
                detection_date: d.date,
                detection_id: None,
                event_log_id: None,
            });
        }
    }
    Ok(results)
}

/// A child job row: `[id, queue, kind, priority, payload, max_attempts]`.
fn child(queue: Queue, kind: &str, payload: Value) -> Value {
    json!([JobId::new().to_string(), queue.as_str(), kind, queue.priority(), payload, queue.default_retry().max_attempts])
}
