//! Typed settings of the webhook notifier. The URL path and header values are treated as
//! secrets (webhook URLs often embed a token) and never appear in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use cctv_admin::notify::NotifierConfigError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use crate::KIND;
use crate::body::default_body;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The `http(s)` URL that receives one `POST` per message.
    pub url: String,
    /// The JSON body template: every string value is a message template over the event
    /// variables plus `recipient`, `text`, `idempotency_key`, `image_path`; other values
    /// are sent as written. Default: [`default_body`].
    #[serde(default = "default_body")]
    pub body: Value,
    /// Extra request headers, e.g. `Authorization`; values are treated as secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Whole-request timeout in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// JSON pointer to the receiver's message id in its answer (a string or a number);
    /// answers without it are still deliveries.
    #[serde(default = "default_id_pointer")]
    pub id_pointer: String,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_id_pointer() -> String {
    "/id".to_owned()
}

/// Settings turned into the client's types.
pub(crate) struct Checked {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

impl WebhookSettings {
    pub(crate) fn check(&self) -> Result<Checked, NotifierConfigError> {
        let invalid = |m: String| NotifierConfigError::invalid(KIND, m);
        let url = reqwest::Url::parse(&self.url).map_err(|e| invalid(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url must be http or https".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 300_000 {
            return Err(invalid("timeout_ms must be between 1 and 300000".into()));
        }
        if !self.id_pointer.is_empty() && !self.id_pointer.starts_with('/') {
            return Err(invalid(format!(
                "id_pointer `{}` must be a JSON pointer such as `/id`",
                self.id_pointer
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("header name `{name}` is not valid")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "header `{name}` has a value not allowed in a header"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        Ok(Checked {
            url,
            headers,
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = reqwest::Url::parse(&self.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "[invalid url]".to_owned());
        f.debug_struct("WebhookSettings")
            .field("url", &format_args!("{origin}/[redacted]"))
            .field("body", &self.body)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout_ms", &self.timeout_ms)
            .field("id_pointer", &self.id_pointer)
            .finish()
    }
}
