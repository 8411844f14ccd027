//! Processing detections on PostgreSQL: load the state of a batch's keys, let the core plan
//! the batch ([`Plan::new`] holds every rule), apply the plan — in one transaction.
//!
//! Several workers and several nodes process at once, so the loaded state may be stale by
//! the time the plan is applied. The plan is additive (`x = x + delta`, `LEAST`,
//! `GREATEST`, `||` for features), and the only facts that must not come from the
//! snapshot — which person-days are new, which branch memberships are new — are read from
//! the upserts themselves (`RETURNING`, `xmax = 0`) and handed back to the core
//! ([`Plan::person_days`], [`Plan::day_counts`]). The person-day upsert is the first
//! statement on rows other transactions also write: its row lock serialises transactions
//! on one person-day, so two nodes seeing one person at two branches cannot both count
//! the person's first sighting. The batch's own rows (detections, event logs, child jobs,
//! completions) are written before it, so that the shared rows' locks are held for as
//! short a time as possible. The batch's job rows are locked before everything, so a
//! redelivered job waits for the other transaction and then finds it completed or gone
//! (a counted job's row is deleted, see [`complete`]); then
//! its branches and devices, `FOR KEY SHARE`, which is the check a foreign key would make
//! for every detection and event row, made once.
//! Statements touch shared rows in key order, so concurrent transactions cannot deadlock.

use std::collections::{HashMap, HashSet};

use cctv_core::jobs::JobId;
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{DetectionOutcome, ProcessedDetection};
use cctv_processing::{
    BatchKeys, MembershipFacts, PersonDayState, Plan, ProcessingState, image_metadata,
};
use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{from_pg_date, odt, pg_date};

/// What [`load`] read: the state the plan is made from, which of the pending jobs
/// may be answered by their detection rows (see [`complete`]), and which queued jobs
/// were processed before (see [`processed_imports`]).
struct Loaded {
    state: ProcessingState,
    answerable: HashSet<JobId>,
    processed_before: HashSet<JobId>,
}

