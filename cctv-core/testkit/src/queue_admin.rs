//! Conformance cases of the scheduler slots and the queue operations.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use cctv_admin::FullStorage;
use cctv_admin::schedule::{ScheduleSettings, Scheduler, TaskName, TaskRunner};
use cctv_core::jobs::{JobState, Lease, NewJob, Queue};
use cctv_core::query::PageRequest;

#[derive(Debug, Default)]
struct CountingRunner(std::sync::Mutex<Vec<(TaskName, Timestamp)>>);

#[async_trait::async_trait]
impl TaskRunner for CountingRunner {
    async fn run(&self, task: TaskName, slot: Timestamp) -> Result<(), String> {
        self.0.lock().unwrap().push((task, slot));
        Ok(())
    }
}

pub async fn two_schedulers_run_each_slot_once(store: Arc<dyn FullStorage>) {
    let tz = jiff::tz::TimeZone::get("Asia/Jakarta").unwrap();
    let start: Timestamp = "2026-11-30T15:00:00Z".parse().unwrap(); // 22:00 WIB
    let runner = Arc::new(CountingRunner::default());
    let mut nodes = Vec::new();
    for node in ["a", "b"] {
        let settings = ScheduleSettings::defaults(tz.clone(), node);
        let s = Scheduler::start(store.clone(), runner.clone(), settings, start)
            .await
            .unwrap();
        nodes.push(Arc::new(s));
    }

    // Both look every 20 seconds for 5 hours, concurrently.
    let mut now = start;
    let end = start + SignedDuration::from_hours(5);
    while now <= end {
        let (a, b) = (nodes[0].clone(), nodes[1].clone());
        let (ra, rb) = tokio::join!(a.run_due(now), b.run_due(now));
        assert!(
            ra.iter().all(|s| !rb.contains(s)),
            "a slot ran on both nodes at {now}"
        );
        now += SignedDuration::from_secs(20);
    }

    let runs = runner.0.lock().unwrap().clone();
    let distinct: HashSet<_> = runs.iter().collect();
    assert_eq!(distinct.len(), runs.len(), "no slot ran twice");
    let count = |t| runs.iter().filter(|(task, _)| *task == t).count();
    assert_eq!(count(TaskName::DailyReports), 1);
    assert_eq!(count(TaskName::MonthlyReports), 1);
    assert_eq!(count(TaskName::ReportRefresh), 60);
    assert_eq!(count(TaskName::StreamHealth), 300);
    let last = store.last_runs().await.unwrap();
    let daily = last.iter().find(|r| r.task == "daily_reports").unwrap();
    assert_eq!(
        daily.slot,
        "2026-11-30T18:00:00Z".parse::<Timestamp>().unwrap()
    );
}

