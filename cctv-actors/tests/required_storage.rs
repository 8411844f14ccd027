//! A core on a backend with only the required interface (the in-memory `Storage`, no
//! optional capability): it builds, the pipeline runs, and a detection accepted the way
//! the HTTP API accepts it is processed and counted. What needs a capability it lacks says
//! so by name.

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_admin::{AdminBuilder, AdminCore};
use cctv_core::Core;
use cctv_core::accept::DetectionSubmission;
use cctv_core::credential::{GeneratedSecret, NewCredential};
use cctv_core::jobs::JobState;
use cctv_core::storage::{Storage, StorageError};
use cctv_storage_memory::MemoryStore;
use cctv_testkit::seed;
use jiff::Timestamp;
use serde_json::json;
use support::wait_for;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_on_the_required_interface_processes_detections() {
    let store: Arc<dyn Storage> = Arc::new(MemoryStore::new());
    let estate = seed(store.as_ref()).await;
    let secret = GeneratedSecret::generate();
    let credential = store
        .create_credential(&NewCredential::new("required-only", &secret))
        .await
        .unwrap();
    let core = Core::builder()
        .storage(store.clone())
        .build()
        .await
        .unwrap();
    assert!(core.capabilities().names().is_empty());
    assert_eq!(core.capabilities().missing().len(), 6);

    let mut settings = PipelineSettings::default();
    settings.ingest.poll_interval = Duration::from_millis(50);
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let fields = json!({
        "re_id": "REID_MEM_1",
        "branch_id": estate.branches[0].id,
        "device_id": estate.devices[0].device_id,
        "detected_count": 2,
    });
    let submission = DetectionSubmission {
        fields: fields.as_object().cloned().unwrap(),
        idempotency_key: None,
        image: None,
    };
    let accepted = core
        .accept_detection(
            &*pipeline.ingest(),
            &credential,
            submission,
            Timestamp::now(),
        )
        .await
        .unwrap();
    wait_for(
        "the detection to be processed",
        Duration::from_secs(20),
        async || {
            store.job(accepted.job_id).await.unwrap().map(|j| j.state) == Some(JobState::Completed)
        },
    )
    .await;
    let person = store
        .person_day("REID_MEM_1", core.today(), None)
        .await
        .unwrap()
        .expect("the detection was counted");
    assert_eq!(person.total_actual_count, 2);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_missing_capability_is_an_error_naming_it() {
    let store: Arc<dyn Storage> = Arc::new(MemoryStore::new());
    let core = Core::builder().storage(store).build().await.unwrap();
    let named = |e: StorageError| match e {
        StorageError::Unsupported(name) => name,
        other => panic!("expected Unsupported, got {other:?}"),
    };
    assert_eq!(named(core.report_store().err().unwrap()), "reports");
    assert_eq!(
        named(core.notification_store().err().unwrap()),
        "notifications"
    );
    assert_eq!(named(core.schedule_store().err().unwrap()), "the schedule");
    assert_eq!(
        named(core.queue_admin().err().unwrap()),
        "queue administration"
    );
    assert_eq!(named(core.export_store().err().unwrap()), "exports");
    assert_eq!(named(core.analytics_store().err().unwrap()), "analytics");
    assert_eq!(
        core.report_store().err().unwrap().to_string(),
        "this storage backend does not provide reports"
    );
}

#[tokio::test]
async fn a_notification_job_without_a_notification_store_fails_at_once() {
    use cctv_admin::manage::tables::EVENT_SETTINGS;
    use cctv_admin::notify::context::EVENT_LOGS;
    use cctv_admin::notify::{JOB_KIND, NotificationService, Settled};
    use cctv_core::jobs::{Lease, NewJob, Queue};
    use cctv_core::records::WriteOp;

    let store: Arc<dyn Storage> = Arc::new(MemoryStore::new());
    let estate = seed(store.as_ref()).await;
    let (branch, device) = (estate.branches[0].id, estate.devices[0].device_id.clone());
    let record = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let ids = store
        .apply(&[
            WriteOp::Insert {
                table: &EVENT_SETTINGS,
                record: record(json!({
                    "branch_id": branch, "device_id": device, "is_active": true,
                    "whatsapp_enabled": true, "send_message": true, "send_image": false,
                    "whatsapp_numbers": ["+6281234567890"],
                })),
                link: None,
            },
            WriteOp::Insert {
                table: &EVENT_LOGS,
                record: record(json!({
                    "branch_id": branch, "device_id": device, "re_id": "REID_MEM_2",
                    "detected_count": 1, "event_date": "2026-12-04",
                })),
                link: None,
            },
        ])
        .await
        .unwrap();
    let core = Core::builder()
        .storage(store.clone())
        .notifier(Arc::new(Quiet))
        .build()
        .await
        .unwrap();
    let now = Timestamp::now();
    let job = NewJob::new(
        Queue::Notifications,
        JOB_KIND,
        json!({"event_log_id": ids[1]}),
        now,
    );
    store.enqueue(&[job]).await.unwrap();
    let lease = Lease {
        owner: "test".into(),
        until: now + jiff::SignedDuration::from_secs(60),
    };
    let claimed = store
        .claim(Queue::Notifications, &lease, 1, now)
        .await
        .unwrap();
    let service = NotificationService::new(core, Default::default(), None);
    let settled = service.handle(&claimed[0], now).await.unwrap();
    assert!(
        matches!(&settled, Settled::Failed(e) if e.contains("does not provide notifications")),
        "{settled:?}"
    );
    let stored = store.job(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Failed);
}

/// A channel for the plan to go through; the job fails before any message is sent.
#[derive(Debug)]
struct Quiet;

#[async_trait::async_trait]
impl cctv_admin::notify::Notifier for Quiet {
    fn kind(&self) -> &'static str {
        "whatsapp"
    }

    async fn send(
        &self,
        _: &cctv_admin::notify::OutboundMessage,
    ) -> Result<cctv_admin::notify::Delivery, cctv_admin::notify::NotifyError> {
        Ok(cctv_admin::notify::Delivery::sent(None, Duration::ZERO))
    }
}
