//! # cctv-actors
//!
//! Runs cctv's pipeline as supervised actix actors on their own thread, behind handles
//! that implement `cctv-core` traits (callers never see actix):
//!
//! - the **ingest batcher** group-commits submitted detections ([`IngestHandle`] is the
//!   [`IngestSink`](cctv_core::ingest::IngestSink) the HTTP layer calls);
//! - **detection workers** apply batches (person-day rules, event logs, child jobs), with
//!   retries, panic recovery and crash recovery through job leases;
//! - the **image worker** ([`images`]) turns uploaded event images into the watermarked
//!   JPEG and thumbnail, off the async runtime.
//!
//! With the default feature `admin` (the administration of `cctv-admin`), also:
//!
//! - **notification workers** run the `notifications` queue through
//!   `cctv_admin::notify::NotificationService` (module `notifier`);
//! - **queue workers** run the `reports` and `maintenance` queues
//!   (`cctv_admin::job_handlers`), the **scheduler** enqueues timed tasks
//!   (`cctv_admin::schedule`), a **queue monitor** raises `queue_status` alerts, and
//!   `stream_health` probes camera streams.
//!
//! An embedder that only accepts and counts detections turns it off
//! (`default-features = false`, with the storage backend's `admin` feature off too) and
//! compiles neither `cctv-admin` nor an HTTP client.
//!
//! ```no_run
//! # async fn demo(core: cctv_core::Core) {
//! let pipeline = cctv_actors::Pipeline::start(core, cctv_actors::PipelineSettings::default()).await.unwrap();
//! let ingest = pipeline.ingest();
//! # let _ = ingest;
//! pipeline.shutdown().await;
//! # }
//! ```

#[cfg(feature = "admin")]
mod admin;
#[cfg(feature = "admin")]
mod background;
mod batcher;
pub mod images;
#[cfg(feature = "admin")]
mod notifier;
#[cfg(feature = "admin")]
mod queue_worker;
mod ready;
#[cfg(feature = "admin")]
pub mod stream_health;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{Supervisor, System};
use cctv_core::Core;
use cctv_core::jobs::{Queue, RetryPolicy};
use cctv_core::storage::{Cause, StorageError};
use jiff::SignedDuration;

#[cfg(feature = "admin")]
pub use crate::admin::{NotificationWorkers, QueueWorkers, ScheduleRunner};
pub use crate::batcher::IngestHandle;
pub use crate::images::{ImageSettings, ImageStats};
#[cfg(feature = "admin")]
pub use crate::notifier::NotifyStats;
#[cfg(feature = "admin")]
pub use crate::queue_worker::QueueWorkerStats;
pub use crate::ready::{ReadyQueue, WorkItem};
pub use crate::worker::{BatchHook, WorkerStats};

/// How the pipeline runs, grouped as the configuration file is: `[ingest]` (accepting
/// and processing detections), the image worker (`[storage]`) and what belongs to this
/// node; with the `admin` feature also `[notifications]`, `[queues]`, `[schedule]` and
/// `[streams]`.
#[derive(Clone, Default)]
pub struct PipelineSettings {
    pub ingest: IngestPipeline,
    /// The image worker (started when the core has a blob store).
    pub images: ImageSettings,
    pub node: NodeSettings,
    #[cfg(feature = "admin")]
    pub notifications: NotificationWorkers,
    #[cfg(feature = "admin")]
    pub queues: QueueWorkers,
    #[cfg(feature = "admin")]
    pub schedule: ScheduleRunner,
    /// Periodic stream probing; `None` turns it off.
    #[cfg(feature = "admin")]
    pub stream_health: Option<stream_health::StreamHealthSettings>,
    /// Where maintenance jobs (log aggregation, file cleanup) find their files.
    #[cfg(feature = "admin")]
    pub maintenance: cctv_admin::job_handlers::MaintenanceConfig,
}

/// `[ingest]`: the batcher that makes accepted detections durable (group commit), and the
/// detection workers that process them.
#[derive(Debug, Clone)]
pub struct IngestPipeline {
    /// Most detections committed in one accept transaction.
    pub max_batch: usize,
    /// Submissions that may wait for the batcher before new ones are refused (503): those
    /// that arrived while a commit was in flight and that it has not taken yet.
    pub mailbox: usize,
    /// With fewer submissions pending than this, the batcher waits up to `linger` for more
    /// before committing (fewer, larger commits; at most that much added latency).
    pub min_batch: usize,
    pub linger: Duration,
    /// Accept commits that may run at once. One suits a single writer (SQLite); a server
    /// database takes a second while the first waits for its WAL flush, and both may
    /// share one flush.
    pub accept_commits: usize,
    /// Detection worker actors.
    pub workers: usize,
    /// Most detections applied in one processing transaction.
    pub worker_batch: usize,
    /// With fewer detections ready than this, a worker waits up to `worker_batch_wait` for
    /// more (larger transactions cost far less per detection).
    pub worker_min_batch: usize,
    pub worker_batch_wait: Duration,
    /// Detections held in memory between commit and processing.
    pub memory_queue: usize,
    /// How long a claimed job stays with this node before another may take it.
    pub lease: Duration,
    /// How often idle workers look for due jobs in the database.
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    /// How long completed jobs are kept (status queries, and the window in which a
    /// repeated `event_id` is recognised); older ones are deleted every minute.
    pub completed_retention: Duration,
}

