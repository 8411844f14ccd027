//! The ingest batcher: group commit of accepted detections.
//!
//! Submissions queue in the actor while a commit is in flight; when it returns, all that
//! queued meanwhile are committed together. With `accept_commits` above one (a server
//! database), that many commits run at once. Under light load a commit holds one detection
//! (low latency); under heavy load it holds hundreds (one fsync for all of them).
//!
//! A batch upload ([`IngestSink::submit_many`]) is one submission: it is never split
//! between commits, so it is stored all or nothing and answered by one message.
//!
//! Submissions reach the actor through a shared [`inbox`], not as messages: the actor's
//! thread is woken only when the batcher waits for work.

mod inbox;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Supervised, WrapFuture};
use async_trait::async_trait;
use cctv_core::Core;
use cctv_core::detection::DetectionJob;
use cctv_core::ingest::{IngestError, IngestSink, Submitted};
use cctv_core::jobs::Lease;
use cctv_core::storage::{AcceptItem, AcceptOutcome};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;

use crate::ready::{ReadyQueue, WorkItem};
pub(crate) use inbox::Inbox;
use inbox::{Pushed, Wake};

type OneReply = oneshot::Sender<Result<Submitted, IngestError>>;
type ManyReply = oneshot::Sender<Result<Vec<Submitted>, IngestError>>;

/// Who waits for a submission's answer.
enum Reply {
    One(OneReply),
    Many(ManyReply),
}

impl Reply {
    /// Sends the answers of the submission's jobs, in order.
    fn send(self, answers: Result<Vec<Submitted>, IngestError>) {
        match self {
            Self::One(tx) => {
                let one = answers.and_then(|a| {
                    a.into_iter().next().ok_or_else(|| {
                        IngestError::Unavailable("the commit answered nothing".into())
                    })
                });
                let _ = tx.send(one);
            }
            Self::Many(tx) => {
                let _ = tx.send(answers);
            }
        }
    }
}

/// A submission waiting for its commit: one detection, or a whole batch upload.
struct Pending {
    jobs: Vec<DetectionJob>,
    reply: Reply,
}

/// How a committed job is answered: by its own stored row (an index into the unique jobs),
/// or as a copy of an earlier job of the same commit with the same key (its fingerprint is
/// compared with the original's).
enum Answer {
    Stored(usize),
    CopyOf(usize, Option<String>),
}

/// Longest a submission is held while the in-memory queue is full.
const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);
/// How often a held batch looks for room.
const ROOM_POLL: std::time::Duration = std::time::Duration::from_millis(2);

