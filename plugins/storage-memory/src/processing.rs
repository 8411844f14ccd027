//! Processing a batch: load the [`ProcessingState`] of the batch's keys, let the core plan
//! it ([`Plan::new`] holds every person-day rule), apply the plan — step by step as the
//! SQLite backend does, all under the one lock the caller holds. That makes the batch
//! atomic and serial, so the plan's predicted membership facts are exact.

use cctv_core::jobs::{JobId, Queue};
use cctv_core::json_text::JsonText;
use cctv_core::person_day::PreparedDetection;
use cctv_core::records::Record;
use cctv_core::storage::{ProcessedDetection, StorageError};
use cctv_processing::{BatchKeys, PersonDayState, Plan, ProcessingState, image_metadata};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::state::{
    Detection, Job, JobStatus, MEMBERSHIPS, PERSON_DAYS, State, get_json, get_str, get_ts, ts_value,
};

const EVENT_LOGS: &str = "event_logs";
const FILES: &str = "storage_files";

fn object(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => Record::new(),
    }
}

/// What exists for the batch's keys.
fn load(state: &State, keys: BatchKeys) -> ProcessingState {
    let mut loaded = ProcessingState::default();
    for id in keys.jobs {
        if state
            .jobs
            .get(&id)
            .is_none_or(|j| j.status == JobStatus::Queued)
            && !state.processed_imports.contains(&id)
        {
            loaded.pending.insert(id);
        }
    }
    for key in keys.person_days {
        if let Some(rec) = state
            .person_index
            .get(&key)
            .and_then(|id| state.row(PERSON_DAYS, *id))
        {
            loaded.person_days.insert(
                key.clone(),
                PersonDayState {
                    inactive: get_str(rec, "status") == Some("inactive"),
                    appearance_features: get_json(rec, "appearance_features"),
                },
            );
        }
        for (branch, row) in state.member_index.get(&key).into_iter().flatten() {
            let counted = state
                .row(MEMBERSHIPS, *row)
                .and_then(|r| r.get("counted"))
                .and_then(Value::as_bool)
                .unwrap_or(true);
            loaded
                .memberships
                .insert((key.0.clone(), key.1, *branch), counted);
        }
    }
    for rec in state.rows("branch_event_settings") {
        let on = |c: &str| rec.get(c).and_then(Value::as_bool) == Some(true);
        if on("is_active")
            && (on("whatsapp_enabled") || on("webhook_enabled"))
            && let (Some(branch), Some(device)) = (
                rec.get("branch_id").and_then(Value::as_i64),
                get_str(rec, "device_id"),
            )
        {
            loaded.notify.insert((branch, device.to_owned()));
        }
    }
    loaded
}

