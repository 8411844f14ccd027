//! Conformance cases of a processed detection's job answer (`JobQueue::job`) and its
//! pruning. A backend may answer a counted detection's job from its detection row instead
//! of a completed `jobs` row (both SQL backends do): the answer must be the same, and it
//! must be forgotten with the completed-job retention, a slice at a time.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use cctv_core::detection::DetectionJob;
use cctv_core::jobs::{JobId, JobState, Queue};
use cctv_core::storage::{DetectionOutcome, ProcessedDetection, Storage};

use crate::{accept, accept_and_process, job, mixed_batch, prepare, seed};

/// Accepts `job`, fails its first attempt ("boom", retry now), and processes it.
pub async fn processed_after_a_failed_attempt(
    store: &dyn Storage,
    job: &DetectionJob,
) -> Vec<ProcessedDetection> {
    accept(store, std::slice::from_ref(job)).await;
    let now = Timestamp::now();
    store
        .fail(job.job_id, "boom", Some(now), now)
        .await
        .unwrap();
    store
        .process_detections(&prepare(std::slice::from_ref(job)), now)
        .await
        .unwrap()
}

/// Every field of a counted detection's job answer: completed on its first attempt, with
/// its result, its credential, and the time its request was received.
pub async fn a_counted_detection_job_answers_in_full(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut jobs = mixed_batch(&estate, 5, &[1]);
    for (i, j) in jobs.iter_mut().enumerate() {
        j.credential_id = (i % 2 == 0).then_some(7);
    }
    let results = accept_and_process(store.as_ref(), &jobs).await;
    for (result, job) in results.iter().zip(&jobs) {
        let record = store
            .job(job.job_id)
            .await
            .unwrap()
            .expect("the job answers");
        assert_eq!(record.state, JobState::Completed);
        assert_eq!(
            (record.queue, record.kind.as_str()),
            (Queue::Detections, "detection")
        );
        assert_eq!((record.attempts, record.last_error), (1, None));
        assert_eq!(
            record.max_attempts,
            Queue::Detections.default_retry().max_attempts
        );
        assert_eq!(record.result, Some(serde_json::to_value(result).unwrap()));
        assert_eq!(record.credential_id, job.credential_id);
        assert_eq!(record.created_at, job.received_at);
        assert!(record.finished_at.is_some());
    }
}

/// A retried job's answer shows every attempt and the last error; pruning forgets it with
/// the counted ones.
pub async fn a_retried_detection_job_answers_with_its_attempts(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let counted = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    accept_and_process(store.as_ref(), std::slice::from_ref(&counted)).await;
    let retried = job(&estate, 1, "P2", 1, "2026-11-28T08:00:00Z");
    let results = processed_after_a_failed_attempt(store.as_ref(), &retried).await;
    let record = store.job(retried.job_id).await.unwrap().unwrap();
    assert_eq!((record.state, record.attempts), (JobState::Completed, 2));
    assert_eq!(record.last_error.as_deref(), Some("boom"));
    assert_eq!(
        record.result,
        Some(serde_json::to_value(&results[0]).unwrap())
    );

    let cutoff = Timestamp::now() + SignedDuration::from_secs(1);
    assert_eq!(
        store
            .prune_completed(Timestamp::UNIX_EPOCH, 10)
            .await
            .unwrap(),
        0
    );
    assert!(store.job(counted.job_id).await.unwrap().is_some());
    assert_eq!(store.prune_completed(cutoff, 10).await.unwrap(), 2);
    assert!(store.job(counted.job_id).await.unwrap().is_none());
    assert!(store.job(retried.job_id).await.unwrap().is_none());
    assert_eq!(store.prune_completed(cutoff, 10).await.unwrap(), 0);
}

