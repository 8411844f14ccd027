//! The ingest batcher: group commit of accepted detections.
//!
//! Submissions queue in the actor while one commit is in flight; when it returns, all that
//! queued meanwhile are committed together. Under light load a commit holds one detection
//! (low latency); under heavy load it holds hundreds (one fsync for all of them).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, Supervised, WrapFuture,
};
use async_trait::async_trait;
use cctv_core::Core;
use cctv_core::detection::DetectionJob;
use cctv_core::ingest::{IngestError, IngestSink, Submitted};
use cctv_core::jobs::{JobId, Lease};
use cctv_core::storage::{AcceptItem, AcceptOutcome};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;

use crate::ready::{ReadyQueue, WorkItem};

type Reply = oneshot::Sender<Result<Submitted, IngestError>>;

/// Longest a submission is held while the in-memory queue is full.
const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a held batch looks for room.
const ROOM_POLL: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit {
    pub job: DetectionJob,
    pub reply: Reply,
}

pub(crate) struct IngestBatcher {
    core: Core,
    ready: Arc<ReadyQueue>,
    runtime: tokio::runtime::Handle,
    node_id: String,
    lease: SignedDuration,
    max_batch: usize,
    mailbox: usize,
    pending: Vec<(DetectionJob, Reply)>,
    flushing: bool,
    /// Fewer pending than this: wait up to `linger` for more before committing.
    min_batch: usize,
    linger: std::time::Duration,
    /// A lingering flush is scheduled.
    lingering: bool,
    /// Since when the in-memory queue has had no room (backpressure, see `commit`).
    full_since: Option<std::time::Instant>,
    /// Submissions accepted by the actor but not answered yet (for graceful shutdown).
    in_flight: Arc<AtomicUsize>,
}

