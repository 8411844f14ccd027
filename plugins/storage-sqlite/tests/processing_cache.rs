//! The writer's memory of processed person-days never outlives a change it did not make:
//! another process writing the file between two batches is seen by the second.

use cctv_core::detection::DetectionJob;
use cctv_core::storage::{DetectionOutcome, RegistryStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use cctv_testkit::{Estate, accept_and_process, job, seed};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

struct Fixture {
    store: SqliteStore,
    estate: Estate,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cctv.db");
    let mut settings = SqliteSettings::new(&path);
    settings.fsync_every_commit = false;
    let store = SqliteStore::open(&settings).await.unwrap();
    let estate = seed(&store).await;
    Fixture {
        store,
        estate,
        path,
        _dir: dir,
    }
}

/// Accepts and processes `jobs` as one batch; their outcomes.
async fn process(store: &SqliteStore, jobs: &[DetectionJob]) -> Vec<DetectionOutcome> {
    accept_and_process(store, jobs)
        .await
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

/// Runs `sql` on a connection of its own, as another process would.
async fn elsewhere(path: &std::path::Path, sql: &str) {
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn counts(store: &SqliteStore, re_id: &str) -> (i64, i64) {
    let day = store
        .person_day(re_id, "2026-11-28".parse().unwrap(), None)
        .await
        .unwrap()
        .expect("the person-day exists");
    (day.total_actual_count, day.total_detection_branch_count)
}

#[tokio::test]
async fn batches_of_known_persons_count_as_before() {
    let f = fixture().await;
    let e = &f.estate;
    process(&f.store, &[job(e, 0, "P1", 2, "2026-11-28T08:00:00Z")]).await;
    process(
        &f.store,
        &[
            job(e, 1, "P1", 1, "2026-11-28T09:00:00Z"),
            job(e, 0, "P2", 4, "2026-11-28T09:30:00Z"),
        ],
    )
    .await;
    process(
        &f.store,
        &[
            job(e, 0, "P1", 3, "2026-11-28T10:00:00Z"),
            job(e, 2, "P1", 1, "2026-11-28T11:00:00Z"),
            job(e, 0, "P2", 1, "2026-11-28T11:30:00Z"),
        ],
    )
    .await;
    assert_eq!(counts(&f.store, "P1").await, (7, 3));
    assert_eq!(counts(&f.store, "P2").await, (5, 1));
}

#[tokio::test]
async fn a_person_day_marked_inactive_by_another_process_stops_counting() {
    let f = fixture().await;
    let e = &f.estate;
    process(&f.store, &[job(e, 0, "P1", 2, "2026-11-28T08:00:00Z")]).await;
    elsewhere(
        &f.path,
        "UPDATE re_id_masters SET status = 'inactive' WHERE re_id = 'P1'",
    )
    .await;
    let outcomes = process(&f.store, &[job(e, 1, "P1", 5, "2026-11-28T09:00:00Z")]).await;
    assert_eq!(outcomes, [DetectionOutcome::TrackingDisabled]);
    assert_eq!(counts(&f.store, "P1").await, (2, 1));
}

#[tokio::test]
async fn a_person_day_deleted_by_another_process_starts_again() {
    let f = fixture().await;
    let e = &f.estate;
    process(&f.store, &[job(e, 0, "P1", 2, "2026-11-28T08:00:00Z")]).await;
    elsewhere(
        &f.path,
        "DELETE FROM re_id_branch_days WHERE re_id = 'P1'; DELETE FROM re_id_masters WHERE re_id = 'P1';",
    )
    .await;
    process(&f.store, &[job(e, 0, "P1", 3, "2026-11-28T09:00:00Z")]).await;
    assert_eq!(
        counts(&f.store, "P1").await,
        (3, 1),
        "the branch counts again: its membership row was gone"
    );
}
