//! Queue workers: supervised actors that claim jobs of one queue (`reports`,
//! `maintenance`) and run a [`JobHandler`] on them, one job at a time.
//!
//! Jobs are claimed with a lease, so a node that dies leaves them to be claimed again.
//! While a handler runs, the worker extends the lease every third of its length
//! (heartbeat), so a report or maintenance job that runs longer than one lease is not
//! claimed a second time while its worker is alive; a dead worker stops extending and
//! its job is claimed again once the last lease ends. A failed attempt follows the queue's retry schedule and ends in failed jobs. As with the
//! detection workers, actix does not restart an actor that panics, so the handler runs in
//! a task on the tokio runtime: a panic there fails the attempt (it is retried like any
//! error), then stops the actor so that its supervisor starts a fresh one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Supervised,
    WrapFuture,
};
use cctv_admin::job_handlers::JobHandler;
use cctv_core::Core;
use cctv_core::jobs::JobFailure;
use cctv_core::jobs::{ClaimedJob, Lease, RetryPolicy};
use jiff::{SignedDuration, Timestamp};

/// Counters of one queue's workers.
#[derive(Debug, Default)]
pub struct QueueWorkerStats {
    /// Workers holding a job right now.
    pub busy: AtomicUsize,
    pub completed: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub restarts: AtomicU64,
}

pub(crate) struct QueueWorkerShared {
    pub core: Core,
    pub handler: Arc<dyn JobHandler>,
    pub runtime: tokio::runtime::Handle,
    pub node_id: String,
    pub lease: SignedDuration,
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    pub stats: Arc<QueueWorkerStats>,
    pub stopping: Arc<AtomicBool>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Next;

pub(crate) struct QueueWorker {
    shared: Arc<QueueWorkerShared>,
}

impl QueueWorker {
    pub(crate) fn new(shared: Arc<QueueWorkerShared>) -> Self {
        Self { shared }
    }
}

impl Actor for QueueWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(Next);
    }
}

impl Supervised for QueueWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            queue = self.shared.handler.queue().as_str(),
            "queue worker restarting"
        );
    }
}

/// What one turn did.
enum Turn {
    /// Nothing was due: wait for the poll interval.
    Idle,
    /// A job was settled: look for the next at once.
    Worked,
    /// The handler panicked (the attempt is already recorded as failed).
    Panicked,
}

impl Handler<Next> for QueueWorker {
    type Result = ();

    fn handle(&mut self, _: Next, ctx: &mut Context<Self>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let work = async move {
            let runtime = shared.runtime.clone();
            runtime
                .spawn(async move { turn(&shared).await })
                .await
                .unwrap_or(Turn::Panicked)
        };
        ctx.wait(work.into_actor(self).map(|turn, act, ctx| match turn {
            Turn::Worked => ctx.notify(Next),
            Turn::Idle => {
                ctx.notify_later(Next, act.shared.poll_interval);
            }
            Turn::Panicked => {
                tracing::error!(
                    queue = act.shared.handler.queue().as_str(),
                    "queue worker panicked; restarting it"
                );
                ctx.stop();
            }
        }));
    }
}

/// Claims one job and settles it.
async fn turn(shared: &Arc<QueueWorkerShared>) -> Turn {
    let now = Timestamp::now();
    let lease = Lease {
        owner: shared.node_id.clone(),
        until: now + shared.lease,
    };
    let queue = shared.handler.queue();
    let job = match shared.core.storage().claim(queue, &lease, 1, now).await {
        Ok(mut jobs) => match jobs.pop() {
            Some(job) => job,
            None => return Turn::Idle,
        },
        Err(e) => {
            tracing::warn!(queue = queue.as_str(), error = %e, "claiming jobs failed");
            return Turn::Idle;
        }
    };
    shared.stats.busy.fetch_add(1, Ordering::AcqRel);
    // The handler runs in its own task so that a panic is contained to this attempt.
    let handler = shared.handler.clone();
    let claimed = job.clone();
    let task = tokio::spawn(async move { handler.handle(&claimed).await });
    let joined = with_heartbeat(shared, &job, task).await;
    let panicked = joined.as_ref().is_err_and(|e| e.is_panic());
    let outcome =
        joined.unwrap_or_else(|e| Err(JobFailure::Retry(format!("the job handler panicked: {e}"))));
    settle(shared, &job, outcome).await;
    shared.stats.busy.fetch_sub(1, Ordering::AcqRel);
    if panicked {
        Turn::Panicked
    } else {
        Turn::Worked
    }
}

/// How often a running job's lease is extended: three beats per lease, so one lost or
/// slow heartbeat does not let the lease run out.
fn heartbeat_every(lease: SignedDuration) -> Duration {
    Duration::try_from(lease / 3)
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(10))
}

