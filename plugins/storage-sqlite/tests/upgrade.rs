//! Upgrading files written by an older version: idempotency keys stored before keys were
//! scoped still recognise their retries, now per device; migrations that move or fill
//! processed data keep what processing would have kept.

use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{AcceptItem, AcceptOutcome, IngestStore, RegistryStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use cctv_testkit::{accept_and_process, job, seed};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

async fn open(path: &std::path::Path) -> SqliteStore {
    let mut settings = SqliteSettings::new(path);
    settings.fsync_every_commit = false;
    SqliteStore::open(&settings).await.expect("open sqlite")
}

/// A plain connection to the main file, beside the store: to read or rewind its schema.
async fn connect(path: &std::path::Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("connect to the main file")
}

fn item(j: &cctv_core::detection::DetectionJob) -> AcceptItem {
    AcceptItem {
        job: j.clone(),
        lease: None,
    }
}

#[tokio::test]
async fn keys_of_an_older_intake_file_are_scoped_to_their_device_on_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cctv.db");
    let store = open(&path).await;
    let estate = seed(&store).await;
    // One processed job (its payload in the main file) and one still in the intake.
    let mut done = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    done.credential_id = Some(7);
    let mut waiting = job(&estate, 1, "P2", 1, "2026-11-28T08:00:00Z");
    waiting.credential_id = Some(7);
    store
        .accept_detections(&[item(&done), item(&waiting)], Timestamp::now())
        .await
        .unwrap();
    store
        .process_detections(
            &[PreparedDetection::new(done.clone(), &TimeZone::UTC)],
            Timestamp::now(),
        )
        .await
        .unwrap();
    store.close().await;

    // What the older version wrote: one key table, unscoped event ids, no version.
    let mut intake = SqliteConnectOptions::new()
        .filename(dir.path().join("cctv-intake.db"))
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "DROP TABLE intake_keys;
         CREATE TABLE intake_keys (credential_id INTEGER NOT NULL, idempotency_key TEXT NOT NULL,
             job_id TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (credential_id, idempotency_key)) WITHOUT ROWID;
         CREATE INDEX intake_keys_created ON intake_keys (created_at);
         INSERT INTO intake_keys VALUES (7, 'evt-done', '{}', '2026-11-28T08:00:00.000000Z');
         INSERT INTO intake_keys VALUES (7, 'evt-waiting', '{}', '2026-11-28T08:00:00.000000Z');
         PRAGMA user_version = 0;",
        done.job_id, waiting.job_id
    ))
    .execute(&mut intake)
    .await
    .unwrap();
    intake.close().await.unwrap();

    let store = open(&path).await;
    let retry = |j: &cctv_core::detection::DetectionJob, event: &str| {
        let mut r = j.clone();
        r.job_id = cctv_core::jobs::JobId::new();
        r.event_id = Some(event.into());
        r
    };
    let mut elsewhere = retry(&done, "evt-done");
    elsewhere.device_id = estate.devices[2].device_id.clone();
    let outcomes = store
        .accept_detections(
            &[
                item(&retry(&done, "evt-done")),
                item(&retry(&waiting, "evt-waiting")),
                item(&elsewhere),
            ],
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            AcceptOutcome::Duplicate {
                original: done.job_id,
                request_hash: None
            },
            AcceptOutcome::Duplicate {
                original: waiting.job_id,
                request_hash: None
            },
            AcceptOutcome::Accepted,
        ],
        "old keys recognise retries of their own device only"
    );
    store.close().await;
}

/// The visits migration fills the visit figures and hourly counts of detections processed
/// before it with what processing keeps from then on.
#[tokio::test]
async fn the_visits_migration_backfills_what_processing_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cctv.db");
    let store = open(&path).await;
    let estate = seed(&store).await;
    let jobs: Vec<_> = (0..60)
        .map(|i| {
            job(
                &estate,
                i % 3,
                &format!("P{}", i % 7),
                1,
                &format!(
                    "2026-11-{}T{:02}:{:02}:00Z",
                    26 + i % 3,
                    i % 24,
                    (i * 7) % 60
                ),
            )
        })
        .collect();
    let items: Vec<AcceptItem> = jobs.iter().map(item).collect();
    store
        .accept_detections(&items, Timestamp::now())
        .await
        .unwrap();
    let batch: Vec<PreparedDetection> = jobs
        .iter()
        .map(|j| PreparedDetection::new(j.clone(), &TimeZone::UTC))
        .collect();
    store
        .process_detections(&batch, Timestamp::now())
        .await
        .unwrap();
    store.close().await;

    let read =
        "SELECT re_id, detection_date, branch_id, first_detected_at, last_detected_at, detections
                FROM re_id_branch_days ORDER BY 1, 2, 3";
    let hours = "SELECT detection_date, branch_id, detection_hour, detections FROM hour_counts ORDER BY 1, 2, 3";
    let mut conn = connect(&path).await;
    type Visit = (String, String, i64, Option<String>, Option<String>, i64);
    let kept: Vec<Visit> = sqlx::query_as(read).fetch_all(&mut conn).await.unwrap();
    let kept_hours: Vec<(String, i64, i64, i64)> =
        sqlx::query_as(hours).fetch_all(&mut conn).await.unwrap();
    assert!(kept.iter().all(|v| v.5 >= 1 && v.3.is_some()));
    assert_eq!(kept_hours.iter().map(|h| h.3).sum::<i64>(), 60);
    // The schema as it was before the migration (and the later ones, undone first).
    sqlx::raw_sql(UNDO_MEMBERSHIPS_BY_DAY)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(
        "DROP INDEX re_id_branch_days_visits;
         CREATE INDEX re_id_branch_days_day ON re_id_branch_days (detection_date, branch_id, re_id);
         DELETE FROM _sqlx_migrations WHERE version = 20261203000016;
         DROP INDEX user_tokens_personal;
         ALTER TABLE user_tokens DROP COLUMN scopes;
         DELETE FROM _sqlx_migrations WHERE version = 20261203000015;
         DROP TABLE hour_counts;
         ALTER TABLE re_id_branch_days DROP COLUMN first_detected_at;
         ALTER TABLE re_id_branch_days DROP COLUMN last_detected_at;
         ALTER TABLE re_id_branch_days DROP COLUMN detections;
         DELETE FROM _sqlx_migrations WHERE version = 20261203000014;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    open(&path).await.close().await;
    let mut conn = connect(&path).await;
    let filled: Vec<Visit> = sqlx::query_as(read).fetch_all(&mut conn).await.unwrap();
    let filled_hours: Vec<(String, i64, i64, i64)> =
        sqlx::query_as(hours).fetch_all(&mut conn).await.unwrap();
    assert_eq!(filled, kept);
    assert_eq!(filled_hours, kept_hours);
}

