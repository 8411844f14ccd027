//! Durable acceptance (group commit) and batched processing of detections.
//!
//! There is one writer connection, so every transaction here is serialised: reading the
//! current state and then writing it back is race-free without row locks.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::{PreparedDetection, group_person_days, merge_features};
use cctv_core::storage::{AcceptItem, AcceptOutcome, DetectionOutcome, IngestStore, ProcessedDetection, StorageError};
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

use crate::{SqliteStore, chunked, json_text, map_err, placeholders, ts};

#[async_trait]
impl IngestStore for SqliteStore {
    async fn accept_detections(&self, batch: &[AcceptItem], now: Timestamp) -> Result<Vec<AcceptOutcome>, StorageError> {
        let now_s = ts(now);
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let mut outcomes = vec![AcceptOutcome::Accepted; batch.len()];

        let keyed: Vec<(usize, i64, &str)> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.job.event_id.as_deref().map(|k| (i, item.job.credential_id.unwrap_or(0), k)))
            .collect();
        if !keyed.is_empty() {
            let mut existing: HashMap<(i64, String), String> = HashMap::new();
            for chunk in chunked(&keyed) {
                let sql = format!(
                    "SELECT credential_id, idempotency_key, id FROM jobs WHERE (credential_id, idempotency_key) IN (VALUES {})",
                    placeholders(chunk.len(), 2)
                );
                let mut q = sqlx::query(&sql);
                for (_, credential, key) in chunk {
                    q = q.bind(*credential).bind(*key);
                }
                for row in q.fetch_all(&mut *tx).await.map_err(map_err)? {
                    existing.insert((row.get(0), row.get(1)), row.get(2));
                }
            }
            for (i, credential, key) in &keyed {
                if let Some(id) = existing.get(&(*credential, (*key).to_owned())) {
                    let id = id.parse::<JobId>().map_err(|e| StorageError::Corrupt(format!("job id: {e}")))?;
                    outcomes[*i] = AcceptOutcome::Duplicate(id);
                }
            }
        }

        let fresh: Vec<&AcceptItem> =
            batch.iter().zip(&outcomes).filter(|(_, o)| **o == AcceptOutcome::Accepted).map(|(item, _)| item).collect();
        let max_attempts = i64::from(Queue::Detections.default_retry().max_attempts);
        for chunk in chunked(&fresh) {
            let sql = format!(
                "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, lease_owner, lease_until,
                                   credential_id, idempotency_key, created_at, updated_at) VALUES {}",
                placeholders(chunk.len(), 13)
            );
            let mut q = sqlx::query(&sql);
            for item in chunk {
                let job = &item.job;
                let payload = serde_json::to_string(job).map_err(|e| StorageError::Rejected(e.to_string()))?;
                q = q
                    .bind(job.job_id.to_string())
                    .bind(Queue::Detections.as_str())
                    .bind("detection")
                    .bind(Queue::Detections.priority())
                    .bind(payload)
                    .bind(max_attempts)
                    .bind(&now_s)
                    .bind(item.lease.as_ref().map(|l| l.owner.clone()))
                    .bind(item.lease.as_ref().map(|l| ts(l.until)))
                    .bind(job.credential_id.unwrap_or(0))
                    .bind(job.event_id.clone())
                    .bind(&now_s)
                    .bind(&now_s);
            }
            q.execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(outcomes)
    }

    async fn process_detections(&self, batch: &[PreparedDetection], now: Timestamp) -> Result<Vec<ProcessedDetection>, StorageError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        let results = process(&mut tx, batch, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(results)
    }
}

/// A child job of a processed detection (the outbox).
struct Child {
    queue: Queue,
    kind: &'static str,
    payload: Value,
}

