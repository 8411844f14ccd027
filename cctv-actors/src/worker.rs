//! Detection workers: supervised actors that apply batches of detections.
//!
//! Each worker loops: take a batch from memory (topped up, once per poll interval, with
//! due jobs claimed from the database), apply it in one transaction, publish
//! `detection_update` events, repeat. A failed batch
//! is retried job by job so one bad job cannot hold back the others; a job that keeps
//! failing follows the detection retry schedule and ends in failed jobs with its error.
//!
//! actix restarts a supervised actor only when it *stops*, not when it panics, so every
//! step that runs our code or a plugin's is wrapped: a panic stops the actor, its batch
//! goes back to the front of the queue, and the supervisor starts it again. A panicked
//! batch comes back in halves, halved again at each panic, until the job that panics is
//! alone: it then counts a failed attempt and leaves memory for the retry schedule, so a
//! job that always panics ends in failed jobs instead of restarting the worker forever.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Supervised,
    WrapFuture,
};
use cctv_core::Core;
use cctv_core::detection::DetectionJob;
use cctv_core::events::{Event, EventKind};
use cctv_core::jobs::{JobId, Lease, Queue, RetryPolicy};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{DetectionOutcome, ProcessedDetection, StorageError};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::ready::{ReadyQueue, WorkItem};

/// Called with a batch's jobs before it is applied (tests inject faults here).
pub type BatchHook = Arc<dyn Fn(&[PreparedDetection]) + Send + Sync>;

/// Counters shared by all workers, for monitoring and tests.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub processed: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub restarts: AtomicU64,
    /// Workers currently applying a batch.
    pub busy: AtomicUsize,
}

pub(crate) struct WorkerShared {
    pub core: Core,
    pub ready: Arc<ReadyQueue>,
    pub runtime: tokio::runtime::Handle,
    pub node_id: String,
    pub lease: SignedDuration,
    pub batch_size: usize,
    /// Below this many ready detections, wait up to `batch_wait` for more: fewer, larger
    /// transactions write far fewer pages per detection.
    pub min_batch: usize,
    pub batch_wait: Duration,
    pub poll_interval: Duration,
    pub retry: RetryPolicy,
    pub stats: Arc<WorkerStats>,
    pub stopping: Arc<AtomicBool>,
    pub before_batch: Option<BatchHook>,
    /// Unix millis of the last database poll by any worker.
    pub last_poll: AtomicU64,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pull;

pub(crate) struct DetectionWorker {
    shared: Arc<WorkerShared>,
    /// The batch being applied, put back in the queue if the worker dies. The batch task
    /// holds its lock while it runs and releases it when it ends, panics included.
    in_flight: Arc<tokio::sync::Mutex<InFlight>>,
    /// A batch is under way (counted in [`WorkerStats::busy`]).
    in_flight_busy: bool,
    /// This pull already waited for a fuller batch.
    waited: bool,
    /// What the last batch's panic said, for the failure it records.
    last_panic: Option<String>,
}

/// The batch a worker is applying, prepared for the store, with each job's attempts.
/// It is kept between batches, so its buffers are reused rather than allocated anew. A
/// batch whose task was cancelled stays in it and goes out with the next one.
#[derive(Default)]
pub(crate) struct InFlight {
    prepared: Vec<PreparedDetection>,
    attempts: Vec<u32>,
    /// The batch is one job back from a batch that panicked: if it panics too, it is the
    /// culprit.
    isolated: bool,
}

impl InFlight {
    fn fill(&mut self, items: Vec<WorkItem>, tz: &jiff::tz::TimeZone) {
        for w in items {
            self.attempts.push(w.attempts);
            self.prepared.push(PreparedDetection::new(w.job, tz));
        }
    }

    fn clear(&mut self) {
        self.prepared.clear();
        self.attempts.clear();
    }

    /// Empties the slot, giving its jobs back as work items (a worker restarting).
    fn take_back(&mut self) -> Vec<WorkItem> {
        self.prepared
            .drain(..)
            .zip(self.attempts.drain(..))
            .map(|(p, attempts)| WorkItem::new(p.job, attempts))
            .collect()
    }
}

impl DetectionWorker {
    pub(crate) fn new(shared: Arc<WorkerShared>) -> Self {
        Self {
            shared,
            in_flight: Arc::default(),
            in_flight_busy: false,
            waited: false,
            last_panic: None,
        }
    }

    fn schedule(&self, ctx: &mut Context<Self>, after: Option<Duration>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        match after {
            None => ctx.notify(Pull),
            Some(d) => {
                ctx.notify_later(Pull, d);
            }
        }
    }

    fn poll_due(&self) -> bool {
        let now = Timestamp::now().as_millisecond() as u64;
        let last = self.shared.last_poll.load(Ordering::Acquire);
        now.saturating_sub(last) >= self.shared.poll_interval.as_millis() as u64
            && self
                .shared
                .last_poll
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}

impl Actor for DetectionWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule(ctx, None);
    }
}