/// Reads the state of the batch's keys, locking its job rows.
async fn load(conn: &mut PgConnection, batch: &[PreparedDetection]) -> Result<Loaded, sqlx::Error> {
    let keys = BatchKeys::of(batch);
    let mut state = ProcessingState::default();
    let mut answerable = HashSet::new();
    let ids: Vec<Uuid> = keys.jobs.iter().map(|j| j.0).collect();
    // The status is read from the locked rows (the select list is computed on the version
    // locked), not tested in the `WHERE`: there it matched the predicate of the partial
    // index of queued jobs, and the plan kept for the prepared statement was a `BitmapAnd`
    // of the primary key with that whole index, read for each batch (every queued job,
    // and the dead entries of completed ones). A job has no row once its detection row
    // answers for it: it is done, like a completed one. A job an operator retried from
    // failed jobs has its attempts reset but keeps its last error: it is not a first
    // attempt, and its answer must keep showing that error.
    for (id, queued, first_unkeyed) in sqlx::query_as::<_, (Uuid, bool, bool)>(
        "SELECT id, status = 'queued', attempts = 0 AND last_error IS NULL AND idempotency_key IS NULL
         FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        if queued {
            state.pending.insert(JobId(id));
            if first_unkeyed {
                answerable.insert(JobId(id));
            }
        }
    }
    let processed_before = processed_imports(conn, batch, &state.pending).await?;
    for id in &processed_before {
        state.pending.remove(id);
        answerable.remove(id);
    }
    // Only the inactive person-days. The stored features feed the plan's serial merge and
    // the memberships its predicted facts; this backend uses neither (the upserts merge
    // features and report what they created or started to count), so it reads neither.
    // The partial index `re_id_masters_inactive` answers this from a page or two per batch
    // (the unique key would read every person-day's row to test its status).
    let re_ids: Vec<&str> = keys.person_days.iter().map(|(r, _)| r.as_str()).collect();
    let dates: Vec<time::Date> = keys.person_days.iter().map(|(_, d)| pg_date(*d)).collect();
    for row in sqlx::query(
        "SELECT m.re_id, m.detection_date FROM re_id_masters m
         JOIN UNNEST($1::text[], $2::date[]) AS k(re_id, day) ON m.re_id = k.re_id AND m.detection_date = k.day
         WHERE m.status = 'inactive'",
    )
    .bind(&re_ids)
    .bind(&dates)
    .fetch_all(&mut *conn)
    .await?
    {
        let date = from_pg_date(row.get(1)).map_err(|e| sqlx::Error::Decode(e.into()))?;
        state.person_days.insert(
            (row.get(0), date),
            PersonDayState {
                inactive: true,
                appearance_features: None,
            },
        );
    }
    state.notify = sqlx::query(
        "SELECT branch_id, device_id FROM branch_event_settings WHERE is_active AND (whatsapp_enabled OR webhook_enabled)",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    Ok(Loaded {
        state,
        answerable,
        processed_before,
    })
}

/// The imported jobs of the batch, queued, that have a detection row already. An imported
/// job's id is derived from its source row, so that `cctv import` run again after an
/// interruption recognises what it stored; if the job's answer was pruned meanwhile, the
/// rerun accepts it again, and only its detection row tells that it was processed. A
/// device's jobs are not looked up: each request gets a new id. Detection rows from
/// before migration `20261207000026` (no `received_at`) are not in the index read here.
async fn processed_imports(
    conn: &mut PgConnection,
    batch: &[PreparedDetection],
    pending: &HashSet<JobId>,
) -> Result<HashSet<JobId>, sqlx::Error> {
    let ids: Vec<Uuid> = batch
        .iter()
        .filter(|d| d.job.imported && pending.contains(&d.job.job_id))
        .map(|d| d.job.job_id.0)
        .collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    // One probe of the partial index of job ids per job and partition, stopping at the
    // first row found. As a join, without statistics the planner scanned every partition
    // (0.2 s for 500 jobs and 500,000 rows), or, given the day too, intersected the job
    // with all of its day's rows (6.9 s); like this, 3 ms.
    let found: Vec<Uuid> = sqlx::query_scalar(
        "SELECT k.id FROM UNNEST($1::uuid[]) AS k(id)
         CROSS JOIN LATERAL (SELECT 1 FROM re_id_branch_detections d
                             WHERE d.job_id = k.id AND d.received_at IS NOT NULL LIMIT 1) AS found",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found.into_iter().map(JobId).collect())
}

/// Why a batch was not processed.
pub(crate) enum Failure {
    Database(sqlx::Error),
    /// A branch or device of the batch no longer exists (do not retry the batch).
    Removed(String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// Load, plan, apply. Returns the results of every job of the batch.
pub(crate) async fn process(
    conn: &mut PgConnection,
    batch: &[PreparedDetection],
    now: Timestamp,
) -> Result<Vec<ProcessedDetection>, Failure> {
    let Loaded {
        state,
        answerable,
        processed_before,
    } = load(conn, batch).await?;
    let plan = Plan::new(batch, &state);
    lock_estate_keys(conn, &plan).await?;
    let now = odt(now);
    // First the rows of this batch alone, which lock nothing another transaction waits
    // for; then the rows shared with other transactions, so that their locks are held
    // only for the rest of the transaction: person-days (whose locks serialise the
    // counting of a person-day), memberships, then the counters every worker writes.
    let ids = insert_detections(conn, &plan, now).await?;
    enqueue_children(conn, &plan, &ids, now).await?;
    let results = plan.results(&ids);
    // The stored detections' jobs, and the queued ones processed before (skipped now).
    let (stored, skipped) = results.split_at(plan.detections.len());
    let again = skipped
        .iter()
        .filter(|r| processed_before.contains(&r.job_id));
    complete(conn, stored.iter().chain(again), &answerable, now).await?;
    let mut facts = upsert_person_days(conn, &plan, now).await?;
    upsert_memberships(conn, &plan, &mut facts).await?;
    add_up(conn, &plan, &facts, now).await?;
    Ok(results)
}

/// Checks that every branch and device the batch's detections name still exists, and
/// locks them `FOR KEY SHARE` until commit, so that none is removed (or its id changed)
/// before the detections are in. This is the check a foreign key makes per inserted row,
/// made once per batch: detections and event logs have no foreign keys (the cascades are
/// triggers on the branch and device tables).
async fn lock_estate_keys(conn: &mut PgConnection, plan: &Plan<'_>) -> Result<(), Failure> {
    let mut branches: Vec<i64> = plan.detections.iter().map(|d| d.job.branch_id).collect();
    let mut devices: Vec<&str> = plan
        .detections
        .iter()
        .map(|d| d.job.device_id.as_str())
        .collect();
    if branches.is_empty() {
        return Ok(());
    }
    branches.sort_unstable();
    branches.dedup();
    devices.sort_unstable();
    devices.dedup();
    let (found_branches, found_devices): (Vec<i64>, Vec<String>) = sqlx::query_as(
        "SELECT ARRAY(SELECT id FROM company_branches WHERE id = ANY($1) ORDER BY id FOR KEY SHARE),
                ARRAY(SELECT device_id FROM device_masters WHERE device_id = ANY($2) ORDER BY device_id FOR KEY SHARE)",
    )
    .bind(&branches)
    .bind(&devices)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(gone) = branches.iter().find(|b| !found_branches.contains(b)) {
        return Err(Failure::Removed(format!("branch {gone} no longer exists")));
    }
    if let Some(gone) = devices
        .iter()
        .find(|d| !found_devices.iter().any(|f| f == *d))
    {
        return Err(Failure::Removed(format!(
            "device {gone:?} no longer exists"
        )));
    }
    Ok(())
}

/// Upserts every membership of the plan with its visit figures (first and last detection
/// by min and max, detections added) and reads back what was new. Runs after
/// [`upsert_person_days`], whose row locks serialise the transactions that count a
/// person-day: the statement's snapshot therefore holds every membership of this batch's
/// counted person-days as it is now, and the row before the upsert, read from it by key
/// (a subquery per updated row, so the plan stays index probes however large the batch),
/// tells which rows started to count. A membership that does not count (its person-day is
/// inactive) can be written without that lock, but it only ever adds a row (`xmax = 0`
/// tells who created it) and never starts counting itself. It may land on a row that a
/// transaction which saw the person-day active made count meanwhile (an inactive snapshot
/// can be stale), so only the rows this batch wants counted can start counting here.
async fn upsert_memberships(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    facts: &mut MembershipFacts,
) -> Result<(), sqlx::Error> {
    let m = &plan.memberships;
    if m.is_empty() {
        return Ok(());
    }
    let re_ids: Vec<&str> = m.iter().map(|m| m.re_id.as_str()).collect();
    let dates: Vec<time::Date> = m.iter().map(|m| pg_date(m.date)).collect();
    let branches: Vec<i64> = m.iter().map(|m| m.branch_id).collect();
    let counted: Vec<bool> = m.iter().map(|m| m.counted).collect();
    let first: Vec<OffsetDateTime> = m.iter().map(|m| odt(m.first_at)).collect();
    let last: Vec<OffsetDateTime> = m.iter().map(|m| odt(m.last_at)).collect();
    let counts: Vec<i64> = m.iter().map(|m| m.detections).collect();
    let civil: HashMap<time::Date, jiff::civil::Date> =
        m.iter().map(|m| (pg_date(m.date), m.date)).collect();
    let uncounted: HashSet<(&str, jiff::civil::Date, i64)> = m
        .iter()
        .filter(|m| !m.counted)
        .map(|m| (m.re_id.as_str(), m.date, m.branch_id))
        .collect();
    for row in sqlx::query(
        "WITH up AS (
           INSERT INTO re_id_branch_days AS b (re_id, detection_date, branch_id, counted, first_detected_at,
                                               last_detected_at, detections)
           SELECT * FROM UNNEST($1::text[], $2::date[], $3::bigint[], $4::bool[], $5::timestamptz[],
                                $6::timestamptz[], $7::bigint[])
           ON CONFLICT (re_id, detection_date, branch_id) DO UPDATE SET
             counted = b.counted OR EXCLUDED.counted,
             first_detected_at = LEAST(b.first_detected_at, EXCLUDED.first_detected_at),
             last_detected_at = GREATEST(b.last_detected_at, EXCLUDED.last_detected_at),
             detections = b.detections + EXCLUDED.detections
           RETURNING b.re_id, b.detection_date, b.branch_id, b.counted, (b.xmax = 0) AS inserted)
         SELECT * FROM (
           SELECT re_id, detection_date, branch_id,
                  CASE WHEN NOT counted THEN FALSE WHEN inserted THEN TRUE
                       ELSE NOT COALESCE((SELECT o.counted FROM re_id_branch_days o
                                          WHERE o.re_id = up.re_id AND o.detection_date = up.detection_date
                                            AND o.branch_id = up.branch_id), FALSE) END AS newly_counted,
                  inserted
           FROM up) r
         WHERE inserted OR newly_counted",
    )
    .bind(&re_ids)
    .bind(&dates)
    .bind(&branches)
    .bind(&counted)
    .bind(&first)
    .bind(&last)
    .bind(&counts)
    .fetch_all(&mut *conn)
    .await?
    {
        let (re_id, pg_day, branch): (String, time::Date, i64) =
            (row.get(0), row.get(1), row.get(2));
        let Some(date) = civil.get(&pg_day).copied() else {
            continue;
        };
        if row.get::<bool, _>(3) && !uncounted.contains(&(re_id.as_str(), date, branch)) {
            facts.newly_counted.push((re_id.clone(), date, branch));
        }
        if row.get::<bool, _>(4) {
            facts.created.push((re_id, date, branch));
        }
    }
    Ok(())
}

/// Upserts the tracked person-days (branch counts follow in [`add_up`]) and
/// reads back which ones this transaction created: those had no branch membership before,
/// so they are the person-days' first sightings. The upsert locks each person-day row
/// until commit, so a concurrent transaction on the same person-day waits and then finds
/// the row (and its memberships) there.
async fn upsert_person_days(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    now: OffsetDateTime,
) -> Result<MembershipFacts, sqlx::Error> {
    let mut facts = MembershipFacts::default();
    let days = plan.person_days(&facts);
    if days.is_empty() {
        return Ok(facts);
    }
    let re_ids: Vec<&str> = days.iter().map(|d| d.re_id.as_str()).collect();
    let dates: Vec<time::Date> = days.iter().map(|d| pg_date(d.date)).collect();
    let firsts: Vec<OffsetDateTime> = days.iter().map(|d| odt(d.first_at)).collect();
    let lasts: Vec<OffsetDateTime> = days.iter().map(|d| odt(d.last_at)).collect();
    let features: Vec<Option<Value>> = days.iter().map(|d| d.features_delta.clone()).collect();
    let branch_counts: Vec<i64> = days.iter().map(|d| d.branch_count).collect();
    let counts: Vec<i64> = days.iter().map(|d| d.actual_count).collect();
    let rows = sqlx::query(
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
         WHERE re_id_masters.status = 'active'
         RETURNING re_id, detection_date, (xmax = 0) AS inserted",
    )
    .bind(&re_ids)
    .bind(&dates)
    .bind(&firsts)
    .bind(&lasts)
    .bind(&features)
    .bind(&branch_counts)
    .bind(&counts)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        if !row.get::<bool, _>(2) {
            continue;
        }
        if let Ok(date) = from_pg_date(row.get(1)) {
            facts.first_of_day.push((row.get(0), date));
        }
    }
    Ok(facts)
}

/// Inserts the detection and event log rows; returns their ids.
async fn insert_detections(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    now: OffsetDateTime,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let live = &plan.detections;
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let n = live.len() as i64;
    // The sequences are looked up once (a materialised CTE): `pg_get_serial_sequence` is
    // only stable, so in the select list it ran for every row, a catalog lookup each
    // (`EXPLAIN ANALYZE` for 8,192 rows: 55 ms for the two sequences, 4.4 ms like this).
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('re_id_branch_detections', 'id')::regclass AS d, \
         pg_get_serial_sequence('event_logs', 'id')::regclass AS e) \
         SELECT nextval(s.d), nextval(s.e) FROM s, generate_series(1, $1)",
    )
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    let (detection_ids, event_ids): (Vec<i64>, Vec<i64>) = ids.into_iter().unzip();
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
    // The validated text, bound as it is (no parse, no copy).
    let data: Vec<Option<sqlx::types::Json<&serde_json::value::RawValue>>> = live
        .iter()
        .map(|d| {
            d.job
                .detection_data
                .as_ref()
                .map(|t| sqlx::types::Json(t.as_raw()))
        })
        .collect();
    let features: Vec<Option<Value>> = live.iter().map(|d| d.job.person_features.clone()).collect();
    let job_ids: Vec<Uuid> = live.iter().map(|d| d.job.job_id.0).collect();
    // What a job's status answer needs besides the detection (see `complete`).
    let credentials: Vec<Option<i64>> = live.iter().map(|d| d.job.credential_id).collect();
    let received: Vec<OffsetDateTime> = live.iter().map(|d| odt(d.job.received_at)).collect();
    let images: Vec<Option<String>> = live
        .iter()
        .map(|d| d.job.image.as_ref().map(|b| b.path.clone()))
        .collect();
    // Each event-log row repeats most of its detection row: it is made from the rows the
    // detection insert returns, so those arrays are sent and parsed once, in one statement.
    sqlx::query(
        "WITH d AS (
             INSERT INTO re_id_branch_detections (id, re_id, branch_id, device_id, detection_timestamp, detection_date,
                                                  detection_hour, detected_count, detection_data, person_features, job_id,
                                                  credential_id, received_at, event_log_id, created_at, updated_at)
             SELECT u.*, $12, $12 FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::date[],
                                              $7::smallint[], $8::bigint[], $9::jsonb[], $10::jsonb[], $11::uuid[],
                                              $15::bigint[], $16::timestamptz[], $13::bigint[]) AS u
             RETURNING id, branch_id, device_id, re_id, detected_count, detection_data, detection_timestamp, detection_date, job_id)
         INSERT INTO event_logs (id, branch_id, device_id, re_id, event_type, detected_count, image_path, event_data,
                                 event_timestamp, event_date, detection_id, job_id, created_at, updated_at)
         SELECT e.id, d.branch_id, d.device_id, d.re_id, 'detection', d.detected_count, e.image, d.detection_data,
                d.detection_timestamp, d.detection_date, d.id, d.job_id, $12, $12
         FROM d JOIN UNNEST($1::bigint[], $13::bigint[], $14::text[]) AS e(detection, id, image) ON e.detection = d.id
         ORDER BY e.id",
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
    .bind(&event_ids)
    .bind(&images)
    .bind(&credentials)
    .bind(&received)
    .execute(&mut *conn)
    .await?;
    Ok(detection_ids.into_iter().zip(event_ids).collect())
}

