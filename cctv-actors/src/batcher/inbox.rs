//! Submissions on their way to the batcher, and when to wake it.
//!
//! Each message to an actor wakes the actor's thread if it is parked. Under load a commit
//! is nearly always in flight, and the batcher only looks at new submissions when that
//! commit returns; yet sent as messages, about two of every three detections woke the
//! actor thread for nothing (a write to its runtime's eventfd, a context switch and an
//! `epoll_wait`: 0.64 such writes per detection, `strace`, BENCHMARKS.md session 30).
//!
//! So submitters push here and send the actor a [`Wake`] only when it waits for work
//! ([`Inbox::push`] says when). The batcher takes everything at the start of each turn and,
//! at its end, either takes what arrived meanwhile or declares itself idle, under the same
//! lock ([`Inbox::settle`]): a submission is never left behind unseen.

use std::sync::Mutex;

use actix::Message;
use cctv_core::ingest::IngestError;

use super::Pending;

/// Tells the batcher that its inbox has work.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Wake;

/// Submissions not yet taken by the batcher, bounded.
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// Most submissions waiting here before new ones are refused (`Overloaded`, a 503).
    capacity: usize,
}

struct State {
    waiting: Vec<Pending>,
    /// The batcher waits for work: the next submitter wakes it.
    idle: bool,
    /// The batcher is gone: submissions are refused, not left waiting.
    closed: bool,
}

/// What a successful [`Inbox::push`] asks of the submitter.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// The batcher will see the submission by itself.
    Queued,
    /// The batcher was idle: send it a [`Wake`].
    WakeBatcher,
}

impl Inbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: Vec::new(),
                // Until its first turn the batcher has looked at nothing: wake it.
                idle: true,
                closed: false,
            }),
            capacity: capacity.max(1),
        }
    }

    /// A panic elsewhere while holding the lock leaves the list itself intact.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a submission. A refused one is dropped, which answers its caller with an
    /// error; the reason is returned.
    pub(super) fn push(&self, pending: Pending) -> Result<Pushed, IngestError> {
        let mut state = self.lock();
        if state.closed {
            return Err(IngestError::Unavailable("ingest batcher stopped".into()));
        }
        if state.waiting.len() >= self.capacity {
            return Err(IngestError::Overloaded);
        }
        state.waiting.push(pending);
        Ok(if std::mem::take(&mut state.idle) {
            Pushed::WakeBatcher
        } else {
            Pushed::Queued
        })
    }

    /// Takes every waiting submission, in order of arrival.
    pub(super) fn take(&self) -> Vec<Pending> {
        std::mem::take(&mut self.lock().waiting)
    }

    /// The end of a batcher's turn: what arrived since [`take`](Self::take), if the batcher
    /// can commit now (`ready`); otherwise nothing, and the batcher is idle (woken by the next
    /// submitter) exactly when it is `ready` and nothing waits.
    pub(super) fn settle(&self, ready: bool) -> Vec<Pending> {
        let mut state = self.lock();
        if ready && !state.waiting.is_empty() {
            state.idle = false;
            return std::mem::take(&mut state.waiting);
        }
        // Here either the batcher cannot commit now, or nothing waits.
        state.idle = ready;
        Vec::new()
    }

    /// Refuses every later submission and returns those still waiting (dropping them
    /// answers their callers with an error).
    pub(super) fn close(&self) -> Vec<Pending> {
        let mut state = self.lock();
        state.closed = true;
        state.idle = false;
        std::mem::take(&mut state.waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batcher::Reply;
    use tokio::sync::oneshot::error::TryRecvError;

    type Answer = Result<cctv_core::ingest::Submitted, IngestError>;

    fn pending() -> (Pending, tokio::sync::oneshot::Receiver<Answer>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let p = Pending {
            jobs: Vec::new(),
            reply: Reply::One(tx),
        };
        (p, rx)
    }

    #[test]
    fn only_the_submission_that_finds_the_batcher_idle_wakes_it() {
        let inbox = Inbox::new(8);
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::WakeBatcher));
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::Queued));
        assert_eq!(inbox.take().len(), 2);
        // A commit is in flight (not ready): arrivals wait without waking anyone.
        assert!(inbox.settle(false).is_empty());
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::Queued));
        // The commit returned and can take them: settle hands them over, still not idle.
        assert_eq!(inbox.settle(true).len(), 1);
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::Queued));
        assert_eq!(inbox.settle(true).len(), 1);
        // Nothing left: idle, and the next submitter wakes the batcher once.
        assert!(inbox.settle(true).is_empty());
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::WakeBatcher));
        assert_eq!(inbox.push(pending().0).ok(), Some(Pushed::Queued));
    }

    #[test]
    fn a_full_inbox_refuses_as_overloaded_and_drops_the_submission() {
        let inbox = Inbox::new(2);
        inbox.push(pending().0).ok();
        inbox.push(pending().0).ok();
        let (p, mut rx) = pending();
        let Err(IngestError::Overloaded) = inbox.push(p) else {
            panic!("a third submission must be refused as overloaded");
        };
        assert!(
            matches!(rx.try_recv(), Err(TryRecvError::Closed)),
            "the caller learns its submission was dropped"
        );
        assert_eq!(inbox.take().len(), 2);
        assert!(
            inbox.push(pending().0).is_ok(),
            "room again once the batcher took them"
        );
    }

    #[test]
    fn closing_hands_back_what_waits_and_refuses_the_rest() {
        let inbox = Inbox::new(8);
        inbox.push(pending().0).ok();
        assert_eq!(inbox.close().len(), 1);
        let Err(IngestError::Unavailable(message)) = inbox.push(pending().0) else {
            panic!("a closed inbox must refuse");
        };
        assert!(message.contains("stopped"), "{message}");
    }
}
