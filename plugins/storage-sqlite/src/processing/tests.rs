//! The writer's memory is used: a batch of known persons reads none of their state, and
//! a write in between makes the batch read everything again. A batch's rows are written
//! as the plan says, however many statements they take.

use cctv_core::estate::RecordStatus;
use cctv_core::jobs::JobQueue;
use cctv_core::storage::RegistryStore;
use cctv_testkit::{
    EVENT_LOGS_THAT_REPEAT_THEIR_DETECTION, accept, accept_and_process, job, mixed_batch, prepare,
    processed_after_a_failed_attempt, queued_detections, seed,
};

use super::*;
use crate::SqliteSettings;

/// A store in a fresh directory (kept while the returned guard lives), without fsync.
async fn test_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SqliteSettings::new(dir.path().join("cctv.db"));
    settings.fsync_every_commit = false;
    let store = SqliteStore::open(&settings).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn known_person_days_come_from_memory_until_something_else_writes() {
    let (_dir, store) = test_store().await;
    let e = seed(&store).await;
    let first = [
        job(&e, 0, "P1", 1, "2026-11-28T08:00:00Z"),
        job(&e, 1, "P2", 1, "2026-11-28T08:00:00Z"),
    ];
    accept_and_process(&store, &first).await;
    let cache = store
        .processing_cache
        .lock()
        .unwrap()
        .take()
        .expect("remembered");
    assert_eq!(cache.len(), 2);

    let second = prepare(&[
        job(&e, 2, "P1", 1, "2026-11-28T09:00:00Z"),
        job(&e, 2, "P2", 1, "2026-11-28T09:00:00Z"),
        job(&e, 0, "P3", 1, "2026-11-28T09:00:00Z"),
    ]);
    let mut conn = store.writer.acquire().await.unwrap();
    let mut loaded = load(&mut conn, BatchKeys::of(&second), Some(cache))
        .await
        .unwrap();
    rollback(&mut conn).await;
    drop(conn);
    assert_eq!(loaded.read, 1, "only P3 is read from the database");
    let cache = loaded.cache.take().expect("the memory was valid");
    let p1 = ("P1".to_owned(), "2026-11-28".parse().unwrap());
    assert!(loaded.state.person_days.contains_key(&p1));
    assert_eq!(
        loaded
            .state
            .memberships
            .get(&(p1.0.clone(), p1.1, e.branches[0].id)),
        Some(&true)
    );

    store
        .set_person_day_status("P2", p1.1, RecordStatus::Inactive)
        .await
        .unwrap();
    let mut conn = store.writer.acquire().await.unwrap();
    let loaded = load(&mut conn, BatchKeys::of(&second), Some(cache))
        .await
        .unwrap();
    rollback(&mut conn).await;
    assert_eq!(
        loaded.read, 3,
        "a status edit in between: everything is read"
    );
    assert!(loaded.cache.is_none());
    assert!(loaded.state.person_days[&("P2".to_owned(), p1.1)].inactive);
}

