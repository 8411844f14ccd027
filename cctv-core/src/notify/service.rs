//! The notification service: runs one `notify_detection` job (payload `{"event_log_id"}`).
//!
//! For each recipient of the event's [`SendPlan`] and each configured channel
//! (`Core::notifiers`), in order:
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
use serde_json::{Value, json};

use super::context::{EventContext, load_context};
use super::delivery_log::DeliveryLog;
use super::digest::DIGEST_JOB_KIND;
use super::send::{Round, channels};
use super::store::DeliveryStatus;
use crate::Core;
use crate::events::{Event, EventKind};
use crate::jobs::{ClaimedJob, NewJob, Queue, RetryPolicy};
use crate::records::{Record, WriteOp, by_id};
use crate::storage::StorageError;

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

fn completed(result: &str) -> Settled {
    Settled::Completed(json!({ "result": result }))
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

    /// Runs one claimed job at `now` and settles it in the job queue.
    pub async fn handle(&self, job: &ClaimedJob, now: Timestamp) -> Result<Settled, StorageError> {
        let settled = match self.run(job, now).await {
            Ok(s) => s,
            Err(e) => self.retry_or_fail(job, now, format!("storage: {e}")),
        };
        let queue = self.core.storage();
        match &settled {
            Settled::Completed(result) => {
                queue.complete(job.id, result.clone(), now).await?;
            }
            Settled::Retry { at, error } => queue.fail(job.id, error, Some(*at), now).await?,
            Settled::Failed(error) => {
                tracing::warn!(job_id = %job.id, %error, "notification job failed for good");
                queue.fail(job.id, error, None, now).await?
            }
        }
        Ok(settled)
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

    async fn run(&self, job: &ClaimedJob, now: Timestamp) -> Result<Settled, StorageError> {
        if job.kind == DIGEST_JOB_KIND {
            return self.run_digest(job, now).await;
        }
        let Some(event_log_id) = job.payload.get("event_log_id").and_then(Value::as_i64) else {
            return Ok(Settled::Failed(
                "unreadable payload: no event_log_id".into(),
            ));
        };
        let ctx = match load_context(
            self.core.storage().as_ref(),
            self.core.timezone(),
            self.core.secrets(),
            event_log_id,
        )
        .await?
        {
            Ok(ctx) => ctx,
            Err(skip) => {
                tracing::debug!(event_log_id, result = skip.as_str(), "nothing to notify");
                return Ok(completed(skip.as_str()));
            }
        };
        if self.core.notifiers().is_empty() && ctx.plan.webhooks.is_empty() {
            tracing::warn!(
                event_log_id,
                "no notification channel is configured ([notifications.channels]) and the device has no event webhook: job completed with result no_channel"
            );
            return Ok(completed("no_channel"));
        }
        let body = if ctx.plan.send_message {
            // Stored by people: bounded, and rendered off the async runtime. A template that
            // exceeds its budget fails this one message, never the worker.
            match crate::template::render_template_off_runtime(&ctx.plan.template, &ctx.vars).await
            {
                Ok(text) => text,
                Err(e) => {
                    return Ok(Settled::Failed(format!(
                        "message template of branch {} device {}: {e}",
                        ctx.branch_id, ctx.device_id
                    )));
                }
            }
        } else {
            String::new()
        };
        let existing = self.core.storage().deliveries(event_log_id).await?;
        // A retry after a crash between recording a suppression and enqueueing its digest
        // enqueues it again (a digest job for nothing held back does nothing).
        let held_before = existing
            .iter()
            .any(|d| d.status == DeliveryStatus::Suppressed);
        let mut round = Round::new(self, &ctx, job, now, body, existing).await;
        for recipient in &ctx.plan.recipients {
            for (channel, notifier) in channels(self.core.notifiers()) {
                round
                    .send_one(recipient, &channel, notifier.as_ref())
                    .await?;
            }
        }
        for endpoint in &ctx.plan.webhooks {
            round.send_webhook(endpoint).await?;
        }
        let held = held_before || round.tally.suppressed > 0;
        if held {
            self.enqueue_digest(event_log_id, now).await?;
        }
        self.finish(&ctx, job, now, round).await
    }

    /// The trailing digest of a suppressed event, due when its cooldown window has closed
    /// (see [`super::digest`]).
    async fn enqueue_digest(&self, event_log_id: i64, now: Timestamp) -> Result<(), StorageError> {
        let due = now
            + SignedDuration::try_from(self.settings.cooldown).unwrap_or(SignedDuration::ZERO)
            + SignedDuration::from_secs(1);
        self.core
            .storage()
            .enqueue(&[NewJob::new(
                Queue::Notifications,
                DIGEST_JOB_KIND,
                json!({ "event_log_id": event_log_id }),
                due,
            )])
            .await
    }

    async fn finish(
        &self,
        ctx: &EventContext,
        job: &ClaimedJob,
        now: Timestamp,
        round: Round<'_>,
    ) -> Result<Settled, StorageError> {
        let tally = round.tally;
        if tally.sent > 0 {
            let mut changes = Record::new();
            changes.insert("notification_sent".into(), Value::Bool(true));
            if tally.message_sent {
                changes.insert("message_sent".into(), Value::Bool(true));
            }
            if tally.image_sent {
                changes.insert("image_sent".into(), Value::Bool(true));
            }
            let update = WriteOp::Update {
                table: &super::context::EVENT_LOGS,
                changes,
                filters: by_id(ctx.event_log_id),
            };
            self.core.storage().apply(&[update]).await?;
        }
        let summary = json!({
            "sent": tally.sent,
            "suppressed": tally.suppressed,
            "skipped": tally.skipped,
            "failed": tally.rejected.len(),
            "retrying": tally.transient.len(),
        });
        if tally.sent + tally.suppressed > 0
            || !tally.rejected.is_empty()
            || !tally.transient.is_empty()
        {
            self.core.events().publish(Event {
                kind: EventKind::NotificationUpdate,
                branch_id: Some(ctx.branch_id),
                data: json!({
                    "event_log_id": ctx.event_log_id,
                    "branch_id": ctx.branch_id,
                    "device_id": ctx.device_id,
                    "re_id": ctx.re_id,
                    "notification_sent": tally.sent > 0,
                    "deliveries": summary,
                }),
                at: now,
            });
        }
        if let Some(error) = tally.transient.first() {
            let more = tally.transient.len() - 1;
            let error = if more > 0 {
                format!("{error} (and {more} more)")
            } else {
                error.clone()
            };
            return Ok(self.retry_or_fail_after(job, now, error, tally.retry_after));
        }
        if !tally.rejected.is_empty() {
            return Ok(Settled::Failed(tally.rejected.join("; ")));
        }
        let result = if tally.sent > 0 {
            "sent"
        } else if tally.suppressed > 0 {
            "suppressed"
        } else {
            "already_delivered"
        };
        let mut value = summary;
        value["result"] = result.into();
        Ok(Settled::Completed(value))
    }
}
