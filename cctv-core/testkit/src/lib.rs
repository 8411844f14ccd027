//! # cctv-testkit
//!
//! What tests of cctv share, kept out of the library (a dev-dependency only):
//!
//! - the storage conformance suite every backend must pass: a backend's test file expands
//!   [`storage_conformance_tests!`](crate::storage_conformance_tests) with an async
//!   function that returns a fresh, empty, migrated store, and every case gets its own;
//! - the fixtures other crates' tests build on: [`seed`] (a small estate), [`Estate`],
//!   [`job`] (a detection job for it).

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::json;

use cctv_core::blob::StoredBlob;
use cctv_core::credential::{
    CredentialStatus, GeneratedSecret, NewCredential, Permissions, hash_secret,
};
use cctv_core::detection::DetectionJob;
use cctv_core::estate::*;
use cctv_core::jobs::{JobId, JobRecord, JobState, Lease, NewJob, Queue};
use cctv_core::person_day::PreparedDetection;
use cctv_core::query::{DetectionFilter, PageRequest};
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, ChangeTopic, DetectionOutcome, ProcessedDetection, Storage,
};

mod analytics;
mod day_counts;
mod exports;
mod job_answers;
mod notifications;
pub use analytics::*;
pub use day_counts::*;
pub use exports::*;
pub use job_answers::*;
pub use notifications::*;
mod queue_admin;
mod reports;
pub use self::queue_admin::*;
pub use self::reports::*;

/// Expands the suite into one `#[tokio::test]` per case for a backend.
///
/// `storage_conformance_tests!(make)` runs every case: `make` returns a fresh store as
/// `Option<Arc<dyn FullStorage>>` (`None` skips, e.g. without a database URL).
/// `storage_conformance_tests!(required make)` runs the cases of the required interface
/// only, for a backend that implements [`Storage`] and no optional capability.
#[macro_export]
macro_rules! storage_conformance_tests {
    (required $make:path) => {
        $crate::storage_conformance_tests!(@cases $make;
            estate_round_trip,
            detections_are_counted_per_person_day,
            duplicate_event_ids_return_the_original_job,
            redelivered_jobs_have_no_second_effect,
            a_detection_job_was_created_when_it_was_received,
            out_of_order_detections_move_first_detected_at_back,
            inactive_person_days_change_no_counter,
            concurrent_batches_count_exactly,
            features_merge_across_batches,
            job_queue_leases_retries_and_failures,
            credentials_round_trip_and_stamp,
            queries_filter_paginate_and_summarise,
            images_register_files_and_enqueue_image_jobs,
            pruning_removes_only_old_completed_jobs,
            a_counted_detection_job_answers_in_full,
            a_retried_detection_job_answers_with_its_attempts,
            pruning_forgets_detection_jobs_in_slices,
            pruning_in_slices_keeps_a_retried_jobs_own_answer,
            an_imported_job_accepted_again_after_pruning_counts_once,
            heartbeats_keep_a_running_job_from_a_second_claim,
        );
    };
    ($make:path) => {
        $crate::storage_conformance_tests!(required $make);
        $crate::storage_conformance_tests!(@cases $make;
            deliveries_are_one_row_per_event_recipient_and_channel,
            a_cooldown_window_is_taken_by_one_event_at_a_time,
            suppressed_sends_wait_for_one_digest,
            aggregating_a_day_replaces_its_summary_rows,
            reports_upsert_one_row_per_key_including_overall,
            detection_pages_cover_a_range_once_in_order,
            dirty_marks_expand_and_clear_only_when_unchanged,
            two_schedulers_run_each_slot_once,
            failed_jobs_are_listed_retried_and_discarded,
            a_detection_job_retried_by_an_operator_keeps_its_error,
            report_service_pages_give_the_same_report,
            export_pages_filter_and_cover_each_row_once,
            unique_enqueue_returns_the_queued_job,
            day_counts_equal_their_recomputation,
            analytics_equal_their_recount,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(store) = $make().await {
                    $crate::$case(store).await;
                }
            }
        )*
    };
}

/// A seeded estate: three active branches with one device each, plus an inactive device.
pub struct Estate {
    pub branches: Vec<Branch>,
    pub devices: Vec<Device>,
}