pub async fn failed_jobs_are_listed_retried_and_discarded(store: Arc<dyn FullStorage>) {
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..3)
        .map(|i| {
            NewJob::new(
                Queue::Reports,
                "generate_daily",
                json!({"n": i, "pad": "x".repeat(300)}),
                now,
            )
        })
        .collect();
    store.enqueue(&jobs).await.unwrap();
    let lease = Lease {
        owner: "n".into(),
        until: now + SignedDuration::from_secs(60),
    };
    let claimed = store.claim(Queue::Reports, &lease, 3, now).await.unwrap();
    for (i, c) in claimed.iter().enumerate() {
        store
            .fail(c.id, &format!("boom {i}"), None, now)
            .await
            .unwrap();
    }

    let page = store.failed_jobs(PageRequest::new(1, 2)).await.unwrap();
    assert_eq!((page.total, page.items.len()), (3, 2));
    assert!(page.items[0].error.as_deref().unwrap().starts_with("boom"));
    assert!(page.items[0].payload_summary().ends_with('…'));
    let stats = store.queue_stats(now).await.unwrap();
    let reports = stats.iter().find(|s| s.queue == Queue::Reports).unwrap();
    assert_eq!((reports.pending, reports.failed), (0, 3));

    assert_eq!(
        store.retry_failed(Some(claimed[0].id), now).await.unwrap(),
        1
    );
    let retried = store.job(claimed[0].id).await.unwrap().unwrap();
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    assert!(store.delete_failed(claimed[1].id).await.unwrap());
    assert!(
        !store.delete_failed(claimed[0].id).await.unwrap(),
        "only failed jobs are discarded"
    );
    assert!(store.job(claimed[1].id).await.unwrap().is_none());
    assert_eq!(store.retry_failed(None, now).await.unwrap(), 1);
    let stats = store.queue_stats(now).await.unwrap();
    let reports = stats.iter().find(|s| s.queue == Queue::Reports).unwrap();
    assert_eq!((reports.pending, reports.failed), (2, 0));
    assert!(reports.oldest_pending_at.is_some());

    let again = store.claim(Queue::Reports, &lease, 3, now).await.unwrap();
    store.complete(again[0].id, json!({}), now).await.unwrap();
    store
        .fail(
            again[1].id,
            "old",
            None,
            now - SignedDuration::from_hours(200),
        )
        .await
        .unwrap();
    let stats = store.queue_stats(now).await.unwrap();
    let reports = stats.iter().find(|s| s.queue == Queue::Reports).unwrap();
    assert_eq!((reports.processed_last_minute, reports.running), (1, 0));
    assert_eq!(
        store
            .prune_failed(now - SignedDuration::from_hours(168))
            .await
            .unwrap(),
        1
    );
}

pub async fn unique_enqueue_returns_the_queued_job(store: Arc<dyn FullStorage>) {
    let now = Timestamp::now();
    let first = NewJob::new(
        Queue::Reports,
        "generate_daily",
        json!({"date": "2026-11-28", "branch_id": null}),
        now,
    );
    let second = NewJob::new(Queue::Reports, "generate_daily", first.payload.clone(), now);
    let other = NewJob::new(
        Queue::Reports,
        "generate_daily",
        json!({"date": "2026-11-29", "branch_id": null}),
        now,
    );

    assert_eq!(store.enqueue_unique(&first).await.unwrap(), first.id);
    assert_eq!(store.enqueue_unique(&second).await.unwrap(), first.id);
    assert_eq!(store.enqueue_unique(&other).await.unwrap(), other.id);
    assert!(store.job(second.id).await.unwrap().is_none());

    let lease = Lease {
        owner: "n".into(),
        until: now + SignedDuration::from_secs(60),
    };
    for job in store.claim(Queue::Reports, &lease, 10, now).await.unwrap() {
        store.complete(job.id, json!({}), now).await.unwrap();
    }
    assert_eq!(
        store.enqueue_unique(&second).await.unwrap(),
        second.id,
        "a completed job does not count"
    );
}

/// A detection job an operator retried from failed jobs starts again at attempt 0 but is
/// not a first attempt: once processed, its answer still shows the error it failed with.
pub async fn a_detection_job_retried_by_an_operator_keeps_its_error(store: Arc<dyn FullStorage>) {
    let estate = crate::seed(store.as_ref()).await;
    let detection = crate::job(&estate, 0, "P1", 1, "2026-11-28T08:00:00Z");
    crate::accept(store.as_ref(), std::slice::from_ref(&detection)).await;
    let now = Timestamp::now();
    store
        .fail(detection.job_id, "boom", None, now)
        .await
        .unwrap();
    assert_eq!(
        store
            .retry_failed(Some(detection.job_id), now)
            .await
            .unwrap(),
        1
    );
    store
        .process_detections(
            &crate::prepare(std::slice::from_ref(&detection)),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let record = store.job(detection.job_id).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Completed);
    assert_eq!(record.last_error.as_deref(), Some("boom"));
    assert_eq!(record.result.as_ref().unwrap()["outcome"], "counted");
}