pub(crate) struct IngestBatcher {
    core: Core,
    ready: Arc<ReadyQueue>,
    runtime: tokio::runtime::Handle,
    node_id: String,
    lease: SignedDuration,
    max_batch: usize,
    /// Where submissions arrive (shared with every [`IngestHandle`]).
    inbox: Arc<Inbox>,
    pending: Vec<Pending>,
    /// Jobs in `pending` (a batch upload holds many).
    pending_jobs: usize,
    /// Commits under way, and how many may be.
    committing: usize,
    max_commits: usize,
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
        inbox: Arc<Inbox>,
        in_flight: Arc<AtomicUsize>,
        (min_batch, linger): (usize, std::time::Duration),
        max_commits: usize,
    ) -> Self {
        Self {
            core,
            ready,
            runtime,
            node_id,
            lease,
            max_batch,
            inbox,
            pending: Vec::new(),
            pending_jobs: 0,
            committing: 0,
            max_commits,
            min_batch,
            linger,
            lingering: false,
            full_since: None,
            in_flight,
        }
    }

    /// One turn of the batcher: takes what waits in the inbox, commits what it can, and
    /// ends either with what arrived meanwhile committed too or idle (see [`inbox`]).
    fn turn(&mut self, ctx: &mut Context<Self>) {
        let mut arrived = self.inbox.take();
        loop {
            self.receive(arrived);
            self.flush(ctx);
            arrived = self.inbox.settle(self.ready_to_commit());
            if arrived.is_empty() {
                return;
            }
        }
    }

    /// A timer's turn: commits what is pending now, however little (the linger or the
    /// wait for room is over), then goes on like any turn.
    fn timed_turn(&mut self, ctx: &mut Context<Self>) {
        self.lingering = false;
        self.receive(self.inbox.take());
        self.commit(ctx);
        self.turn(ctx);
    }

    /// A commit could start now: a slot is free and no timer holds the batch back.
    fn ready_to_commit(&self) -> bool {
        self.committing < self.max_commits && !self.lingering
    }

    fn receive(&mut self, arrived: Vec<Pending>) {
        for p in arrived {
            self.pending_jobs += p.jobs.len();
            self.pending.push(p);
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.committing >= self.max_commits || self.pending.is_empty() || self.lingering {
            return;
        }
        if self.pending_jobs < self.min_batch && !self.linger.is_zero() {
            // Under load a short wait fills the commit; alone, a request waits `linger` at most.
            self.lingering = true;
            ctx.run_later(self.linger, |act, ctx| act.timed_turn(ctx));
            return;
        }
        // Every free commit slot takes what is pending (a commit may take only part of a
        // backlog: `max_batch`, or the room left in memory).
        while self.committing < self.max_commits && !self.pending.is_empty() && !self.lingering {
            let before = self.committing;
            self.commit(ctx);
            if self.committing == before {
                break;
            }
        }
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        if self.committing >= self.max_commits || self.pending.is_empty() {
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
                ctx.run_later(ROOM_POLL, |act, ctx| act.timed_turn(ctx));
                return;
            }
        } else {
            self.full_since = None;
        }
        self.committing += 1;
        let fits = if room == 0 { self.max_batch } else { room };
        let limit = self.max_batch.min(fits);
        // Whole submissions only, at least one: a batch upload larger than the limit is
        // still one commit, so that it is stored all or nothing.
        let (mut take, mut taken_jobs) = (0, 0);
        for p in &self.pending {
            if take > 0 && taken_jobs + p.jobs.len() > limit {
                break;
            }
            take += 1;
            taken_jobs += p.jobs.len();
        }
        self.pending_jobs -= taken_jobs;
        let mut replies: Vec<(Reply, usize)> = Vec::with_capacity(take);
        let mut jobs: Vec<DetectionJob> = Vec::with_capacity(taken_jobs);
        for p in self.pending.drain(..take) {
            replies.push((p.reply, p.jobs.len()));
            jobs.extend(p.jobs);
        }

        // One row per (credential, key): later copies in the same commit answer with the
        // first one's job id (a conflict when their fingerprint differs).
        let mut first_of: HashMap<(i64, String), usize> = HashMap::new();
        let mut unique: Vec<DetectionJob> = Vec::with_capacity(jobs.len());
        let mut plan: Vec<Answer> = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Some(key) = job.dedup_key().map(|k| (job.credential_id.unwrap_or(0), k)) {
                if let Some(first) = first_of.get(&key) {
                    plan.push(Answer::CopyOf(*first, job.request_hash));
                    continue;
                }
                first_of.insert(key, unique.len());
            }
            plan.push(Answer::Stored(unique.len()));
            unique.push(job);
        }

        let now = Timestamp::now();
        let reserved = self.ready.try_reserve(unique.len());
        let lease = Lease {
            owner: self.node_id.clone(),
            until: now + self.lease,
        };
        // The jobs move into the storage task and come back with its answer (no copy).
        let items: Vec<AcceptItem> = unique
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
            match outcome {
                Ok((outcomes, items)) => {
                    act.core.metrics().commit_batch(items.len());
                    let stored: Vec<Submitted> = items
                        .iter()
                        .zip(&outcomes)
                        .map(|(item, o)| Submitted {
                            job_id: o.job_id(item),
                            duplicate: *o != AcceptOutcome::Accepted,
                            conflict: o.is_conflict(item),
                        })
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
                    for (item, outcome) in items.into_iter().zip(outcomes) {
                        if outcome == AcceptOutcome::Accepted && item.lease.is_some() {
                            to_memory.push(WorkItem::new(item.job, 0));
                        }
                    }
                    act.ready.unreserve(reserved - to_memory.len());
                    act.ready.push_reserved(to_memory);
                    let mut answers = plan.into_iter().map(|a| match a {
                        Answer::Stored(u) => stored[u],
                        Answer::CopyOf(first, hash) => Submitted {
                            job_id: stored[first].job_id,
                            duplicate: true,
                            conflict: matches!((&originals[first], &hash), (Some(a), Some(b)) if a != b),
                        },
                    });
                    for (reply, n) in replies {
                        reply.send(Ok(answers.by_ref().take(n).collect()));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, batch = taken_jobs, "committing a detection batch failed");
                    act.ready.unreserve(reserved);
                    for (reply, _) in replies {
                        reply.send(Err(e.clone()));
                    }
                }
            }
            act.in_flight.fetch_sub(taken_jobs, Ordering::AcqRel);
            act.committing -= 1;
            act.turn(ctx);
        });
        ctx.spawn(fut);
    }
}

