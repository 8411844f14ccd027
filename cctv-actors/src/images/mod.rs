//! The image worker: a supervised actor that drains the `images` queue.
//!
//! For each job it reads the uploaded blob, runs the core's
//! [`ImageProcessor`](cctv_core::media::ImageProcessor) (a plugin; `cctv-image` in the
//! binary) on a blocking thread (decoding and encoding take 0.2–0.6 s of CPU; on an async executor
//! thread that would stall every request sharing it), stores the watermarked JPEG and the
//! 320×240 thumbnail next to the original, registers both in `storage_files`, and points
//! the event log at them.
//!
//! Failure policy, by what a retry could change:
//! - the image itself is bad (corrupt, truncated, a decompression bomb, unsupported): the
//!   event is marked with the reason (`event_logs.image_error`, its `image_path` cleared so
//!   no page tries to show it) and the job **completes** with
//!   `{"status":"rejected","error":…}` — it did its work, and failed jobs are kept for
//!   faults a retry can fix;
//! - the store or the database is unavailable: the job is retried on the images schedule
//!   (10/30/60 s) and then fails;
//! - the payload or the event is gone: the job fails at once, no retry.
//!
//! Panics: the CPU step runs under `spawn_blocking`, whose panics come back as a
//! `JoinError` (and `process_event_image` catches codec panics itself). Anything else that
//! panics takes down the job task, not the actor; the actor then stops so the `Supervisor`
//! restarts it, and the job's lease expires so it is claimed again (actix does not restart
//! a panicking actor on its own).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Supervised,
    WrapFuture,
};
use cctv_core::Core;
use cctv_core::jobs::{ClaimedJob, Lease, Queue, RetryPolicy};
use jiff::{SignedDuration, Timestamp};

mod job;

/// Called with each claimed job before it is processed (fault injection in tests).
pub type ImageJobHook = Arc<dyn Fn(&ClaimedJob) + Send + Sync>;

/// Tuning of the image worker.
#[derive(Clone)]
pub struct ImageSettings {
    /// Images processed at the same time (each holds a blocking thread and the decoder's
    /// memory).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub before_job: Option<ImageJobHook>,
}

impl Default for ImageSettings {
    fn default() -> Self {
        Self {
            concurrency: 1,
            retry: Queue::Images.default_retry(),
            before_job: None,
        }
    }
}

/// Counters of the image worker, for monitoring and tests.
#[derive(Debug, Default)]
pub struct ImageStats {
    pub processed: AtomicU64,
    pub rejected: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub restarts: AtomicU64,
}

pub(crate) struct ImageShared {
    pub core: Core,
    pub runtime: tokio::runtime::Handle,
    pub node_id: String,
    pub lease: SignedDuration,
    pub poll_interval: Duration,
    pub settings: ImageSettings,
    pub stats: Arc<ImageStats>,
    pub stopping: Arc<AtomicBool>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pull;

pub(crate) struct ImageWorker {
    shared: Arc<ImageShared>,
}

impl ImageWorker {
    pub(crate) fn new(shared: Arc<ImageShared>) -> Self {
        Self { shared }
    }
}

impl Actor for ImageWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(Pull);
    }
}

impl Supervised for ImageWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("image worker restarting; its claimed jobs return when their lease ends");
    }
}

impl Handler<Pull> for ImageWorker {
    type Result = ();

    fn handle(&mut self, _: Pull, ctx: &mut Context<Self>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let task = shared.runtime.spawn(run_once(shared.clone()));
        ctx.wait(task.into_actor(self).map(|joined, act, ctx| {
            let outcome = catch_unwind(AssertUnwindSafe(|| match joined {
                Ok(found) => Some(found),
                Err(e) if e.is_panic() => None,
                Err(_) => Some(0),
            }))
            .unwrap_or(None);
            match outcome {
                Some(_) if act.shared.stopping.load(Ordering::Acquire) => {}
                Some(0) => {
                    ctx.notify_later(Pull, act.shared.poll_interval);
                }
                Some(_) => ctx.notify(Pull),
                None => {
                    tracing::error!("image job task panicked; restarting the image worker");
                    ctx.stop();
                }
            }
        }));
    }
}

/// Claims up to `concurrency` due jobs and processes them concurrently. Returns how many
/// were claimed.
async fn run_once(shared: Arc<ImageShared>) -> usize {
    let now = Timestamp::now();
    let lease = Lease {
        owner: shared.node_id.clone(),
        until: now + shared.lease,
    };
    let jobs = match shared
        .core
        .storage()
        .claim(
            Queue::Images,
            &lease,
            shared.settings.concurrency.max(1),
            now,
        )
        .await
    {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "claiming image jobs failed");
            return 0;
        }
    };
    let found = jobs.len();
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let shared = shared.clone();
        tasks.spawn(async move { job::settle(&shared, job).await });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    found
}
