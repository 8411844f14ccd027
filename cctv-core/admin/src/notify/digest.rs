//! The trailing digest: detections held back by a cooldown are delivered even when no
//! later detection comes to carry them.
//!
//! An event suppressed for a recipient enqueues one `notify_digest` job (payload
//! `{"event_log_id"}`) due one cooldown later, when the window that suppressed it has
//! closed. When it runs, for each (recipient, channel) whose row of that event is still
//! `suppressed`:
//! - if the cooldown window is taken again, a newer message is (or was just) sent, and its
//!   digest line counts the held-back detections: nothing to do;
//! - otherwise it takes the window and sends one message with the count and the time range
//!   of every held-back detection of that key, and marks them digested in the same
//!   transaction as the send's record — so the digest goes out once.
//!
//! Sends fail and retry like any notification (the job's retry schedule); a send refused
//! for good is recorded failed.

use std::time::Instant;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::context::{EventContext, load_context};
use super::delivery_log::{DeliveryLine, LineStatus};
use super::send::channels;
use super::service::{NotificationService, Settled};
use super::store::{CooldownKey, DeliveryRecord, DeliveryStatus};
use super::{NotifyError, OutboundMessage};
use crate::AdminCore;
use crate::phone::stored_recipient;
use cctv_core::jobs::ClaimedJob;
use cctv_core::storage::StorageError;

/// The job kind of a trailing digest on the `notifications` queue.
pub const DIGEST_JOB_KIND: &str = "notify_digest";

/// The text of a trailing digest: `count` held-back detections at `branch` between two
/// local times (`HH:MM`).
pub fn digest_message(count: usize, branch: &str, first: &str, last: &str) -> String {
    let noun = if count == 1 {
        "detection"
    } else {
        "detections"
    };
    if first == last {
        format!("+{count} more {noun} at {branch} at {first}")
    } else {
        format!("+{count} more {noun} at {branch} between {first} and {last}")
    }
}