/// The outbox: child jobs, and the images' file registry rows.
async fn enqueue_children(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    ids: &[(i64, i64)],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let images: Vec<_> = plan.images().collect();
    if !images.is_empty() {
        let paths: Vec<&str> = images.iter().map(|(_, b)| b.path.as_str()).collect();
        let mimes: Vec<&str> = images.iter().map(|(_, b)| b.mime.as_str()).collect();
        let sizes: Vec<i64> = images.iter().map(|(_, b)| b.size as i64).collect();
        let widths: Vec<Option<i32>> = images
            .iter()
            .map(|(_, b)| b.width.map(|w| w as i32))
            .collect();
        let heights: Vec<Option<i32>> = images
            .iter()
            .map(|(_, b)| b.height.map(|h| h as i32))
            .collect();
        let events: Vec<i64> = images.iter().map(|(i, _)| ids[*i].1).collect();
        let metadata: Vec<Value> = images
            .iter()
            .map(|(i, _)| image_metadata(plan.detections[*i]))
            .collect();
        sqlx::query(
            "INSERT INTO storage_files (file_path, file_type, file_size, width, height, storage_disk, related_table, related_id, metadata, created_at, updated_at)
             SELECT u.path, u.mime, u.size, u.width, u.height, 'local', 'event_logs', u.event, u.meta, $8, $8
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::int[], $5::int[], $6::bigint[], $7::jsonb[])
                  AS u(path, mime, size, width, height, event, meta)
             ON CONFLICT (file_path) DO NOTHING",
        )
        .bind(&paths)
        .bind(&mimes)
        .bind(&sizes)
        .bind(&widths)
        .bind(&heights)
        .bind(&events)
        .bind(&metadata)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let children = &plan.children;
    if children.is_empty() {
        return Ok(());
    }
    let job_ids: Vec<Uuid> = children.iter().map(|_| JobId::new().0).collect();
    let queues: Vec<&str> = children.iter().map(|c| c.queue.as_str()).collect();
    let kinds: Vec<&str> = children.iter().map(|c| c.kind).collect();
    let priorities: Vec<i16> = children.iter().map(|c| c.queue.priority()).collect();
    let payloads: Vec<Value> = children
        .iter()
        .map(|c| c.payload(ids[c.detection].1))
        .collect();
    let max: Vec<i32> = children
        .iter()
        .map(|c| c.queue.default_retry().max_attempts as i32)
        .collect();
    sqlx::query(
        "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, created_at, updated_at)
         SELECT u.*, $7, $7, $7 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::jsonb[], $6::int[]) AS u",
    )
    .bind(&job_ids)
    .bind(&queues)
    .bind(&kinds)
    .bind(&priorities)
    .bind(&payloads)
    .bind(&max)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Everything the batch adds to rows it does not own, in one statement: the branches that
