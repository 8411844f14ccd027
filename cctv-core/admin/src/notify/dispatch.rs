//! How the notification service runs a claimed job (the rules are described in
//! [`super::service`]): a `notify_detection` job loads its event, renders the message and
//! goes through the recipients, channels and webhooks in a [`Round`]; a digest job goes
//! to [`super::digest`]; the outcome is settled in the job queue. Apart from
//! `service.rs`, which holds the service itself, so that the sending and digest code this
//! calls can use the service without the service file importing them back.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::context::{EventContext, load_context};
use super::digest::DIGEST_JOB_KIND;
use super::send::{Round, channels};
use super::service::{NotificationService, Settled};
use super::store::DeliveryStatus;
use crate::AdminCore;
use cctv_core::events::{Event, EventKind};
use cctv_core::jobs::{ClaimedJob, NewJob, Queue};
use cctv_core::records::{Record, WriteOp, by_id};
use cctv_core::storage::StorageError;

fn completed(result: &str) -> Settled {
    Settled::Completed(json!({ "result": result }))
}

impl NotificationService {
    /// Runs one claimed job at `now` and settles it in the job queue.
    pub async fn handle(&self, job: &ClaimedJob, now: Timestamp) -> Result<Settled, StorageError> {
        let settled = match self.run(job, now).await {
            Ok(s) => s,
            // Retrying cannot give the backend a capability it lacks.
            Err(e @ StorageError::Unsupported(_)) => Settled::Failed(format!("storage: {e}")),
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
        // Stored by people: bounded, and rendered off the async runtime. A template that
        // cannot be rendered (or exceeds its budget) stops the messages of this event, never
        // the worker, and never the event's webhooks, which carry the event without it.
        let mut template_error = None;
        let body = if ctx.plan.send_message {
            match crate::template::render_template_off_runtime(&ctx.plan.template, &ctx.vars).await
            {
                Ok(text) => text,
                Err(e) => {
                    template_error = Some(format!(
                        "message template of branch {} device {}: {e}",
                        ctx.branch_id, ctx.device_id
                    ));
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let existing = self
            .core
            .notification_store()?
            .deliveries(event_log_id)
            .await?;
        // A retry after a crash between recording a suppression and enqueueing its digest
        // enqueues it again (a digest job for nothing held back does nothing).
        let held_before = existing
            .iter()
            .any(|d| d.status == DeliveryStatus::Suppressed);
        let mut round = Round::new(self, &ctx, job, now, body, existing).await;
        if template_error.is_none() {
            for recipient in &ctx.plan.recipients {
                for (channel, notifier) in channels(self.core.notifiers()) {
                    round
                        .send_one(recipient, &channel, notifier.as_ref())
                        .await?;
                }
            }
        }
        for endpoint in &ctx.plan.webhooks {
            round.send_webhook(endpoint).await?;
        }
        let held = held_before || round.tally.suppressed > 0;
        if held {
            self.enqueue_digest(event_log_id, now).await?;
        }
        let settled = self.finish(&ctx, job, now, round).await?;
        Ok(match (template_error, settled) {
            // Webhooks still to retry go first; the template's error ends the job after.
            (Some(_), retry @ Settled::Retry { .. }) => retry,
            (Some(error), _) => Settled::Failed(error),
            (None, settled) => settled,
        })
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
