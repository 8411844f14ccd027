//! The detection path an embedder builds without the administration: SQLite behind the
//! required `Storage` interface, a blob store and the image processor, the pipeline, and a
//! detection with its snapshot accepted as the HTTP API accepts it, then processed and its
//! image turned into the served JPEG and thumbnail. Nothing here names `cctv-admin`, so it
//! also runs with this crate's `admin` feature off (`.ci/run` does that).

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_blob_fs::FsBlobStore;
use cctv_core::Core;
use cctv_core::accept::DetectionSubmission;
use cctv_core::blob::BlobStore;
use cctv_core::credential::{GeneratedSecret, NewCredential};
use cctv_core::estate::{EstateWrites, NewBranch, NewDevice, NewGroup};
use cctv_core::jobs::JobState;
use cctv_core::records::by_id;
use cctv_core::records::tables::EVENT_LOG_FILES;
use cctv_core::storage::Storage;
use jiff::Timestamp;
use serde_json::json;
use support::{jpeg, open_sqlite, wait_for};

mod support;

/// How long the test waits for each step of the pipeline.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detection_with_a_snapshot_is_counted_and_its_image_processed() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Storage> = Arc::new(open_sqlite(dir.path()).await);
    let group = store
        .create_group(&NewGroup::new("BDG", "Bandung"))
        .await
        .unwrap();
    let branch = NewBranch::new(group.id, "BDG001", "Bandung Dago", "Bandung");
    let branch = store.create_branch(&branch).await.unwrap();
    store
        .create_device(&NewDevice::new(branch.id, "CAM_BDG001_001"))
        .await
        .unwrap();
    let secret = GeneratedSecret::generate();
    let credential = store
        .create_credential(&NewCredential::new("edge", &secret))
        .await
        .unwrap();
    let blobs = Arc::new(FsBlobStore::new(dir.path().join("blobs")).unwrap());
    let core = Core::builder()
        .storage(store.clone())
        .blob_store(blobs.clone())
        .image_processor(Arc::new(cctv_image::EventImageProcessor::default()))
        .build()
        .await
        .unwrap();
    let mut settings = PipelineSettings::default();
    settings.ingest.poll_interval = Duration::from_millis(50);
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();

    let fields = json!({"re_id": "REID_EDGE_1", "branch_id": branch.id,
                        "device_id": "CAM_BDG001_001", "detected_count": 3});
    let submission = DetectionSubmission {
        fields: fields.as_object().cloned().unwrap(),
        idempotency_key: None,
        image: Some(jpeg()),
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

    wait_for("the detection to be processed", WAIT, async || {
        store.job(accepted.job_id).await.unwrap().map(|j| j.state) == Some(JobState::Completed)
    })
    .await;
    let person = store
        .person_day("REID_EDGE_1", core.today(), None)
        .await
        .unwrap()
        .expect("the detection was counted");
    assert_eq!(person.total_actual_count, 3);
    assert_eq!(person.total_detection_branch_count, 1);

    let processed = store.job(accepted.job_id).await.unwrap().unwrap();
    let event_id = processed
        .result
        .as_ref()
        .and_then(|r| r["event_log_id"].as_i64());
    let event_id = event_id.expect("the processed job names its event");
    let event_row = async || {
        store
            .find_record(&EVENT_LOG_FILES, &by_id(event_id))
            .await
            .unwrap()
            .expect("the event exists")
    };
    wait_for("the image to be processed", WAIT, async || {
        !event_row().await["thumbnail_path"].is_null()
    })
    .await;
    let event = event_row().await;
    let main = event["image_path"].as_str().unwrap();
    let thumb = event["thumbnail_path"].as_str().unwrap();
    assert!(main.ends_with("_processed.jpg"), "{main}");
    assert!(blobs.exists(main).await.unwrap());
    assert!(blobs.exists(thumb).await.unwrap());
    pipeline.shutdown().await;
}
