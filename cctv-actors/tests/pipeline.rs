//! The pipeline end to end on a real SQLite file: submit → commit → worker → counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_admin::storage::FullStorage;
use cctv_admin::{AdminBuilder, AdminCore};
use cctv_core::Core;
use cctv_core::jobs::{JobState, Lease, RetryPolicy};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::AcceptItem;
use cctv_testkit::{Estate, job, seed};
use jiff::Timestamp;
use support::{open_sqlite, wait_for};

mod support;

async fn setup() -> (Core, Estate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn FullStorage> = Arc::new(open_sqlite(dir.path()).await);
    let estate = seed(store.as_ref()).await;
    let core = Core::builder().full_storage(store).build().await.unwrap();
    (core, estate, dir)
}

fn fast_settings() -> PipelineSettings {
    let mut settings = PipelineSettings::default();
    settings.ingest.poll_interval = Duration::from_millis(50);
    settings
}

/// How long a test waits for the pipeline.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_detections_are_processed_and_counted() {
    submit_and_count(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detections_accepted_by_two_commits_at_once_are_processed_and_counted() {
    submit_and_count(2).await;
}

async fn submit_and_count(accept_commits: usize) {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    settings.ingest.accept_commits = accept_commits;
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();
    let mut handles = Vec::new();
    for i in 0..1000 {
        let sink = sink.clone();
        let j = job(&estate, i % 3, "P1", 1, "2026-11-28T08:00:00Z");
        handles.push(tokio::spawn(async move { sink.submit(j).await.unwrap() }));
    }
    let mut ids = Vec::new();
    for h in handles {
        let submitted = h.await.unwrap();
        assert!(!submitted.duplicate);
        ids.push(submitted.job_id);
    }
    let storage = core.storage().clone();
    let last = *ids.last().unwrap();
    wait_for("all jobs to complete", WAIT, async || {
        storage.job(last).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    wait_for("counts", WAIT, async || {
        storage
            .person_day("P1", "2026-11-28".parse().unwrap(), None)
            .await
            .unwrap()
            .is_some_and(|p| p.total_actual_count == 1000)
    })
    .await;
    let p = storage
        .person_day("P1", "2026-11-28".parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.total_detection_branch_count, 3);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_submitted_concurrently_counts_once() {
    same_event_id_counts_once(1).await;
}

/// Copies of one event in two commits under way at once (as on PostgreSQL) still store
/// one job and answer every copy with its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_in_concurrent_commits_counts_once() {
    same_event_id_counts_once(2).await;
}

async fn same_event_id_counts_once(accept_commits: usize) {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    settings.ingest.accept_commits = accept_commits;
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();
    let mut template = job(&estate, 0, "P1", 2, "2026-11-28T08:00:00Z");
    template.event_id = Some("device-event-42".into());
    template.credential_id = Some(1);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let mut j = template.clone();
        j.job_id = cctv_core::jobs::JobId::new();
        let sink = sink.clone();
        handles.push(tokio::spawn(async move { sink.submit(j).await.unwrap() }));
    }
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    let first = results[0].job_id;
    assert!(results.iter().all(|r| r.job_id == first), "{results:?}");
    assert_eq!(results.iter().filter(|r| !r.duplicate).count(), 1);
    // And once more after it was processed.
    let storage = core.storage().clone();
    wait_for("processing", WAIT, async || {
        storage.job(first).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    let mut late = template.clone();
    late.job_id = cctv_core::jobs::JobId::new();
    let again = sink.submit(late).await.unwrap();
    assert_eq!((again.job_id, again.duplicate), (first, true));
    let p = storage
        .person_day("P1", "2026-11-28".parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.total_actual_count, 2);
    pipeline.shutdown().await;
}

/// The batcher is woken only when it waits for work (its inbox): submissions that arrive
/// while it lingers wake nobody, and the linger's end commits them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lingering_batcher_commits_a_lone_detection_and_a_burst_when_the_linger_ends() {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    let linger = Duration::from_millis(150);
    settings.ingest.min_batch = 10_000;
    settings.ingest.linger = linger;
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();

    let started = std::time::Instant::now();
    let lone = job(&estate, 0, "P0", 1, "2026-11-28T08:00:00Z");
    assert!(!sink.submit(lone).await.unwrap().duplicate);
    assert!(
        started.elapsed() >= linger,
        "answered before the linger ended"
    );

    let started = std::time::Instant::now();
    let burst: Vec<_> = (1..=50)
        .map(|i| {
            let sink = sink.clone();
            let j = job(&estate, i % 3, &format!("P{i}"), 1, "2026-11-28T08:00:00Z");
            tokio::spawn(async move { sink.submit(j).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for h in burst {
        let submitted = h.await.unwrap();
        assert!(!submitted.duplicate);
        ids.push(submitted.job_id);
    }
    assert!(
        started.elapsed() >= linger,
        "the burst was committed before the linger ended"
    );
    let storage = core.storage().clone();
    for id in ids {
        wait_for("the burst to be processed", WAIT, async || {
            storage.job(id).await.unwrap().unwrap().state == JobState::Completed
        })
        .await;
    }

    pipeline.shutdown().await;
    let late = job(&estate, 0, "P99", 1, "2026-11-28T08:00:00Z");
    let refused = tokio::time::timeout(Duration::from_secs(5), sink.submit(late))
        .await
        .expect("a submission after shutdown is answered, not left waiting");
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_commit_is_one_commit_answered_in_order() {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    settings.ingest.max_batch = 4;
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();
    // Single detections compete for the same commits meanwhile.
    let singles: Vec<_> = (0..30)
        .map(|_| {
            let sink = sink.clone();
            let j = job(&estate, 1, "SOLO", 1, "2026-11-28T08:00:00Z");
            tokio::spawn(async move { sink.submit(j).await.unwrap() })
        })
        .collect();
    let keyed = |event: &str, hash: &str| {
        let mut j = job(&estate, 0, "P2", 1, "2026-11-28T09:00:00Z");
        (j.event_id, j.credential_id, j.request_hash) =
            (Some(event.into()), Some(1), Some(hash.into()));
        j
    };
    let mut jobs: Vec<_> = (0..7)
        .map(|_| job(&estate, 0, "P2", 1, "2026-11-28T09:00:00Z"))
        .collect();
    jobs.insert(2, keyed("e-1", "h"));
    jobs.push(keyed("e-1", "h"));
    jobs.push(keyed("e-1", "another request"));
    let answers = sink.submit_many(jobs.clone()).await.unwrap();
    assert_eq!(answers.len(), 10);
    for (i, (a, j)) in answers
        .iter()
        .zip(&jobs)
        .enumerate()
        .filter(|(i, _)| *i < 8)
    {
        assert_eq!(
            (a.job_id, a.duplicate, a.conflict),
            (j.job_id, false, false),
            "item {i}"
        );
    }
    let original = jobs[2].job_id;
    assert_eq!(
        (answers[8].job_id, answers[8].duplicate, answers[8].conflict),
        (original, true, false)
    );
    assert_eq!(
        (answers[9].job_id, answers[9].duplicate, answers[9].conflict),
        (original, true, true)
    );
    // One commit stamps one time on every job it stores. A job processed meanwhile
    // carries its own receive time instead on SQLite (its completed row is written by
    // processing), so only the jobs still waiting are compared.
    let storage = core.storage().clone();
    let mut created = std::collections::BTreeSet::new();
    for j in &jobs[..8] {
        let record = storage.job(j.job_id).await.unwrap().unwrap();
        if record.state != JobState::Completed {
            created.insert(record.created_at);
        }
    }
    assert!(created.len() <= 1, "{created:?}");
    for s in singles {
        assert!(!s.await.unwrap().duplicate);
    }
    wait_for("the batch to be counted", WAIT, async || {
        storage
            .person_day("P2", "2026-11-28".parse().unwrap(), None)
            .await
            .unwrap()
            .is_some_and(|p| p.total_actual_count == 8)
    })
    .await;
    assert!(sink.submit_many(Vec::new()).await.unwrap().is_empty());
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_panics_is_restarted_and_its_batch_is_processed() {
    let (core, estate, _dir) = setup().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let hook_calls = calls.clone();
    let mut settings = fast_settings();
    settings.ingest.workers = 1;
    settings.node.before_batch = Some(Arc::new(move |_: &[PreparedDetection]| {
        if hook_calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected worker fault");
        }
    }));
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let submitted = pipeline
        .ingest()
        .submit(job(&estate, 0, "P9", 1, "2026-11-28T08:00:00Z"))
        .await
        .unwrap();
    let storage = core.storage().clone();
    wait_for("the job to complete after the restart", WAIT, async || {
        storage.job(submitted.job_id).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    assert!(pipeline.stats().restarts.load(Ordering::SeqCst) >= 1);
    assert!(calls.load(Ordering::SeqCst) >= 2);
    // The restarted worker keeps working.
    let second = pipeline
        .ingest()
        .submit(job(&estate, 1, "P9", 1, "2026-11-28T09:00:00Z"))
        .await
        .unwrap();
    wait_for("a later job", WAIT, async || {
        storage.job(second.job_id).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    let p = storage
        .person_day("P9", "2026-11-28".parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.total_actual_count, p.total_detection_branch_count),
        (2, 2)
    );
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_always_panics_fails_alone_and_its_batch_is_processed() {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    settings.ingest.workers = 1;
    settings.ingest.retry = RetryPolicy {
        backoff: vec![Duration::from_millis(100)],
        max_attempts: 3,
    };
    let with_poison = Arc::new(AtomicUsize::new(0));
    let seen = with_poison.clone();
    settings.node.before_batch = Some(Arc::new(move |batch: &[PreparedDetection]| {
        if batch.iter().any(|p| p.job.re_id == "POISON") {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("injected: a poisoned job");
        }
    }));
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let mut jobs: Vec<_> = (0..6)
        .map(|i| {
            job(
                &estate,
                i % 2,
                &format!("GOOD{i}"),
                1,
                "2026-11-28T08:00:00Z",
            )
        })
        .collect();
    jobs.insert(3, job(&estate, 0, "POISON", 1, "2026-11-28T08:00:00Z"));
    let answers = pipeline.ingest().submit_many(jobs).await.unwrap();
    let storage = core.storage().clone();
    for (i, a) in answers.iter().enumerate().filter(|(i, _)| *i != 3) {
        let id = a.job_id;
        wait_for(&format!("good job {i}"), WAIT, async || {
            storage.job(id).await.unwrap().unwrap().state == JobState::Completed
        })
        .await;
    }
    let poison = answers[3].job_id;
    wait_for("the poisoned job to fail for good", WAIT, async || {
        storage.job(poison).await.unwrap().unwrap().state == JobState::Failed
    })
    .await;
    let failed = storage.job(poison).await.unwrap().unwrap();
    assert_eq!(failed.attempts, 3, "each panic alone is one attempt");
    let error = failed.last_error.unwrap();
    assert!(error.contains("injected: a poisoned job"), "{error}");
    // Each attempt panics in its batch, then in halves of it until alone: at most 4 times
    // for a batch of 7 (7, 4, 2, 1), twice for a retry claimed alone from storage.
    let panics = with_poison.load(Ordering::SeqCst);
    assert!((6..=8).contains(&panics), "{panics} panics");
    assert_eq!(
        pipeline.stats().restarts.load(Ordering::SeqCst),
        panics as u64
    );
    // The worker is still alive and applies new work.
    let later = pipeline
        .ingest()
        .submit(job(&estate, 1, "GOOD0", 1, "2026-11-28T09:00:00Z"))
        .await
        .unwrap();
    wait_for("a later job", WAIT, async || {
        storage.job(later.job_id).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_retried_then_kept_as_failed_with_its_error() {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    settings.ingest.retry = RetryPolicy {
        backoff: vec![Duration::from_millis(100)],
        max_attempts: 3,
    };
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let mut bad = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    bad.device_id = "DEVICE_THAT_DOES_NOT_EXIST".into();
    let good = job(&estate, 1, "P2", 1, "2026-11-28T08:00:00Z");
    let sink = pipeline.ingest();
    let (bad_id, good_id) = (
        sink.submit(bad).await.unwrap().job_id,
        sink.submit(good).await.unwrap().job_id,
    );
    let storage = core.storage().clone();
    wait_for("the bad job to fail for good", WAIT, async || {
        storage.job(bad_id).await.unwrap().unwrap().state == JobState::Failed
    })
    .await;
    let failed = storage.job(bad_id).await.unwrap().unwrap();
    assert_eq!(failed.attempts, 3);
    assert!(
        failed.last_error.unwrap().contains("FOREIGN KEY"),
        "the error is kept"
    );
    wait_for("the good job", WAIT, async || {
        storage.job(good_id).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_left_leased_by_a_dead_run_are_processed_on_start() {
    let (core, estate, _dir) = setup().await;
    let orphan = job(&estate, 0, "P5", 3, "2026-11-28T08:00:00Z");
    let dead_lease = Lease {
        owner: "dead-node".into(),
        until: Timestamp::now() + jiff::SignedDuration::from_secs(3600),
    };
    core.storage()
        .accept_detections(
            &[AcceptItem {
                job: orphan.clone(),
                lease: Some(dead_lease),
            }],
            Timestamp::now(),
        )
        .await
        .unwrap();
    let mut settings = fast_settings();
    settings.node.release_all_leases_on_start = true;
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let storage = core.storage().clone();
    wait_for("the orphan", WAIT, async || {
        storage.job(orphan.job_id).await.unwrap().unwrap().state == JobState::Completed
    })
    .await;
    let p = storage
        .person_day("P5", "2026-11-28".parse().unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.total_actual_count, 3);
    pipeline.shutdown().await;
}

/// Panics on its first send, then delivers; counts deliveries.
#[derive(Debug, Default)]
struct PanicsOnce {
    calls: AtomicUsize,
    delivered: AtomicUsize,
}

#[async_trait::async_trait]
impl cctv_admin::notify::Notifier for PanicsOnce {
    fn kind(&self) -> &'static str {
        "flaky"
    }
    async fn send(
        &self,
        _: &cctv_admin::notify::OutboundMessage,
    ) -> Result<cctv_admin::notify::Delivery, cctv_admin::notify::NotifyError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("plugin bug");
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        Ok(cctv_admin::notify::Delivery::sent(None, Duration::ZERO))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_notifier_restarts_the_worker_and_its_job_is_sent_on_the_next_attempt() {
    use cctv_core::records::WriteOp;
    let (core, estate, _dir) = setup().await;
    let serde_json::Value::Object(record) = serde_json::json!({
        "branch_id": estate.branches[0].id, "device_id": estate.devices[0].device_id, "is_active": true,
        "whatsapp_enabled": true, "send_message": true, "whatsapp_numbers": ["081234567890"],
    }) else {
        unreachable!()
    };
    let table = &cctv_admin::manage::tables::EVENT_SETTINGS;
    core.storage()
        .apply(&[WriteOp::Insert {
            table,
            record,
            link: None,
        }])
        .await
        .unwrap();
    let notifier = Arc::new(PanicsOnce::default());
    let core = Core::builder()
        .storage(core.storage().clone())
        .capabilities(core.capabilities().clone())
        .notifier(notifier.clone())
        .build()
        .await
        .unwrap();
    let mut settings = fast_settings();
    settings.notifications.poll_interval = Duration::from_millis(20);
    settings.notifications.service.cooldown = Duration::ZERO;
    settings.notifications.service.retry = RetryPolicy {
        backoff: vec![Duration::ZERO],
        max_attempts: 5,
    };
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();
    sink.submit(job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z"))
        .await
        .unwrap();
    wait_for("the re-queued job to be sent", WAIT, async || {
        notifier.delivered.load(Ordering::SeqCst) == 1
    })
    .await;
    let stats = pipeline.notification_stats();
    assert_eq!(stats.panics.load(Ordering::SeqCst), 1);
    wait_for("the supervisor to restart the worker", WAIT, async || {
        stats.restarts.load(Ordering::SeqCst) == 1
    })
    .await;
    // The restarted worker keeps serving the queue.
    sink.submit(job(&estate, 0, "P2", 1, "2026-11-28T08:01:00Z"))
        .await
        .unwrap();
    wait_for("the next job", WAIT, async || {
        notifier.delivered.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(
        notifier.calls.load(Ordering::SeqCst),
        3,
        "one panic, two deliveries, nothing sent twice"
    );
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detections_that_did_not_fit_in_memory_are_processed_once_each() {
    let spilled = spill_and_process(600, 8).await;
    assert_eq!(spilled.counted, 600, "each detection counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_claims_waiting_detections_in_several_chunks() {
    // A batch of up to 4,096 claims the detections waiting in storage 1,024 at a time.
    let spilled = spill_and_process(2_600, 4_096).await;
    assert_eq!(spilled.counted, 2_600, "each detection counted once");
    assert!(
        spilled.largest_batch > 1_100,
        "one batch took more than one claim's worth: {}",
        spilled.largest_batch
    );
}

struct Spilled {
    /// Detections counted over all person-days.
    counted: i64,
    largest_batch: usize,
}

/// Submits `n` detections while the memory queue (8) is full, so that nearly all wait in
/// storage, and processes them in batches of up to `worker_batch`.
async fn spill_and_process(n: usize, worker_batch: usize) -> Spilled {
    let (core, estate, _dir) = setup().await;
    let mut settings = fast_settings();
    // Most submissions find the memory queue full and wait in storage for room.
    settings.ingest.memory_queue = 8;
    settings.ingest.workers = 1;
    settings.ingest.worker_batch = worker_batch;
    settings.ingest.worker_min_batch = 1;
    // The first batch waits until every submission has been answered: the batcher holds
    // them for room for 1 s, then commits the rest to wait in storage. (A fixed wait was
    // not enough on a loaded machine, where submitting them took longer than it.)
    let batches = AtomicUsize::new(0);
    let largest = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (max, all_answered) = (largest.clone(), answered.clone());
    settings.node.before_batch = Some(Arc::new(move |batch: &[PreparedDetection]| {
        let size = batch.len();
        max.fetch_max(size, Ordering::SeqCst);
        if batches.fetch_add(1, Ordering::SeqCst) == 0 {
            let deadline = std::time::Instant::now() + WAIT;
            while all_answered.load(Ordering::SeqCst) < n && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }));
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let sink = pipeline.ingest();
    let mut handles = Vec::new();
    for i in 0..n {
        let sink = sink.clone();
        let j = job(
            &estate,
            i % 3,
            &format!("P{}", i % 7),
            1,
            "2026-11-28T08:00:00Z",
        );
        let answered = answered.clone();
        handles.push(tokio::spawn(async move {
            let submitted = sink.submit(j).await.unwrap();
            answered.fetch_add(1, Ordering::SeqCst);
            submitted
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap().job_id);
    }
    let storage = core.storage().clone();
    for id in &ids {
        let id = *id;
        wait_for("every job to complete", WAIT, async || {
            storage.job(id).await.unwrap().unwrap().state == JobState::Completed
        })
        .await;
    }
    let mut counted = 0;
    for p in 0..7 {
        counted += storage
            .person_day(&format!("P{p}"), "2026-11-28".parse().unwrap(), None)
            .await
            .unwrap()
            .unwrap()
            .total_actual_count;
    }
    pipeline.shutdown().await;
    Spilled {
        counted,
        largest_batch: largest.load(Ordering::SeqCst),
    }
}
