//! Durable acceptance (group commit) and batched processing on PostgreSQL.
//!
//! Concurrent batches (several workers, several nodes) are made safe by: locking the
//! batch's job rows first (a redelivered job waits, then sees it is completed), locking
//! existing person-day rows in `(re_id, date)` order, letting the `re_id_branch_days`
//! primary key decide which branch is new, and adding counters in SQL (`x = x + delta`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cctv_core::day_counts::{day_count_deltas, device_day_deltas};
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::{PreparedDetection, group_person_days};
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, DetectionOutcome, IngestStore, ProcessedDetection, StorageError,
};
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PgStore, is_retryable, map_err, odt, pg_date};

#[async_trait]
impl IngestStore for PgStore {
    async fn accept_detections(
        &self,
        batch: &[AcceptItem],
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        let now = odt(now);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut outcomes = vec![AcceptOutcome::Accepted; batch.len()];

        let keyed: Vec<(usize, i64, String)> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                item.job
                    .dedup_key()
                    .map(|k| (i, item.job.credential_id.unwrap_or(0), k))
            })
            .collect();
        let existing = existing_keys(&mut tx, &keyed).await?;
        // Two items of one batch with the same key: the first is stored, the others are
        // its duplicates.
        let mut first_in_batch: HashMap<(i64, &str), usize> = HashMap::new();
        for (i, credential, key) in &keyed {
            if let Some((id, hash)) = existing.get(&(*credential, key.clone())) {
                outcomes[*i] = AcceptOutcome::Duplicate {
                    original: JobId(*id),
                    request_hash: hash.clone(),
                };
            } else if let Some(first) = first_in_batch.get(&(*credential, key.as_str())) {
                outcomes[*i] = AcceptOutcome::Duplicate {
                    original: batch[*first].job.job_id,
                    request_hash: batch[*first].job.request_hash.clone(),
                };
            } else {
                first_in_batch.insert((*credential, key.as_str()), *i);
            }
        }

        let fresh: Vec<&AcceptItem> = batch
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == AcceptOutcome::Accepted)
            .map(|(item, _)| item)
            .collect();
        if !fresh.is_empty() {
            let mut ids = Vec::with_capacity(fresh.len());
            let mut payloads = Vec::with_capacity(fresh.len());
            let mut owners = Vec::with_capacity(fresh.len());
            let mut untils = Vec::with_capacity(fresh.len());
            let mut credentials = Vec::with_capacity(fresh.len());
            let mut keys = Vec::with_capacity(fresh.len());
            let mut hashes = Vec::with_capacity(fresh.len());
            for item in &fresh {
                ids.push(item.job.job_id.0);
                payloads.push(
                    serde_json::to_value(&item.job)
                        .map_err(|e| StorageError::Rejected(e.to_string()))?,
                );
                owners.push(item.lease.as_ref().map(|l| l.owner.clone()));
                untils.push(item.lease.as_ref().map(|l| odt(l.until)));
                credentials.push(item.job.credential_id.unwrap_or(0));
                keys.push(item.job.dedup_key());
                hashes.push(item.job.request_hash.clone());
            }
            let inserted: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, lease_owner, lease_until,
                                   credential_id, idempotency_key, request_hash, created_at, updated_at)
                 SELECT u.id, 'detections', 'detection', $7, u.payload, $8, $9, u.owner, u.until, u.credential, u.key, u.hash, $9, $9
                 FROM UNNEST($1::uuid[], $2::jsonb[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[], $10::text[])
                      AS u(id, payload, owner, until, credential, key, hash)
                 ON CONFLICT (credential_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                 RETURNING id",
            )
            .bind(&ids)
            .bind(&payloads)
            .bind(&owners)
            .bind(&untils)
            .bind(&credentials)
            .bind(&keys)
            .bind(Queue::Detections.priority())
            .bind(Queue::Detections.default_retry().max_attempts as i32)
            .bind(now)
            .bind(&hashes)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            if inserted.len() != ids.len() {
                // Another node stored the same event id between our check and our insert.
                let inserted: HashSet<Uuid> = inserted.into_iter().collect();
                let raced: Vec<(usize, i64, String)> = keyed
                    .iter()
                    .filter(|(i, _, _)| {
                        outcomes[*i] == AcceptOutcome::Accepted
                            && !inserted.contains(&batch[*i].job.job_id.0)
                    })
                    .cloned()
                    .collect();
                let existing = existing_keys(&mut tx, &raced).await?;
                for (i, credential, key) in &raced {
                    let (id, hash) = existing
                        .get(&(*credential, key.clone()))
                        .ok_or_else(|| StorageError::Unavailable("idempotency race".into()))?;
                    outcomes[*i] = AcceptOutcome::Duplicate {
                        original: JobId(*id),
                        request_hash: hash.clone(),
                    };
                }
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(outcomes)
    }

    async fn process_detections(
        &self,
        batch: &[PreparedDetection],
        now: Timestamp,
    ) -> Result<Vec<ProcessedDetection>, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            match process(&mut tx, batch, now).await {
                Ok(results) => match tx.commit().await {
                    Ok(()) => return Ok(results),
                    Err(e) if is_retryable(&e) && attempt < 5 => continue,
                    Err(e) => return Err(map_err(e)),
                },
                Err(e) if is_retryable(&e) && attempt < 5 => continue,
                Err(e) => return Err(map_err(e)),
            }
        }
    }
}