impl Supervised for DetectionWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
        // The task that panicked has ended, so the lock is free. Were it not, the batch
        // would stay in the slot and go out with the next one (processing is idempotent).
        let (batch, isolated) = match self.in_flight.try_lock() {
            Ok(mut slot) => (slot.take_back(), std::mem::take(&mut slot.isolated)),
            Err(_) => (Vec::new(), false),
        };
        if self.in_flight_busy {
            self.in_flight_busy = false;
            self.shared.stats.busy.fetch_sub(1, Ordering::AcqRel);
        }
        let panic = self
            .last_panic
            .take()
            .unwrap_or_else(|| "unknown panic".into());
        match batch.as_slice() {
            [] => tracing::warn!("detection worker restarting"),
            [culprit] if isolated => {
                // It panicked alone: count the attempt and leave it to the retry
                // schedule, in storage, rather than run it again at once.
                let (shared, job_id, tried) =
                    (self.shared.clone(), culprit.job.job_id, culprit.attempts);
                tracing::warn!(%job_id, "detection worker restarting; the job that panicked is retried later");
                self.shared.runtime.spawn(async move {
                    let error = format!("detection worker panicked: {panic}");
                    if let Err(e) = record_failure(&shared, job_id, tried, &error).await {
                        tracing::warn!(%job_id, error = %e, "recording a panicked detection job failed; its lease will expire");
                    }
                });
            }
            _ => {
                tracing::warn!(
                    requeued = batch.len(),
                    "detection worker restarting; its batch is applied again in halves"
                );
                self.shared.ready.requeue_front(batch);
            }
        }
    }
}

impl Handler<Pull> for DetectionWorker {
    type Result = ();

    fn handle(&mut self, _: Pull, ctx: &mut Context<Self>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let ready = shared.ready.len();
        if ready > 0 && ready < shared.min_batch && !self.waited {
            self.waited = true;
            return self.schedule(ctx, Some(shared.batch_wait));
        }
        self.waited = false;
        let batch = shared.ready.take(shared.batch_size);
        let after_panic = batch.first().is_some_and(|w| w.after_panic > 0);
        let isolated = after_panic && batch.len() == 1;
        // A batch already full from memory does not poll: claiming would add nothing to
        // it (one job) yet cost the writer up to 300 ms under overload (the intake's
        // writer is busy with accepts). Jobs waiting in the database are claimed by the
        // first batch memory does not fill. Jobs back from a panic go without others.
        let claim = batch.is_empty()
            || (!after_panic && batch.len() < shared.batch_size && self.poll_due());
        if batch.is_empty() && !claim {
            return self.schedule(ctx, Some(Duration::from_millis(50)));
        }
        self.shared.stats.busy.fetch_add(1, Ordering::AcqRel);
        self.in_flight_busy = true;
        let in_flight = self.in_flight.clone();
        let work = async move {
            let runtime = shared.runtime.clone();
            let job = runtime.spawn(async move {
                // Held until the task ends; a panic releases it with the batch inside.
                let mut slot = in_flight.lock().await;
                let tz = shared.core.timezone().clone();
                slot.isolated = isolated;
                slot.fill(batch, &tz);
                if claim {
                    let room = shared.batch_size.saturating_sub(slot.prepared.len()).max(1);
                    slot.fill(claim_from_store(&shared, room).await, &tz);
                }
                if slot.prepared.is_empty() {
                    drop(slot);
                    // Nothing anywhere: wait for a hand-off or the next poll.
                    let _ =
                        tokio::time::timeout(shared.poll_interval, shared.ready.notify.notified())
                            .await;
                    return Ok(0);
                }
                let settled = apply(&shared, &slot).await;
                slot.clear();
                slot.isolated = false;
                settled
            });
            job.await
        };
        ctx.wait(work.into_actor(self).map(|joined, act, ctx| {
            let finished = catch_unwind(AssertUnwindSafe(|| match joined {
                Ok(Ok(done)) => {
                    act.shared.stats.processed.fetch_add(done as u64, Ordering::Relaxed);
                    true
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "detection batch could not be settled; it stays queued");
                    true
                }
                Err(e) if e.is_panic() => {
                    act.last_panic = Some(panic_message(e.into_panic().as_ref()));
                    false
                }
                Err(e) => {
                    tracing::error!(error = %e, "detection batch task was cancelled");
                    true
                }
            }))
            .unwrap_or(false);
            if finished {
                act.in_flight_busy = false;
                act.shared.stats.busy.fetch_sub(1, Ordering::AcqRel);
                act.schedule(ctx, None);
            } else {
                // The batch panicked: stop so that the supervisor restarts this worker,
                // which puts the batch back in the queue.
                tracing::error!("detection worker panicked; restarting it");
                ctx.stop();
            }
        }));
    }
}

/// Most jobs claimed from the database at once. A claim's payloads come back as parsed
/// JSON maps (several times the size of the job they become); claiming a whole batch
/// (8,192) at once held them all together, at the end of an overload (when the
/// detections that did not fit in memory are claimed).
const CLAIM_CHUNK: usize = 1_024;

