//! # cctv-core
//!
//! The domain of cctv — counting people across a company's branches from the person
//! re-identification detections that edge AI nodes and cameras post — and the traits its
//! plugins implement. No web framework, actor system or database driver is in its API:
//! storage backends, blob stores, the event bus and the image pipeline are plugins, held
//! as `Arc<dyn Trait>` by a [`Core`] (notifiers and the optional storage capabilities
//! belong to the administration, `cctv-admin`).
//!
//! ## From a detection to a count
//!
//! What the server does for `POST /api/v1/detection/log`, embedded: a storage backend
//! (here the in-memory one; `cctv-storage-sqlite` or `cctv-storage-postgres` in
//! production), an estate and a device credential, a [`Core`], the actor pipeline of
//! `cctv-actors` that makes detections durable and processes them, then one detection
//! accepted through [`Core::accept_detection`] and its count read back.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use cctv_core::accept::DetectionSubmission;
//! use cctv_core::credential::{GeneratedSecret, NewCredential};
//! use cctv_core::estate::{EstateWrites, NewBranch, NewDevice, NewGroup};
//! use cctv_core::jobs::JobState;
//! use cctv_core::storage::Storage;
//! use cctv_core::Core;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Storage: `Storage` is what every backend provides.
//! let store: Arc<dyn Storage> = Arc::new(cctv_storage_memory::MemoryStore::new());
//!
//! // 2. The estate (province, branch, camera) and a device credential. The server's
//! //    management API and `cctv credential create` write these.
//! let group = store.create_group(&NewGroup::new("JKT", "Jakarta")).await?;
//! let branch = store
//!     .create_branch(&NewBranch::new(group.id, "JKT001", "Jakarta Central", "Jakarta"))
//!     .await?;
//! store.create_device(&NewDevice::new(branch.id, "CAM_JKT001_001")).await?;
//! let secret = GeneratedSecret::generate(); // the key and secret a device sends
//! let credential = store.create_credential(&NewCredential::new("lobby", &secret)).await?;
//!
//! // 3. The core, and the pipeline that accepts and processes detections.
//! let core = Core::builder().storage(store.clone()).build().await?;
//! let pipeline = cctv_actors::Pipeline::start(core.clone(), Default::default()).await?;
//!
//! // 4. A detection, checked as the device API checks it (fields, the credential's
//! //    scope, the estate); durable when the call returns.
//! let fields = serde_json::json!({
//!     "re_id": "REID_0001", "branch_id": branch.id, "device_id": "CAM_JKT001_001",
//! });
//! let submission = DetectionSubmission {
//!     fields: fields.as_object().cloned().unwrap_or_default(),
//!     idempotency_key: None,
//!     image: None,
//! };
//! let sink = pipeline.ingest();
//! let accepted = core
//!     .accept_detection(&*sink, &credential, submission, jiff::Timestamp::now())
//!     .await?;
//!
//! // 5. Processed shortly after: the person is counted for today at that branch.
//! while store.job(accepted.job_id).await?.map(|j| j.state) != Some(JobState::Completed) {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! let person = store.person_day("REID_0001", core.today(), None).await?;
//! assert_eq!(person.map(|p| p.total_detection_branch_count), Some(1));
//! pipeline.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embed.rs` is the same with SQLite and an event image.
//!
//! ## Where things are
//!
//! **The detection path** (what an embedder uses):
//! - [`Core`], [`CoreBuilder`]: the wired plugins, settings and hot-path caches;
//! - [`accept`]: accepting detections from devices, one or a batch;
//! - [`detection`], [`input`], [`validation`]: a detection's fields and their checks, and
//!   the durable job payload;
//! - [`person_day`]: a detection placed on its person-day, what a backend processes;
//! - [`estate`], [`credential`], [`cache`]: who may post what (how often is the
//!   `cctv-rate-limit` crate's, `cctv-core/rate-limit`: [`CoreBuilder::request_limiter`]);
//! - [`query`]: the registry's read models (detections, person-days, day counts).
//!
//! **Plugin traits:**
//! - [`storage`]: [`Storage`](storage::Storage), what every backend provides, and
//!   [`records`], the generic records the estate is written through;
//! - [`jobs`]: the durable job queue every worker claims from;
//! - [`ingest`]: the sink detections are submitted to (the actor pipeline's);
//! - [`blob`], [`media`], [`events`]: image bytes, image processing, the live event bus;
//! - [`CoreBuilder::extension_mut`]: how other crates attach their parts to a [`Core`].
//!
//! **Not here:** the reference server's administration — reports, notifications and
//! their channels, the schedule, queue operations, exports, analytics, management
//! resources, roles, logins and tokens — is the `cctv-admin` crate (`cctv-core/admin`),
//! which attaches itself to a `Core` as an extension and adds the optional storage
//! capabilities it needs. The process's Prometheus metrics ([`Core::metrics`]) are the
//! `cctv-metrics` crate (`cctv-core/metrics`); [`private_files`] creates the files that hold personal data readable by the service's
//! user only.
//!
//! Storage backends live in `plugins/storage-sqlite`, `plugins/storage-postgres` and
//! `plugins/storage-memory`. They process detections with the `cctv-processing` crate
//! (`cctv-core/processing`), the person-day rules as one plan of rows and additive
//! changes that every backend applies; the suite every backend must pass is the `cctv-testkit`
//! crate (`cctv-core/testkit`), a dev-dependency.

pub mod accept;
pub mod blob;
pub mod cache;
mod core;
pub mod credential;
pub mod detection;
pub mod estate;
pub mod events;
mod extensions;
pub mod ingest;
pub mod input;
pub mod jobs;
pub mod json_text;
pub mod media;
pub mod person_day;
pub mod private_files;
#[cfg(test)]
mod props;
pub mod query;
pub mod records;
pub mod storage;
pub mod time_text;
pub mod validation;
pub mod workers;

pub use crate::core::{BuildError, Core, CoreBuilder, CoreSettings};
pub use jiff;
pub use serde_json;
