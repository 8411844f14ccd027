//! Upgrading an intake file written by an older version: idempotency keys stored before
//! keys were scoped still recognise their retries, now per device.

use cctv_core::conformance::{job, seed};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{AcceptItem, AcceptOutcome, IngestStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

async fn open(path: &std::path::Path) -> SqliteStore {
    let mut settings = SqliteSettings::new(path);
    settings.fsync_every_commit = false;
    SqliteStore::open(&settings).await.expect("open sqlite")
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
