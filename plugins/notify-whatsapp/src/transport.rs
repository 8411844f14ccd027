//! One HTTP exchange with the provider, mapped to the notifier contract.

use std::error::Error as _;
use std::time::{Duration, Instant};

use cctv_core::notify::http::error_for_status;
use cctv_core::notify::{NotifierConfigError, NotifyError};
use serde_json::Value;

use crate::KIND;

/// Answers larger than this are cut: ids and error messages sit at the start.
const MAX_BODY: usize = 64 * 1024;

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The body as JSON; `Null` when it is not JSON (still a delivery).
    pub json: Value,
    pub elapsed: Duration,
}

/// One client per notifier: connection pool, timeout, no redirects (a redirect means a
/// wrong base URL, and following it would turn the POST into a GET).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, NotifierConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| NotifierConfigError::invalid(KIND, format!("HTTP client: {e}")))
}

/// Sends the request; 2xx → [`Answer`], anything else → the mapped [`NotifyError`].
pub(crate) async fn execute(request: reqwest::RequestBuilder) -> Result<Answer, NotifyError> {
    let started = Instant::now();
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    let elapsed = started.elapsed();
    if let Some(error) = error_for_status(status, &body) {
        return Err(error);
    }
    Ok(Answer {
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        elapsed,
    })
}

/// Timeouts and connection failures are transient. The URL is dropped from the message
/// (webhook-style URLs can carry secrets); the cause chain is kept.
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

/// The first string found at any of `pointers` (JSON pointers).
pub(crate) fn string_at(json: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .filter_map(|p| json.pointer(p))
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        .map(str::to_owned)
}
