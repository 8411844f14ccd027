//! Queue operations over HTTP: failed jobs (list, retry, discard), the queue alert, and
//! the schedule view.

use std::time::Duration;

use cctv_admin::AdminCore;
use cctv_admin::reporting::{ReportJob, ReportKey};
use cctv_core::estate::{EstateWrites, NewBranch, RecordStatus};
use cctv_core::events::EventKind;
use cctv_core::jiff::civil::date;
use cctv_core::jiff::{SignedDuration, Timestamp};
use cctv_core::jobs::{JobState, NewJob, Queue};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::report_support::{get_as, settled, token};

async fn post_as(app: &TestApp, token: &str, method: &str, path: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    send(
        &app.addr,
        method,
        path,
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await
}

fn new_branch(group_id: i64) -> NewBranch {
    NewBranch {
        group_id,
        branch_code: "JKT004".into(),
        branch_name: "Jakarta Branch 4".into(),
        city: "Jakarta".into(),
        address: None,
        latitude: None,
        longitude: None,
        phone: None,
        email: None,
        status: RecordStatus::Active,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_failing_job_is_listed_and_completes_once_retried() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let admin = token(&app, "admin", &[]).await;
        // A report for a branch that does not exist yet fails for good (foreign key).
        let missing = app.estate.branches.iter().map(|b| b.id).max().unwrap() + 1;
        let job = ReportJob::generate(ReportKey::daily(date(2026, 10, 5), Some(missing)));
        let id = app
            .core
            .queue_admin()
            .unwrap()
            .enqueue_unique(&job.new_job(Timestamp::now()))
            .await
            .unwrap();
        assert_eq!(settled(&app, &id.to_string()).await, JobState::Failed);

        let listed = get_as(&app, &admin, "/api/v1/admin/failed-jobs?per_page=10").await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        assert_eq!(listed.body["pagination"]["total"], 1);
        let item = &listed.body["data"][0];
        assert_eq!(
            (
                item["id"].as_str(),
                item["queue"].as_str(),
                item["kind"].as_str()
            ),
            (
                Some(id.to_string().as_str()),
                Some("reports"),
                Some("generate_daily")
            )
        );
        assert!(
            item["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{item}"
        );
        assert!(
            item["payload_summary"]
                .as_str()
                .unwrap()
                .contains("2026-10-05")
        );

        let created = app
            .core
            .storage()
            .create_branch(&new_branch(app.estate.branches[0].group_id))
            .await
            .unwrap();
        assert_eq!(created.id, missing);
        let retried = post_as(
            &app,
            &admin,
            "POST",
            &format!("/api/v1/admin/failed-jobs/{id}/retry"),
        )
        .await;
        assert_eq!(retried.status, 200, "{:?}", retried.body);
        assert_eq!(settled(&app, &id.to_string()).await, JobState::Completed);
        let again = post_as(
            &app,
            &admin,
            "POST",
            &format!("/api/v1/admin/failed-jobs/{id}/retry"),
        )
        .await;
        assert_eq!(again.status, 404, "only failed jobs are retried");
        let listed = get_as(&app, &admin, "/api/v1/admin/failed-jobs").await;
        assert_eq!(listed.body["pagination"]["total"], 0);
        let queues = get_as(&app, &admin, "/api/v1/admin/queues").await;
        let workers = queues.body["data"]["workers"].as_array().unwrap();
        let reports = workers.iter().find(|w| w["queue"] == "reports").unwrap();
        assert_eq!(
            (reports["workers"].as_u64(), reports["processed"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(reports["failed_attempts"], 1);
        assert!(workers.iter().any(|w| w["queue"] == "detections"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_jobs_can_be_discarded_or_retried_all_at_once_by_admins_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let (admin, viewer) = (
        token(&app, "admin", &[]).await,
        token(&app, "viewer", &[]).await,
    );
    let mut ids = Vec::new();
    for n in 0..3 {
        let job = NewJob::new(
            Queue::Reports,
            "generate_daily",
            json!({"date": "2026-13-01", "n": n}),
            Timestamp::now(),
        );
        ids.push(
            app.core
                .queue_admin()
                .unwrap()
                .enqueue_unique(&job)
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        assert_eq!(
            settled(&app, &id.to_string()).await,
            JobState::Failed,
            "a malformed payload fails at once"
        );
    }

    let forbidden = post_as(
        &app,
        &viewer,
        "DELETE",
        &format!("/api/v1/admin/failed-jobs/{}", ids[0]),
    )
    .await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "FORBIDDEN"));
    let deleted = post_as(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v1/admin/failed-jobs/{}", ids[0]),
    )
    .await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert!(app.core.storage().job(ids[0]).await.unwrap().is_none());
    let gone = post_as(
        &app,
        &admin,
        "DELETE",
        &format!("/api/v1/admin/failed-jobs/{}", ids[0]),
    )
    .await;
    assert_eq!(gone.status, 404);
    let bad = post_as(
        &app,
        &admin,
        "DELETE",
        "/api/v1/admin/failed-jobs/not-a-uuid",
    )
    .await;
    assert_eq!(bad.status, 422);

    let first_due = app
        .core
        .storage()
        .job(ids[1])
        .await
        .unwrap()
        .unwrap()
        .available_at;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let all = post_as(&app, &admin, "POST", "/api/v1/admin/failed-jobs/retry-all").await;
    assert_eq!(all.body["data"]["retried"], 2, "{:?}", all.body);
    for id in &ids[1..] {
        assert_eq!(
            settled(&app, &id.to_string()).await,
            JobState::Failed,
            "still malformed"
        );
        let job = app.core.storage().job(*id).await.unwrap().unwrap();
        assert!(
            job.available_at > first_due,
            "it was queued again and run again"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_alert_fires_above_the_threshold_and_clears_below_it() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            queue_alert_threshold: 3,
            // Nothing else in the maintenance queue: a scheduled task catching up would
            // add a sixth pending job.
            scheduled_tasks: false,
            ..Default::default()
        },
    )
    .await;
    let admin = token(&app, "admin", &[]).await;
    let mut events = app.core.events().subscribe();
    // Five jobs due in two seconds, of a kind the maintenance worker does not know: they
    // stay pending until then, and then fail, which empties the queue.
    let due = Timestamp::now() + SignedDuration::from_secs(2);
    let jobs: Vec<NewJob> = (0..5)
        .map(|n| NewJob::new(Queue::Maintenance, "no_such_task", json!({"n": n}), due))
        .collect();
    app.core.storage().enqueue(&jobs).await.unwrap();

    let above = get_as(&app, &admin, "/api/v1/admin/queues").await;
    assert_eq!(above.status, 200, "{:?}", above.body);
    assert_eq!(
        (
            above.body["data"]["alert"].as_bool(),
            above.body["data"]["alert_threshold"].as_u64()
        ),
        (Some(true), Some(3))
    );
    let maintenance = above.body["data"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "maintenance")
        .unwrap();
    assert_eq!(
        (
            maintenance["pending"].as_u64(),
            maintenance["alert"].as_bool()
        ),
        (Some(5), Some(true))
    );
    assert!(maintenance["oldest_pending_age_seconds"].as_i64().is_some());

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seen.len() < 2 && tokio::time::Instant::now() < deadline {
        if let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await
            && event.kind == EventKind::QueueStatus
        {
            seen.push(event.data);
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (
            seen[0]["queue"].as_str(),
            seen[0]["alert"].as_bool(),
            seen[0]["pending"].as_u64()
        ),
        (Some("maintenance"), Some(true), Some(5))
    );
    assert_eq!(
        (seen[1]["queue"].as_str(), seen[1]["alert"].as_bool()),
        (Some("maintenance"), Some(false))
    );
    // The alert clears once fewer than three are pending, possibly before the last two
    // jobs have failed: wait for them.
    let mut failed = Value::Null;
    for _ in 0..100 {
        let below = get_as(&app, &admin, "/api/v1/admin/queues").await;
        assert_eq!(below.body["data"]["alert"], false);
        failed = below.body["data"]["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == "maintenance")
            .unwrap()["failed"]
            .clone();
        if failed == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_lists_every_task_with_its_cadence_and_next_run() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = token(&app, "admin", &[]).await;
    let store = app.core.schedule_store().unwrap();
    let slot: Timestamp = "2026-11-27T01:00:00Z".parse().unwrap();
    assert!(
        store
            .claim_slot("daily_reports", slot, "node-x", slot)
            .await
            .unwrap()
    );

    let r = get_as(&app, &admin, "/api/v1/admin/schedule").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tasks = r.body["data"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 8);
    let daily = tasks.iter().find(|t| t["task"] == "daily_reports").unwrap();
    assert_eq!(daily["cadence"], "daily 01:00");
    assert_eq!(daily["last_run"]["slot"], "2026-11-27T01:00:00Z");
    assert_eq!(daily["last_run"]["node"], "node-x");
    let next: Timestamp = daily["next_run"].as_str().unwrap().parse().unwrap();
    assert!(next > Timestamp::now() && next <= Timestamp::now() + SignedDuration::from_hours(24));
    let refresh = tasks
        .iter()
        .find(|t| t["task"] == "report_refresh")
        .unwrap();
    assert!(refresh["last_run"].is_null());
    let viewer = token(&app, "viewer", &[]).await;
    assert_eq!(
        get_as(&app, &viewer, "/api/v1/admin/schedule").await.status,
        403
    );
    app.stop().await;
}