pub async fn seed(store: &dyn Storage) -> Estate {
    let group = store
        .create_group(&NewGroup {
            province_code: "JKT".into(),
            province_name: "DKI Jakarta".into(),
            group_name: "Jakarta Group".into(),
            address: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        })
        .await
        .expect("group");
    let mut branches = Vec::new();
    let mut devices = Vec::new();
    for i in 1..=3 {
        let branch = store
            .create_branch(&NewBranch {
                group_id: group.id,
                branch_code: format!("JKT00{i}"),
                branch_name: format!("Jakarta Branch {i}"),
                city: "Jakarta".into(),
                address: None,
                latitude: Some(-6.2),
                longitude: Some(106.8),
                phone: None,
                email: None,
                status: RecordStatus::Active,
            })
            .await
            .expect("branch");
        let device = store
            .create_device(&NewDevice {
                device_id: format!("CAM_JKT00{i}_001"),
                device_name: format!("Camera {i}"),
                device_type: DeviceType::Camera,
                branch_id: branch.id,
                notes: None,
                status: RecordStatus::Active,
            })
            .await
            .expect("device");
        branches.push(branch);
        devices.push(device);
    }
    Estate { branches, devices }
}

fn day() -> Date {
    "2026-11-28".parse().unwrap()
}

fn day_start() -> Timestamp {
    "2026-11-28T00:00:00Z".parse().unwrap()
}

/// A detection job at `at` (UTC) for the `n`-th seeded branch.
pub fn job(estate: &Estate, n: usize, re_id: &str, count: i32, at: &str) -> DetectionJob {
    let at: Timestamp = at.parse().unwrap();
    DetectionJob {
        idempotency_key: None,
        request_hash: None,
        job_id: JobId::new(),
        credential_id: None,
        event_id: None,
        re_id: re_id.into(),
        branch_id: estate.branches[n].id,
        device_id: estate.devices[n].device_id.clone(),
        detected_count: count,
        detected_at: at,
        received_at: at,
        detection_data: Some(json!({"confidence": 0.9}).into()),
        person_features: None,
        image: None,
        imported: false,
    }
}

/// Counts the detection event-log rows whose columns equal their detection row's, in SQL
/// that SQLite and PostgreSQL both run (for a backend's own test of how it writes them).
pub const EVENT_LOGS_THAT_REPEAT_THEIR_DETECTION: &str = "SELECT count(*) FROM event_logs e JOIN re_id_branch_detections d ON d.id = e.detection_id \
     WHERE e.event_type = 'detection' AND e.branch_id = d.branch_id AND e.device_id = d.device_id \
     AND e.re_id = d.re_id AND e.detected_count = d.detected_count AND e.event_data = d.detection_data \
     AND e.event_timestamp = d.detection_timestamp AND e.event_date = d.detection_date \
     AND e.job_id = d.job_id AND e.created_at = d.created_at AND e.updated_at = d.updated_at";

/// A batch of `n` detections over the seeded branches, a second apart from 08:00 UTC,
/// of 70 persons with counts 1 to 4; the detections at `with_images` carry an image
/// (`events/2026/11/28/<index>.jpg`). For tests of how a backend writes a batch that
/// takes more than one statement.
pub fn mixed_batch(estate: &Estate, n: usize, with_images: &[usize]) -> Vec<DetectionJob> {
    let mut jobs: Vec<DetectionJob> = (0..n)
        .map(|i| {
            let at = format!("2026-11-28T08:{:02}:{:02}Z", i / 60 % 60, i % 60);
            job(
                estate,
                i % 3,
                &format!("P{}", i % 70),
                1 + (i % 4) as i32,
                &at,
            )
        })
        .collect();
    for &i in with_images {
        jobs[i].image = Some(StoredBlob {
            path: format!("events/2026/11/28/{i}.jpg"),
            mime: "image/jpeg".into(),
            size: 10,
            width: None,
            height: None,
        });
    }
    jobs
}

/// `jobs` as a processing batch, their local dates in UTC.
pub fn prepare(jobs: &[DetectionJob]) -> Vec<PreparedDetection> {
    jobs.iter()
        .map(|j| PreparedDetection::new(j.clone(), &TimeZone::UTC))
        .collect()
}

/// `jobs` as one group commit's items, without leases.
pub fn accept_items(jobs: &[DetectionJob]) -> Vec<AcceptItem> {
    jobs.iter()
        .map(|j| AcceptItem {
            job: j.clone(),
            lease: None,
        })
        .collect()
}