impl IngestBatcher {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: Core,
        ready: Arc<ReadyQueue>,
        runtime: tokio::runtime::Handle,
        node_id: String,
        lease: SignedDuration,
        max_batch: usize,
        mailbox: usize,
        in_flight: Arc<AtomicUsize>,
        (min_batch, linger): (usize, std::time::Duration),
    ) -> Self {
        Self {
            core,
            ready,
            runtime,
            node_id,
            lease,
            max_batch,
            mailbox,
            pending: Vec::new(),
            flushing: false,
            min_batch,
            linger,
            lingering: false,
            full_since: None,
            in_flight,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() || self.lingering {
            return;
        }
        if self.pending.len() < self.min_batch && !self.linger.is_zero() {
            // Under load a short wait fills the commit; alone, a request waits `linger` at most.
            self.lingering = true;
            ctx.run_later(self.linger, |act, ctx| {
                act.lingering = false;
                act.commit(ctx);
            });
            return;
        }
        self.commit(ctx);
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        // Backpressure: while the workers' in-memory queue is full, hold submissions (their
        // requests wait) instead of committing jobs that would have to be written to the
        // database queue a second time and claimed back, which slows processing further.
        // After HOLD_AT_MOST the batch is committed anyway, to the database queue.
        let room = self.ready.room();
        if room == 0 {
            let since = *self.full_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < HOLD_AT_MOST {
                self.lingering = true;
                ctx.run_later(ROOM_POLL, |act, ctx| {
                    act.lingering = false;
                    act.commit(ctx);
                });
                return;
            }
        } else {
            self.full_since = None;
        }
        self.flushing = true;
        let fits = if room == 0 { self.max_batch } else { room };
        let take = self.pending.len().min(self.max_batch).min(fits);
        let batch: Vec<(DetectionJob, Reply)> = self.pending.drain(..take).collect();

        // One row per (credential, key): later copies in the same batch answer with the
        // first one's job id (a conflict when their fingerprint differs).
        let mut first_of: HashMap<(i64, String), usize> = HashMap::new();
        let mut unique: Vec<(DetectionJob, Reply)> = Vec::with_capacity(batch.len());
        let mut copies: Vec<(usize, Option<String>, Reply)> = Vec::new();
        for (job, reply) in batch {
            if let Some(key) = job.dedup_key().map(|k| (job.credential_id.unwrap_or(0), k)) {
                if let Some(first) = first_of.get(&key) {
                    copies.push((*first, job.request_hash, reply));
                    continue;
                }
                first_of.insert(key, unique.len());
            }
            unique.push((job, reply));
        }

        let now = Timestamp::now();
        let reserved = self.ready.try_reserve(unique.len());
        let lease = Lease {
            owner: self.node_id.clone(),
            until: now + self.lease,
        };
        // The jobs move into the storage task and come back with its answer (no copy).
        let (jobs, replies): (Vec<DetectionJob>, Vec<Reply>) = unique.into_iter().unzip();
        let items: Vec<AcceptItem> = jobs
            .into_iter()
            .enumerate()
            .map(|(i, job)| AcceptItem {
                job,
                lease: (i < reserved).then(|| lease.clone()),
            })
            .collect();
        let storage = self.core.storage().clone();
        let work = self.runtime.spawn(async move {
            let started = std::time::Instant::now();
            let result = storage.accept_detections(&items, now).await;
            tracing::debug!(
                batch = items.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "accept commit"
            );
            (result, items)
        });
        let fut = work.into_actor(self).map(move |joined, act, ctx| {
            let outcome = match joined {
                Ok((Ok(outcomes), items)) => Ok((outcomes, items)),
                Ok((Err(e), _)) => Err(IngestError::Unavailable(e.to_string())),
                Err(e) => Err(IngestError::Unavailable(format!("ingest task failed: {e}"))),
            };
            let answered = replies.len() + copies.len();
            match outcome {
                Ok((outcomes, items)) => {
                    let resolved: Vec<JobId> = items
                        .iter()
                        .zip(&outcomes)
                        .map(|(item, o)| o.job_id(item))
                        .collect();
                    // What a copy is compared with: the stored original's fingerprint.
                    let originals: Vec<Option<String>> = items
                        .iter()
                        .zip(&outcomes)
                        .map(|(item, o)| match o {
                            AcceptOutcome::Accepted => item.job.request_hash.clone(),
                            AcceptOutcome::Duplicate { request_hash, .. } => request_hash.clone(),
                        })
                        .collect();
                    let mut to_memory = Vec::with_capacity(reserved);
                    for ((item, reply), (outcome, job_id)) in items.into_iter().zip(replies).zip(outcomes.into_iter().zip(&resolved)) {
                        let duplicate = outcome != AcceptOutcome::Accepted;
                        let conflict = outcome.is_conflict(&item);
                        if !duplicate && item.lease.is_some() {
                            to_memory.push(WorkItem { job: item.job, attempts: 0 });
                        }
                        let _ = reply.send(Ok(Submitted { job_id: *job_id, duplicate, conflict }));
                    }
                    act.ready.unreserve(reserved - to_memory.len());
                    act.ready.push_reserved(to_memory);
                    for (first, hash, reply) in copies {
                        let conflict = matches!((&originals[first], &hash), (Some(a), Some(b)) if a != b);
                        let _ = reply.send(Ok(Submitted { job_id: resolved[first], duplicate: true, conflict }));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = answered, "committing a detection batch failed");
                    act.ready.unreserve(reserved);
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                    for (_, _, reply) in copies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            act.in_flight.fetch_sub(answered, Ordering::AcqRel);
            act.flushing = false;
            act.flush(ctx);
        });
        ctx.spawn(fut);
    }
}

impl Actor for IngestBatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Also after a restart by the supervisor.
        ctx.set_mailbox_capacity(self.mailbox);
        self.flush(ctx);
    }
}

impl Supervised for IngestBatcher {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // A flush that was in flight answered (or dropped) its own replies.
        self.flushing = false;
        self.lingering = false;
        tracing::warn!("ingest batcher restarting");
    }
}

impl Handler<Submit> for IngestBatcher {
    type Result = ();

    fn handle(&mut self, msg: Submit, ctx: &mut Context<Self>) {
        self.pending.push((msg.job, msg.reply));
        self.flush(ctx);
    }
}

/// The [`IngestSink`] that callers hold: hides the actor behind the core trait.
#[derive(Clone)]
pub struct IngestHandle {
    pub(crate) addr: actix::Addr<IngestBatcher>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) closing: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle")
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

#[async_trait]
impl IngestSink for IngestHandle {
    async fn submit(&self, job: DetectionJob) -> Result<Submitted, IngestError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let (reply, answer) = oneshot::channel();
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.addr.try_send(Submit { job, reply }) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(match e {
                actix::prelude::SendError::Full(_) => IngestError::Overloaded,
                actix::prelude::SendError::Closed(_) => {
                    IngestError::Unavailable("ingest batcher stopped".into())
                }
            });
        }
        answer.await.unwrap_or_else(|_| {
            Err(IngestError::Unavailable(
                "ingest batcher dropped the request".into(),
            ))
        })
    }
}
