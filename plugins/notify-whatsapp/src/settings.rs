//! Typed settings, one struct per provider mode. Secrets are redacted from `Debug`.

use std::fmt;
use std::time::Duration;

use cctv_admin::notify::NotifierConfigError;
use serde::Deserialize;

use crate::KIND;

/// The provider API to talk to, chosen by the `mode` field.
///
/// ```json
/// {"mode": "waha", "base_url": "http://localhost:3000", "session": "default", "api_key": "…"}
/// {"mode": "meta", "phone_number_id": "1234", "access_token": "…"}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum WhatsAppSettings {
    /// A WAHA server (WhatsApp HTTP API, self-hosted).
    Waha(WahaSettings),
    /// Meta's WhatsApp Cloud API (Graph API).
    Meta(MetaSettings),
}

/// WAHA mode: `POST {base_url}/api/sendText` and `/api/sendImage`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WahaSettings {
    /// Base URL of the WAHA server, e.g. `http://localhost:3000` (no trailing `/api`).
    pub base_url: String,
    /// WAHA session that sends the messages.
    #[serde(default = "default_session")]
    pub session: String,
    /// Sent as the `X-Api-Key` header; leave unset only for a WAHA without authentication.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Whole-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Meta Cloud API mode: `POST {base_url}/{api_version}/{phone_number_id}/messages`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// Graph API base URL.
    #[serde(default = "default_graph_url")]
    pub base_url: String,
    /// Graph API version, e.g. `v21.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The WhatsApp Business phone number id that sends the messages.
    pub phone_number_id: String,
    /// Bearer token of a system user with `whatsapp_business_messaging`.
    pub access_token: String,
    /// Send an approved template instead of free text (required outside the 24-hour
    /// customer service window, i.e. for most alerts).
    #[serde(default)]
    pub template: Option<MetaTemplate>,
    /// Whole-request timeout in milliseconds (a media upload and a send each get it).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// An approved message template of the WhatsApp Business account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaTemplate {
    /// Template name as approved in WhatsApp Manager.
    pub name: String,
    /// Language code of the approved translation, e.g. `id` or `en_US`.
    pub language: String,
    /// Values of the body's `{{1}}`, `{{2}}`, … in order; each is a cctv message template
    /// over the event variables plus `text` and `recipient`, e.g. `"{branch_name}"`.
    #[serde(default)]
    pub body_parameters: Vec<String>,
    /// The template has an image header: attach the message's image there. Without it the
    /// image of a template message is not sent.
    #[serde(default)]
    pub image_header: bool,
}

fn default_session() -> String {
    "default".to_owned()
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_graph_url() -> String {
    "https://graph.facebook.com".to_owned()
}

fn default_api_version() -> String {
    "v21.0".to_owned()
}

impl WhatsAppSettings {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(match self {
            Self::Waha(s) => s.timeout_ms,
            Self::Meta(s) => s.timeout_ms,
        })
    }
}

/// Checks a base URL and returns it without a trailing slash.
pub(crate) fn base_url(raw: &str) -> Result<String, NotifierConfigError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| NotifierConfigError::invalid(KIND, format!("base_url `{raw}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err(NotifierConfigError::invalid(
            KIND,
            format!("base_url `{raw}` must be an http(s) URL without a query"),
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

pub(crate) fn check_timeout(ms: u64) -> Result<(), NotifierConfigError> {
    if ms == 0 || ms > 300_000 {
        return Err(NotifierConfigError::invalid(
            KIND,
            "timeout_ms must be between 1 and 300000",
        ));
    }
    Ok(())
}

const REDACTED: &str = "[redacted]";

impl fmt::Debug for WahaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WahaSettings")
            .field("base_url", &self.base_url)
            .field("session", &self.session)
            .field("api_key", &self.api_key.as_ref().map(|_| REDACTED))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl fmt::Debug for MetaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaSettings")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &REDACTED)
            .field("template", &self.template)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}
