//! # cctv-notify-http
//!
//! What every HTTP notifier plugin needs, written once: the WhatsApp and webhook plugins use
//! it, and a third-party plugin (SMS gateway, chat bot, incident tool) can too.
//!
//! - [`client`]: one `reqwest` client per notifier, with the timeout set and redirects off
//!   (a redirect means a wrong base URL, and following it would turn a POST into a GET);
//! - [`execute`]: one exchange, mapped to the notifier contract. 2xx is an [`Answer`];
//!   anything else is the [`NotifyError`] of [`cctv_admin::notify::http::error_for_status`]
//!   (408/429/5xx `Unavailable`, other statuses `Rejected`), carrying the provider's
//!   `Retry-After` so the notification service waits at least that long. Timeouts and
//!   connection failures are `Unavailable`; URLs never appear in error messages (webhook
//!   URLs often carry a token in the path);
//! - [`id_at`] / [`string_at`]: the provider's message id from a JSON answer;
//! - `testing` (feature): [`testing::FakeProvider`], a scripted provider on loopback.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cctv_admin::notify::NotifyError> {
//! use std::time::Duration;
//!
//! let http = cctv_notify_http::client("sms", Duration::from_secs(10)).unwrap();
//! let request = http
//!     .post("http://127.0.0.1:9000/send")
//!     .json(&serde_json::json!({"to": "6281234567890", "text": "hello"}));
//! let answer = cctv_notify_http::execute(request).await?;
//! let id = cctv_notify_http::id_at(&answer.json, "/id");
//! let delivery = cctv_admin::notify::Delivery::sent(id, answer.elapsed);
//! # let _ = delivery;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "testing")]
pub mod testing;

use std::error::Error as _;
use std::time::{Duration, Instant};

use cctv_admin::notify::http::{error_for_status, parse_retry_after};
use cctv_admin::notify::{NotifierConfigError, NotifyError};
use cctv_core::jiff::Timestamp;
use serde_json::Value;

/// Answers larger than this are cut: ids and error messages sit at the start.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A 2xx answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The body as JSON; `Null` when it is not JSON (still a delivery).
    pub json: Value,
    pub elapsed: Duration,
}

/// One client per notifier: connection pool, timeout, no redirects. `kind` names the
/// plugin in the error.
pub fn client(kind: &str, timeout: Duration) -> Result<reqwest::Client, NotifierConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifierConfigError::invalid(kind, format!("HTTP client: {e}")))
}

/// Sends the request; 2xx → [`Answer`], anything else → the mapped [`NotifyError`], with
/// the answer's `Retry-After` when it has one.
pub async fn execute(request: reqwest::RequestBuilder) -> Result<Answer, NotifyError> {
    let started = Instant::now();
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Timestamp::now()));
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    let elapsed = started.elapsed();
    if let Some(error) = error_for_status(status, &body) {
        return Err(error.with_retry_after(retry_after));
    }
    Ok(Answer {
        status,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        elapsed,
    })
}

/// Timeouts and connection failures are transient. The URL is dropped from the message;
/// the cause chain is kept.
fn transport_error(error: reqwest::Error) -> NotifyError {
    let code = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "transport"
    };
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    NotifyError::unavailable(Some(code.to_owned()), message)
}

/// The value at a JSON pointer as an id: a non-empty string, or a number.
pub fn id_at(json: &Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first non-empty string found at any of `pointers` (JSON pointers).
pub fn string_at(json: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .filter_map(|p| json.pointer(p))
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_or_numbers_at_the_pointer() {
        let json = serde_json::json!({"id": 42, "messages": [{"id": "wamid.1"}], "empty": ""});
        assert_eq!(id_at(&json, "/id").as_deref(), Some("42"));
        assert_eq!(id_at(&json, "/empty"), None);
        assert_eq!(
            string_at(&json, &["/empty", "/messages/0/id"]).as_deref(),
            Some("wamid.1")
        );
        assert_eq!(string_at(&json, &["/missing"]), None);
    }
}
