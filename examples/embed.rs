//! Embedding cctv in another Rust service: SQLite storage, the actor pipeline, and one
//! detection submitted without any HTTP layer.
//!
//! Run with `cargo run -p cctv-examples --example embed`.

use std::sync::Arc;
use std::time::Duration;

use cctv_actors::{Pipeline, PipelineSettings};
use cctv_core::Core;
use cctv_core::detection::{DetectionRequest, DetectionRules};
use cctv_core::estate::{DeviceType, EstateWrites, NewBranch, NewDevice, NewGroup, RecordStatus};
use cctv_core::jobs::{JobId, JobState};
use cctv_core::storage::FullStorage;
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn FullStorage> =
        Arc::new(SqliteStore::open(&SqliteSettings::new(dir.path().join("cctv.db"))).await?);

    // A one-branch estate.
    let group = store
        .create_group(&NewGroup {
            province_code: "JKT".into(),
            province_name: "DKI Jakarta".into(),
            group_name: "Jakarta".into(),
            address: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        })
        .await?;
    let branch = store
        .create_branch(&NewBranch {
            group_id: group.id,
            branch_code: "JKT001".into(),
            branch_name: "Jakarta Central".into(),
            city: "Jakarta".into(),
            address: None,
            latitude: None,
            longitude: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        })
        .await?;
    store
        .create_device(&NewDevice {
            device_id: "CAM_JKT001_001".into(),
            device_name: "Entrance".into(),
            device_type: DeviceType::Camera,
            branch_id: branch.id,
            notes: None,
            status: RecordStatus::Active,
        })
        .await?;

    // The core and the pipeline: a few lines.
    let core = Core::builder()
        .storage(store.clone())
        .timezone(jiff::tz::TimeZone::get("Asia/Jakarta")?)
        .build()
        .await?;
    let pipeline = Pipeline::start(core.clone(), PipelineSettings::default()).await?;

    // Validate a detection exactly as the HTTP API would, then submit it.
    let fields = json!({"re_id": "REID_0001", "branch_id": branch.id, "device_id": "CAM_JKT001_001", "detected_count": 2});
    let request = DetectionRequest::from_fields(
        fields.as_object().unwrap(),
        None,
        &DetectionRules::default(),
        jiff::Timestamp::now(),
    )?;
    core.estate()
        .check_device(request.branch_id, &request.device_id)
        .map_err(|r| r.message())?;
    let submitted = pipeline
        .ingest()
        .submit(request.into_job(JobId::new(), None, jiff::Timestamp::now(), None))
        .await?;
    println!("durable as job {}", submitted.job_id);

    while store.job(submitted.job_id).await?.map(|j| j.state) != Some(JobState::Completed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let person = store
        .person_day("REID_0001", core.today(), None)
        .await?
        .expect("counted");
    println!(
        "{} seen {} times at {} branch(es) today",
        person.re_id, person.total_actual_count, person.total_detection_branch_count
    );
    pipeline.shutdown().await;
    Ok(())
}
