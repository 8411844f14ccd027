//! The administration's workers (the `admin` feature): notification workers, the queue
//! workers of `reports` and `maintenance`, the scheduler, the queue monitor and stream
//! probing, with their settings. They run on the pipeline's actor system beside the
//! detection path, and only with `cctv-admin`: an embedder that only accepts and counts
//! detections builds this crate without the feature and compiles none of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Addr, Supervisor, System};
use cctv_admin::AdminCore;
use cctv_admin::notify::NotificationSettings;
use cctv_core::Core;
use cctv_core::storage::StorageError;
use jiff::SignedDuration;

use crate::queue_worker::QueueWorkerStats;
use crate::stream_health::StreamHealth;
use crate::{PipelineSettings, WorkerStats, background, notifier};

/// `[notifications]`: the workers that send them.
#[derive(Debug, Clone)]
pub struct NotificationWorkers {
    /// Worker actors (0: this node does not send notifications).
    pub workers: usize,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
    /// Lease of a notification job: longer than its slowest run (every recipient timing
    /// out), or another worker could send it again while it still runs.
    pub lease: Duration,
    /// Cooldown and retry schedule.
    pub service: NotificationSettings,
    /// Directory of the message log (`YYYY-MM-DD.log` files); `None`: no message log.
    pub log_dir: Option<std::path::PathBuf>,
}

impl Default for NotificationWorkers {
    fn default() -> Self {
        Self {
            workers: 1,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(300),
            service: NotificationSettings::default(),
            log_dir: None,
        }
    }
}

/// `[queues]`: the workers of the `reports` and `maintenance` queues, and the monitor.
#[derive(Debug, Clone)]
pub struct QueueWorkers {
    pub report_workers: usize,
    pub maintenance_workers: usize,
    /// How often queue depths are checked against `AdminSettings::queue_alert_threshold`.
    pub monitor_interval: Duration,
}

impl Default for QueueWorkers {
    fn default() -> Self {
        Self {
            report_workers: 1,
            maintenance_workers: 1,
            monitor_interval: Duration::from_secs(15),
        }
    }
}

/// `[schedule]`: whether this node runs the scheduler (`AdminSettings::schedule`).
#[derive(Debug, Clone)]
pub struct ScheduleRunner {
    /// Off by default so that an embedder or a test opts in; several nodes may all run it
    /// (each slot runs once).
    pub enabled: bool,
    /// How far back it catches up slots missed while no node ran.
    pub catch_up: Duration,
}

impl Default for ScheduleRunner {
    fn default() -> Self {
        Self {
            enabled: false,
            catch_up: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Whether the core's storage can run the scheduler (its slots, and the queue
/// administration it enqueues through); says why not when it cannot.
fn schedule_capable(core: &Core) -> bool {
    let capabilities = core.capabilities();
    let capable = capabilities.schedule.is_some() && capabilities.queue_admin.is_some();
    if !capable {
        tracing::warn!(
            "the storage backend has no schedule store or queue administration: scheduled tasks do not run"
        );
    }
    capable
}

/// The administration's workers of one pipeline; they stop with its actor system.
pub(crate) struct AdminWorkers {
    pub notify: notifier::Workers,
    pub queue_stats: (Arc<QueueWorkerStats>, Arc<QueueWorkerStats>),
    background: background::Background,
    monitor: tokio::task::JoinHandle<()>,
    _health: Option<Addr<StreamHealth>>,
}

impl AdminWorkers {
    /// Starts them on `system` (the pipeline's, already running) and reports this node's
    /// workers, `detection` among them, to the core's worker status.
    pub(crate) fn start(
        system: &System,
        core: &Core,
        settings: &PipelineSettings,
        lease: SignedDuration,
        stopping: Arc<AtomicBool>,
        detection: Arc<WorkerStats>,
    ) -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Handle::current();
        let queue_stats: (Arc<QueueWorkerStats>, Arc<QueueWorkerStats>) =
            (Arc::default(), Arc::default());
        let background = background::start(
            system,
            core,
            &runtime,
            background::BackgroundSettings {
                report_workers: settings.queues.report_workers,
                maintenance_workers: settings.queues.maintenance_workers,
                scheduler: (settings.schedule.enabled && schedule_capable(core)).then(|| {
                    cctv_admin::schedule::ScheduleSettings {
                        tasks: core.admin_settings().schedule.clone(),
                        timezone: core.timezone().clone(),
                        catch_up: settings.schedule.catch_up,
                        node_id: settings.node.id.clone(),
                    }
                }),
                node_id: settings.node.id.clone(),
                maintenance: settings.maintenance.clone(),
                lease,
                poll_interval: settings.ingest.poll_interval,
                stopping: stopping.clone(),
            },
            queue_stats.clone(),
        );
        let health = settings.stream_health.clone().map(|health| {
            let core = core.clone();
            Supervisor::start_in_arbiter(system.arbiter(), move |_| StreamHealth::new(core, health))
        });
        let notify = notifier::Workers::start(system, core, settings, stopping)?;
        let monitor = tokio::spawn(background::monitor_loop(
            core.clone(),
            settings.queues.monitor_interval,
        ));
        core.set_worker_status(Arc::new(background::PipelineStatus {
            node: settings.node.id.clone(),
            detection: (settings.ingest.workers.max(1), detection),
            reports: (settings.queues.report_workers, queue_stats.0.clone()),
            maintenance: (settings.queues.maintenance_workers, queue_stats.1.clone()),
        }));
        Ok(Self {
            notify,
            queue_stats,
            background,
            monitor,
            _health: health,
        })
    }

    /// Waits (until `deadline`) for running notification jobs, then flushes the message log.
    pub(crate) async fn drain(&self, deadline: tokio::time::Instant) {
        while self.notify.stats.busy.load(Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(log) = self.notify.service.log() {
            log.flush().await;
        }
    }

    /// Stops what runs outside the actor system (the monitor, the scheduler's loop).
    pub(crate) fn stop(&self) {
        self.monitor.abort();
        self.background.stop();
    }
}