async fn process(conn: &mut SqliteConnection, batch: &[PreparedDetection], now: Timestamp) -> Result<Vec<ProcessedDetection>, StorageError> {
    let now_s = ts(now);

    // Jobs still pending: a redelivered job that already completed is skipped whole.
    let ids: Vec<String> = batch.iter().map(|d| d.job.job_id.to_string()).collect();
    let mut pending: HashSet<String> = HashSet::with_capacity(ids.len());
    for chunk in chunked(&ids) {
        let sql = format!("SELECT id FROM jobs WHERE status = 'queued' AND id IN ({})", vec!["?"; chunk.len()].join(", "));
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        pending.extend(q.fetch_all(&mut *conn).await.map_err(map_err)?);
    }
    let mut seen = HashSet::new();
    let live: Vec<&PreparedDetection> =
        batch.iter().filter(|d| pending.contains(&d.job.job_id.to_string()) && seen.insert(d.job.job_id)).collect();

    // Current person-day rows of this batch.
    let days = group_person_days(live.iter().copied());
    let day_keys: Vec<(String, String)> = days.iter().map(|d| (d.re_id.clone(), d.date.to_string())).collect();
    let mut existing: HashMap<(String, String), (String, Option<String>)> = HashMap::new();
    for chunk in chunked(&day_keys) {
        let sql = format!(
            "SELECT re_id, detection_date, status, appearance_features FROM re_id_masters WHERE (re_id, detection_date) IN (VALUES {})",
            placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for (re_id, date) in chunk {
            q = q.bind(re_id).bind(date);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
            existing.insert((row.get(0), row.get(1)), (row.get(2), row.get(3)));
        }
    }
    let inactive: HashSet<usize> = days
        .iter()
        .enumerate()
        .filter(|(i, _)| existing.get(&day_keys[*i]).is_some_and(|(status, _)| status == "inactive"))
        .map(|(i, _)| i)
        .collect();

    // Branches that count for the first time on their person-day (primary key decides).
    let branch_rows: Vec<(&str, String, i64)> = days
        .iter()
        .enumerate()
        .filter(|(i, _)| !inactive.contains(i))
        .flat_map(|(i, d)| {
            let date = &day_keys[i].1;
            d.branches.iter().map(move |b| (d.re_id.as_str(), date.clone(), *b))
        })
        .collect();
    let mut new_branches: HashMap<(String, String), i64> = HashMap::new();
    for chunk in chunked(&branch_rows) {
        let sql = format!(
            "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id) VALUES {} ON CONFLICT DO NOTHING RETURNING re_id, detection_date",
            placeholders(chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (re_id, date, branch) in chunk {
            q = q.bind(*re_id).bind(date).bind(*branch);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
            *new_branches.entry((row.get(0), row.get(1))).or_default() += 1;
        }
    }

    // Person-day upserts: counters add, times move by min/max, features merge.
    let active_days: Vec<usize> = (0..days.len()).filter(|i| !inactive.contains(i)).collect();
    for chunk in chunked(&active_days) {
        let sql = format!(
            "INSERT INTO re_id_masters (re_id, detection_date, detection_time, appearance_features, first_detected_at, last_detected_at,
                                        total_detection_branch_count, total_actual_count, status, created_at, updated_at)
             VALUES {}
             ON CONFLICT (re_id, detection_date) DO UPDATE SET
               total_actual_count = total_actual_count + excluded.total_actual_count,
               total_detection_branch_count = total_detection_branch_count + excluded.total_detection_branch_count,
               first_detected_at = min(coalesce(first_detected_at, excluded.first_detected_at), excluded.first_detected_at),
               detection_time = min(coalesce(detection_time, excluded.detection_time), excluded.detection_time),
               last_detected_at = max(coalesce(last_detected_at, excluded.last_detected_at), excluded.last_detected_at),
               appearance_features = excluded.appearance_features,
               updated_at = excluded.updated_at",
            placeholders(chunk.len(), 11)
        );
        let mut q = sqlx::query(&sql);
        for &i in chunk {
            let d = &days[i];
            let key = &day_keys[i];
            let old_features = existing.get(key).and_then(|(_, f)| f.as_deref()).and_then(|f| serde_json::from_str(f).ok());
            let features = merge_features(old_features.as_ref(), d.features.as_ref());
            let first = ts(d.first_at);
            q = q
                .bind(&d.re_id)
                .bind(&key.1)
                .bind(first.clone())
                .bind(json_text(&features))
                .bind(first)
                .bind(ts(d.last_at))
                .bind(new_branches.get(key).copied().unwrap_or(0))
                .bind(d.actual_count)
                .bind("active")
                .bind(&now_s)
                .bind(&now_s);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;
    }

    // Which detections were tracked.
    let mut tracked = vec![true; live.len()];
    for &i in &inactive {
        for &m in &days[i].members {
            tracked[m] = false;
        }
    }

    // Row ids are assigned here (one writer), so each job's result can name its rows.
    let first_detection_id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM re_id_branch_detections")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let first_event_id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM event_logs")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let indexed: Vec<(usize, &PreparedDetection)> = live.iter().copied().enumerate().collect();
    for chunk in chunked(&indexed) {
        let sql = format!(
            "INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date, detection_hour,
                                                  detected_count, detection_data, person_features, job_id, created_at, updated_at)
             VALUES {}",
            placeholders(chunk.len(), 13)
        );
        let mut q = sqlx::query(&sql);
        for (i, d) in chunk {
            q = q
                .bind(first_detection_id + *i as i64)
                .bind(&d.job.re_id)
                .bind(d.job.branch_id)
                .bind(&d.job.device_id)
                .bind(ts(d.job.detected_at))
                .bind(d.date.to_string())
                .bind(i64::from(d.hour))
                .bind(d.job.detected_count)
                .bind(json_text(&d.job.detection_data))
                .bind(json_text(&d.job.person_features))
                .bind(d.job.job_id.to_string())
                .bind(&now_s)
                .bind(&now_s);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;

        let sql = format!(
            "INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, image_path, event_data,
                                     event_timestamp, event_date, detection_id, job_id, created_at, updated_at)
             VALUES {}",
            placeholders(chunk.len(), 14)
        );
        let mut q = sqlx::query(&sql);
        for (i, d) in chunk {
            q = q
                .bind(first_event_id + *i as i64)
                .bind(d.job.branch_id)
                .bind(&d.job.device_id)
                .bind(&d.job.re_id)
                .bind("detection")
                .bind(d.job.detected_count)
                .bind(d.job.image.as_ref().map(|b| b.path.clone()))
                .bind(json_text(&d.job.detection_data))
                .bind(ts(d.job.detected_at))
                .bind(d.date.to_string())
                .bind(first_detection_id + *i as i64)
                .bind(d.job.job_id.to_string())
                .bind(&now_s)
                .bind(&now_s);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;
    }

    // Outbox: notification and image jobs, image registry rows, dirty report days.
    let notify_pairs: HashSet<(i64, String)> = {
        let rows = sqlx::query("SELECT branch_id, device_id FROM branch_event_settings WHERE is_active = 1 AND whatsapp_enabled = 1")
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let mut children = Vec::new();
    for (i, d) in &indexed {
        let event_log_id = first_event_id + *i as i64;
        if tracked[*i] && notify_pairs.contains(&(d.job.branch_id, d.job.device_id.clone())) {
            children.push(Child { queue: Queue::Notifications, kind: "notify_detection", payload: json!({"event_log_id": event_log_id}) });
        }
        if let Some(image) = &d.job.image {
            children.push(Child {
                queue: Queue::Images,
                kind: "process_image",
                payload: json!({"event_log_id": event_log_id, "image_path": image.path}),
            });
            sqlx::query(
                "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, metadata, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, 'local', 'event_logs', ?, ?, ?, ?) ON CONFLICT (file_path) DO NOTHING",
            )
            .bind(&image.path)
            .bind(&image.mime)
            .bind(image.size as i64)
            .bind(image.width.map(i64::from))
            .bind(image.height.map(i64::from))
            .bind(event_log_id)
            .bind(json!({"job_id": d.job.job_id, "kind": "event_image"}).to_string())
            .bind(&now_s)
            .bind(&now_s)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        }
    }
    for chunk in chunked(&children) {
        let sql = format!(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at) VALUES {}",
            placeholders(chunk.len(), 9)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q
                .bind(JobId::new().to_string())
                .bind(c.queue.as_str())
                .bind(c.kind)
                .bind(c.queue.priority())
                .bind(c.payload.to_string())
                .bind(i64::from(c.queue.default_retry().max_attempts))
                .bind(&now_s)
                .bind(&now_s)
                .bind(&now_s);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;
    }
    let dirty: Vec<(String, i64)> = {
        let set: HashSet<(String, i64)> = live.iter().map(|d| (d.date.to_string(), d.job.branch_id)).collect();
        set.into_iter().collect()
    };
    for chunk in chunked(&dirty) {
        let sql = format!(
            "INSERT INTO report_dirty_days (report_date, branch_id, marked_at) VALUES {}
             ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = excluded.marked_at",
            placeholders(chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (date, branch) in chunk {
            q = q.bind(date).bind(*branch).bind(&now_s);
        }
        q.execute(&mut *conn).await.map_err(map_err)?;
    }

    // Complete the jobs in the same transaction as their effects.
    let mut results = Vec::with_capacity(batch.len());
    let mut completions = Vec::with_capacity(live.len());
    for (i, d) in &indexed {
        let outcome = if tracked[*i] { DetectionOutcome::Counted } else { DetectionOutcome::TrackingDisabled };
        let result = ProcessedDetection {
            job_id: d.job.job_id,
            outcome,
            detection_date: d.date,
            detection_id: Some(first_detection_id + *i as i64),
            event_log_id: Some(first_event_id + *i as i64),
        };
        completions.push((d.job.job_id.to_string(), serde_json::to_string(&result).expect("result serializes")));
        results.push(result);
    }
    for chunk in chunked(&completions) {
        let sql = format!(
            "WITH done (id, result) AS (VALUES {})
             UPDATE jobs SET status = 'completed', result = done.result, attempts = attempts + 1, lease_owner = NULL,
                             lease_until = NULL, finished_at = ?, updated_at = ?
             FROM done WHERE jobs.id = done.id",
            placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for (id, result) in chunk {
            q = q.bind(id).bind(result);
        }
        q.bind(&now_s).bind(&now_s).execute(&mut *conn).await.map_err(map_err)?;
    }
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
