//! Event webhooks: every event of a (branch, device) whose settings list webhook URLs is
//! POSTed once to each URL, signed the Standard Webhooks way, whoever the WhatsApp
//! recipients are (or whether there are any).
//!
//! - **Endpoints** live in the event settings row (`webhook_enabled`, `webhooks`). Each
//!   endpoint has its own secret, `whsec_` + base64 of 24 random bytes, generated when the
//!   URL is first saved. URL and secret are stored encrypted with the admin parts'
//!   [`SecretBox`]: the URL often carries a token, and the secret must be readable to sign.
//! - **Signing** ([`sign`]): `webhook-id` (stable for one event and endpoint, so a receiver
//!   drops a retried duplicate), `webhook-timestamp` (Unix seconds of this attempt) and
//!   `webhook-signature` = `v1,` + base64(HMAC-SHA256(secret bytes, `id.timestamp.body`)).
//!   Any Standard Webhooks library verifies it; the test vector of the specification is a
//!   unit test here.
//! - **Delivery** goes through a [`WebhookTransport`] (the binary wires the HTTP one from
//!   `cctv-notify-webhook`). Answers map like every HTTP notifier: 2xx delivered, 408/429/
//!   5xx and timeouts retried on the notifications schedule (honouring `Retry-After`),
//!   other statuses refused for good. No cooldown: a receiver gets every event.
//! - In the delivery log an endpoint is the channel `event_webhook` and its recipient is
//!   `endpoint_label`: the URL's origin and a short hash, never its path or query.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Delivery, NotifyError};
use crate::access::SecretBox;
use crate::stream_url::origin;
use crate::template::TemplateVars;
use cctv_core::records::hex;

/// The channel name of event webhooks in deliveries and the message log.
pub(crate) const CHANNEL: &str = "event_webhook";

/// The payload `type` of a detection event.
pub(crate) const EVENT_TYPE: &str = "person.detected";

/// At most this many endpoints per event setting.
pub const MAX_ENDPOINTS: usize = 10;

/// One endpoint, decrypted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("endpoint", &endpoint_label(&self.url))
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl WebhookEndpoint {
    /// A new endpoint with a fresh secret.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: new_secret(),
        }
    }

    /// The stored form: the endpoint as JSON, encrypted.
    pub fn seal(&self, secrets: &SecretBox) -> String {
        secrets.encrypt(&serde_json::to_string(self).unwrap_or_default())
    }

    /// The endpoint from its stored form; `None` when it cannot be read (another key).
    pub(crate) fn open(stored: &str, secrets: &SecretBox) -> Option<Self> {
        serde_json::from_str(&secrets.decrypt(stored).ok()?).ok()
    }
}

/// The endpoints of an event settings row (its `webhooks` column); unreadable entries are
/// left out with a warning.
pub(crate) fn endpoints(column: Option<&Value>, secrets: &SecretBox) -> Vec<WebhookEndpoint> {
    let Some(Value::Array(items)) = column else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|stored| {
            let endpoint = WebhookEndpoint::open(stored, secrets);
            if endpoint.is_none() {
                tracing::warn!("a stored webhook endpoint cannot be decrypted with this node's secret key; it is skipped");
            }
            endpoint
        })
        .collect()
}

/// `whsec_` + base64 of 24 random bytes.
pub(crate) fn new_secret() -> String {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).expect("the OS random generator is available");
    format!("whsec_{}", STANDARD.encode(key))
}

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is not `whsec_` followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The URL as logs and lists show it: scheme, host and port, then `#` and the first 8 hex
/// digits of the whole URL's SHA-256 (tells two endpoints of one host apart, reveals no
/// path or token).
pub(crate) fn endpoint_label(url: &str) -> String {
    let origin = origin(url).unwrap_or_else(|| "[invalid url]".to_owned());
    format!("{origin}#{}", short_hash(url))
}

/// The `webhook-id` of (event, endpoint): the same for every attempt.
pub(crate) fn message_id(event_log_id: i64, url: &str) -> String {
    format!("msg_{event_log_id}_{}", short_hash(url))
}