/// Claims up to `limit` due detection jobs from the database (after a restart, a retry
/// delay, or when the in-memory queue was full at commit time), [`CLAIM_CHUNK`] at a time.
async fn claim_from_store(shared: &WorkerShared, limit: usize) -> Vec<WorkItem> {
    let now = Timestamp::now();
    let lease = Lease {
        owner: shared.node_id.clone(),
        until: now + shared.lease,
    };
    let mut items = Vec::new();
    let mut claimed = 0;
    while claimed < limit {
        let ask = (limit - claimed).min(CLAIM_CHUNK);
        let got = claim_chunk(shared, &lease, ask, now, &mut items).await;
        claimed += got;
        if got < ask {
            break;
        }
    }
    items
}

/// One claim of up to `limit` jobs, read into `items`; how many were claimed (jobs whose
/// payload cannot be read are failed at once and counted too).
async fn claim_chunk(
    shared: &WorkerShared,
    lease: &Lease,
    limit: usize,
    now: Timestamp,
    items: &mut Vec<WorkItem>,
) -> usize {
    let claimed = match shared
        .core
        .storage()
        .claim(Queue::Detections, lease, limit, now)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "claiming detection jobs failed");
            return 0;
        }
    };
    let count = claimed.len();
    items.reserve(count);
    for c in claimed {
        match serde_json::from_value::<DetectionJob>(c.payload) {
            Ok(job) => items.push(WorkItem::new(job, c.attempts)),
            Err(e) => {
                // A payload that cannot be read will never succeed: fail it at once.
                let _ = shared
                    .core
                    .storage()
                    .fail(c.id, &format!("unreadable payload: {e}"), None, now)
                    .await;
            }
        }
    }
    count
}

/// Applies a batch; on failure retries job by job. Returns how many jobs settled.
async fn apply(shared: &WorkerShared, batch: &InFlight) -> Result<usize, StorageError> {
    let InFlight {
        prepared, attempts, ..
    } = batch;
    if let Some(hook) = &shared.before_batch {
        hook(prepared);
    }
    let started = std::time::Instant::now();
    let outcome = shared
        .core
        .storage()
        .process_detections(prepared, Timestamp::now())
        .await;
    tracing::debug!(
        batch = prepared.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "detection batch"
    );
    match outcome {
        Ok(results) => {
            publish(shared, prepared, &results);
            Ok(results.len())
        }
        Err(batch_error) if prepared.len() == 1 => {
            record_failure(shared, prepared[0].job.job_id, attempts[0], &batch_error).await?;
            Ok(1)
        }
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, size = prepared.len(), "batch failed; retrying its jobs one by one");
            for (one, tried) in prepared.iter().zip(attempts) {
                let single = std::slice::from_ref(one);
                match shared
                    .core
                    .storage()
                    .process_detections(single, Timestamp::now())
                    .await
                {
                    Ok(results) => publish(shared, single, &results),
                    Err(e) => record_failure(shared, one.job.job_id, *tried, &e).await?,
                }
            }
            Ok(prepared.len())
        }
    }
}

/// Records a failed attempt of a job that had `tried` attempts before this one.
async fn record_failure(
    shared: &WorkerShared,
    job_id: JobId,
    tried: u32,
    error: &(dyn std::fmt::Display + Sync),
) -> Result<(), StorageError> {
    shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
    let attempts = tried + 1;
    let now = Timestamp::now();
    let retry_at = shared
        .retry
        .delay_after(attempts)
        .map(|d| now + SignedDuration::try_from(d).unwrap_or(SignedDuration::from_secs(60)));
    tracing::warn!(%job_id, attempts, error = %error, will_retry = retry_at.is_some(), "detection job failed");
    if retry_at.is_none() {
        shared.core.metrics().job_failed("detections");
    }
    shared
        .core
        .storage()
        .fail(job_id, &error.to_string(), retry_at, now)
        .await
}

fn publish(shared: &WorkerShared, prepared: &[PreparedDetection], results: &[ProcessedDetection]) {
    let events = shared.core.events();
    let processed = results
        .iter()
        .filter(|r| r.outcome != DetectionOutcome::AlreadyProcessed)
        .count();
    shared.core.metrics().detections_processed(processed as u64);
    // An event per detection costs a JSON document each: none when nobody listens.
    if !events.has_listeners() {
        return;
    }
    let at = Timestamp::now();
    let by_id: std::collections::HashMap<JobId, &PreparedDetection> =
        prepared.iter().map(|p| (p.job.job_id, p)).collect();
    for result in results {
        if result.outcome == DetectionOutcome::AlreadyProcessed {
            continue;
        }
        let Some(detection) = by_id.get(&result.job_id) else {
            continue;
        };
        let job = &detection.job;
        events.publish(Event {
            kind: EventKind::DetectionUpdate,
            branch_id: Some(job.branch_id),
            data: json!({
                "job_id": job.job_id,
                "re_id": job.re_id,
                "branch_id": job.branch_id,
                "device_id": job.device_id,
                "detected_count": job.detected_count,
                "detected_at": job.detected_at,
                "detection_date": detection.date,
                "outcome": result.outcome,
            }),
            at,
        });
    }
}

/// The message a panic carried (`panic!` with a literal or a formatted string).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