/// started to count to their person-days, the dirty report days, the day, device and hour
/// totals, and the completion count of this second. The counter rows are hot (every
/// worker of every node writes them), so they come last, and their locks are held only
/// for the rest of the transaction: one round trip and the commit, where six statements
/// used to hold them across six round trips while the other workers waited for them.
///
/// PostgreSQL runs the main query (the completion count) and then each data-modifying
/// `WITH` part to completion, in an order its plan fixes. Every transaction runs this same
/// statement, so all of them lock the tables in one order, and each table's rows in key
/// order (the inputs are sorted). A deadlock with another statement fails the transaction,
/// and the batch is retried whole (`is_retryable`).
async fn add_up(
    conn: &mut PgConnection,
    plan: &Plan<'_>,
    facts: &MembershipFacts,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    // Every addition comes from the batch's stored detections, each of which completes
    // a job: a batch whose jobs were all done before has nothing to add.
    if plan.detections.is_empty() {
        return Ok(());
    }
    let branch_counts = Plan::branch_counts(facts);
    let totals = plan.day_counts(facts);
    let (devices, hours) = (&plan.device_counts, &plan.hour_counts);
    let dirty = &plan.dirty_days;
    sqlx::query(
        "WITH branch_counts AS (
           UPDATE re_id_masters m SET total_detection_branch_count = m.total_detection_branch_count + u.n
           FROM UNNEST($1::text[], $2::date[], $3::bigint[]) AS u(re_id, day, n)
           WHERE m.re_id = u.re_id AND m.detection_date = u.day),
         dirty AS (
           INSERT INTO report_dirty_days (report_date, branch_id, marked_at)
           SELECT u.*, $4 FROM UNNEST($5::date[], $6::bigint[]) AS u
           ON CONFLICT (report_date, branch_id) DO UPDATE SET marked_at = EXCLUDED.marked_at),
         days AS (
           INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons, events)
           SELECT * FROM UNNEST($7::date[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
           ON CONFLICT (detection_date, branch_id) DO UPDATE SET
             detections = day_counts.detections + EXCLUDED.detections,
             detected_count = day_counts.detected_count + EXCLUDED.detected_count,
             persons = day_counts.persons + EXCLUDED.persons,
             events = day_counts.events + EXCLUDED.events),
         devices AS (
           INSERT INTO device_day_counts (detection_date, branch_id, device_id, detections, detected_count)
           SELECT * FROM UNNEST($13::date[], $14::bigint[], $15::text[], $16::bigint[], $17::bigint[])
           ON CONFLICT (detection_date, branch_id, device_id) DO UPDATE SET
             detections = device_day_counts.detections + EXCLUDED.detections,
             detected_count = device_day_counts.detected_count + EXCLUDED.detected_count),
         hours AS (
           INSERT INTO hour_counts (detection_date, branch_id, detection_hour, detections)
           SELECT * FROM UNNEST($18::date[], $19::bigint[], $20::smallint[], $21::bigint[])
           ON CONFLICT (detection_date, branch_id, detection_hour) DO UPDATE SET
             detections = hour_counts.detections + EXCLUDED.detections)
         INSERT INTO job_completions (queue, second, completed) VALUES ('detections', $22, $23)
         ON CONFLICT (queue, second) DO UPDATE SET completed = job_completions.completed + EXCLUDED.completed",
    )
    .bind(branch_counts.keys().map(|(r, _)| *r).collect::<Vec<&str>>())
    .bind(branch_counts.keys().map(|(_, d)| pg_date(*d)).collect::<Vec<_>>())
    .bind(branch_counts.values().copied().collect::<Vec<i64>>())
    .bind(now)
    .bind(dirty.iter().map(|(d, _)| pg_date(*d)).collect::<Vec<_>>())
    .bind(dirty.iter().map(|(_, b)| *b).collect::<Vec<i64>>())
    .bind(totals.iter().map(|t| pg_date(t.date)).collect::<Vec<_>>())
    .bind(totals.iter().map(|t| t.branch_key).collect::<Vec<i64>>())
    .bind(totals.iter().map(|t| t.detections).collect::<Vec<i64>>())
    .bind(totals.iter().map(|t| t.detected_count).collect::<Vec<i64>>())
    .bind(totals.iter().map(|t| t.persons).collect::<Vec<i64>>())
    .bind(totals.iter().map(|t| t.events).collect::<Vec<i64>>())
    .bind(devices.iter().map(|t| pg_date(t.date)).collect::<Vec<_>>())
    .bind(devices.iter().map(|t| t.branch_id).collect::<Vec<i64>>())
    .bind(devices.iter().map(|t| t.device_id.as_str()).collect::<Vec<&str>>())
    .bind(devices.iter().map(|t| t.detections).collect::<Vec<i64>>())
    .bind(devices.iter().map(|t| t.detected_count).collect::<Vec<i64>>())
    .bind(hours.iter().map(|t| pg_date(t.date)).collect::<Vec<_>>())
    .bind(hours.iter().map(|t| t.branch_id).collect::<Vec<i64>>())
    .bind(hours.iter().map(|t| i16::from(t.hour)).collect::<Vec<i16>>())
    .bind(hours.iter().map(|t| t.detections).collect::<Vec<i64>>())
    .bind(now.unix_timestamp())
    .bind(plan.detections.len() as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Completes the jobs of `results`. A counted detection's job on its first attempt
/// and without an idempotency key (`answerable`) is deleted: its detection row answers
/// for it (`JobQueue::job`), and a delete writes no new version of the row. Any other
/// job is completed in place with its result: a retried one (its answer shows every
/// attempt), a keyed one (the duplicate check reads the key from `jobs`), one whose
/// person-day is inactive, and an imported one processed before (already processed).
/// A completed job's payload is read by nothing (its detection row holds the same data,
/// and only failed jobs show theirs), so it is cleared: the new row version is about
/// half the size.
async fn complete<'r>(
    conn: &mut PgConnection,
    results: impl Iterator<Item = &'r ProcessedDetection>,
    answerable: &HashSet<JobId>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let (mut answered, mut ids, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for r in results {
        if r.outcome == DetectionOutcome::Counted && answerable.contains(&r.job_id) {
            answered.push(r.job_id.0);
        } else {
            ids.push(r.job_id.0);
            values.push(r.to_json());
        }
    }
    if answered.is_empty() && ids.is_empty() {
        return Ok(());
    }
    // The two sets are disjoint, so no row is both deleted and updated by the statement.
    sqlx::query(
        "WITH answered AS (DELETE FROM jobs WHERE id = ANY($4::uuid[]))
         UPDATE jobs SET status = 'completed', result = u.result::jsonb, payload = '{}', attempts = jobs.attempts + 1,
                         lease_owner = NULL, lease_until = NULL, finished_at = $3, updated_at = $3
         FROM UNNEST($1::uuid[], $2::text[]) AS u(id, result) WHERE jobs.id = u.id",
    )
    .bind(&ids)
    .bind(&values)
    .bind(now)
    .bind(&answered)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PgSettings;
    use cctv_testkit::{
        EVENT_LOGS_THAT_REPEAT_THEIR_DETECTION, accept_and_process, job, mixed_batch, prepare, seed,
    };

    /// A store in a fresh schema (`None`, and the test is skipped, without a database).
    async fn test_store() -> Option<crate::PgStore> {
        let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
            eprintln!("CCTV_TEST_PG_URL is not set: skipped");
            return None;
        };
        let mut settings = PgSettings::new(url);
        settings.schema = Some(format!("t_{}", Uuid::new_v4().simple()));
        settings.max_connections = 2;
        Some(crate::PgStore::open(&settings).await.unwrap())
    }

    /// A counted detection's job on its first attempt leaves no `jobs` row: its detection
    /// row answers. A keyed one keeps its row (the duplicate check reads the key there),
    /// completed with its result; its payload, which the detection row holds too and
    /// nothing reads any more, is cleared, so the completed row version is about half the
    /// size.
    #[tokio::test]
    async fn only_a_keyed_detection_job_keeps_a_completed_row() {
        let Some(store) = test_store().await else {
            return;
        };
        let estate = seed(&store).await;
        let plain = job(&estate, 0, "R1", 1, "2026-11-28T09:00:00Z");
        let mut keyed = job(&estate, 1, "R2", 1, "2026-11-28T09:00:00Z");
        keyed.event_id = Some("evt-1".into());
        keyed.credential_id = Some(7);
        let done = accept_and_process(&store, &[plain.clone(), keyed.clone()]).await;
        let rows: Vec<(Uuid, String, Value, Value)> = sqlx::query_as(
            "SELECT id, status, payload, result FROM jobs WHERE queue = 'detections'",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 1, "only the keyed job's row");
        let (id, status, payload, result) = &rows[0];
        assert_eq!((*id, status.as_str()), (keyed.job_id.0, "completed"));
        assert_eq!(*payload, serde_json::json!({}));
        assert_eq!(
            result["detection_id"],
            serde_json::json!(done[1].detection_id)
        );
        let (credential, event_log): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT credential_id, event_log_id FROM re_id_branch_detections WHERE job_id = $1",
        )
        .bind(plain.job_id.0)
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            (credential, event_log),
            (plain.credential_id, done[0].event_log_id)
        );
        // A redelivered duplicate of the keyed job is still found by its key.
        let mut again = keyed.clone();
        again.job_id = JobId::new();
        let outcomes = cctv_testkit::accept(&store, &[again]).await;
        assert!(matches!(
            outcomes[0],
            cctv_core::storage::AcceptOutcome::Duplicate { original, .. } if original == keyed.job_id
        ));
    }

    /// Each event-log row is made from its detection row as inserted, with its own id
    /// and its detection's image.
    #[tokio::test]
    async fn each_event_log_row_repeats_its_detection_and_image() {
        let Some(store) = test_store().await else {
            return;
        };
        let estate = seed(&store).await;
        let jobs = mixed_batch(&estate, 300, &[0, 129, 299]);
        let results = accept_and_process(&store, &jobs).await;
        let same: i64 = sqlx::query_scalar(EVENT_LOGS_THAT_REPEAT_THEIR_DETECTION)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(same, 300, "every detection's event repeats it");
        for (result, job) in results.iter().zip(&jobs) {
            let (detection, job_id, image): (i64, Uuid, Option<String>) = sqlx::query_as(
                "SELECT detection_id, job_id, image_path FROM event_logs WHERE id = $1",
            )
            .bind(result.event_log_id.unwrap())
            .fetch_one(&store.pool)
            .await
            .unwrap();
            assert_eq!(Some(detection), result.detection_id);
            assert_eq!(job_id, job.job_id.0);
            assert_eq!(image, job.image.as_ref().map(|i| i.path.clone()));
        }
    }

    /// A batch that saw its person-day inactive lands on a membership that a transaction
    /// which saw it active made count meanwhile: the row counts, but not because of this
    /// batch, so it must not report it as newly counted (the branch would count twice).
    #[tokio::test]
    async fn a_stale_inactive_batch_does_not_report_a_row_others_made_count() {
        let Some(store) = test_store().await else {
            return;
        };
        let estate = seed(&store).await;
        let batch = prepare(&[job(&estate, 0, "R1", 1, "2026-11-28T09:00:00Z")]);
        let mut state = ProcessingState::default();
        state.pending.insert(batch[0].job.job_id);
        let key = (batch[0].job.re_id.clone(), batch[0].date);
        state.person_days.insert(
            key,
            PersonDayState {
                inactive: true,
                appearance_features: None,
            },
        );
        let plan = Plan::new(&batch, &state);
        assert!(plan.memberships.iter().all(|m| !m.counted));

        // The other transaction inserts the counted row and commits only once this batch's
        // statement has started (its snapshot does not see the row; its insert waits for
        // the other transaction and then updates the row).
        let mut other = store.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted) VALUES ($1, $2, $3, TRUE)",
        )
        .bind("R1")
        .bind(pg_date(batch[0].date))
        .bind(batch[0].job.branch_id)
        .execute(&mut *other)
        .await
        .unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let mut facts = MembershipFacts::default();
        let upsert = upsert_memberships(&mut conn, &plan, &mut facts);
        let commit_later = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            other.commit().await.unwrap();
        };
        let (upserted, ()) = tokio::join!(upsert, commit_later);
        upserted.unwrap();
        assert_eq!(facts, MembershipFacts::default());
    }
}
