//! The pipeline's background work besides detections: queue workers for `reports` and
//! `maintenance`, the scheduler, and the queue monitor that raises `queue_status` alerts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Supervised, Supervisor,
    WrapFuture,
};
use cctv_admin::AdminCore;
use cctv_admin::job_handlers::{JobHandler, MaintenanceJobHandler, ReportJobHandler};
use cctv_admin::ops_alerts::AlertChange;
use cctv_admin::queue_ops::{AlarmChange, QueueAlarm};
use cctv_admin::schedule::{JobTaskRunner, ScheduleSettings, Scheduler, SystemClock};
use cctv_core::Core;
use cctv_core::events::{Event, EventKind};
use cctv_core::jobs::Queue;
use cctv_core::workers::{WorkerState, WorkerStatus};
use jiff::{SignedDuration, Timestamp};
use tokio::task::AbortHandle;

use crate::queue_worker::{QueueWorker, QueueWorkerShared, QueueWorkerStats};

/// Wait before starting the scheduler again after it stopped (database down at start).
const SCHEDULER_RESTART_DELAY: Duration = Duration::from_secs(5);

/// The scheduler's loop runs on the tokio runtime; this actor owns it and, supervised,
/// starts it again (reloading its position from the database) if it ever ends or panics.
pub(crate) struct SchedulerActor {
    core: Core,
    runtime: tokio::runtime::Handle,
    settings: ScheduleSettings,
    running: Arc<Mutex<Option<AbortHandle>>>,
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let core = self.core.clone();
        let settings = self.settings.clone();
        let task = self.runtime.spawn(async move {
            let runner = Arc::new(JobTaskRunner::new(core.clone()));
            // The pipeline starts no scheduler without these capabilities; should one get
            // here anyway, it waits like a failed start instead of restarting at once.
            let store = match core.schedule_store() {
                Ok(store) => store.clone(),
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduler cannot run");
                    tokio::time::sleep(SCHEDULER_RESTART_DELAY).await;
                    return;
                }
            };
            match Scheduler::start(store, runner, settings, Timestamp::now()).await {
                Ok(s) => Arc::new(s).run(Arc::new(SystemClock)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduler could not start; trying again");
                    tokio::time::sleep(SCHEDULER_RESTART_DELAY).await;
                }
            }
        });
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        ctx.wait(task.into_actor(self).map(|ended, _, ctx| {
            match ended {
                Err(e) if e.is_cancelled() => return,
                Err(e) => {
                    tracing::error!(error = %e, "the scheduler panicked; restarting it")
                }
                Ok(()) => {}
            }
            ctx.stop();
        }));
    }
}

impl Supervised for SchedulerActor {}

/// Samples queue depths every `every`: publishes `queue_status` when a queue crosses the
/// alert threshold either way (and logs it), and opens or closes the cluster-wide episode
/// of a backed-up queue or of failed jobs piling up, which messages the admins who opted
/// in (see [`cctv_admin::ops_alerts`]).
pub(crate) async fn monitor_loop(core: Core, every: Duration) {
    let alarm = QueueAlarm::new(core.admin_settings().queue_alert_threshold);
    let failed = QueueAlarm::new(core.admin_settings().failed_alert_threshold);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        tick.tick().await;
        let Ok(queues) = core.queue_admin() else {
            tracing::warn!(
                "the storage backend has no queue administration: queues are not monitored"
            );
            return;
        };
        let stats = match queues.queue_stats(Timestamp::now()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "sampling queue depths failed");
                continue;
            }
        };
        let mut alerts = Vec::new();
        for change in alarm.observe(&stats) {
            if change.alert {
                tracing::warn!(
                    queue = change.queue.as_str(),
                    pending = change.pending,
                    threshold = change.threshold,
                    "queue above its alert threshold"
                );
            } else {
                tracing::info!(
                    queue = change.queue.as_str(),
                    pending = change.pending,
                    threshold = change.threshold,
                    "queue back below its alert threshold"
                );
            }
            core.events().publish(Event {
                kind: EventKind::QueueStatus,
                branch_id: None,
                data: serde_json::to_value(&change).unwrap_or_default(),
                at: Timestamp::now(),
            });
            alerts.push(depth_alert(&change));
        }
        alerts.extend(
            failed
                .observe_values(stats.iter().map(|s| (s.queue, s.failed)))
                .iter()
                .map(failed_alert),
        );
        if std::mem::take(&mut first) {
            // Episodes a recovery left open while no node was watching.
            for s in &stats {
                if !alarm.is_alerting(s.queue) {
                    alerts.push(depth_alert(&below(&alarm, s.queue, s.pending)));
                }
                if !failed.is_alerting(s.queue) {
                    alerts.push(failed_alert(&below(&failed, s.queue, s.failed)));
                }
            }
        }
        for alert in alerts {
            if let Err(e) = cctv_admin::ops_alerts::record(&core, &alert, Timestamp::now()).await {
                tracing::warn!(alert = %alert.alert, error = %e, "recording an operational alert failed");
            }
        }
    }
}

