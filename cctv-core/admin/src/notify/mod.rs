//! Notifier seam: how a message reaches branch staff (WhatsApp, webhook, log, …).
//!
//! - [`Notifier`]: the plugin trait; one instance per configured channel.
//! - [`NotifyError`]: `Rejected` (do not retry) vs `Unavailable` (retry later).
//! - [`NotifierRegistry`]: `kind → factory`, for the configuration-driven binary;
//!   embedders hand instances to [`AdminBuilder::notifier`](crate::AdminBuilder::notifier) instead.
//! - [`http`]: pure helpers that map an HTTP answer to a [`NotifyError`], so every HTTP
//!   plugin classifies statuses the same way.
//!
//! - [`service`]: runs a notification job — settings, template, recipients, cooldown and
//!   digest, per-recipient delivery records, retries ([`NotificationService`]);
//!   [`context`] loads what it needs, [`NotificationStore`] keeps delivery state;
//! - [`delivery_log`]: the buffered JSON-lines message log; [`summary`] folds a day of it
//!   into `whatsapp_delivery_summary` (`summary::aggregate_day`).
//!
//! Cooldowns, digests and "never re-send to a recipient that already succeeded" are the
//! service's job; a notifier sends exactly one message per call.

pub mod context;
pub mod delivery_log;
mod digest;
mod dispatch;
pub mod http;
mod registry;
pub(crate) mod send;
pub mod service;
#[cfg(test)]
mod service_tests;
mod store;
pub mod summary;
pub mod webhook;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Serialize, Serializer};

use crate::template::TemplateVars;

pub use digest::{DIGEST_JOB_KIND, digest_message};
pub use registry::{NotifierConfigError, NotifierFactory, NotifierRegistry, parse_settings};
pub use send::digest_line;
pub use service::{JOB_KIND, NotificationService, NotificationSettings, Settled};
pub use store::{CooldownKey, DeliveryRecord, DeliveryStatus, NotificationStore, PendingDigest};

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundMessage {
    /// Normalised recipient (e.g. `6281234567890` for WhatsApp, see [`crate::phone`]).
    pub recipient: String,
    /// The rendered message text.
    pub text: String,
    /// Store-relative path of the event image, recorded in logs.
    pub image_path: Option<String>,
    /// The image to attach, already loaded by the caller (plugins never read the blob store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Attachment>,
    /// Stable id of this (event, recipient) send, for provider-side de-duplication.
    pub idempotency_key: String,
    /// The event variables the text was rendered from; plugins that template their own
    /// payload (webhook, WhatsApp templates) render from these.
    pub context: TemplateVars,
}

impl OutboundMessage {
    /// A text message with no image and empty context.
    pub fn new(
        recipient: impl Into<String>,
        text: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Self {
            recipient: recipient.into(),
            text: text.into(),
            image_path: None,
            image: None,
            idempotency_key: idempotency_key.into(),
            context: TemplateVars::default(),
        }
    }

    pub fn with_image(mut self, image: Attachment) -> Self {
        self.image = Some(image);
        self
    }

    pub fn with_context(mut self, context: TemplateVars) -> Self {
        self.context = context;
        self
    }
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub filename: String,
    /// MIME type, e.g. `image/jpeg`.
    pub mime: String,
    pub source: AttachmentSource,
}

/// Where the provider gets the attachment's bytes from.
#[derive(Clone, PartialEq, Eq)]
pub enum AttachmentSource {
    /// A URL the provider can fetch itself.
    Url(String),
    /// The bytes, uploaded or inlined by the plugin.
    Bytes(Vec<u8>),
}

impl fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.debug_tuple("Url").field(url).finish(),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// Logs record the URL or the size, never the bytes.
impl Serialize for AttachmentSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::Url(url) => map.serialize_entry("url", url)?,
            Self::Bytes(bytes) => map.serialize_entry("bytes", &bytes.len())?,
        }
        map.end()
    }
}

/// The provider's answer to a successful send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The provider's id of the message, when its answer carried one.
    pub provider_message_id: Option<String>,
    /// `sent` for an accepted message; plugins may report finer provider states.
    pub status: String,
    /// Time from sending the request to reading the answer.
    pub latency_ms: u64,
}

