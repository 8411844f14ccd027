//! # cctv-notify-whatsapp
//!
//! Sends cctv notifications over WhatsApp, through either a self-hosted
//! [WAHA](https://waha.devlike.pro) server or Meta's WhatsApp Cloud API, chosen by the
//! `mode` of [`WhatsAppSettings`].
//!
//! - [`settings`]: typed, validated settings (secrets redacted from `Debug`);
//! - `waha` / `meta`: request bodies and message-id parsing of each API;
//! - `transport`: one HTTP exchange, mapped to the contract of
//!   [`cctv_admin::notify::Notifier`]: 2xx → [`Delivery`] (id when the body has one, never
//!   a panic on an odd body); 4xx except 408/429 → `Rejected` with the provider's code;
//!   408/429/5xx, timeouts and connection errors → `Unavailable`.
//!
//! The notifier sends one message per call and never retries: cooldowns, retries and
//! "do not re-send to recipients that already got it" belong to the caller.
//!
//! ```
//! use cctv_admin::notify::NotifierRegistry;
//!
//! let mut registry = NotifierRegistry::new();
//! cctv_notify_whatsapp::register(&mut registry);
//! let settings = serde_json::json!({
//!     "mode": "waha", "base_url": "http://127.0.0.1:3000", "api_key": "secret", "timeout_ms": 5000
//! });
//! let notifier = registry.build("whatsapp", &settings).unwrap();
//! assert!(!format!("{notifier:?}").contains("secret"));
//! ```

mod meta;
pub mod settings;
mod waha;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use cctv_admin::notify::{
    Delivery, Notifier, NotifierConfigError, NotifierRegistry, NotifyError, OutboundMessage,
    parse_settings,
};
use cctv_admin::phone::PhoneError;

pub use settings::{MetaSettings, MetaTemplate, WahaSettings, WhatsAppSettings};

/// The kind name used in configuration.
pub const KIND: &str = "whatsapp";

enum Api {
    Waha(waha::Waha),
    Meta(meta::Meta),
}

/// A WhatsApp channel; holds its own HTTP client (connection pool), built once.
pub struct WhatsAppNotifier {
    api: Api,
    http: reqwest::Client,
}

impl fmt::Debug for WhatsAppNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, base) = match &self.api {
            Api::Waha(w) => ("waha", &w.base),
            Api::Meta(m) => ("meta", &m.base),
        };
        f.debug_struct("WhatsAppNotifier")
            .field("mode", &mode)
            .field("base_url", base)
            .finish_non_exhaustive()
    }
}

impl WhatsAppNotifier {
    /// Validates the settings and builds the HTTP client.
    pub fn new(settings: &WhatsAppSettings) -> Result<Self, NotifierConfigError> {
        let api = match settings {
            WhatsAppSettings::Waha(s) => Api::Waha(waha::Waha::new(s)?),
            WhatsAppSettings::Meta(s) => Api::Meta(meta::Meta::new(s)?),
        };
        Ok(Self {
            api,
            http: cctv_notify_http::client(KIND, settings.timeout())?,
        })
    }

    fn mode(&self) -> &'static str {
        match self.api {
            Api::Waha(_) => "waha",
            Api::Meta(_) => "meta",
        }
    }
}

#[async_trait]
impl Notifier for WhatsAppNotifier {
    fn kind(&self) -> &'static str {
        KIND
    }

    #[tracing::instrument(skip_all, fields(kind = KIND, mode = self.mode(), image = message.image.is_some()))]
    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError> {
        let result = match &self.api {
            Api::Waha(api) => api.send(&self.http, message).await,
            Api::Meta(api) => api.send(&self.http, message).await,
        };
        match &result {
            Ok(delivery) => tracing::debug!(latency_ms = delivery.latency_ms, "sent"),
            Err(error) => tracing::info!(%error, "not sent"),
        }
        result
    }

    async fn health_check(&self) -> Result<(), NotifyError> {
        match &self.api {
            Api::Waha(api) => api.health_check(&self.http).await,
            Api::Meta(api) => api.health_check(&self.http).await,
        }
    }
}

/// A recipient that cannot be a phone number will never be deliverable.
pub(crate) fn invalid_recipient(error: PhoneError) -> NotifyError {
    NotifyError::rejected(Some("invalid_recipient".into()), error.to_string())
}

/// Builds a [`WhatsAppNotifier`] from its JSON settings (the registry's factory).
pub fn factory(settings: &serde_json::Value) -> Result<Arc<dyn Notifier>, NotifierConfigError> {
    let settings: WhatsAppSettings = parse_settings(KIND, settings)?;
    Ok(Arc::new(WhatsAppNotifier::new(&settings)?))
}

/// Registers the `whatsapp` kind.
pub fn register(registry: &mut NotifierRegistry) {
    registry.register(KIND, factory);
}