impl Default for IngestPipeline {
    fn default() -> Self {
        Self {
            max_batch: 2048,
            mailbox: 65_536,
            min_batch: 64,
            linger: Duration::ZERO,
            accept_commits: 1,
            workers: 2,
            worker_batch: 8192,
            worker_min_batch: 256,
            worker_batch_wait: Duration::from_millis(10),
            memory_queue: 16_384,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            retry: Queue::Detections.default_retry(),
            completed_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What belongs to this process rather than to a section of the configuration.
#[derive(Clone)]
pub struct NodeSettings {
    /// Identifies this process in job leases.
    pub id: String,
    /// Release every lease at start: right for a single-node store (SQLite), where any
    /// lease left in the database belongs to a previous run of this process.
    pub release_all_leases_on_start: bool,
    /// Called before each detection batch (fault injection in tests, metrics).
    pub before_batch: Option<BatchHook>,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            id: format!("node-{}", uuid::Uuid::new_v4().simple()),
            release_all_leases_on_start: false,
            before_batch: None,
        }
    }
}

impl std::fmt::Debug for NodeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSettings")
            .field("id", &self.id)
            .field(
                "release_all_leases_on_start",
                &self.release_all_leases_on_start,
            )
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PipelineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineSettings")
            .field("ingest", &self.ingest)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The running pipeline: an actix system on its own thread.
pub struct Pipeline {
    core: Core,
    ingest: IngestHandle,
    _workers: Vec<actix::Addr<worker::DetectionWorker>>,
    _images: Option<actix::Addr<images::ImageWorker>>,
    image_stats: Arc<ImageStats>,
    ready: Arc<ReadyQueue>,
    stats: Arc<WorkerStats>,
    stopping: Arc<AtomicBool>,
    system: System,
    thread: Option<std::thread::JoinHandle<()>>,
    pruner: tokio::task::JoinHandle<()>,
    node_id: String,
    #[cfg(feature = "admin")]
    admin: admin::AdminWorkers,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts the actors. Must be called from within a tokio runtime: storage work runs on it.
    pub async fn start(core: Core, settings: PipelineSettings) -> Result<Self, StorageError> {
        if settings.node.release_all_leases_on_start {
            let released = core.storage().release_leases(None).await?;
            if released > 0 {
                tracing::info!(released, "released job leases left by a previous run");
            }
        }
        let runtime = tokio::runtime::Handle::current();
        let ready = Arc::new(ReadyQueue::new(settings.ingest.memory_queue));
        let stats = Arc::new(WorkerStats::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let lease = SignedDuration::try_from(settings.ingest.lease)
            .unwrap_or(SignedDuration::from_secs(60));
        let shared = Arc::new(worker::WorkerShared {
            core: core.clone(),
            ready: ready.clone(),
            runtime: runtime.clone(),
            node_id: settings.node.id.clone(),
            lease,
            batch_size: settings.ingest.worker_batch.max(1),
            min_batch: settings.ingest.worker_min_batch,
            batch_wait: settings.ingest.worker_batch_wait,
            poll_interval: settings.ingest.poll_interval,
            retry: settings.ingest.retry.clone(),
            stats: stats.clone(),
            stopping: stopping.clone(),
            before_batch: settings.node.before_batch.clone(),
            last_poll: AtomicU64::new(0),
        });

        let image_stats = Arc::new(ImageStats::default());
        let image_shared = core.blobs().is_some().then(|| {
            Arc::new(images::ImageShared {
                core: core.clone(),
                runtime: runtime.clone(),
                node_id: settings.node.id.clone(),
                lease,
                poll_interval: settings.ingest.poll_interval,
                settings: settings.images.clone(),
                stats: image_stats.clone(),
                stopping: stopping.clone(),
            })
        });
        if image_shared.is_none() {
            tracing::warn!("no blob store: event images will not be processed");
        }

        let (tx, rx) = std::sync::mpsc::channel();
        let thread_core = core.clone();
        let thread_ready = ready.clone();
        let thread_in_flight = in_flight.clone();
        let inbox = Arc::new(batcher::Inbox::new(settings.ingest.mailbox.max(16)));
        let thread_inbox = inbox.clone();
        let thread_settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name("cctv-actors".into())
            .spawn(move || {
                let runner = System::new();
                runner.block_on(async move {
                    let batcher = batcher::IngestBatcher::new(
                        thread_core,
                        thread_ready,
                        runtime,
                        thread_settings.node.id.clone(),
                        lease,
                        thread_settings.ingest.max_batch.max(1),
                        thread_inbox,
                        thread_in_flight,
                        (
                            thread_settings.ingest.min_batch,
                            thread_settings.ingest.linger,
                        ),
                        thread_settings.ingest.accept_commits.max(1),
                    );
                    let addr = Supervisor::start(move |_| batcher);
                    // The supervisor restarts an actor only while an address to it is
                    // alive, so the pipeline keeps the workers' addresses.
                    let workers: Vec<_> = (0..thread_settings.ingest.workers.max(1))
                        .map(|_| {
                            let shared = shared.clone();
                            Supervisor::start(move |_| worker::DetectionWorker::new(shared))
                        })
                        .collect();
                    let images = image_shared
                        .map(|shared| Supervisor::start(move |_| images::ImageWorker::new(shared)));
                    let _ = tx.send((addr, workers, images, System::current()));
                });
                runner.run().ok();
            })
            .map_err(|e| {
                StorageError::Unavailable(Cause::with_source("starting the actor thread", e))
            })?;
        let (addr, workers, image_worker, system) = rx
            .recv()
            .map_err(|_| StorageError::Unavailable("the actor system did not start".into()))?;
        let pruner = tokio::spawn(prune_loop(
            core.clone(),
            settings.ingest.completed_retention,
        ));
        #[cfg(feature = "admin")]
        let admin = admin::AdminWorkers::start(
            &system,
            &core,
            &settings,
            lease,
            stopping.clone(),
            stats.clone(),
        )?;
        let ingest = IngestHandle {
            addr,
            inbox,
            in_flight,
            closing: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self {
            core,
            ingest,
            _workers: workers,
            _images: image_worker,
            image_stats,
            ready,
            stats,
            stopping,
            system,
            thread: Some(thread),
            pruner,
            node_id: settings.node.id,
            #[cfg(feature = "admin")]
            admin,
        })
    }

    /// The ingest sink to hand to the HTTP layer.
    pub fn ingest(&self) -> Arc<dyn cctv_core::ingest::IngestSink> {
        Arc::new(self.ingest.clone())
    }

    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    pub fn image_stats(&self) -> &Arc<ImageStats> {
        &self.image_stats
    }

    /// Detections waiting in memory for a worker.
    pub fn memory_backlog(&self) -> usize {
        self.ready.len()
    }

    /// Counters of the `reports` and `maintenance` queue workers.
    #[cfg(feature = "admin")]
    pub fn queue_worker_stats(&self) -> (&Arc<QueueWorkerStats>, &Arc<QueueWorkerStats>) {
        (&self.admin.queue_stats.0, &self.admin.queue_stats.1)
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Counters of the notification workers.
    #[cfg(feature = "admin")]
    pub fn notification_stats(&self) -> &Arc<NotifyStats> {
        &self.admin.notify.stats
    }

    /// The notification service the workers run (tests and embedders may run jobs directly).
    #[cfg(feature = "admin")]
    pub fn notifications(&self) -> &cctv_admin::notify::NotificationService {
        &self.admin.notify.service
    }

    /// Stops accepting, commits what was submitted, lets workers finish the batch they are
    /// applying, then gives back this node's leases so that the rest is claimed at once by
    /// the next start (or another node). Nothing acknowledged is lost: it is in the database.
    pub async fn shutdown(mut self) {
        self.ingest.closing.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.ingest.in_flight.load(Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stopping.store(true, Ordering::Release);
        while self.stats.busy.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        #[cfg(feature = "admin")]
        self.admin.drain(deadline).await;
        self.pruner.abort();
        #[cfg(feature = "admin")]
        self.admin.stop();
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        match self
            .core
            .storage()
            .release_leases(Some(&self.node_id))
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(released = n, "released leases of unprocessed detections")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "releasing leases at shutdown failed; they expire on their own")
            }
        }
    }
}

/// Deletes completed jobs older than `retention`, in slices so the writer is never held long.
async fn prune_loop(core: Core, retention: Duration) {
    const SLICE: usize = 5_000;
    let retention =
        SignedDuration::try_from(retention).unwrap_or(SignedDuration::from_hours(24 * 7));
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = jiff::Timestamp::now() - retention;
        loop {
            match core.storage().prune_completed(before, SLICE).await {
                Ok(n) if n as usize >= SLICE => tokio::task::yield_now().await,
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(deleted = n, "pruned completed jobs");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "pruning completed jobs failed");
                    break;
                }
            }
        }
    }
}
