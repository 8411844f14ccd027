//! Notifier seam: how a message reaches branch staff (WhatsApp, webhook, log, …).
//! The notification actor and the provider plugins fill it (issue: notifier plugins).

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

/// One message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundMessage {
    /// Normalised recipient (e.g. `6281234567890` for WhatsApp).
    pub recipient: String,
    pub text: String,
    /// Store-relative path of an image to attach.
    pub image_path: Option<String>,
    /// Stable id of this (event, recipient) send, for provider-side de-duplication.
    pub idempotency_key: String,
}

/// The provider's answer to a successful send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub provider_message_id: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The provider refused the message (bad number, bad template): do not retry.
    #[error("rejected by provider ({code:?}): {message}")]
    Rejected {
        code: Option<String>,
        message: String,
    },
    /// Timeout, 5xx, connection failure: retry later.
    #[error("provider unavailable ({code:?}): {message}")]
    Unavailable {
        code: Option<String>,
        message: String,
    },
}

/// A notification channel plugin.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// The plugin's kind, as used in configuration (`whatsapp`, `webhook`, `log`).
    fn kind(&self) -> &'static str;

    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError>;

    /// Whether the provider is reachable; plugins without a cheap check keep the default.
    async fn health_check(&self) -> Result<(), NotifyError> {
        Ok(())
    }
}