impl Delivery {
    /// An accepted message (`status = "sent"`).
    pub fn sent(provider_message_id: Option<String>, latency: Duration) -> Self {
        Self {
            provider_message_id,
            status: "sent".to_owned(),
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Why a send failed, named by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The provider refused the message (bad number, bad template, bad credentials): do
    /// not retry.
    #[error("rejected by provider{}: {message}", detail(*.status, .code.as_deref()))]
    Rejected {
        /// The provider's error code (e.g. Meta's `131026`), when it gave one.
        code: Option<String>,
        message: String,
        /// The HTTP status, for HTTP providers.
        status: Option<u16>,
    },
    /// Timeout, 408/429/5xx, connection failure, local I/O failure: retry later.
    #[error("provider unavailable{}: {message}", detail(*.status, .code.as_deref()))]
    Unavailable {
        code: Option<String>,
        message: String,
        status: Option<u16>,
        /// How long the provider asked us to wait (its `Retry-After`); the next attempt
        /// is never earlier than this.
        retry_after: Option<Duration>,
    },
}

fn detail(status: Option<u16>, code: Option<&str>) -> String {
    match (status, code) {
        (Some(s), Some(c)) => format!(" (HTTP {s}, code {c})"),
        (Some(s), None) => format!(" (HTTP {s})"),
        (None, Some(c)) => format!(" (code {c})"),
        (None, None) => String::new(),
    }
}

impl NotifyError {
    /// A refusal outside HTTP (e.g. an invalid recipient caught before sending).
    pub fn rejected(code: Option<String>, message: impl Into<String>) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// A transient failure outside HTTP (e.g. a timeout or a failed write).
    pub fn unavailable(code: Option<String>, message: impl Into<String>) -> Self {
        Self::Unavailable {
            code,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }

    /// The same error with the provider's requested wait (only `Unavailable` keeps it).
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        if let Self::Unavailable { retry_after, .. } = &mut self {
            *retry_after = wait;
        }
        self
    }

    /// How long the provider asked to wait before the next attempt, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            Self::Rejected { .. } => None,
        }
    }

    /// Whether sending the same message later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Rejected { code, .. } | Self::Unavailable { code, .. } => code.as_deref(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. } | Self::Unavailable { status, .. } => *status,
        }
    }
}

/// A notification channel plugin.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// The plugin's kind, as used in configuration (`whatsapp`, `webhook`, `log`).
    fn kind(&self) -> &'static str;

    /// Sends one message to one recipient. Implementations send at most once per call and
    /// never retry themselves: the caller decides from the error variant.
    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError>;

    /// Whether the provider is reachable; plugins without a cheap check keep the default.
    async fn health_check(&self) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_status_and_code_in_their_message() {
        let err = NotifyError::Rejected {
            code: Some("131026".into()),
            message: "undeliverable".into(),
            status: Some(400),
        };
        assert_eq!(
            err.to_string(),
            "rejected by provider (HTTP 400, code 131026): undeliverable"
        );
        assert!(!err.is_retryable());
        assert_eq!(err.code(), Some("131026"));
        let later = NotifyError::unavailable(None, "timed out");
        assert_eq!(later.to_string(), "provider unavailable: timed out");
        assert!(later.is_retryable());
        assert_eq!(later.status(), None);
    }

    #[test]
    fn attachment_bytes_are_logged_as_a_size_not_as_content() {
        let message = OutboundMessage::new("62811", "hi", "k").with_image(Attachment {
            filename: "a.jpg".into(),
            mime: "image/jpeg".into(),
            source: AttachmentSource::Bytes(vec![1, 2, 3]),
        });
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["image"]["source"], serde_json::json!({"bytes": 3}));
        assert_eq!(
            format!("{:?}", message.image.unwrap().source),
            "Bytes(3 bytes)"
        );
    }

    #[test]
    fn latency_is_recorded_in_whole_milliseconds() {
        let d = Delivery::sent(Some("x".into()), Duration::from_micros(12_900));
        assert_eq!((d.latency_ms, d.status.as_str()), (12, "sent"));
    }
}