/// Accepts `jobs` in one call, as the intake does.
pub async fn accept(store: &dyn Storage, jobs: &[DetectionJob]) -> Vec<AcceptOutcome> {
    store
        .accept_detections(&accept_items(jobs), Timestamp::now())
        .await
        .expect("accept")
}

/// Processes `jobs` in batches of `size`, all batches at once and every batch delivered
/// twice concurrently: redelivery and concurrent workers must not count twice.
async fn process_every_batch_twice_at_once(
    store: &Arc<dyn Storage>,
    jobs: &[DetectionJob],
    size: usize,
) {
    let mut tasks = Vec::new();
    for chunk in jobs.chunks(size) {
        let store = store.clone();
        let batch = prepare(chunk);
        tasks.push(tokio::spawn(async move {
            let (a, b) = tokio::join!(
                store.process_detections(&batch, Timestamp::now()),
                store.process_detections(&batch, Timestamp::now())
            );
            a.or(b).expect("at least one delivery succeeds");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Accepts `jobs`, then processes them as one batch; their results.
pub async fn accept_and_process(
    store: &dyn Storage,
    jobs: &[DetectionJob],
) -> Vec<ProcessedDetection> {
    accept(store, jobs).await;
    store
        .process_detections(&prepare(jobs), Timestamp::now())
        .await
        .expect("process")
}

pub async fn estate_round_trip(store: Arc<dyn Storage>) {
    let before = store.change_stamp(ChangeTopic::Estate).await.unwrap();
    let estate = seed(store.as_ref()).await;
    let after = store.change_stamp(ChangeTopic::Estate).await.unwrap();
    assert_ne!(before, after, "estate changes move the stamp");
    let snapshot = store.estate_snapshot().await.unwrap();
    assert_eq!(snapshot.branches.len(), 3);
    assert_eq!(
        snapshot.check_device(estate.branches[0].id, "CAM_JKT001_001"),
        Ok(())
    );
    assert_eq!(
        snapshot.check_device(estate.branches[1].id, "CAM_JKT001_001"),
        Err(EstateRejection::DeviceNotInBranch)
    );
    store
        .set_device_status("CAM_JKT001_001", RecordStatus::Inactive)
        .await
        .unwrap();
    let snapshot = store.estate_snapshot().await.unwrap();
    assert_eq!(
        snapshot.check_device(estate.branches[0].id, "CAM_JKT001_001"),
        Err(EstateRejection::InactiveDevice)
    );
    assert_eq!(store.list_devices().await.unwrap().len(), 3);
    assert_eq!(store.list_groups().await.unwrap()[0].province_code, "JKT");
    let duplicate = store
        .create_device(&NewDevice {
            device_id: "CAM_JKT001_001".into(),
            device_name: "dup".into(),
            device_type: DeviceType::Cctv,
            branch_id: estate.branches[0].id,
            notes: None,
            status: RecordStatus::Active,
        })
        .await;
    assert!(
        matches!(
            duplicate,
            Err(cctv_core::storage::StorageError::Conflict(_))
        ),
        "{duplicate:?}"
    );
}

pub async fn detections_are_counted_per_person_day(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let jobs = vec![
        job(&estate, 0, "P1", 2, "2026-11-28T08:00:00Z"),
        job(&estate, 1, "P1", 3, "2026-11-28T09:00:00Z"),
        job(&estate, 0, "P1", 1, "2026-11-28T10:00:00Z"),
        job(&estate, 0, "P2", 1, "2026-11-28T10:00:00Z"),
        job(&estate, 0, "P1", 4, "2026-11-29T00:30:00Z"),
    ];
    assert!(
        accept(store.as_ref(), &jobs)
            .await
            .iter()
            .all(|o| *o == AcceptOutcome::Accepted)
    );
    assert_eq!(
        store.job(jobs[0].job_id).await.unwrap().unwrap().state,
        JobState::Queued
    );
    let results = store
        .process_detections(&prepare(&jobs), Timestamp::now())
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.outcome == DetectionOutcome::Counted)
    );

    let p1 = store
        .person_day("P1", day(), None)
        .await
        .unwrap()
        .expect("person-day");
    assert_eq!(p1.total_actual_count, 6);
    assert_eq!(p1.total_detection_branch_count, 2);
    assert_eq!(
        p1.first_detected_at,
        Some("2026-11-28T08:00:00Z".parse().unwrap())
    );
    assert_eq!(
        p1.last_detected_at,
        Some("2026-11-28T10:00:00Z".parse().unwrap())
    );
    assert_eq!(p1.detected_branches.len(), 2);
    let b0 = p1
        .detected_branches
        .iter()
        .find(|b| b.branch_id == estate.branches[0].id)
        .unwrap();
    assert_eq!((b0.detection_count, b0.total_detected_count), (2, 3));
    let next_day = store
        .person_day("P1", "2026-11-29".parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next_day.total_actual_count, 4,
        "a new day starts a new person-day"
    );

    let record = store.job(jobs[0].job_id).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Completed);
    assert_eq!(record.attempts, 1);
    assert_eq!(record.result.as_ref().unwrap()["outcome"], "counted");
}

pub async fn duplicate_event_ids_return_the_original_job(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut first = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    first.event_id = Some("evt-1".into());
    first.credential_id = Some(7);
    first.request_hash = Some("hash-1".into());
    assert_eq!(
        accept(store.as_ref(), std::slice::from_ref(&first)).await,
        vec![AcceptOutcome::Accepted]
    );
    let mut retry = first.clone();
    retry.job_id = JobId::new();
    let mut other_credential = retry.clone();
    other_credential.credential_id = Some(8);
    other_credential.job_id = JobId::new();
    // One API key shared by a fleet: another device may reuse the event id.
    let mut other_device = retry.clone();
    other_device.device_id = estate.devices[1].device_id.clone();
    other_device.job_id = JobId::new();
    let mut reused = retry.clone();
    reused.job_id = JobId::new();
    reused.request_hash = Some("hash-2".into());
    let outcomes = accept(
        store.as_ref(),
        &[retry.clone(), other_credential, other_device, reused],
    )
    .await;
    let original = AcceptOutcome::Duplicate {
        original: first.job_id,
        request_hash: Some("hash-1".into()),
    };
    assert_eq!(
        outcomes,
        vec![
            original.clone(),
            AcceptOutcome::Accepted,
            AcceptOutcome::Accepted,
            original,
        ],
        "the stored fingerprint comes back with the original job"
    );
    assert!(
        store.job(retry.job_id).await.unwrap().is_none(),
        "the duplicate stored nothing"
    );
    // A header key is per credential, whatever the device.
    let mut keyed = job(&estate, 0, "P2", 1, "2026-11-28T08:00:00Z");
    keyed.credential_id = Some(7);
    keyed.idempotency_key = Some("k/abc".into());
    let mut keyed_elsewhere = keyed.clone();
    keyed_elsewhere.job_id = JobId::new();
    keyed_elsewhere.device_id = estate.devices[1].device_id.clone();
    let outcomes = accept(store.as_ref(), &[keyed.clone(), keyed_elsewhere]).await;
    assert_eq!(
        outcomes,
        vec![
            AcceptOutcome::Accepted,
            AcceptOutcome::Duplicate {
                original: keyed.job_id,
                request_hash: None
            }
        ],
        "two items of one batch with one key: the second is the first's duplicate"
    );
}

pub async fn redelivered_jobs_have_no_second_effect(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let jobs = vec![
        job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z"),
        job(&estate, 1, "P1", 1, "2026-11-28T09:00:00Z"),
    ];
    accept_and_process(store.as_ref(), &jobs).await;
    let again = store
        .process_detections(&prepare(&jobs), Timestamp::now())
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.outcome == DetectionOutcome::AlreadyProcessed),
        "{again:?}"
    );
    let p1 = store.person_day("P1", day(), None).await.unwrap().unwrap();
    assert_eq!(
        (p1.total_actual_count, p1.total_detection_branch_count),
        (2, 2)
    );
    let page = store
        .list_detections(&DetectionFilter::default(), PageRequest::new(1, 100))
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

/// A detection job's `created_at` is when its request was received: the same before and
/// after processing, on every backend (a status query must not see it move).
pub async fn a_detection_job_was_created_when_it_was_received(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let detection = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00.250Z");
    accept(store.as_ref(), std::slice::from_ref(&detection)).await;
    let created = |record: Option<JobRecord>| record.expect("the job exists").created_at;
    let queued = created(store.job(detection.job_id).await.unwrap());
    assert_eq!(queued, detection.received_at);
    store
        .process_detections(&prepare(std::slice::from_ref(&detection)), Timestamp::now())
        .await
        .unwrap();
    let completed = store
        .job(detection.job_id)
        .await
        .unwrap()
        .expect("the job exists");
    assert_eq!(completed.state, JobState::Completed);
    assert_eq!(completed.created_at, detection.received_at);
}

pub async fn out_of_order_detections_move_first_detected_at_back(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 0, "P1", 1, "2026-11-28T10:00:00Z")],
    )
    .await;
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 0, "P1", 1, "2026-11-28T07:00:00Z")],
    )
    .await;
    let p1 = store.person_day("P1", day(), None).await.unwrap().unwrap();
    assert_eq!(
        p1.first_detected_at,
        Some("2026-11-28T07:00:00Z".parse().unwrap())
    );
    assert_eq!(
        p1.detection_time,
        Some("2026-11-28T07:00:00Z".parse().unwrap())
    );
    assert_eq!(
        p1.last_detected_at,
        Some("2026-11-28T10:00:00Z".parse().unwrap())
    );
    assert_eq!(p1.total_detection_branch_count, 1);
}