/// The first 8 hex digits of the URL's SHA-256.
fn short_hash(url: &str) -> String {
    hex(&Sha256::digest(url.as_bytes())[..4])
}

/// The event as the receiver gets it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventPayload<'a> {
    pub event_log_id: i64,
    pub branch_id: i64,
    pub device_id: &'a str,
    pub re_id: Option<&'a str>,
    /// RFC 3339, UTC.
    pub detected_at: String,
    pub vars: &'a TemplateVars,
    /// The rendered message text (the same the WhatsApp recipients get), when the settings
    /// send one.
    pub text: Option<&'a str>,
    /// Store-relative path of the event image, when it has one.
    pub image_path: Option<&'a str>,
}

impl EventPayload<'_> {
    /// `{"type", "timestamp", "data"}`, the Standard Webhooks payload shape.
    pub(crate) fn to_json(&self) -> String {
        let v = self.vars;
        json!({
            "type": EVENT_TYPE,
            "timestamp": self.detected_at,
            "data": {
                "event_log_id": self.event_log_id,
                "branch_id": self.branch_id,
                "branch_code": v.branch_code,
                "branch_name": v.branch_name,
                "device_id": self.device_id,
                "device_name": v.device_name,
                "re_id": self.re_id,
                "person_name": v.person_name,
                "detected_count": v.detected_count,
                "event_type": v.status,
                "local_time": v.timestamp,
                "date": v.date,
                "total_actual_count": v.total_actual_count,
                "total_detection_branch_count": v.total_detection_branch_count,
                "text": self.text,
                "image_path": self.image_path,
            },
        })
        .to_string()
    }
}

/// One signed POST, ready to send.
#[derive(Clone)]
pub struct WebhookRequest {
    pub url: String,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
    /// JSON.
    pub body: String,
}

impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("endpoint", &endpoint_label(&self.url))
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Sends signed webhook requests (HTTP in the binary; anything in tests).
#[async_trait]
pub trait WebhookTransport: Send + Sync + fmt::Debug + 'static {
    /// One POST with the three `webhook-*` headers and `content-type: application/json`;
    /// errors named as for [`super::Notifier::send`].
    async fn post(&self, request: &WebhookRequest) -> Result<Delivery, NotifyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reproduce_the_standard_webhooks_test_vector() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(sign("whsec_***", "m", 1, "{}"), Err(BadSecret));
    }

    #[test]
    fn secrets_are_fresh_and_sign() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_") && a.len() == 6 + 32, "{a}");
        assert!(sign(&a, "msg_1", 1, "{}").is_ok());
    }

    #[test]
    fn labels_hide_paths_tokens_and_user_info() {
        let label = endpoint_label("https://bot:pw@hooks.example.com:8443/T0K3N/x?key=s3cret");
        assert!(
            label.starts_with("https://hooks.example.com:8443#"),
            "{label}"
        );
        assert!(!label.contains("T0K3N") && !label.contains("s3cret") && !label.contains("pw"));
        assert_ne!(
            endpoint_label("https://h.example/a"),
            endpoint_label("https://h.example/b")
        );
        assert_eq!(
            message_id(7, "https://h.example/a"),
            message_id(7, "https://h.example/a")
        );
    }

    #[test]
    fn endpoints_round_trip_sealed_and_skip_unreadable_ones() {
        let secrets = SecretBox::new(&[7; 32]);
        let endpoint = WebhookEndpoint::new("https://h.example/hook");
        let stored = json!([endpoint.seal(&secrets), "not-a-sealed-value"]);
        assert_eq!(endpoints(Some(&stored), &secrets), vec![endpoint.clone()]);
        assert!(!format!("{endpoint:?}").contains(&endpoint.secret));
        assert!(endpoints(Some(&stored), &SecretBox::new(&[8; 32])).is_empty());
        assert!(endpoints(None, &secrets).is_empty());
    }
}
