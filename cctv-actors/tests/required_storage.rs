//! A core on a backend with only the required interface (the in-memory `Storage`, no
//! optional capability): it builds, the pipeline runs, and a detection accepted the way
//! the HTTP API accepts it is processed and counted. What needs a capability it lacks says
//! so by name.

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_core::Core;
use cctv_core::accept::DetectionSubmission;
use cctv_core::credential::{GeneratedSecret, NewCredential};
use cctv_core::jobs::JobState;
use cctv_core::storage::{Storage, StorageError};
use cctv_storage_memory::MemoryStore;
use cctv_testkit::seed;
use jiff::Timestamp;
use serde_json::json;

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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.job(accepted.job_id).await.unwrap().map(|j| j.state) != Some(JobState::Completed) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not processed in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