/// Waits for the handler, extending the job's lease meanwhile.
async fn with_heartbeat(
    shared: &QueueWorkerShared,
    job: &ClaimedJob,
    mut task: tokio::task::JoinHandle<Result<serde_json::Value, JobFailure>>,
) -> Result<Result<serde_json::Value, JobFailure>, tokio::task::JoinError> {
    let every = heartbeat_every(shared.lease);
    let mut beating = true;
    loop {
        tokio::select! {
            joined = &mut task => return joined,
            () = tokio::time::sleep(every), if beating => {
                let now = Timestamp::now();
                let lease = Lease {
                    owner: shared.node_id.clone(),
                    until: now + shared.lease,
                };
                match shared.core.storage().extend_lease(job.id, &lease, now).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Settled or taken over meanwhile (e.g. after a long stall of this
                        // process): whoever holds it now decides; completion stays once-only.
                        tracing::warn!(job_id = %job.id, kind = %job.kind, "job lease lost while running");
                        beating = false;
                    }
                    Err(e) => {
                        tracing::warn!(job_id = %job.id, error = %e, "extending the job lease failed; retrying at the next beat");
                    }
                }
            }
        }
    }
}

async fn settle(
    shared: &QueueWorkerShared,
    job: &ClaimedJob,
    outcome: Result<serde_json::Value, JobFailure>,
) {
    let storage = shared.core.storage();
    let now = Timestamp::now();
    let result = match outcome {
        Ok(value) => {
            shared.stats.completed.fetch_add(1, Ordering::Relaxed);
            storage.complete(job.id, value, now).await.map(|_| ())
        }
        Err(failure) => {
            shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let attempts = job.attempts + 1;
            let retry_at = match &failure {
                JobFailure::Permanent(_) => None,
                // The job's own attempt limit wins (an embedder may enqueue with another).
                JobFailure::Retry(_) => RetryPolicy {
                    max_attempts: job.max_attempts,
                    ..shared.retry.clone()
                }
                .delay_after(attempts)
                .map(|d| {
                    now + SignedDuration::try_from(d).unwrap_or(SignedDuration::from_secs(60))
                }),
            };
            tracing::warn!(job_id = %job.id, kind = %job.kind, attempts, error = %failure,
                will_retry = retry_at.is_some(), "job failed");
            if retry_at.is_none() {
                shared
                    .core
                    .metrics()
                    .job_failed(shared.handler.queue().as_str());
            }
            storage
                .fail(job.id, &failure.to_string(), retry_at, now)
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(job_id = %job.id, error = %e, "recording the job outcome failed; its lease will expire");
    }
}

#[cfg(test)]
mod tests {
    use actix::{Supervisor, System};
    use async_trait::async_trait;
    use cctv_admin::AdminBuilder;
    use cctv_core::jobs::{JobState, NewJob, Queue};
    use serde_json::{Value, json};

    use super::*;

    /// Panics on its first call, succeeds afterwards.
    #[derive(Debug, Default)]
    struct PanicsOnce(AtomicUsize);

    #[async_trait]
    impl JobHandler for PanicsOnce {
        fn queue(&self) -> cctv_core::jobs::Queue {
            Queue::Reports
        }

        async fn handle(&self, _job: &ClaimedJob) -> Result<Value, JobFailure> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("injected handler panic");
            }
            Ok(json!({"ok": true}))
        }
    }

    /// Sleeps `0` per call and counts calls.
    #[derive(Debug)]
    struct Slow(Duration, AtomicUsize);

    #[async_trait]
    impl JobHandler for Slow {
        fn queue(&self) -> cctv_core::jobs::Queue {
            Queue::Reports
        }

        async fn handle(&self, _job: &ClaimedJob) -> Result<Value, JobFailure> {
            self.1.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.0).await;
            Ok(json!({"ok": true}))
        }
    }

    async fn sqlite_core(dir: &std::path::Path) -> Core {
        let mut settings = cctv_storage_sqlite::SqliteSettings::new(dir.join("cctv.db"));
        settings.fsync_every_commit = false;
        let store = cctv_storage_sqlite::SqliteStore::open(&settings)
            .await
            .unwrap();
        Core::builder()
            .full_storage(Arc::new(store))
            .build()
            .await
            .unwrap()
    }

    fn shared(
        core: &Core,
        handler: Arc<dyn JobHandler>,
        lease: SignedDuration,
    ) -> Arc<QueueWorkerShared> {
        Arc::new(QueueWorkerShared {
            core: core.clone(),
            handler,
            runtime: tokio::runtime::Handle::current(),
            node_id: "test".into(),
            lease,
            poll_interval: Duration::from_millis(20),
            retry: RetryPolicy {
                backoff: vec![Duration::ZERO],
                max_attempts: 3,
            },
            stats: Arc::new(QueueWorkerStats::default()),
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_running_longer_than_its_lease_is_not_claimed_again_while_its_worker_heartbeats()
    {
        let dir = tempfile::tempdir().unwrap();
        let core = sqlite_core(dir.path()).await;
        let lease = SignedDuration::from_millis(300);
        // The run takes five leases.
        let handler = Arc::new(Slow(Duration::from_millis(1500), AtomicUsize::new(0)));
        let running = NewJob::new(Queue::Reports, "long", json!({}), Timestamp::now());
        core.storage()
            .enqueue(std::slice::from_ref(&running))
            .await
            .unwrap();
        let shared = shared(&core, handler.clone(), lease);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = System::new();
            system.block_on(async move {
                let addr = Supervisor::start(move |_| QueueWorker::new(shared));
                let _ = tx.send((addr, System::current()));
            });
            system.run().ok();
        });
        let (_addr, system) = rx.recv().unwrap();
        while handler.1.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A worker that died right after claiming: its job is never extended.
        let orphan = NewJob::new(Queue::Reports, "long", json!({}), Timestamp::now());
        core.storage()
            .enqueue(std::slice::from_ref(&orphan))
            .await
            .unwrap();
        let dead = Lease {
            owner: "dead-node".into(),
            until: Timestamp::now() + lease,
        };
        let got = core
            .storage()
            .claim(Queue::Reports, &dead, 10, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(
            got.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![orphan.id]
        );

        // Another node looks for work every 50 ms while the long job runs.
        let other = |now: Timestamp| Lease {
            owner: "other-node".into(),
            until: now + SignedDuration::from_secs(60),
        };
        let mut taken = Vec::new();
        let mut state = JobState::Queued;
        for _ in 0..100 {
            let now = Timestamp::now();
            let claimed = core
                .storage()
                .claim(Queue::Reports, &other(now), 10, now)
                .await
                .unwrap();
            taken.extend(claimed.iter().map(|j| j.id));
            state = core.storage().job(running.id).await.unwrap().unwrap().state;
            if state == JobState::Completed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        system.stop();
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;

        assert_eq!(state, JobState::Completed);
        assert_eq!(
            taken,
            vec![orphan.id],
            "the orphan is claimed again once its lease ends; the heartbeating job never is"
        );
        assert_eq!(handler.1.load(Ordering::SeqCst), 1, "the long job ran once");
        let record = core.storage().job(running.id).await.unwrap().unwrap();
        assert_eq!(record.attempts, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_handler_fails_the_attempt_and_the_supervisor_restarts_the_worker() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = cctv_storage_sqlite::SqliteSettings::new(dir.path().join("cctv.db"));
        settings.fsync_every_commit = false;
        let store = cctv_storage_sqlite::SqliteStore::open(&settings)
            .await
            .unwrap();
        let core = Core::builder()
            .full_storage(Arc::new(store))
            .build()
            .await
            .unwrap();
        let job = NewJob::new(Queue::Reports, "anything", json!({}), Timestamp::now());
        core.storage()
            .enqueue(std::slice::from_ref(&job))
            .await
            .unwrap();
        let stats = Arc::new(QueueWorkerStats::default());
        let shared = Arc::new(QueueWorkerShared {
            core: core.clone(),
            handler: Arc::new(PanicsOnce::default()),
            runtime: tokio::runtime::Handle::current(),
            node_id: "test".into(),
            lease: SignedDuration::from_secs(60),
            poll_interval: Duration::from_millis(20),
            retry: RetryPolicy {
                backoff: vec![Duration::ZERO],
                max_attempts: 3,
            },
            stats: stats.clone(),
            stopping: Arc::new(AtomicBool::new(false)),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = System::new();
            system.block_on(async move {
                let addr = Supervisor::start(move |_| QueueWorker::new(shared));
                let _ = tx.send((addr, System::current()));
            });
            system.run().ok();
        });
        let (_addr, system) = rx.recv().unwrap();

        let mut state = JobState::Queued;
        for _ in 0..250 {
            state = core.storage().job(job.id).await.unwrap().unwrap().state;
            if state == JobState::Completed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        system.stop();
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;

        assert_eq!(
            state,
            JobState::Completed,
            "the retry after the panic completed"
        );
        let record = core.storage().job(job.id).await.unwrap().unwrap();
        assert_eq!(record.attempts, 2, "the panicking attempt counts");
        assert_eq!(stats.restarts.load(Ordering::SeqCst), 1);
        assert_eq!(stats.failed_attempts.load(Ordering::SeqCst), 1);
    }
}