pub async fn inactive_person_days_change_no_counter(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 0, "P1", 2, "2026-11-28T08:00:00Z")],
    )
    .await;
    store
        .set_person_day_status("P1", day(), RecordStatus::Inactive)
        .await
        .unwrap();
    let late = vec![job(&estate, 1, "P1", 5, "2026-11-28T11:00:00Z")];
    accept(store.as_ref(), &late).await;
    let results = store
        .process_detections(&prepare(&late), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(results[0].outcome, DetectionOutcome::TrackingDisabled);
    let p1 = store.person_day("P1", day(), None).await.unwrap().unwrap();
    assert_eq!(
        (p1.total_actual_count, p1.total_detection_branch_count),
        (2, 1)
    );
    assert_eq!(
        p1.last_detected_at,
        Some("2026-11-28T08:00:00Z".parse().unwrap())
    );
    assert_eq!(p1.status, "inactive");
    let filter = DetectionFilter {
        re_id: Some("P1".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_detections(&filter, PageRequest::new(1, 10))
            .await
            .unwrap()
            .total,
        2,
        "the detection is stored"
    );
    let record = store.job(late[0].job_id).await.unwrap().unwrap();
    assert_eq!(record.result.unwrap()["outcome"], "tracking_disabled");
}

pub async fn concurrent_batches_count_exactly(store: Arc<dyn Storage>) {
    let estate = Arc::new(seed(store.as_ref()).await);
    let jobs: Vec<DetectionJob> = (0..1000)
        .map(|i| {
            job(
                &estate,
                i % 3,
                "CROWD",
                (i % 4 + 1) as i32,
                &format!("2026-11-28T{:02}:{:02}:00Z", 1 + i % 20, i % 60),
            )
        })
        .collect();
    let expected: i64 = jobs.iter().map(|j| i64::from(j.detected_count)).sum();
    accept(store.as_ref(), &jobs).await;
    process_every_batch_twice_at_once(&store, &jobs, 50).await;
    let crowd = store
        .person_day("CROWD", day(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(crowd.total_actual_count, expected);
    assert_eq!(crowd.total_detection_branch_count, 3);
    let all = store
        .list_detections(&DetectionFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap();
    assert_eq!(all.total, 1000);
}

pub async fn features_merge_across_batches(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut a = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    a.detection_data = Some(json!({"appearance_features": {"hat": "red", "bag": true}}).into());
    let mut b = job(&estate, 1, "P1", 1, "2026-11-28T09:00:00Z");
    b.detection_data = Some(json!({"appearance_features": {"hat": "blue"}}).into());
    accept_and_process(store.as_ref(), &[a]).await;
    accept_and_process(store.as_ref(), &[b]).await;
    let p1 = store.person_day("P1", day(), None).await.unwrap().unwrap();
    assert_eq!(
        p1.appearance_features,
        Some(json!({"hat": "blue", "bag": true}))
    );
}

pub async fn job_queue_leases_retries_and_failures(store: Arc<dyn Storage>) {
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..3)
        .map(|i| NewJob::new(Queue::Reports, "test", json!({"n": i}), now))
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let lease = Lease {
        owner: "node-a".into(),
        until: now + jiff::SignedDuration::from_secs(60),
    };
    let claimed = store.claim(Queue::Reports, &lease, 2, now).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(
        store.job(claimed[0].id).await.unwrap().unwrap().state,
        JobState::Processing
    );
    let other = Lease {
        owner: "node-b".into(),
        ..lease.clone()
    };
    let rest = store.claim(Queue::Reports, &other, 10, now).await.unwrap();
    assert_eq!(rest.len(), 1, "leased jobs are not handed out twice");
    assert!(
        store
            .claim(Queue::Detections, &other, 10, now)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .complete(claimed[0].id, json!({"ok": true}), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete(claimed[0].id, json!({"ok": true}), now)
            .await
            .unwrap(),
        "completes once"
    );
    let retry_at = now + jiff::SignedDuration::from_secs(30);
    store
        .fail(claimed[1].id, "boom", Some(retry_at), now)
        .await
        .unwrap();
    assert!(
        store
            .claim(Queue::Reports, &other, 10, now)
            .await
            .unwrap()
            .is_empty(),
        "not before retry_at"
    );
    let later = store
        .claim(
            Queue::Reports,
            &other,
            10,
            retry_at + jiff::SignedDuration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].attempts, 1);
    store
        .fail(later[0].id, "boom again", None, now)
        .await
        .unwrap();
    let failed = store.job(later[0].id).await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.last_error.as_deref(), Some("boom again"));
    assert_eq!(failed.attempts, 2);

    assert_eq!(store.release_leases(Some("node-b")).await.unwrap(), 1);
    let depths = store.queue_depths().await.unwrap();
    let reports = depths.iter().find(|d| d.queue == Queue::Reports).unwrap();
    assert_eq!((reports.queued, reports.failed), (1, 1));
}

pub async fn credentials_round_trip_and_stamp(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let generated = GeneratedSecret::generate();
    let created = store
        .create_credential(&NewCredential {
            name: "edge".into(),
            api_key: generated.api_key.clone(),
            secret_hash: hash_secret(&generated.api_secret),
            branch_id: Some(estate.branches[0].id),
            device_id: None,
            permissions: Permissions {
                read: true,
                write: false,
            },
            rate_limit: 50,
            expires_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(created.status, CredentialStatus::Active);
    assert!(
        created
            .authenticate(&generated.api_secret, Timestamp::now())
            .is_ok()
    );
    let listed = store.credentials().await.unwrap();
    assert_eq!(listed, vec![created.clone()]);

    let stamp = store.change_stamp(ChangeTopic::Credentials).await.unwrap();
    store
        .record_credential_use(&[(created.id, Timestamp::now())])
        .await
        .unwrap();
    assert_eq!(
        store.change_stamp(ChangeTopic::Credentials).await.unwrap(),
        stamp,
        "use times do not invalidate caches"
    );
    store
        .set_credential_status(created.id, CredentialStatus::Inactive)
        .await
        .unwrap();
    assert_ne!(
        store.change_stamp(ChangeTopic::Credentials).await.unwrap(),
        stamp
    );
    store.set_credential_expiry(created.id, None).await.unwrap();
    let reloaded = &store.credentials().await.unwrap()[0];
    assert_eq!(
        (reloaded.status, reloaded.expires_at),
        (CredentialStatus::Inactive, None)
    );
}

pub async fn queries_filter_paginate_and_summarise(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut jobs = Vec::new();
    for i in 0..25 {
        jobs.push(job(
            &estate,
            i % 3,
            &format!("P{}", i % 5),
            1,
            &format!("2026-11-28T{:02}:00:00Z", i % 24),
        ));
    }
    jobs.push(job(&estate, 0, "P0", 1, "2026-11-27T12:00:00Z"));
    accept_and_process(store.as_ref(), &jobs).await;

    let page = store
        .list_detections(&DetectionFilter::default(), PageRequest::new(2, 10))
        .await
        .unwrap();
    assert_eq!(
        (
            page.total,
            page.items.len(),
            page.last_page(),
            page.from(),
            page.to()
        ),
        (26, 10, 3, Some(11), Some(20))
    );
    let newest = &store
        .list_detections(&DetectionFilter::default(), PageRequest::new(1, 1))
        .await
        .unwrap()
        .items[0];
    assert_eq!(
        newest.detection_timestamp,
        "2026-11-28T23:00:00Z".parse().unwrap()
    );
    assert!(newest.branch.is_some() && newest.device.is_some());
    assert_eq!(
        newest.re_id_master.as_ref().unwrap().detection_date,
        day(),
        "relation joins on the same day"
    );

    let filter = DetectionFilter {
        date_from: Some(day()),
        date_to: Some(day()),
        branch_id: Some(estate.branches[1].id),
        ..Default::default()
    };
    let expected = jobs
        .iter()
        .filter(|j| j.branch_id == estate.branches[1].id && j.detected_at >= day_start())
        .count();
    assert_eq!(
        store
            .list_detections(&filter, PageRequest::new(1, 100))
            .await
            .unwrap()
            .total as usize,
        expected
    );
    let scoped = DetectionFilter {
        scope_branch: Some(estate.branches[2].id),
        ..Default::default()
    };
    let items = store
        .list_detections(&scoped, PageRequest::new(1, 100))
        .await
        .unwrap()
        .items;
    assert!(!items.is_empty() && items.iter().all(|i| i.branch_id == estate.branches[2].id));

    let summary = store.detection_summary(day(), None).await.unwrap();
    assert_eq!(summary.summary.total_detections, 25);
    assert_eq!(summary.summary.unique_persons, 5);
    assert_eq!(summary.summary.unique_branches, 3);
    assert_eq!(summary.hourly_trend.len(), 24);
    assert_eq!(
        summary.hourly_trend.iter().map(|h| h.count).sum::<i64>(),
        25
    );
    assert_eq!(summary.hourly_trend[0].count, 2, "hours 0 of i=0 and i=24");
    assert_eq!(summary.top_persons.len(), 5);
    assert_eq!(
        summary
            .top_branches
            .iter()
            .map(|b| b.detection_count)
            .sum::<i64>(),
        25
    );

    let stats = store
        .branch_statistics(estate.branches[0].id, day(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.total_detections, 9);
    let distinct: HashSet<&str> = jobs
        .iter()
        .filter(|j| j.branch_id == estate.branches[0].id && j.detected_at >= day_start())
        .map(|j| j.re_id.as_str())
        .collect();
    assert_eq!(stats.unique_persons as usize, distinct.len());
    assert!(
        store
            .branch_statistics(9999, day(), None)
            .await
            .unwrap()
            .is_none()
    );

    let p0_other_branch = store
        .person_day("P1", day(), Some(estate.branches[0].id))
        .await
        .unwrap();
    assert!(
        p0_other_branch
            .unwrap()
            .detected_branches
            .iter()
            .all(|b| b.branch_id == estate.branches[0].id)
    );
    assert!(
        store
            .person_day("NOBODY", day(), None)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn images_register_files_and_enqueue_image_jobs(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut with_image = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    with_image.image = Some(StoredBlob {
        path: "events/2026/11/28/1_x.jpg".into(),
        mime: "image/jpeg".into(),
        size: 10,
        width: Some(4),
        height: Some(3),
    });
    accept_and_process(store.as_ref(), &[with_image]).await;
    let depths = store.queue_depths().await.unwrap();
    assert_eq!(
        depths
            .iter()
            .find(|d| d.queue == Queue::Images)
            .unwrap()
            .queued,
        1
    );
    // A backend may forget a processed intake row a moment after its commit (SQLite
    // drops it from the intake file in the background): the depth reaches 0 shortly.
    let mut detections_queued = u64::MAX;
    for _ in 0..200 {
        let depths = store.queue_depths().await.unwrap();
        detections_queued = depths
            .iter()
            .find(|d| d.queue == Queue::Detections)
            .unwrap()
            .queued;
        if detections_queued == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(detections_queued, 0);
}

pub async fn pruning_removes_only_old_completed_jobs(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let done = vec![job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z")];
    accept_and_process(store.as_ref(), &done).await;
    let waiting = vec![job(&estate, 1, "P2", 1, "2026-11-28T08:00:00Z")];
    accept(store.as_ref(), &waiting).await;
    let cutoff = Timestamp::now() + jiff::SignedDuration::from_secs(1);
    assert_eq!(
        store
            .prune_completed(Timestamp::UNIX_EPOCH, 100)
            .await
            .unwrap(),
        0,
        "nothing that old"
    );
    assert_eq!(store.prune_completed(cutoff, 100).await.unwrap(), 1);
    assert!(store.job(done[0].job_id).await.unwrap().is_none());
    assert_eq!(
        store.job(waiting[0].job_id).await.unwrap().unwrap().state,
        JobState::Queued,
        "pending jobs stay"
    );
    let p1 = store.person_day("P1", day(), None).await.unwrap().unwrap();
    assert_eq!(p1.total_actual_count, 1, "effects stay");
}
