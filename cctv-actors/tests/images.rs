//! The image worker survives a panic in its job code: the supervisor restarts it and the
//! job, whose lease expires, is processed by the restarted worker; without an image
//! processor registered, uploads are kept as they came.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cctv_actors::images::ImageJobHook;
use cctv_actors::{ImageSettings, Pipeline, PipelineSettings};
use cctv_admin::AdminBuilder;
use cctv_admin::FullStorage;
use cctv_blob_fs::FsBlobStore;
use cctv_core::Core;
use cctv_core::blob::{BlobStore, StoredBlob};
use cctv_core::records::ListQuery;
use cctv_core::records::tables::EVENT_LOG_FILES;
use cctv_testkit::{job, seed};
use support::{jpeg, open_sqlite};

mod support;

/// A SQLite store with the seeded estate, a blob store holding a 640×480 JPEG at `path`, a
/// core with or without the image pipeline, and a detection of `re_id` carrying that image.
struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<dyn FullStorage>,
    blobs: Arc<FsBlobStore>,
    core: Core,
    detection: cctv_core::detection::DetectionJob,
}

async fn rig(path: &str, re_id: &str, with_processor: bool) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn FullStorage> = Arc::new(open_sqlite(dir.path()).await);
    let estate = seed(store.as_ref()).await;
    let blobs = Arc::new(FsBlobStore::new(dir.path().join("storage")).unwrap());
    let bytes = jpeg();
    blobs.put(path, &bytes).await.unwrap();
    let mut builder = Core::builder()
        .full_storage(store.clone())
        .blob_store(blobs.clone());
    if with_processor {
        builder = builder.image_processor(Arc::new(cctv_image::EventImageProcessor::default()));
    }
    let core = builder.build().await.unwrap();
    let mut detection = job(&estate, 0, re_id, 1, "2026-11-28T08:00:00Z");
    detection.image = Some(StoredBlob {
        path: path.into(),
        mime: "image/jpeg".into(),
        size: bytes.len() as u64,
        width: Some(640),
        height: Some(480),
    });
    Rig {
        _dir: dir,
        store,
        blobs,
        core,
        detection,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_image_job_restarts_the_worker_and_the_job_is_processed_after_its_lease() {
    let Rig {
        _dir,
        store,
        blobs,
        core,
        detection,
    } = rig("events/2026/11/28/1_a.jpg", "P1", true).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let hook: ImageJobHook = Arc::new(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected fault in the first image job");
        }
    });
    let mut settings = PipelineSettings::default();
    settings.ingest.poll_interval = Duration::from_millis(50);
    settings.ingest.lease = Duration::from_secs(1);
    settings.images = ImageSettings {
        before_job: Some(hook),
        ..ImageSettings::default()
    };
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    pipeline.ingest().submit(detection).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let event = loop {
        let query = ListQuery {
            filters: vec![],
            order: cctv_core::records::Order::NEWEST_FIRST,
            page: 1,
            per_page: 1,
        };
        let rows = store
            .list_records(&EVENT_LOG_FILES, &query)
            .await
            .unwrap()
            .0;
        if let Some(row) = rows
            .into_iter()
            .next()
            .filter(|r| !r["thumbnail_path"].is_null())
        {
            break row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the image was never processed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["image_path"], "events/2026/11/28/1_a_processed.jpg");
    assert!(
        blobs
            .exists("events/2026/11/28/1_a_thumb.jpg")
            .await
            .unwrap()
    );
    assert!(pipeline.image_stats().restarts.load(Ordering::Relaxed) >= 1);
    assert_eq!(pipeline.image_stats().processed.load(Ordering::Relaxed), 1);
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "the job ran again after the panic"
    );
    pipeline.shutdown().await;
}

/// An embedder that registers no image processor keeps uploads as they came: the image job
/// completes as skipped and the event still shows the uploaded file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_image_processor_the_upload_stays_the_events_image() {
    let path = "events/2026/11/28/2_b.jpg";
    let Rig {
        _dir,
        store,
        blobs,
        core,
        detection,
    } = rig(path, "P2", false).await;
    let mut settings = PipelineSettings::default();
    settings.ingest.poll_interval = Duration::from_millis(50);
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    pipeline.ingest().submit(detection).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while pipeline.image_stats().processed.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the image job never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let query = ListQuery {
        filters: vec![],
        order: cctv_core::records::Order::NEWEST_FIRST,
        page: 1,
        per_page: 1,
    };
    let event = store
        .list_records(&EVENT_LOG_FILES, &query)
        .await
        .unwrap()
        .0
        .remove(0);
    assert_eq!(event["image_path"], path);
    assert!(event["thumbnail_path"].is_null());
    assert!(
        !blobs
            .exists("events/2026/11/28/2_b_thumb.jpg")
            .await
            .unwrap()
    );
    pipeline.shutdown().await;
}
