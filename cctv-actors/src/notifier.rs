//! Notification workers: supervised actors that claim jobs of the `notifications` queue
//! and run them through [`NotificationService`] (cooldown, digest, per-recipient records,
//! retries — all in `cctv-core`).
//!
//! Each job runs in its own tokio task, so a panicking plugin is caught as a `JoinError`:
//! that job is re-queued with the panic counted as a failed attempt (a job that always
//! panics ends in failed jobs instead of looping), the rest of the batch still runs, and
//! then the actor stops so that its supervisor starts a fresh one (actix restarts an actor
//! when it stops, never when it panics). Jobs are claimed with a lease long enough for a
//! slow provider; a node that dies leaves its jobs to be claimed again when it expires.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, Supervised,
    Supervisor, System, WrapFuture,
};
use cctv_admin::AdminCore;
use cctv_admin::notify::NotificationService;
use cctv_admin::notify::delivery_log::DeliveryLog;
use cctv_core::Core;
use cctv_core::jobs::{Lease, Queue};
use cctv_core::storage::{Cause, StorageError};

use crate::PipelineSettings;
use crate::worker::panic_message;
use jiff::{SignedDuration, Timestamp};

/// Counters of the notification workers, for monitoring and tests.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Jobs settled normally (completed, retried or failed).
    pub settled: AtomicU64,
    /// Job runs that panicked.
    pub panics: AtomicU64,
    pub restarts: AtomicU64,
    /// Jobs running now.
    pub busy: AtomicUsize,
}

pub(crate) struct NotifyShared {
    pub service: NotificationService,
    pub runtime: tokio::runtime::Handle,
    pub node_id: String,
    pub lease: SignedDuration,
    pub poll_interval: Duration,
    pub batch: usize,
    pub stats: Arc<NotifyStats>,
    pub stopping: Arc<AtomicBool>,
}

/// Starts `n` supervised workers on the pipeline's actor system.
fn start_workers(
    system: &System,
    shared: Arc<NotifyShared>,
    n: usize,
) -> Vec<Addr<NotificationWorker>> {
    (0..n)
        .map(|_| {
            let shared = shared.clone();
            Supervisor::start_in_arbiter(system.arbiter(), move |_| NotificationWorker { shared })
        })
        .collect()
}

/// The notification workers of a pipeline and what they share.
pub(crate) struct Workers {
    pub service: NotificationService,
    pub stats: Arc<NotifyStats>,
    _addrs: Vec<Addr<NotificationWorker>>,
}

impl Workers {
    pub fn start(
        system: &System,
        core: &Core,
        settings: &PipelineSettings,
        stopping: Arc<AtomicBool>,
    ) -> Result<Self, StorageError> {
        let log = match &settings.notifications.log_dir {
            Some(dir) => Some(
                DeliveryLog::start(dir.clone(), core.timezone().clone()).map_err(|e| {
                    StorageError::Unavailable(Cause::with_source(
                        format!("message log {}", dir.display()),
                        e,
                    ))
                })?,
            ),
            None => None,
        };
        let service =
            NotificationService::new(core.clone(), settings.notifications.service.clone(), log);
        let stats = Arc::new(NotifyStats::default());
        let shared = Arc::new(NotifyShared {
            service: service.clone(),
            runtime: tokio::runtime::Handle::current(),
            node_id: settings.node.id.clone(),
            lease: SignedDuration::try_from(settings.notifications.lease)
                .unwrap_or(SignedDuration::from_mins(5)),
            poll_interval: settings.notifications.poll_interval,
            batch: 16,
            stats: stats.clone(),
            stopping,
        });
        // The shipped configuration has no channel: that is a choice, not a fault, so it is
        // said once at info level rather than warned at every start.
        if settings.notifications.workers > 0 && core.notifiers().is_empty() {
            tracing::info!(
                "no notification channel is configured: notification jobs complete with result no_channel"
            );
        }
        let addrs = start_workers(system, shared, settings.notifications.workers);
        Ok(Self {
            service,
            stats,
            _addrs: addrs,
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pull;

pub(crate) struct NotificationWorker {
    shared: Arc<NotifyShared>,
}

impl Actor for NotificationWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(Pull);
    }
}

impl Supervised for NotificationWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("notification worker restarting");
    }
}

/// What the worker does after a pull.
enum Next {
    /// Jobs were found: look again at once.
    Again,
    Idle,
    Restart,
}

impl Handler<Pull> for NotificationWorker {
    type Result = ();

    fn handle(&mut self, _: Pull, ctx: &mut Context<Self>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let task = self
            .shared
            .runtime
            .spawn(async move { run_once(&shared).await });
        ctx.wait(task.into_actor(self).map(|joined, act, ctx| {
            let next = catch_unwind(AssertUnwindSafe(|| match joined {
                Ok((_, true)) => Next::Restart,
                Ok((0, false)) => Next::Idle,
                Ok(_) => Next::Again,
                Err(e) if e.is_panic() => Next::Restart,
                Err(_) => Next::Idle,
            }))
            .unwrap_or(Next::Restart);
            if act.shared.stopping.load(Ordering::Acquire) {
                return;
            }
            match next {
                Next::Again => ctx.notify(Pull),
                Next::Idle => {
                    ctx.notify_later(Pull, act.shared.poll_interval);
                }
                Next::Restart => {
                    tracing::error!("a notification job panicked; restarting the worker");
                    ctx.stop();
                }
            }
        }));
    }
}

/// Claims and runs one batch; returns how many jobs it claimed and whether one panicked.
async fn run_once(shared: &NotifyShared) -> (usize, bool) {
    let now = Timestamp::now();
    let lease = Lease {
        owner: shared.node_id.clone(),
        until: now + shared.lease,
    };
    let storage = shared.service.core().storage().clone();
    let jobs = match storage
        .claim(Queue::Notifications, &lease, shared.batch, now)
        .await
    {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "claiming notification jobs failed");
            return (0, false);
        }
    };
    let mut panicked = false;
    for job in &jobs {
        shared.stats.busy.fetch_add(1, Ordering::AcqRel);
        let (service, one) = (shared.service.clone(), job.clone());
        let run = tokio::spawn(async move { service.handle(&one, Timestamp::now()).await });
        match run.await {
            Ok(Ok(_)) => {
                shared.stats.settled.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                // Not settled: the lease expires and the job is claimed again.
                tracing::warn!(job_id = %job.id, error = %e, "settling a notification job failed");
            }
            Err(e) if e.is_panic() => {
                panicked = true;
                shared.stats.panics.fetch_add(1, Ordering::Relaxed);
                let message = panic_message(e.into_panic().as_ref());
                tracing::error!(job_id = %job.id, %message, "notification job panicked");
                if let Err(e) = shared
                    .service
                    .requeue_after_panic(job, Timestamp::now(), &message)
                    .await
                {
                    tracing::warn!(job_id = %job.id, error = %e, "re-queueing a panicked notification job failed; its lease will expire");
                }
            }
            Err(e) => {
                tracing::warn!(job_id = %job.id, error = %e, "notification job task cancelled")
            }
        }
        shared.stats.busy.fetch_sub(1, Ordering::AcqRel);
    }
    (jobs.len(), panicked)
}