/// Event-log rows are copied from their detection rows, in statements of `CHUNK` ids;
/// an event log id is not its detection's id once other events exist.
#[tokio::test]
async fn each_event_log_row_repeats_its_detection_and_image() {
    let (_dir, store) = test_store().await;
    let e = seed(&store).await;
    accept_and_process(&store, &[job(&e, 0, "P0", 1, "2026-11-28T07:00:00Z")]).await;
    // Two events of another kind: the next event id is 4, the next detection id 2.
    for _ in 0..2 {
        sqlx::query(
            "INSERT INTO event_logs (branch_id, device_id, event_type, event_timestamp, event_date, created_at, updated_at) \
             SELECT branch_id, device_id, 'motion', event_timestamp, event_date, created_at, updated_at \
             FROM event_logs WHERE id = 1",
        )
        .execute(&store.writer)
        .await
        .unwrap();
    }
    let jobs = mixed_batch(&e, 300, &[0, 129, 299]);
    let results = accept_and_process(&store, &jobs).await;
    assert_eq!(results.len(), 300);

    let same: i64 = sqlx::query_scalar(EVENT_LOGS_THAT_REPEAT_THEIR_DETECTION)
        .fetch_one(&store.writer)
        .await
        .unwrap();
    assert_eq!(same, 301, "every detection's event repeats it");
    for (result, job) in results.iter().zip(&jobs) {
        let (detection, job_id, image): (i64, String, Option<String>) =
            sqlx::query_as("SELECT detection_id, job_id, image_path FROM event_logs WHERE id = ?")
                .bind(result.event_log_id.unwrap())
                .fetch_one(&store.writer)
                .await
                .unwrap();
        assert_eq!(Some(detection), result.detection_id);
        assert_eq!(job_id, job.job_id.to_string());
        assert_eq!(image, job.image.as_ref().map(|i| i.path.clone()));
        assert_eq!(result.event_log_id, result.detection_id.map(|d| d + 2));
    }
    // Counted detections' jobs are answered from their detection rows: no `jobs` rows
    // (the three images' jobs are child jobs of another queue).
    let job_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE queue = 'detections'")
        .fetch_one(&store.writer)
        .await
        .unwrap();
    assert_eq!(job_rows, 0);
    // Their answers: `a_counted_detection_job_answers_in_full` in the conformance suite.
    // The time each batch wrote its detection rows with.
    let batch_times: Vec<String> = sqlx::query_scalar(
        "SELECT updated_at FROM re_id_branch_detections WHERE id IN (1, (SELECT max(id) FROM re_id_branch_detections)) ORDER BY id",
    )
    .fetch_all(&store.writer)
    .await
    .unwrap();
    let days: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT re_id, status, detection_time, first_detected_at, created_at, updated_at FROM re_id_masters",
    )
    .fetch_all(&store.writer)
    .await
    .unwrap();
    assert_eq!(days.len(), 70);
    for (re_id, status, time, first, created, updated) in days {
        assert_eq!((status.as_str(), &time), ("active", &first));
        // P0 was made by the first batch; every person-day was updated by the second.
        let made_by = if re_id == "P0" { 0 } else { 1 };
        assert_eq!(created, batch_times[made_by], "{re_id}");
        assert_eq!(updated, batch_times[1], "{re_id}");
    }
}

/// A counted detection's job lives in its detection row: an intake row left behind by a
/// crash never returns to the queue, a retried job's queued row is completed in place, and
/// a job whose answer was pruned stays done.
/// (The answers and their pruning are conformance cases, in the test kit's `job_answers`.)
#[tokio::test]
async fn a_detection_row_is_its_jobs_completion() {
    let (_dir, store) = test_store().await;
    let e = seed(&store).await;
    let done = job(&e, 0, "P1", 1, "2026-11-28T08:00:00Z");
    accept_and_process(&store, std::slice::from_ref(&done)).await;
    // The processed job's intake row goes in the background; then a crash "leaves it".
    while store.intake.stats().await.unwrap().pending > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    accept(&store, std::slice::from_ref(&done)).await;
    store
        .spill(crate::intake::Which::All, usize::MAX)
        .await
        .unwrap();
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&store.writer)
        .await
        .unwrap();
    assert_eq!(queued, 0, "a processed job is not queued again");
    assert_eq!(store.intake.stats().await.unwrap().pending, 0);

    let retried = job(&e, 1, "P2", 1, "2026-11-28T08:00:00Z");
    let results = processed_after_a_failed_attempt(&store, &retried).await;
    let (status, attempts, result): (String, i64, String) =
        sqlx::query_as("SELECT status, attempts, result FROM jobs WHERE id = ?")
            .bind(retried.job_id.to_string())
            .fetch_one(&store.writer)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("completed", 2));
    assert_eq!(result, results[0].to_json());
    // Once pruning has forgotten the answers, processing still knows the job is done:
    // its detection row stays.
    let cutoff = Timestamp::now() + jiff::SignedDuration::from_secs(1);
    while store.prune_completed(cutoff, 10).await.unwrap() > 0 {}
    assert!(store.job(done.job_id).await.unwrap().is_none());
    let again = store
        .process_detections(&prepare(std::slice::from_ref(&done)), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(again[0].outcome, DetectionOutcome::AlreadyProcessed);
}

