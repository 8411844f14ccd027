//! One attempt's sends: per (recipient, channel), skip / suppress / send and record.
//! The rules are described in [`super::service`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;

use super::context::EventContext;
use super::delivery_log::{DeliveryLine, LineStatus};
use super::service::NotificationService;
use super::store::{CooldownKey, DeliveryRecord, DeliveryStatus};
use super::webhook::{self, WebhookEndpoint};
use super::{Attachment, AttachmentSource, Delivery, Notifier, NotifyError, OutboundMessage};
use crate::AdminCore;
use crate::phone::stored_recipient;
use cctv_core::jobs::ClaimedJob;
use cctv_core::media::inspect_image;
use cctv_core::storage::StorageError;

/// Channel names: the notifier kind, with `#2`, `#3`, … for further notifiers of one kind.
pub(crate) fn channels(notifiers: &[Arc<dyn Notifier>]) -> Vec<(String, &Arc<dyn Notifier>)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    notifiers
        .iter()
        .map(|n| {
            let count = seen.entry(n.kind()).or_default();
            *count += 1;
            let name = match *count {
                1 => n.kind().to_owned(),
                k => format!("{}#{k}", n.kind()),
            };
            (name, n)
        })
        .collect()
}

/// The digest line appended to a message after suppressed sends.
pub fn digest_line(count: usize, since: Option<&str>) -> String {
    let noun = if count == 1 {
        "detection"
    } else {
        "detections"
    };
    match since {
        Some(hhmm) => format!("+{count} more {noun} since {hhmm}"),
        None => format!("+{count} more {noun}"),
    }
}

/// What one attempt did.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub sent: usize,
    pub suppressed: usize,
    pub skipped: usize,
    pub message_sent: bool,
    pub image_sent: bool,
    /// Errors of sends refused for good.
    pub rejected: Vec<String>,
    /// Errors of sends to retry.
    pub transient: Vec<String>,
    /// The longest wait a provider asked for (`Retry-After`) among those errors.
    pub retry_after: Option<std::time::Duration>,
}

pub(crate) struct Round<'a> {
    service: &'a NotificationService,
    ctx: &'a EventContext,
    job: &'a ClaimedJob,
    now: Timestamp,
    attempt: u32,
    last_attempt: bool,
    body: String,
    image: Option<Attachment>,
    existing: Vec<DeliveryRecord>,
    pub tally: Tally,
}