async fn existing_keys(
    conn: &mut PgConnection,
    keyed: &[(usize, i64, String)],
) -> Result<HashMap<(i64, String), (Uuid, Option<String>)>, StorageError> {
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let credentials: Vec<i64> = keyed.iter().map(|(_, c, _)| *c).collect();
    let keys: Vec<&str> = keyed.iter().map(|(_, _, k)| k.as_str()).collect();
    let rows = sqlx::query(
        "SELECT j.credential_id, j.idempotency_key, j.id, j.request_hash FROM jobs j
         JOIN UNNEST($1::bigint[], $2::text[]) AS k(credential, key) ON j.credential_id = k.credential AND j.idempotency_key = k.key",
    )
    .bind(credentials)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect())
}

struct Child {
    queue: Queue,
    kind: &'static str,
    payload: Value,
}

async fn process(
    conn: &mut PgConnection,
    batch: &[PreparedDetection],
    now: Timestamp,
) -> Result<Vec<ProcessedDetection>, sqlx::Error> {
    let now_second = now.as_second();
    let now = odt(now);
    let mut ids: Vec<Uuid> = batch.iter().map(|d| d.job.job_id.0).collect();
    ids.sort();
    ids.dedup();
    let pending: HashSet<Uuid> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE id = ANY($1) AND status = 'queued' ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut seen = HashSet::new();
    let live: Vec<&PreparedDetection> = batch
        .iter()
        .filter(|d| pending.contains(&d.job.job_id.0) && seen.insert(d.job.job_id))
        .collect();

    let days = group_person_days(live.iter().copied());
    let day_re_ids: Vec<&str> = days.iter().map(|d| d.re_id.as_str()).collect();
    let day_dates: Vec<time::Date> = days.iter().map(|d| pg_date(d.date)).collect();
    let inactive_rows: HashSet<(String, time::Date)> = sqlx::query(
        "SELECT m.re_id, m.detection_date, m.status FROM re_id_masters m
         JOIN UNNEST($1::text[], $2::date[]) AS k(re_id, day) ON m.re_id = k.re_id AND m.detection_date = k.day
         ORDER BY m.re_id, m.detection_date FOR UPDATE OF m",
    )
    .bind(&day_re_ids)
    .bind(&day_dates)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter(|r| r.get::<&str, _>(2) == "inactive")
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let inactive: HashSet<usize> = (0..days.len())
        .filter(|i| inactive_rows.contains(&(days[*i].re_id.clone(), day_dates[*i])))
        .collect();

    // Every branch that saw the person that day gets a row; it counts towards the
    // person-day (`counted`) from its first tracked detection on. The primary key decides
    // which rows are new; `xmax = 0` tells an inserted row from a flipped one.
    let mut b_re_ids = Vec::new();
    let mut b_dates = Vec::new();
    let mut b_branches = Vec::new();
    let mut b_counted = Vec::new();
    for (i, d) in days.iter().enumerate() {
        for b in &d.branches {
            b_re_ids.push(d.re_id.as_str());
            b_dates.push(day_dates[i]);
            b_branches.push(*b);
            b_counted.push(!inactive.contains(&i));
        }
    }
    // Dates as returned by the database back to the batch's own (civil) dates.
    let civil: HashMap<time::Date, jiff::civil::Date> =
        live.iter().map(|d| (pg_date(d.date), d.date)).collect();
    let mut new_branches: HashMap<(String, time::Date), i64> = HashMap::new();
    let mut inserted_rows: HashMap<(String, time::Date), i64> = HashMap::new();
    let mut first_at_branch = Vec::new();
    for row in sqlx::query(
        "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::bigint[], $4::bool[])
         ON CONFLICT (re_id, detection_date, branch_id) DO UPDATE SET counted = TRUE
           WHERE NOT re_id_branch_days.counted AND EXCLUDED.counted
         RETURNING re_id, detection_date, branch_id, counted, (xmax = 0) AS inserted",
    )
    .bind(&b_re_ids)
    .bind(&b_dates)
    .bind(&b_branches)
    .bind(&b_counted)
    .fetch_all(&mut *conn)
    .await?
    {
        let key: (String, time::Date) = (row.get(0), row.get(1));
        if row.get::<bool, _>(3) {
            *new_branches.entry(key.clone()).or_default() += 1;
        }
        if row.get::<bool, _>(4) {
            if let Some(date) = civil.get(&key.1) {
                first_at_branch.push((*date, row.get::<i64, _>(2)));
            }
            *inserted_rows.entry(key).or_default() += 1;
        }
    }

    let active: Vec<usize> = (0..days.len()).filter(|i| !inactive.contains(i)).collect();
    if !active.is_empty() {
        let re_ids: Vec<&str> = active.iter().map(|i| days[*i].re_id.as_str()).collect();
        let dates: Vec<time::Date> = active.iter().map(|i| day_dates[*i]).collect();
        let firsts: Vec<OffsetDateTime> = active.iter().map(|i| odt(days[*i].first_at)).collect();
        let lasts: Vec<OffsetDateTime> = active.iter().map(|i| odt(days[*i].last_at)).collect();
        let features: Vec<Option<Value>> =
            active.iter().map(|i| days[*i].features.clone()).collect();
        let branch_deltas: Vec<i64> = active
            .iter()
            .map(|i| {
                new_branches
                    .get(&(days[*i].re_id.clone(), day_dates[*i]))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        let counts: Vec<i64> = active.iter().map(|i| days[*i].actual_count).collect();
        sqlx::query(
            "INSERT INTO re_id_masters (re_id, detection_date, detection_time, appearance_features, first_detected_at, last_detected_at,
                                        total_detection_branch_count, total_actual_count, status, created_at, updated_at)
             SELECT u.re_id, u.day, u.first_at, u.features, u.first_at, u.last_at, u.branches, u.total, 'active', $8, $8
             FROM UNNEST($1::text[], $2::date[], $3::timestamptz[], $4::timestamptz[], $5::jsonb[], $6::bigint[], $7::bigint[])
                  AS u(re_id, day, first_at, last_at, features, branches, total)
             ON CONFLICT (re_id, detection_date) DO UPDATE SET
               total_actual_count = re_id_masters.total_actual_count + EXCLUDED.total_actual_count,
               total_detection_branch_count = re_id_masters.total_detection_branch_count + EXCLUDED.total_detection_branch_count,
               first_detected_at = LEAST(re_id_masters.first_detected_at, EXCLUDED.first_detected_at),
               detection_time = LEAST(re_id_masters.detection_time, EXCLUDED.detection_time),
               last_detected_at = GREATEST(re_id_masters.last_detected_at, EXCLUDED.last_detected_at),
               appearance_features = CASE
                 WHEN jsonb_typeof(re_id_masters.appearance_features) = 'object' AND jsonb_typeof(EXCLUDED.appearance_features) = 'object'
                   THEN re_id_masters.appearance_features || EXCLUDED.appearance_features
                 ELSE COALESCE(EXCLUDED.appearance_features, re_id_masters.appearance_features) END,
               updated_at = EXCLUDED.updated_at
             WHERE re_id_masters.status = 'active'",
        )
        .bind(&re_ids)
        .bind(&dates)
        .bind(&firsts)
        .bind(&lasts)
        .bind(&features)
        .bind(&branch_deltas)
        .bind(&counts)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    // A person-day's first sighting: the rows this transaction inserted are all there are.
    // Checked after the person-day upsert, which serialises transactions on the same
    // person-day (read committed: a later one sees the earlier one's rows here).
    let mut first_of_day = Vec::new();
    if !inserted_rows.is_empty() {
        let mut keys: Vec<(&(String, time::Date), &i64)> = inserted_rows.iter().collect();
        keys.sort();
        let re_ids: Vec<&str> = keys.iter().map(|((r, _), _)| r.as_str()).collect();
        let dates: Vec<time::Date> = keys.iter().map(|((_, d), _)| *d).collect();
        let mine: Vec<i64> = keys.iter().map(|(_, n)| **n).collect();
        for row in sqlx::query(
            "SELECT k.day FROM UNNEST($1::text[], $2::date[], $3::bigint[]) AS k(re_id, day, mine)
             WHERE (SELECT count(*) FROM re_id_branch_days b WHERE b.re_id = k.re_id AND b.detection_date = k.day) = k.mine",
        )
        .bind(&re_ids)
        .bind(&dates)
        .bind(&mine)
        .fetch_all(&mut *conn)
        .await?
        {
            if let Some(date) = civil.get(&row.get::<time::Date, _>(0)) {
                first_of_day.push(*date);
            }
        }
    }

    let mut tracked = vec![true; live.len()];
    for &i in &inactive {
        for &m in &days[i].members {
            tracked[m] = false;
        }
    }

    let n = live.len() as i64;
    let detection_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('re_id_branch_detections', 'id')) FROM generate_series(1, $1)",
    )
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    let event_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('event_logs', 'id')) FROM generate_series(1, $1)",
    )
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    if !live.is_empty() {
        let re_ids: Vec<&str> = live.iter().map(|d| d.job.re_id.as_str()).collect();
        let branches: Vec<i64> = live.iter().map(|d| d.job.branch_id).collect();
        let devices: Vec<&str> = live.iter().map(|d| d.job.device_id.as_str()).collect();
        let times: Vec<OffsetDateTime> = live.iter().map(|d| odt(d.job.detected_at)).collect();
        let dates: Vec<time::Date> = live.iter().map(|d| pg_date(d.date)).collect();
        let hours: Vec<i16> = live.iter().map(|d| i16::from(d.hour)).collect();
        let counts: Vec<i64> = live
            .iter()
            .map(|d| i64::from(d.job.detected_count))
            .collect();
        let data: Vec<Option<Value>> = live.iter().map(|d| d.job.detection_data.clone()).collect();
        let features: Vec<Option<Value>> =
            live.iter().map(|d| d.job.person_features.clone()).collect();
        let job_ids: Vec<Uuid> = live.iter().map(|d| d.job.job_id.0).collect();
        let images: Vec<Option<String>> = live
            .iter()
            .map(|d| d.job.image.as_ref().map(|b| b.path.clone()))
            .collect();
        sqlx::query(
            "INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date, detection_hour,
                                                  detected_count, detection_data, person_features, job_id, created_at, updated_at)
             SELECT u.*, $12, $12 FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::date[],
                                              $7::smallint[], $8::bigint[], $9::jsonb[], $10::jsonb[], $11::uuid[]) AS u",
        )
        .bind(&detection_ids)
        .bind(&re_ids)
        .bind(&branches)
        .bind(&devices)
        .bind(&times)
        .bind(&dates)
        .bind(&hours)
        .bind(&counts)
        .bind(&data)
        .bind(&features)
        .bind(&job_ids)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, image_path, event_data,
                                     event_timestamp, event_date, detection_id, job_id, created_at, updated_at)
             SELECT u.id, u.branch, u.device, u.re_id, 'detection', u.count, u.image, u.data, u.at, u.day, u.detection, u.job, $12, $12
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::jsonb[],
                         $8::timestamptz[], $9::date[], $10::bigint[], $11::uuid[])
                  AS u(id, branch, device, re_id, count, image, data, at, day, detection, job)",
        )
        .bind(&event_ids)
        .bind(&branches)
        .bind(&devices)
        .bind(&re_ids)
        .bind(&counts)
        .bind(&images)
        .bind(&data)
        .bind(&times)
        .bind(&dates)
        .bind(&detection_ids)
        .bind(&job_ids)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    let notify_pairs: HashSet<(i64, String)> =
        sqlx::query("SELECT branch_id, device_id FROM branch_event_settings WHERE is_active AND whatsapp_enabled")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    let mut children = Vec::new();
    for (i, d) in live.iter().enumerate() {
        let event_log_id = event_ids[i];
        if tracked[i] && notify_pairs.contains(&(d.job.branch_id, d.job.device_id.clone())) {
            children.push(Child {
                queue: Queue::Notifications,
                kind: "notify_detection",
                payload: json!({"event_log_id": event_log_id}),
            });
        }
        if let Some(image) = &d.job.image {
            children.push(Child {
                queue: Queue::Images,
                kind: "process_image",
                payload: json!({"event_log_id": event_log_id, "image_path": image.path}),
            });
            sqlx::query(
                "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, metadata, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'local', 'event_logs', $6, $7, $8, $8) ON CONFLICT (file_path) DO NOTHING",
            )
            .bind(&image.path)
            .bind(&image.mime)
            .bind(image.size as i64)
            .bind(image.width.map(|w| w as i32))
            .bind(image.height.map(|h| h as i32))
            .bind(event_log_id)
            .bind(json!({"job_id": d.job.job_id, "kind": "event_image"}))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    if !children.is_empty() {
        let ids: Vec<Uuid> = children.iter().map(|_| JobId::new().0).collect();
        let queues: Vec<&str> = children.iter().map(|c| c.queue.as_str()).collect();
        let kinds: Vec<&str> = children.iter().map(|c| c.kind).collect();
        let priorities: Vec<i16> = children.iter().map(|c| c.queue.priority()).collect();
        let payloads: Vec<Value> = children.iter().map(|c| c.payload.clone()).collect();
        let max: Vec<i32> = children
            .iter()
            .map(|c| c.queue.default_retry().max_attempts as i32)
            .collect();
        sqlx::query(
            "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at)
             SELECT u.*, $7, $7, $7 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::jsonb[], $6::int[]) AS u",
        )
        .bind(&ids)
        .bind(&queues)
        .bind(&kinds)
        .bind(&priorities)
        .bind(&payloads)
        .bind(&max)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let mut dirty: Vec<(time::Date, i64)> = live
        .iter()
        .map(|d| (pg_date(d.date), d.job.branch_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    dirty.sort();
    if !dirty.is_empty() {
        let dates: Vec<time::Date> = dirty.iter().map(|(d, _)| *d).collect();
        let branches: Vec<i64> = dirty.iter().map(|(_, b)| *b).collect();
        sqlx::query(
            "INSERT INTO report_dirty_days (report_date, branch_id, marked_at) SELECT u.*, $3 FROM UNNEST($1::date[], $2::bigint[]) AS u
             ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = EXCLUDED.marked_at",
        )
        .bind(&dates)
        .bind(&branches)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    // Day totals last, in key order: the counter rows are hot, so they are locked only
    // for the rest of the transaction, and in the same order by every writer.
    let totals = day_count_deltas(live.iter().copied(), first_at_branch, first_of_day);
    if !totals.is_empty() {
        let dates: Vec<time::Date> = totals.iter().map(|t| pg_date(t.date)).collect();
        let branches: Vec<i64> = totals.iter().map(|t| t.branch_key).collect();
        let detections: Vec<i64> = totals.iter().map(|t| t.detections).collect();
        let detected: Vec<i64> = totals.iter().map(|t| t.detected_count).collect();
        let persons: Vec<i64> = totals.iter().map(|t| t.persons).collect();
        let events: Vec<i64> = totals.iter().map(|t| t.events).collect();
        sqlx::query(
            "INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons, events)
             SELECT * FROM UNNEST($1::date[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
             ON CONFLICT (detection_date, branch_id) DO UPDATE SET
               detections = day_counts.detections + EXCLUDED.detections,
               detected_count = day_counts.detected_count + EXCLUDED.detected_count,
               persons = day_counts.persons + EXCLUDED.persons,
               events = day_counts.events + EXCLUDED.events",
        )
        .bind(&dates)
        .bind(&branches)
        .bind(&detections)
        .bind(&detected)
        .bind(&persons)
        .bind(&events)
        .execute(&mut *conn)
        .await?;
    }

    let devices = device_day_deltas(live.iter().copied());
    if !devices.is_empty() {
        let dates: Vec<time::Date> = devices.iter().map(|t| pg_date(t.date)).collect();
        let branches: Vec<i64> = devices.iter().map(|t| t.branch_id).collect();
        let ids: Vec<&str> = devices.iter().map(|t| t.device_id.as_str()).collect();
        let detections: Vec<i64> = devices.iter().map(|t| t.detections).collect();
        let detected: Vec<i64> = devices.iter().map(|t| t.detected_count).collect();
        sqlx::query(
            "INSERT INTO device_day_counts (detection_date, branch_id, device_id, detections, detected_count)
             SELECT * FROM UNNEST($1::date[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[])
             ON CONFLICT (detection_date, branch_id, device_id) DO UPDATE SET
               detections = device_day_counts.detections + EXCLUDED.detections,
               detected_count = device_day_counts.detected_count + EXCLUDED.detected_count",
        )
        .bind(&dates)
        .bind(&branches)
        .bind(&ids)
        .bind(&detections)
        .bind(&detected)
        .execute(&mut *conn)
        .await?;
    }

    let mut results = Vec::with_capacity(batch.len());
    for (i, d) in live.iter().enumerate() {
        results.push(ProcessedDetection {
            job_id: d.job.job_id,
            outcome: if tracked[i] {
                DetectionOutcome::Counted
            } else {
                DetectionOutcome::TrackingDisabled
            },
            detection_date: d.date,
            detection_id: Some(detection_ids[i]),
            event_log_id: Some(event_ids[i]),
        });
    }
    if !results.is_empty() {
        let ids: Vec<Uuid> = results.iter().map(|r| r.job_id.0).collect();
        let values: Vec<Value> = results
            .iter()
            .map(|r| serde_json::to_value(r).expect("result serializes"))
            .collect();
        sqlx::query(
            "UPDATE jobs SET status = 'completed', result = u.result, attempts = jobs.attempts + 1, lease_owner = NULL,
                             lease_until = NULL, finished_at = $3, updated_at = $3
             FROM UNNEST($1::uuid[], $2::jsonb[]) AS u(id, result) WHERE jobs.id = u.id",
        )
        .bind(&ids)
        .bind(&values)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if !results.is_empty() {
        // Last statement before the commit: the counter row is shared by every worker.
        sqlx::query(
            "INSERT INTO job_completions (queue, second, completed) VALUES ('detections', $1, $2)
             ON CONFLICT (queue, second) DO UPDATE SET completed = job_completions.completed + EXCLUDED.completed",
        )
        .bind(now_second)
        .bind(results.len() as i64)
        .execute(&mut *conn)
        .await?;
    }
    for d in batch {
        if !seen.contains(&d.job.job_id) {
            results.push(ProcessedDetection::already_processed(d));
        }
    }
    Ok(results)
}
