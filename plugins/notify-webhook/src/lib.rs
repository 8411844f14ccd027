//! # cctv-notify-webhook
//!
//! Two ways to reach an HTTP receiver (a chat bot, an incident tool, another service):
//!
//! - **Event webhooks** ([`HttpWebhookTransport`]): set per (branch, device) in the event
//!   settings; one signed `POST` per event and endpoint (Standard Webhooks headers), see
//!   [`cctv_admin::notify::webhook`]. This is what a receiver that wants the events should
//!   use.
//! - **The `webhook` channel** ([`WebhookNotifier`]): a notifier like WhatsApp, so it gets
//!   one `POST` per message *and recipient*, with a JSON body built from a template,
//!   configurable headers and a timeout; useful to relay the WhatsApp messages through a
//!   gateway of your own.
//!
//! The channel's settings:
//! - `body`: the JSON body template — a JSON value whose string values are message
//!   templates over the event variables plus `recipient`, `text`, `idempotency_key` and
//!   `image_path` (checked when the notifier is built);
//! - the `Idempotency-Key` header carries the message's idempotency key, so a receiver can
//!   drop the duplicate of a retried send;
//! - answers map like every HTTP notifier (see [`cctv_admin::notify::http`]): 2xx →
//!   delivered (id read at `id_pointer` when present), 4xx except 408/429 → `Rejected`,
//!   408/429/5xx, timeouts and connection errors → `Unavailable`.
//!
//! ```
//! use cctv_admin::notify::NotifierRegistry;
//!
//! let mut registry = NotifierRegistry::new();
//! cctv_notify_webhook::register(&mut registry);
//! let settings = serde_json::json!({
//!     "url": "http://127.0.0.1:9000/hooks/T0K3N",
//!     "body": {"chat": "ops", "message": "{person_name} at {branch_name}", "count": 1},
//!     "headers": {"Authorization": "Bearer s3cret"},
//! });
//! let notifier = registry.build("webhook", &settings).unwrap();
//! assert!(!format!("{notifier:?}").contains("s3cret"));
//! ```

mod body;
mod event;
mod settings;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use cctv_admin::notify::{
    Delivery, Notifier, NotifierConfigError, NotifierRegistry, NotifyError, OutboundMessage,
    parse_settings,
};
use reqwest::header::{HeaderMap, HeaderValue};

pub use body::{MESSAGE_VARIABLES, default_body};
pub use event::HttpWebhookTransport;
pub use settings::WebhookSettings;

use crate::body::BodyTemplate;

/// The kind name used in configuration.
pub const KIND: &str = "webhook";

/// A webhook channel; holds its own HTTP client, built once.
pub struct WebhookNotifier {
    url: reqwest::Url,
    body: BodyTemplate,
    /// Marked sensitive: values never appear in logs or `Debug`.
    headers: HeaderMap,
    id_pointer: String,
    http: reqwest::Client,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("origin", &self.url.origin().ascii_serialization())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Validates the settings (URL, headers, body template) and builds the HTTP client.
    pub fn new(settings: &WebhookSettings) -> Result<Self, NotifierConfigError> {
        let checked = settings.check()?;
        let body = BodyTemplate::compile(&settings.body)
            .map_err(|message| NotifierConfigError::invalid(KIND, message))?;
        Ok(Self {
            url: checked.url,
            body,
            headers: checked.headers,
            id_pointer: settings.id_pointer.clone(),
            http: cctv_notify_http::client(KIND, checked.timeout)?,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn kind(&self) -> &'static str {
        KIND
    }

    #[tracing::instrument(skip_all, fields(kind = KIND, origin = %self.url.origin().ascii_serialization()))]
    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError> {
        let body = self
            .body
            .render(&body::context(message))
            .map_err(|e| NotifyError::rejected(Some("template".into()), e.to_string()))?;
        let mut request = self.http.post(self.url.clone()).json(&body);
        if !self.headers.contains_key("idempotency-key")
            && let Ok(key) = HeaderValue::from_str(&message.idempotency_key)
        {
            request = request.header("idempotency-key", key);
        }
        let answer = cctv_notify_http::execute(request.headers(self.headers.clone())).await;
        match &answer {
            Ok(a) => tracing::debug!(latency_ms = a.elapsed.as_millis() as u64, "sent"),
            Err(error) => tracing::info!(%error, "not sent"),
        }
        let answer = answer?;
        Ok(Delivery::sent(
            cctv_notify_http::id_at(&answer.json, &self.id_pointer),
            answer.elapsed,
        ))
    }
}

/// Builds a [`WebhookNotifier`] from its JSON settings (the registry's factory).
pub fn factory(settings: &serde_json::Value) -> Result<Arc<dyn Notifier>, NotifierConfigError> {
    let settings: WebhookSettings = parse_settings(KIND, settings)?;
    Ok(Arc::new(WebhookNotifier::new(&settings)?))
}

/// Registers the `webhook` kind.
pub fn register(registry: &mut NotifierRegistry) {
    registry.register(KIND, factory);
}