impl<'a> Round<'a> {
    pub(crate) async fn new(
        service: &'a NotificationService,
        ctx: &'a EventContext,
        job: &'a ClaimedJob,
        now: Timestamp,
        body: String,
        existing: Vec<DeliveryRecord>,
    ) -> Round<'a> {
        let attempt = job.attempts + 1;
        Round {
            image: load_image(service, ctx).await,
            last_attempt: service.is_last(job, attempt),
            service,
            ctx,
            job,
            now,
            attempt,
            body,
            existing,
            tally: Tally::default(),
        }
    }

    fn record(&self, recipient: &str, channel: &str, status: DeliveryStatus) -> DeliveryRecord {
        DeliveryRecord {
            event_log_id: self.ctx.event_log_id,
            job_id: Some(self.job.id),
            branch_id: self.ctx.branch_id,
            device_id: self.ctx.device_id.clone(),
            recipient: recipient.to_owned(),
            channel: channel.to_owned(),
            status,
            permanent: false,
            provider_message_id: None,
            latency_ms: None,
            error_code: None,
            error_message: None,
            attempt: self.attempt,
            digest_count: 0,
            at: self.now,
        }
    }

    async fn save(
        &self,
        r: &DeliveryRecord,
        line: LineStatus,
        image: bool,
        digested: &[i64],
    ) -> Result<(), StorageError> {
        self.service
            .core
            .notification_store()?
            .record_delivery(r, digested)
            .await?;
        if let Some(log) = &self.service.log {
            log.append(&DeliveryLine {
                timestamp: self.now,
                event_log_id: r.event_log_id,
                job_id: r.job_id.map(|j| j.to_string()),
                branch_id: r.branch_id,
                device_id: r.device_id.clone(),
                re_id: self.ctx.re_id.clone(),
                recipient: r.recipient.clone(),
                channel: r.channel.clone(),
                status: line,
                provider_message_id: r.provider_message_id.clone(),
                latency_ms: r.latency_ms,
                error_code: r.error_code.clone(),
                error_message: r.error_message.clone(),
                attempt: r.attempt,
                image,
                digest_count: r.digest_count,
            })
            .await;
        }
        Ok(())
    }

    pub(crate) async fn send_one(
        &mut self,
        raw: &str,
        channel: &str,
        notifier: &dyn Notifier,
    ) -> Result<(), StorageError> {
        let normalised = stored_recipient(raw);
        let recipient = normalised.clone().unwrap_or_else(|_| raw.trim().to_owned());
        let settled = self
            .existing
            .iter()
            .any(|d| d.recipient == recipient && d.channel == channel && d.is_settled());
        if settled {
            self.tally.skipped += 1;
            return Ok(());
        }
        if let Err(e) = normalised {
            let error = NotifyError::rejected(Some("invalid_recipient".into()), e.to_string());
            return self.failed(&recipient, channel, &error, false).await;
        }
        let storage = self.service.core.notification_store()?;
        let key = CooldownKey {
            branch_id: self.ctx.branch_id,
            recipient: recipient.clone(),
            channel: channel.to_owned(),
        };
        let cooldown = self.service.settings.cooldown;
        if !storage
            .take_cooldown(&key, self.ctx.event_log_id, self.now, cooldown)
            .await?
        {
            self.tally.suppressed += 1;
            self.service
                .core
                .metrics()
                .notification(channel, "suppressed");
            let r = self.record(&recipient, channel, DeliveryStatus::Suppressed);
            return self.save(&r, LineStatus::Suppressed, false, &[]).await;
        }
        let digest = storage.pending_digest(&key, self.ctx.event_log_id).await?;
        let mut text = self.body.clone();
        if !digest.delivery_ids.is_empty() {
            let since = digest.since.map(|t| {
                t.to_zoned_datetime(self.service.core.timezone().clone())
                    .strftime("%H:%M")
                    .to_string()
            });
            let line = digest_line(digest.delivery_ids.len(), since.as_deref());
            text = if text.is_empty() {
                line
            } else {
                format!("{text}\n{line}")
            };
        }
        let mut message = OutboundMessage::new(
            recipient.clone(),
            text,
            format!("event-{}:{recipient}:{channel}", self.ctx.event_log_id),
        )
        .with_context(self.ctx.vars.clone());
        message.image_path = self.ctx.plan.image_path.clone();
        message.image = self.image.clone();
        let started = Instant::now();
        match notifier.send(&message).await {
            Ok(delivery) => {
                self.sent(&recipient, channel, delivery, &digest.delivery_ids)
                    .await
            }
            Err(error) => {
                tracing::info!(event_log_id = self.ctx.event_log_id, channel, %error, elapsed_ms = started.elapsed().as_millis() as u64, "notification not sent");
                self.failed(&recipient, channel, &error, true).await
            }
        }
    }

    /// Posts the event to one webhook endpoint (see [`super::webhook`]): once per event, no
    /// cooldown, skipped when an earlier attempt settled it.
    pub(crate) async fn send_webhook(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StorageError> {
        let label = webhook::endpoint_label(&endpoint.url);
        let channel = webhook::CHANNEL;
        let settled = self
            .existing
            .iter()
            .any(|d| d.recipient == label && d.channel == channel && d.is_settled());
        if settled {
            self.tally.skipped += 1;
            return Ok(());
        }
        let Some(transport) = self.service.core.webhook_transport().cloned() else {
            let error = NotifyError::rejected(
                Some("no_transport".into()),
                "this process has no webhook transport (AdminBuilder::webhook_transport)",
            );
            return self.failed(&label, channel, &error, false).await;
        };
        let ctx = self.ctx;
        let body = webhook::EventPayload {
            event_log_id: ctx.event_log_id,
            branch_id: ctx.branch_id,
            device_id: &ctx.device_id,
            re_id: ctx.re_id.as_deref(),
            detected_at: ctx.event_at.to_string(),
            vars: &ctx.vars,
            text: Some(self.body.as_str()).filter(|t| ctx.plan.send_message && !t.is_empty()),
            image_path: ctx.image_path.as_deref(),
        }
        .to_json();
        let id = webhook::message_id(ctx.event_log_id, &endpoint.url);
        // The receiver checks this against its own clock: the real time of the attempt.
        let timestamp = Timestamp::now().as_second();
        let signature = match webhook::sign(&endpoint.secret, &id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => {
                let error = NotifyError::rejected(Some("bad_secret".into()), e.to_string());
                return self.failed(&label, channel, &error, false).await;
            }
        };
        let request = webhook::WebhookRequest {
            url: endpoint.url.clone(),
            id,
            timestamp,
            signature,
            body,
        };
        match transport.post(&request).await {
            Ok(d) => {
                self.service.core.metrics().notification(channel, "sent");
                let mut r = self.record(&label, channel, DeliveryStatus::Sent);
                r.provider_message_id = d.provider_message_id;
                r.latency_ms = Some(d.latency_ms);
                self.tally.sent += 1;
                self.save(&r, LineStatus::Sent, false, &[]).await
            }
            Err(error) => {
                tracing::info!(event_log_id = ctx.event_log_id, endpoint = %label, %error, "event webhook not delivered");
                self.failed(&label, channel, &error, false).await
            }
        }
    }

    async fn sent(
        &mut self,
        recipient: &str,
        channel: &str,
        d: Delivery,
        digested: &[i64],
    ) -> Result<(), StorageError> {
        self.service.core.metrics().notification(channel, "sent");
        let mut r = self.record(recipient, channel, DeliveryStatus::Sent);
        r.provider_message_id = d.provider_message_id;
        r.latency_ms = Some(d.latency_ms);
        r.digest_count = u32::try_from(digested.len()).unwrap_or(u32::MAX);
        self.tally.sent += 1;
        self.tally.message_sent |= self.ctx.plan.send_message;
        self.tally.image_sent |= self.image.is_some();
        self.save(&r, LineStatus::Sent, self.image.is_some(), digested)
            .await
    }

    async fn failed(
        &mut self,
        recipient: &str,
        channel: &str,
        e: &NotifyError,
        sent: bool,
    ) -> Result<(), StorageError> {
        let mut r = self.record(recipient, channel, DeliveryStatus::Failed);
        r.permanent = !e.is_retryable();
        let result = if r.permanent { "rejected" } else { "failed" };
        self.service.core.metrics().notification(channel, result);
        r.error_code = e
            .code()
            .map(str::to_owned)
            .or_else(|| e.status().map(|s| s.to_string()));
        r.error_message = Some(e.to_string());
        let described = format!("{channel} to {recipient}: {e}");
        let line = if r.permanent {
            self.tally.rejected.push(described);
            LineStatus::Failed
        } else {
            self.tally.transient.push(described);
            self.tally.retry_after = self.tally.retry_after.max(e.retry_after());
            if self.last_attempt {
                LineStatus::Failed
            } else {
                LineStatus::Retrying
            }
        };
        self.save(&r, line, sent && self.image.is_some(), &[]).await
    }
}

/// The event image as an attachment, when the plan wants one and the blob store has it.
async fn load_image(service: &NotificationService, ctx: &EventContext) -> Option<Attachment> {
    let path = ctx.plan.image_path.as_deref()?;
    let blobs = service.core.blobs()?;
    match blobs.get(path).await {
        Ok(bytes) => {
            let mime =
                inspect_image(&bytes).map_or("application/octet-stream", |i| i.format.mime());
            let filename = path.rsplit('/').next().unwrap_or(path).to_owned();
            Some(Attachment {
                filename,
                mime: mime.to_owned(),
                source: AttachmentSource::Bytes(bytes),
            })
        }
        Err(e) => {
            tracing::warn!(event_log_id = ctx.event_log_id, error = %e, "event image unavailable; sending text only");
            None
        }
    }
}