pub(crate) fn process(
    state: &mut State,
    batch: &[PreparedDetection],
    now: Timestamp,
) -> Result<Vec<ProcessedDetection>, StorageError> {
    let loaded = load(state, BatchKeys::of(batch));
    let plan = Plan::new(batch, &loaded);
    // Row ids are assigned here (one writer), so each job's result can name its rows.
    let first_detection = state.detections.last().map_or(1, |d| d.id + 1);
    let first_event = state.tables.get(EVENT_LOGS).map_or(1, |t| t.next_id);
    let ids: Vec<(i64, i64)> = (0..plan.detections.len() as i64)
        .map(|i| (first_detection + i, first_event + i))
        .collect();
    let results = plan.results(&ids);
    // The only fallible step, before anything changes: the batch stays all or nothing.
    let encoded = results
        .iter()
        .map(|r| serde_json::to_value(r).map_err(|e| StorageError::Corrupt(e.to_string().into())))
        .collect::<Result<Vec<_>, _>>()?;
    let facts = plan.predicted_facts();

    for m in &plan.memberships {
        let key = (m.re_id.clone(), m.date);
        let existing = state
            .member_index
            .get(&key)
            .and_then(|l| l.iter().find(|(b, _)| *b == m.branch_id))
            .map(|(_, row)| *row);
        match existing.and_then(|row| state.row_mut(MEMBERSHIPS, row)) {
            Some(rec) => {
                let counted = rec.get("counted").and_then(Value::as_bool).unwrap_or(true);
                rec.insert("counted".into(), Value::from(counted || m.counted));
                let first =
                    get_ts(rec, "first_detected_at").map_or(m.first_at, |t| t.min(m.first_at));
                let last = get_ts(rec, "last_detected_at").map_or(m.last_at, |t| t.max(m.last_at));
                let count = rec.get("detections").and_then(Value::as_i64).unwrap_or(0);
                rec.insert("first_detected_at".into(), ts_value(first));
                rec.insert("last_detected_at".into(), ts_value(last));
                rec.insert("detections".into(), Value::from(count + m.detections));
            }
            None => {
                let rec = object(json!({
                    "re_id": m.re_id, "detection_date": m.date.to_string(),
                    "branch_id": m.branch_id, "counted": m.counted,
                    "first_detected_at": ts_value(m.first_at), "last_detected_at": ts_value(m.last_at),
                    "detections": m.detections,
                }));
                let row = state.insert_raw(MEMBERSHIPS, rec, now);
                state
                    .member_index
                    .entry(key)
                    .or_default()
                    .push((m.branch_id, row));
            }
        }
    }

    for d in plan.person_days(facts) {
        let key = (d.re_id.clone(), d.date);
        let features = d.features.clone().unwrap_or(Value::Null);
        let existing = state.person_index.get(&key).copied();
        match existing.and_then(|row| state.row_mut(PERSON_DAYS, row)) {
            Some(rec) => {
                let add = |rec: &mut Record, c: &str, n: i64| {
                    let v = rec.get(c).and_then(Value::as_i64).unwrap_or(0) + n;
                    rec.insert(c.to_owned(), Value::from(v));
                };
                add(rec, "total_actual_count", d.actual_count);
                add(rec, "total_detection_branch_count", d.branch_count);
                // coalesce: a row made by a status edit has no times yet.
                for (c, earlier) in [
                    ("first_detected_at", true),
                    ("detection_time", true),
                    ("last_detected_at", false),
                ] {
                    let new = if earlier { d.first_at } else { d.last_at };
                    let t = match get_ts(rec, c) {
                        Some(old) if earlier => old.min(new),
                        Some(old) => old.max(new),
                        None => new,
                    };
                    rec.insert(c.into(), ts_value(t));
                }
                rec.insert("appearance_features".into(), features);
                rec.insert("updated_at".into(), ts_value(now));
            }
            None => {
                let rec = object(json!({
                    "re_id": d.re_id, "detection_date": d.date.to_string(),
                    "detection_time": ts_value(d.first_at), "person_name": null,
                    "appearance_features": features,
                    "first_detected_at": ts_value(d.first_at), "last_detected_at": ts_value(d.last_at),
                    "total_detection_branch_count": d.branch_count,
                    "total_actual_count": d.actual_count, "status": "active",
                }));
                let row = state.insert_raw(PERSON_DAYS, rec, now);
                state.person_index.insert(key, row);
            }
        }
    }

    for (i, d) in plan.detections.iter().enumerate() {
        let job = &d.job;
        state.detections.push(Detection {
            id: ids[i].0,
            re_id: job.re_id.clone(),
            branch_id: job.branch_id,
            device_id: job.device_id.clone(),
            detected_at: job.detected_at,
            date: d.date,
            hour: d.hour,
            detected_count: i64::from(job.detected_count),
            detection_data: job.detection_data.as_ref().map(JsonText::to_value),
            person_features: job.person_features.clone(),
            created_at: now,
        });
        let event = object(json!({
            "branch_id": job.branch_id, "device_id": job.device_id, "re_id": job.re_id,
            "event_type": "detection", "detected_count": job.detected_count,
            "image_path": job.image.as_ref().map(|b| b.path.clone()), "thumbnail_path": null,
            "image_error": null, "event_data": job.detection_data.as_ref().map(JsonText::to_value),
            "event_timestamp": ts_value(job.detected_at), "event_date": d.date.to_string(),
            "detection_id": ids[i].0, "job_id": job.job_id.to_string(),
            "image_sent": false, "message_sent": false, "notification_sent": false,
        }));
        state.insert_raw(EVENT_LOGS, event, now);
    }

    for (i, image) in plan.images() {
        if state
            .rows(FILES)
            .any(|r| get_str(r, "file_path") == Some(image.path.as_str()))
        {
            continue;
        }
        let file = object(json!({
            "file_path": image.path, "file_type": image.mime, "file_size": image.size,
            "width": image.width, "height": image.height, "storage_disk": "local",
            "related_table": EVENT_LOGS, "related_id": ids[i].1,
            "metadata": image_metadata(plan.detections[i]), "uploaded_by": null,
        }));
        state.insert_raw(FILES, file, now);
    }

    for c in &plan.children {
        state.jobs.insert(
            JobId::new(),
            Job {
                queue: c.queue,
                kind: c.kind.to_owned(),
                payload: c.payload(ids[c.detection].1),
                status: JobStatus::Queued,
                attempts: 0,
                max_attempts: c.queue.default_retry().max_attempts,
                available_at: now,
                lease: None,
                last_error: None,
                result: None,
                credential_id: 0,
                created_at: now,
                finished_at: None,
            },
        );
    }

    for key in &plan.dirty_days {
        state.dirty_days.insert(*key, now);
    }
    for t in plan.day_counts(facts) {
        let row = state.day_counts.entry((t.date, t.branch_key)).or_default();
        row.detections += t.detections;
        row.detected_count += t.detected_count;
        row.persons += t.persons;
        row.events += t.events;
    }
    for t in &plan.device_counts {
        let row = state
            .device_counts
            .entry((t.date, t.branch_id, t.device_id.clone()))
            .or_default();
        row.0 += t.detections;
        row.1 += t.detected_count;
    }

    // Complete the jobs with their effects: a job straight from the intake would get its
    // row here in SQLite; here every accepted job has one, a hand-made batch may not.
    let queue = Queue::Detections;
    let mut encoded = encoded.into_iter();
    for (d, result) in plan.detections.iter().zip(encoded.by_ref()) {
        let job = &d.job;
        let row = state.jobs.entry(job.job_id).or_insert_with(|| Job {
            queue,
            kind: "detection".into(),
            payload: json!({}),
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: queue.default_retry().max_attempts,
            available_at: job.received_at,
            lease: None,
            last_error: None,
            result: None,
            credential_id: job.credential_id.unwrap_or(0),
            created_at: job.received_at,
            finished_at: None,
        });
        row.complete(result, now);
        if job.imported {
            state.processed_imports.insert(job.job_id);
        }
    }
    // A skipped job still queued was processed before (an import's, accepted again):
    // completed now, so that nothing takes it up again.
    for (skipped, result) in results[plan.detections.len()..].iter().zip(encoded) {
        if let Some(row) = state.jobs.get_mut(&skipped.job_id)
            && row.status == JobStatus::Queued
        {
            row.complete(result, now);
        }
    }
    Ok(results)
}