impl NotificationService {
    pub(crate) async fn run_digest(
        &self,
        job: &ClaimedJob,
        now: Timestamp,
    ) -> Result<Settled, StorageError> {
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
            Err(skip) => return Ok(done(skip.as_str(), 0)),
        };
        let existing = self
            .core
            .notification_store()?
            .deliveries(event_log_id)
            .await?;
        let (mut sent, mut transient, mut rejected) = (0, Vec::new(), Vec::new());
        let mut wait: Option<std::time::Duration> = None;
        for raw in &ctx.plan.recipients {
            let Ok(recipient) = stored_recipient(raw) else {
                continue;
            };
            for (channel, notifier) in channels(self.core.notifiers()) {
                let held = existing.iter().any(|d| {
                    d.recipient == recipient
                        && d.channel == channel
                        && d.status == DeliveryStatus::Suppressed
                });
                if !held {
                    continue;
                }
                let key = CooldownKey {
                    branch_id: ctx.branch_id,
                    recipient: recipient.clone(),
                    channel: channel.clone(),
                };
                let storage = self.core.notification_store()?;
                if !storage
                    .take_cooldown(&key, event_log_id, now, self.settings.cooldown)
                    .await?
                {
                    continue;
                }
                let others = storage.pending_digest(&key, event_log_id).await?;
                let count = others.delivery_ids.len() + 1;
                let local = |t: Timestamp| {
                    t.to_zoned_datetime(self.core.timezone().clone())
                        .strftime("%H:%M")
                        .to_string()
                };
                let first = others.since.map_or(ctx.event_at, |t| t.min(ctx.event_at));
                let last = others.until.map_or(ctx.event_at, |t| t.max(ctx.event_at));
                let text =
                    digest_message(count, &ctx.vars.branch_name, &local(first), &local(last));
                let message = OutboundMessage::new(
                    recipient.clone(),
                    text,
                    format!("digest-{event_log_id}:{recipient}:{channel}"),
                )
                .with_context(ctx.vars.clone());
                let started = Instant::now();
                let mut record = self.digest_record(&ctx, job, &recipient, &channel, now);
                let outcome = notifier.send(&message).await;
                let line = match &outcome {
                    Ok(delivery) => {
                        record.status = DeliveryStatus::Sent;
                        record.provider_message_id = delivery.provider_message_id.clone();
                        record.latency_ms = Some(delivery.latency_ms);
                        record.digest_count = u32::try_from(count).unwrap_or(u32::MAX);
                        sent += 1;
                        LineStatus::Sent
                    }
                    Err(e) => {
                        tracing::info!(event_log_id, %channel, error = %e, elapsed_ms = started.elapsed().as_millis() as u64, "trailing digest not sent");
                        record.error_message = Some(e.to_string());
                        record.error_code = e
                            .code()
                            .map(str::to_owned)
                            .or_else(|| e.status().map(|s| s.to_string()));
                        let described = format!("{channel} to {recipient}: {e}");
                        if e.is_retryable() {
                            transient.push(described);
                            wait = wait.max(e.retry_after());
                            LineStatus::Retrying
                        } else {
                            record.status = DeliveryStatus::Failed;
                            record.permanent = true;
                            rejected.push(described);
                            LineStatus::Failed
                        }
                    }
                };
                // A transient failure leaves the row suppressed: the retry sends again.
                if record.status != DeliveryStatus::Suppressed {
                    let digested = if record.status == DeliveryStatus::Sent {
                        others.delivery_ids.as_slice()
                    } else {
                        &[]
                    };
                    storage.record_delivery(&record, digested).await?;
                }
                self.log_digest(&ctx, &record, line, outcome.err().as_ref())
                    .await;
            }
        }
        if let Some(error) = transient.first() {
            return Ok(self.retry_or_fail_after(job, now, error.clone(), wait));
        }
        if !rejected.is_empty() {
            return Ok(Settled::Failed(rejected.join("; ")));
        }
        Ok(done(
            if sent > 0 {
                "digest_sent"
            } else {
                "nothing_held"
            },
            sent,
        ))
    }

    fn digest_record(
        &self,
        ctx: &EventContext,
        job: &ClaimedJob,
        recipient: &str,
        channel: &str,
        now: Timestamp,
    ) -> DeliveryRecord {
        DeliveryRecord {
            event_log_id: ctx.event_log_id,
            job_id: Some(job.id),
            branch_id: ctx.branch_id,
            device_id: ctx.device_id.clone(),
            recipient: recipient.to_owned(),
            channel: channel.to_owned(),
            status: DeliveryStatus::Suppressed,
            permanent: false,
            provider_message_id: None,
            latency_ms: None,
            error_code: None,
            error_message: None,
            attempt: job.attempts + 1,
            digest_count: 0,
            at: now,
        }
    }

    async fn log_digest(
        &self,
        ctx: &EventContext,
        r: &DeliveryRecord,
        status: LineStatus,
        error: Option<&NotifyError>,
    ) {
        let Some(log) = &self.log else { return };
        log.append(&DeliveryLine {
            timestamp: r.at,
            event_log_id: r.event_log_id,
            job_id: r.job_id.map(|j| j.to_string()),
            branch_id: r.branch_id,
            device_id: r.device_id.clone(),
            re_id: ctx.re_id.clone(),
            recipient: r.recipient.clone(),
            channel: r.channel.clone(),
            status,
            provider_message_id: r.provider_message_id.clone(),
            latency_ms: r.latency_ms,
            error_code: r.error_code.clone(),
            error_message: error.map(ToString::to_string),
            attempt: r.attempt,
            image: false,
            digest_count: r.digest_count,
        })
        .await;
    }
}

fn done(result: &str, sent: usize) -> Settled {
    Settled::Completed(json!({ "result": result, "sent": sent }))
}

#[cfg(test)]
mod tests {
    use super::digest_message;

    #[test]
    fn the_digest_says_how_many_and_when() {
        assert_eq!(
            digest_message(1, "Jakarta", "10:01", "10:01"),
            "+1 more detection at Jakarta at 10:01"
        );
        assert_eq!(
            digest_message(3, "Jakarta", "10:01", "10:03"),
            "+3 more detections at Jakarta between 10:01 and 10:03"
        );
    }
}