/// Rows bind NULL for a value the statement shares (the batch's day, a last time equal
/// to the first, a time of receipt equal to the device's time): a row whose value differs
/// keeps its own.
#[tokio::test]
async fn rows_keep_their_own_day_and_times_where_they_differ_from_the_batch() {
    let (_dir, store) = test_store().await;
    let e = seed(&store).await;
    let mut late = job(&e, 1, "P2", 1, "2026-11-29T10:00:00Z");
    late.received_at = "2026-11-29T10:00:05Z".parse().unwrap();
    let batch = [
        job(&e, 0, "P1", 1, "2026-11-28T08:00:00Z"),
        job(&e, 0, "P1", 2, "2026-11-28T09:30:00Z"),
        late,
    ];
    accept_and_process(&store, &batch).await;

    let (p1_first, p1_last) = ("2026-11-28T08:00:00.000000Z", "2026-11-28T09:30:00.000000Z");
    let (p2_at, p2_received) = ("2026-11-29T10:00:00.000000Z", "2026-11-29T10:00:05.000000Z");
    assert_eq!(
        rows(
            &store,
            "re_id, detection_date, detection_timestamp, received_at",
            "re_id_branch_detections ORDER BY id"
        )
        .await,
        [
            format!("P1 2026-11-28 {p1_first} {p1_first}"),
            format!("P1 2026-11-28 {p1_last} {p1_last}"),
            format!("P2 2026-11-29 {p2_at} {p2_received}"),
        ]
    );
    assert_eq!(
        rows(
            &store,
            "re_id, detection_date, first_detected_at, last_detected_at, detections",
            "re_id_branch_days ORDER BY re_id"
        )
        .await,
        [
            format!("P1 2026-11-28 {p1_first} {p1_last} 2"),
            format!("P2 2026-11-29 {p2_at} {p2_at} 1"),
        ]
    );
    assert_eq!(
        rows(
            &store,
            "re_id, detection_date, detection_time, first_detected_at, last_detected_at, total_actual_count",
            "re_id_masters ORDER BY re_id"
        )
        .await,
        [
            format!("P1 2026-11-28 {p1_first} {p1_first} {p1_last} 3"),
            format!("P2 2026-11-29 {p2_at} {p2_at} {p2_at} 1"),
        ]
    );
}

/// `columns` of each row of `from` (a table and its order), as one text, space-separated.
async fn rows(store: &SqliteStore, columns: &str, from: &str) -> Vec<String> {
    sqlx::query_scalar(&format!("SELECT concat_ws(' ', {columns}) FROM {from}"))
        .fetch_all(&store.writer)
        .await
        .unwrap()
}

/// With commits that back a 202 synced, a processed job's intake row goes once the main
/// file's WAL is synced (`wal_sync.rs`): the sync finds the real WAL next to the main
/// file, and the rows do go. (The order itself, sync then delete, is in the code.)
#[tokio::test]
async fn with_fsync_the_main_file_is_synced_and_processed_intake_rows_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteSettings::new(dir.path().join("cctv.db")))
        .await
        .unwrap();
    let e = seed(&store).await;
    let jobs = mixed_batch(&e, 3, &[]);
    accept_and_process(&store, &jobs).await;
    assert!(store.wal_sync.is_some(), "fsync is on by default");
    // The detection queue's depth counts the intake's rows.
    assert_eq!(queued_detections(&store).await, 0, "the intake rows went");
}