impl Actor for IngestBatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Also after a restart by the supervisor.
        self.turn(ctx);
    }
}

impl Drop for IngestBatcher {
    /// The batcher is gone for good (the system stopped, or the supervisor gave up):
    /// later submissions are refused, and those still waiting, in the inbox or taken
    /// but not committed, are answered with an error and no longer counted in flight.
    fn drop(&mut self) {
        let dropped: usize = self.inbox.close().iter().map(|p| p.jobs.len()).sum();
        self.in_flight
            .fetch_sub(dropped + self.pending_jobs, Ordering::AcqRel);
    }
}

impl Supervised for IngestBatcher {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // A flush that was in flight answered (or dropped) its own replies.
        self.committing = 0;
        self.lingering = false;
        tracing::warn!("ingest batcher restarting");
    }
}

impl Handler<Wake> for IngestBatcher {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.turn(ctx);
    }
}

/// The [`IngestSink`] that callers hold: hides the actor behind the core trait.
#[derive(Clone)]
pub struct IngestHandle {
    pub(crate) addr: actix::Addr<IngestBatcher>,
    pub(crate) inbox: Arc<Inbox>,
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

impl IngestHandle {
    /// Hands a submission to the batcher without waiting for room: a full inbox is an
    /// overload the client retries.
    fn send(&self, pending: Pending) -> Result<(), IngestError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        let jobs = pending.jobs.len();
        self.in_flight.fetch_add(jobs, Ordering::AcqRel);
        match self.inbox.push(pending) {
            Ok(Pushed::Queued) => Ok(()),
            Ok(Pushed::WakeBatcher) => {
                // A full mailbox holds wake-ups already; a closed one means the actor is
                // gone and its Drop answers what waits (this submission among them).
                let _ = self.addr.try_send(Wake);
                Ok(())
            }
            Err(refused) => {
                self.in_flight.fetch_sub(jobs, Ordering::AcqRel);
                Err(refused)
            }
        }
    }
}

fn dropped() -> IngestError {
    IngestError::Unavailable("ingest batcher dropped the request".into())
}

#[async_trait]
impl IngestSink for IngestHandle {
    async fn submit(&self, job: DetectionJob) -> Result<Submitted, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.send(Pending {
            jobs: vec![job],
            reply: Reply::One(reply),
        })?;
        answer.await.unwrap_or_else(|_| Err(dropped()))
    }

    /// One submission and one commit for the whole batch.
    async fn submit_many(&self, jobs: Vec<DetectionJob>) -> Result<Vec<Submitted>, IngestError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Pending {
            jobs,
            reply: Reply::Many(reply),
        })?;
        answer.await.unwrap_or_else(|_| Err(dropped()))
    }
}