/// The membership table as it was before `20261206000023_memberships_by_day`: ordered by
/// person, with the covering visits index.
const UNDO_MEMBERSHIPS_BY_DAY: &str = "
CREATE TABLE old_days (
    re_id TEXT NOT NULL, detection_date TEXT NOT NULL, branch_id INTEGER NOT NULL,
    counted INTEGER NOT NULL DEFAULT 1, first_detected_at TEXT, last_detected_at TEXT,
    detections INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (re_id, detection_date, branch_id)
) WITHOUT ROWID;
INSERT INTO old_days SELECT re_id, detection_date, branch_id, counted, first_detected_at,
    last_detected_at, detections FROM re_id_branch_days;
DROP TABLE re_id_branch_days;
ALTER TABLE old_days RENAME TO re_id_branch_days;
CREATE INDEX re_id_branch_days_visits ON re_id_branch_days
    (detection_date, branch_id, re_id, first_detected_at, last_detected_at, detections);
DELETE FROM _sqlx_migrations WHERE version = 20261206000023;";

/// Reordering the membership table by day keeps every row and column, and processing
/// goes on from the moved rows: a known person-day is not counted again.
#[tokio::test]
async fn memberships_reordered_by_day_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cctv.db");
    let store = open(&path).await;
    let estate = seed(&store).await;
    let detection = |i: usize, hour: usize| {
        job(
            &estate,
            i % 3,
            &format!("P{}", i % 5),
            1,
            &format!("2026-11-{}T{hour:02}:{:02}:00Z", 26 + i % 2, i % 60),
        )
    };
    let first: Vec<_> = (0..30).map(|i| detection(i, 8)).collect();
    accept_and_process(&store, &first).await;
    store.close().await;

    let all = "SELECT re_id, detection_date, branch_id, counted, first_detected_at,
                      last_detected_at, detections FROM re_id_branch_days ORDER BY 1, 2, 3";
    type Membership = (
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<String>,
        i64,
    );
    let mut conn = connect(&path).await;
    let before: Vec<Membership> = sqlx::query_as(all).fetch_all(&mut conn).await.unwrap();
    assert!(!before.is_empty());
    sqlx::raw_sql(UNDO_MEMBERSHIPS_BY_DAY)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = open(&path).await;
    let second: Vec<_> = (30..60).map(|i| detection(i, 9)).collect();
    accept_and_process(&store, &second).await;
    let (from, to) = ("2026-11-26".parse().unwrap(), "2026-11-27".parse().unwrap());
    let days = store.day_counts(from, to).await.unwrap();
    let range = store.range_persons(from, to, None).await.unwrap();
    store.close().await;
    let mut conn = connect(&path).await;
    let after: Vec<Membership> = sqlx::query_as(all).fetch_all(&mut conn).await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 're_id_branch_days' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(indexes, ["re_id_branch_days_person"]);
    // The same memberships; the second batch moved only their visit figures.
    assert_eq!(
        after
            .iter()
            .map(|m| (&m.0, &m.1, m.2, m.3, &m.4))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|m| (&m.0, &m.1, m.2, m.3, &m.4))
            .collect::<Vec<_>>(),
    );
    assert_eq!(after.iter().map(|m| m.6).sum::<i64>(), 60);
    assert!(
        after
            .iter()
            .all(|m| m.5.as_deref().is_some_and(|t| t.contains("T09:")))
    );
    // Five persons on each of the two days, counted once however often they came back.
    let overall: Vec<i64> = days
        .iter()
        .filter(|d| d.branch_id.is_none())
        .map(|d| d.persons)
        .collect();
    assert_eq!(overall, [5, 5]);
    assert_eq!(range.unique_persons, 5);
}
