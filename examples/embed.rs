//! Embedding cctv in another Rust service: SQLite storage, a file blob store, the actor
//! pipeline, and one detection with its snapshot accepted exactly as the HTTP API accepts
//! it (`Core::accept_detection`: validation, the credential's scope, the estate, the
//! image check, idempotency, durability), then processed.
//!
//! Run with `cargo run -p cctv-examples --example embed`.

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_blob_fs::FsBlobStore;
use cctv_core::accept::DetectionSubmission;
use cctv_core::credential::{GeneratedSecret, NewCredential};
use cctv_core::estate::{EstateWrites, NewBranch, NewDevice, NewGroup};
use cctv_core::jobs::JobState;
use cctv_core::{Core, storage::Storage};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use serde_json::json;

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::open(&SqliteSettings::new(dir.path().join("cctv.db"))).await?;
    let store: Arc<dyn Storage> = Arc::new(sqlite);
    let group = store.create_group(&NewGroup::new("JKT", "Jakarta")).await?;
    let branch = NewBranch::new(group.id, "JKT001", "Jakarta Central", "Jakarta");
    let branch = store.create_branch(&branch).await?;
    store
        .create_device(&NewDevice::new(branch.id, "CAM_JKT001_001"))
        .await?;
    let secret = GeneratedSecret::generate();
    let credential = store
        .create_credential(&NewCredential::new("embed", &secret))
        .await?;

    let core = Core::builder()
        .storage(store.clone())
        .blob_store(Arc::new(FsBlobStore::new(dir.path().join("blobs"))?))
        .build()
        .await?;
    let pipeline = Pipeline::start(core.clone(), PipelineSettings::default()).await?;

    let fields = json!({"re_id": "REID_0001", "branch_id": branch.id,
                        "device_id": "CAM_JKT001_001", "detected_count": 2});
    let submission = DetectionSubmission {
        fields: fields.as_object().cloned().unwrap_or_default(),
        idempotency_key: None,
        image: Some(include_bytes!("entrance.png").to_vec()),
    };
    let accepted = core
        .accept_detection(
            &*pipeline.ingest(),
            &credential,
            submission,
            jiff::Timestamp::now(),
        )
        .await?;
    println!("durable as job {}", accepted.job_id);
    while store.job(accepted.job_id).await?.map(|j| j.state) != Some(JobState::Completed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Processed: the person-day is counted.
    let person = store.person_day("REID_0001", core.today(), None).await?;
    let person = person.ok_or("the detection was not counted")?;
    println!(
        "{} seen {} times at {} branch(es) today",
        person.re_id, person.total_actual_count, person.total_detection_branch_count
    );
    pipeline.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_accepts_and_processes_a_detection() {
    run().await.expect("embed example");
}