/// "Not alerting" for `queue` at `value`, as `alarm` would report a recovery.
fn below(alarm: &QueueAlarm, queue: Queue, value: u64) -> AlarmChange {
    AlarmChange {
        queue,
        pending: value,
        threshold: alarm.threshold(),
        alert: false,
    }
}

fn depth_alert(change: &AlarmChange) -> AlertChange {
    alert_of(change, "queue", "pending")
}

fn failed_alert(change: &AlarmChange) -> AlertChange {
    alert_of(change, "failed", "failed")
}

/// `kind`: the alert's name prefix; `what`: the jobs counted, as a person reads it.
fn alert_of(change: &AlarmChange, kind: &str, what: &str) -> AlertChange {
    let queue = change.queue.as_str();
    AlertChange {
        alert: format!("{kind}:{queue}"),
        detail: format!(
            "queue {queue} has {} {what} jobs (alert above {})",
            change.pending, change.threshold
        ),
        began: change.alert,
    }
}

/// What [`start`] started; dropping it lets the supervisors stop their actors.
pub(crate) struct Background {
    _workers: Vec<Addr<QueueWorker>>,
    _scheduler: Option<Addr<SchedulerActor>>,
    scheduler_task: Arc<Mutex<Option<AbortHandle>>>,
}

impl Background {
    /// Stops the scheduler's loop (actors stop with the actix system).
    pub(crate) fn stop(&self) {
        if let Some(task) = self
            .scheduler_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

pub(crate) struct BackgroundSettings {
    pub report_workers: usize,
    pub maintenance_workers: usize,
    pub scheduler: Option<ScheduleSettings>,
    pub node_id: String,
    pub lease: SignedDuration,
    pub poll_interval: Duration,
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
    pub maintenance: cctv_admin::job_handlers::MaintenanceConfig,
}

/// Starts queue workers and the scheduler on `system`.
pub(crate) fn start(
    system: &actix::System,
    core: &Core,
    runtime: &tokio::runtime::Handle,
    settings: BackgroundSettings,
    stats: (Arc<QueueWorkerStats>, Arc<QueueWorkerStats>),
) -> Background {
    let handlers: [(Arc<dyn JobHandler>, usize, Arc<QueueWorkerStats>); 2] = [
        (
            Arc::new(ReportJobHandler::new(core.clone())),
            settings.report_workers,
            stats.0,
        ),
        (
            Arc::new(MaintenanceJobHandler::with_config(
                core.clone(),
                settings.maintenance.clone(),
            )),
            settings.maintenance_workers,
            stats.1,
        ),
    ];
    let mut workers = Vec::new();
    for (handler, count, stats) in handlers {
        let shared = Arc::new(QueueWorkerShared {
            core: core.clone(),
            retry: handler.queue().default_retry(),
            handler,
            runtime: runtime.clone(),
            node_id: settings.node_id.clone(),
            lease: settings.lease,
            poll_interval: settings.poll_interval,
            stats,
            stopping: settings.stopping.clone(),
        });
        for _ in 0..count {
            let shared = shared.clone();
            workers.push(Supervisor::start_in_arbiter(system.arbiter(), move |_| {
                QueueWorker::new(shared)
            }));
        }
    }
    let scheduler_task = Arc::new(Mutex::new(None));
    let scheduler = settings.scheduler.map(|schedule| {
        let actor = SchedulerActor {
            core: core.clone(),
            runtime: runtime.clone(),
            settings: schedule,
            running: scheduler_task.clone(),
        };
        Supervisor::start_in_arbiter(system.arbiter(), move |_| actor)
    });
    Background {
        _workers: workers,
        _scheduler: scheduler,
        scheduler_task,
    }
}

/// This node's workers as the admin queue view shows them.
#[derive(Debug)]
pub(crate) struct PipelineStatus {
    pub node: String,
    pub detection: (usize, Arc<crate::WorkerStats>),
    pub reports: (usize, Arc<QueueWorkerStats>),
    pub maintenance: (usize, Arc<QueueWorkerStats>),
}

impl WorkerStatus for PipelineStatus {
    fn states(&self) -> Vec<WorkerState> {
        use std::sync::atomic::Ordering::Relaxed;
        let (n, d) = &self.detection;
        let mut states = vec![WorkerState {
            node: self.node.clone(),
            queue: Queue::Detections,
            workers: *n,
            busy: d.busy.load(Relaxed),
            processed: d.processed.load(Relaxed),
            failed_attempts: d.failed_attempts.load(Relaxed),
            restarts: d.restarts.load(Relaxed),
        }];
        for (queue, (n, s)) in [
            (Queue::Reports, &self.reports),
            (Queue::Maintenance, &self.maintenance),
        ] {
            states.push(WorkerState {
                node: self.node.clone(),
                queue,
                workers: *n,
                busy: s.busy.load(Relaxed),
                processed: s.completed.load(Relaxed),
                failed_attempts: s.failed_attempts.load(Relaxed),
                restarts: s.restarts.load(Relaxed),
            });
        }
        states
    }
}
