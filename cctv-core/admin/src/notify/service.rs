//! The notification service: runs one `notify_detection` job (payload `{"event_log_id"}`).
//!
//! For each recipient of the event's `SendPlan` and each configured channel
//! (`AdminCore::notifiers`), in order:
//! 1. a recipient already settled by an earlier attempt (sent, suppressed, digested, or
//!    refused for good) is skipped: a retry never messages anyone twice;
//! 2. an invalid number fails for good (`invalid_recipient`) without a request;
//! 3. **cooldown** (default 60 s, per branch, recipient and channel): the first event
//!    takes the window atomically and is sent; any other event of that branch inside the
//!    window is *not sent* and recorded `suppressed`. The next message sent to that
//!    recipient after the window carries one extra line, `+N more detection(s) since HH:MM`
//!    (N suppressed events, HH:MM the earliest of them in the configured timezone), and
//!    those rows become `digested`. A burst followed by silence therefore yields one
//!    message, and the burst's size arrives with the next one; nothing is sent on a timer;
//! 4. the notifier's answer is recorded: `Rejected` → failed for good; `Unavailable` →
//!    failed for now, and the job is retried on the notifications schedule
//!    (30/60/120/300/600 s), with only the unsettled recipients; after the last attempt
//!    the job moves to failed jobs with the error.
//!
//! Event webhooks (see [`super::webhook`]) follow the WhatsApp sends: one POST per endpoint,
//! skipped once settled, no cooldown, failures retried or refused as above.
//!
//! Every attempt (and every suppression) is a line of the message log. When something was
//! sent, `event_logs` gets `notification_sent` (and `message_sent` / `image_sent`), and a
//! `notification_update` event is published. All times come from the caller (`now`), so
//! tests drive retries and cooldowns without waiting.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::delivery_log::DeliveryLog;
use cctv_core::Core;
use cctv_core::jobs::{ClaimedJob, Queue, RetryPolicy};
use cctv_core::storage::StorageError;

/// The job kind the detection pipeline enqueues on the `notifications` queue.
pub const JOB_KIND: &str = "notify_detection";

/// Tuning of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettings {
    /// Per (branch, recipient, channel): at most one message per window.
    pub cooldown: Duration,
    /// Waits between attempts; the job's own `max_attempts` also caps the attempts.
    pub retry: RetryPolicy,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(60),
            retry: Queue::Notifications.default_retry(),
        }
    }
}

/// `delay` plus 0–10 % of it, derived from the job id and attempt (reproducible, spread).
pub(crate) fn jittered(delay: Duration, job: &ClaimedJob, attempt: u32) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (job.id, attempt).hash(&mut hasher);
    let per_mille = u32::try_from(hasher.finish() % 101).unwrap_or(0);
    delay + delay * per_mille / 1000
}

/// How a job ended this attempt (already written to the job queue by [`NotificationService::handle`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    Completed(Value),
    Retry { at: Timestamp, error: String },
    Failed(String),
}

/// Sends the notifications of events; cheap to clone.
#[derive(Debug, Clone)]
pub struct NotificationService {
    pub(crate) core: Core,
    pub(crate) settings: NotificationSettings,
    pub(crate) log: Option<DeliveryLog>,
}

impl NotificationService {
    pub fn new(core: Core, settings: NotificationSettings, log: Option<DeliveryLog>) -> Self {
        Self {
            core,
            settings,
            log,
        }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    pub fn settings(&self) -> &NotificationSettings {
        &self.settings
    }

    pub fn log(&self) -> Option<&DeliveryLog> {
        self.log.as_ref()
    }

    /// Settles a job whose run panicked: the panic counts as a failed attempt, so a job
    /// that always panics ends in failed jobs instead of looping.
    pub async fn requeue_after_panic(
        &self,
        job: &ClaimedJob,
        now: Timestamp,
        message: &str,
    ) -> Result<Settled, StorageError> {
        let settled =
            self.retry_or_fail(job, now, format!("notification worker panicked: {message}"));
        let queue = self.core.storage();
        match &settled {
            Settled::Retry { at, error } => queue.fail(job.id, error, Some(*at), now).await?,
            Settled::Failed(error) => queue.fail(job.id, error, None, now).await?,
            Settled::Completed(_) => {}
        }
        Ok(settled)
    }

    /// Whether `attempt` (1-based) is the job's last.
    pub(crate) fn is_last(&self, job: &ClaimedJob, attempt: u32) -> bool {
        attempt >= job.max_attempts || self.settings.retry.delay_after(attempt).is_none()
    }

    pub(crate) fn retry_or_fail(&self, job: &ClaimedJob, now: Timestamp, error: String) -> Settled {
        self.retry_or_fail_after(job, now, error, None)
    }

    /// As [`Self::retry_or_fail`], never earlier than `wait` (a provider's `Retry-After`).
    /// The schedule's delay gets up to 10 % of jitter, fixed per job and attempt, so jobs
    /// that failed together (a provider outage) do not all come back in the same second.
    pub(crate) fn retry_or_fail_after(
        &self,
        job: &ClaimedJob,
        now: Timestamp,
        error: String,
        wait: Option<Duration>,
    ) -> Settled {
        let attempt = job.attempts + 1;
        match self.settings.retry.delay_after(attempt) {
            Some(delay) if attempt < job.max_attempts => {
                let delay = jittered(delay, job, attempt).max(wait.unwrap_or_default());
                Settled::Retry {
                    at: now
                        + SignedDuration::try_from(delay).unwrap_or(SignedDuration::from_secs(60)),
                    error,
                }
            }
            _ => Settled::Failed(format!("{error} (gave up after {attempt} attempts)")),
        }
    }
}
