//! The maintenance jobs the scheduler queues at 01:30 and 02:00 run the real log
//! aggregation and file cleanup when the handler is configured, and say they skipped
//! (never pretend) when it is not.

use std::sync::Arc;
use std::time::Duration;

use cctv_admin::AdminBuilder;
use cctv_admin::FullStorage;
use cctv_admin::files::{CleanupSettings, FileJobs};
use cctv_admin::job_handlers::{JobHandler, MaintenanceConfig, MaintenanceJobHandler};
use cctv_core::Core;
use cctv_core::jobs::{ClaimedJob, JobId, Queue};
use cctv_testkit::seed;
use serde_json::json;
use support::open_sqlite;

mod support;

fn job(kind: &str, payload: serde_json::Value) -> ClaimedJob {
    ClaimedJob {
        id: JobId::new(),
        queue: Queue::Maintenance,
        kind: kind.into(),
        payload,
        attempts: 0,
        max_attempts: 3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_aggregation_and_cleanup_run_for_real_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn FullStorage> = Arc::new(open_sqlite(dir.path()).await);
    seed(store.as_ref()).await;
    let core = Core::builder().full_storage(store).build().await.unwrap();
    let logs = dir.path().join("logs");
    // An old log file that cleanup must prune, and a day of API access lines to fold.
    std::fs::create_dir_all(logs.join("api_requests")).unwrap();
    std::fs::write(logs.join("api_requests/2020-01-01.log"), "{}\n").unwrap();
    let line = serde_json::to_string(&cctv_admin::api_log::AccessLogLine {
        timestamp: "2026-11-27T10:00:00Z".into(),
        request_id: "r".into(),
        credential_id: Some(7),
        user_id: None,
        endpoint: "api/v1/detections".into(),
        method: "GET".into(),
        status: 200,
        duration_ms: 3.0,
        request_bytes: 0,
        response_bytes: 10,
        ip: None,
    })
    .unwrap();
    std::fs::write(
        logs.join("api_requests/2026-11-27.log"),
        format!("{line}\n{line}\n"),
    )
    .unwrap();

    let unconfigured = MaintenanceJobHandler::new(core.clone());
    let skipped = unconfigured
        .handle(&job("cleanup_files", json!({})))
        .await
        .unwrap();
    assert!(skipped["skipped"].is_string(), "{skipped}");

    let handler = MaintenanceJobHandler::with_config(
        core.clone(),
        MaintenanceConfig {
            files: Some(FileJobs {
                cleanup: CleanupSettings {
                    retention: Duration::from_secs(90 * 24 * 3600),
                    logs_dir: Some(logs.clone()),
                    ..Default::default()
                },
                logs_dir: logs.clone(),
            }),
            whatsapp_log_dir: Some(logs.join("whatsapp_messages")),
            partition_retention_months: Some(12),
        },
    );
    let cleaned = handler
        .handle(&job("cleanup_files", json!({})))
        .await
        .unwrap();
    assert!(
        !logs.join("api_requests/2020-01-01.log").exists(),
        "old log pruned: {cleaned}"
    );
    assert!(
        logs.join("api_requests/2026-11-27.log").exists(),
        "recent log kept"
    );
    let folded = handler
        .handle(&job("aggregate_logs", json!({"date": "2026-11-27"})))
        .await
        .unwrap();
    assert!(folded["api_usage"].is_object(), "{folded}");
    let rows = core
        .storage()
        .count_records(&cctv_admin::files::tables::API_USAGE_SUMMARY, &[])
        .await
        .unwrap();
    assert_eq!(
        rows, 1,
        "one (credential, day, endpoint, method) row: {folded}"
    );
    // SQLite has no partitions: the scheduled job completes with nothing to report.
    let partitions = handler
        .handle(&job("maintain_partitions", json!({})))
        .await
        .unwrap();
    assert_eq!(partitions, json!({"created": [], "dropped": []}));
}