/// Pruning passes at most `limit` answers at a time, and the next call goes on from there.
pub async fn pruning_forgets_detection_jobs_in_slices(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let jobs = mixed_batch(&estate, 5, &[]);
    accept_and_process(store.as_ref(), &jobs).await;
    let cutoff = Timestamp::now() + SignedDuration::from_secs(1);
    let answering = async || {
        let mut n = 0;
        for j in &jobs {
            n += usize::from(store.job(j.job_id).await.unwrap().is_some());
        }
        n
    };
    assert_eq!(store.prune_completed(cutoff, 2).await.unwrap(), 2);
    assert_eq!(answering().await, 3);
    assert_eq!(store.prune_completed(cutoff, 2).await.unwrap(), 2);
    assert_eq!(store.prune_completed(cutoff, 2).await.unwrap(), 1);
    assert_eq!(store.prune_completed(cutoff, 2).await.unwrap(), 0);
    assert_eq!(answering().await, 0);
}

/// Pruning in slices never forgets a retried job's own answer (attempts 2) while the
/// counted jobs before it are still answered: it is never answered as a first attempt.
pub async fn pruning_in_slices_keeps_a_retried_jobs_own_answer(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let counted = [
        job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z"),
        job(&estate, 0, "P2", 1, "2026-11-28T08:00:00Z"),
    ];
    accept_and_process(store.as_ref(), &counted).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let retried = job(&estate, 1, "P3", 1, "2026-11-28T08:00:00Z");
    processed_after_a_failed_attempt(store.as_ref(), &retried).await;
    let cutoff = Timestamp::now() + SignedDuration::from_secs(1);
    assert_eq!(store.prune_completed(cutoff, 1).await.unwrap(), 1);
    let record = store.job(retried.job_id).await.unwrap().unwrap();
    assert_eq!(record.attempts, 2, "still answered by its own row");
    while store.prune_completed(cutoff, 1).await.unwrap() > 0 {}
    assert!(store.job(retried.job_id).await.unwrap().is_none());
    for j in &counted {
        assert!(store.job(j.job_id).await.unwrap().is_none());
    }
}

/// An imported detection's job id comes from its source row (`cctv import` derives it, so
/// a rerun after an interruption recognises what it stored), not from the clock: a rerun
/// may accept the same job again after its answer was pruned. The detection row still
/// says it was processed, so it counts once, and processing it again completes it.
pub async fn an_imported_job_accepted_again_after_pruning_counts_once(store: Arc<dyn Storage>) {
    let estate = seed(store.as_ref()).await;
    let mut imported = job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    imported.imported = true;
    // Like a derived id, not ordered by time: below where pruning forgets answers.
    imported.job_id = JobId(uuid::Uuid::from_u128(7));
    let first = accept_and_process(store.as_ref(), std::slice::from_ref(&imported)).await;
    assert_eq!(first[0].outcome, DetectionOutcome::Counted);
    let cutoff = Timestamp::now() + SignedDuration::from_secs(1);
    while store.prune_completed(cutoff, 10).await.unwrap() > 0 {}
    assert!(
        store.job(imported.job_id).await.unwrap().is_none(),
        "the answer is pruned"
    );
    // As a rerun of an import would, long after the first run.
    assert_eq!(queued_detections(store.as_ref()).await, 0);

    let again = accept_and_process(store.as_ref(), std::slice::from_ref(&imported)).await;
    assert_eq!(again[0].outcome, DetectionOutcome::AlreadyProcessed);
    let day = "2026-11-28".parse().unwrap();
    let person_day = store.person_day("P1", day, None).await.unwrap().unwrap();
    assert_eq!(person_day.total_actual_count, 1);
    let page = store
        .list_detections(
            &Default::default(),
            cctv_core::query::PageRequest::new(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(
        queued_detections(store.as_ref()).await,
        0,
        "processing it again completes it"
    );
}

/// Detection jobs still queued, once nothing is in flight. SQLite hands a processed job's
/// intake row back just after the commit (and after syncing the main file, when commits
/// are synced): waited for, a few seconds at most.
pub async fn queued_detections(store: &dyn Storage) -> u64 {
    let mut queued = u64::MAX;
    for _ in 0..500 {
        let depths = store.queue_depths().await.unwrap();
        let detections = depths.iter().find(|d| d.queue == Queue::Detections);
        queued = detections.map_or(0, |d| d.queued);
        if queued == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    queued
}
