//! How an HTTP provider's answer maps to the notifier contract, shared by every HTTP plugin
//! so that "retry or not" means the same thing everywhere. Pure: no HTTP client here.
//!
//! | status | outcome |
//! |---|---|
//! | 2xx | delivered |
//! | 408, 429, 5xx | [`NotifyError::Unavailable`] (retry later) |
//! | other 4xx, 3xx (redirects are not followed) | [`NotifyError::Rejected`] (do not retry) |

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::NotifyError;

/// The longest `Retry-After` honoured: a provider asking for more (or a hostile one asking
/// for a year) gets its attempt an hour later, and the job's own attempt limit still holds.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Longest provider text copied into an error message.
const MAX_MESSAGE_CHARS: usize = 300;

/// What a status means for a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusClass {
    Delivered,
    Rejected,
    Unavailable,
}

pub(crate) fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Delivered,
        408 | 429 | 500..=599 => StatusClass::Unavailable,
        _ => StatusClass::Rejected,
    }
}

/// The error for a non-2xx answer, with the provider's code and message when the body is
/// one of the common JSON error shapes (Meta's `{"error":{"code","message"}}`, NestJS/WAHA's
/// `{"statusCode","message","error"}`, `{"code","message"}`), else a prefix of the body.
/// Returns `None` for a 2xx status.
pub fn error_for_status(status: u16, body: &[u8]) -> Option<NotifyError> {
    let (code, message) = provider_error_details(body);
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        message
    };
    match classify_status(status) {
        StatusClass::Delivered => None,
        StatusClass::Rejected => Some(NotifyError::Rejected {
            code,
            message,
            status: Some(status),
        }),
        StatusClass::Unavailable => Some(NotifyError::Unavailable {
            code,
            message,
            status: Some(status),
            retry_after: None,
        }),
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, measured from `now`), capped at `MAX_RETRY_AFTER`.
/// A date in the past means no wait; anything unreadable is `None`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `(code, message)` from an error body; never fails.
pub(crate) fn provider_error_details(body: &[u8]) -> (Option<String>, String) {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return (None, truncate(String::from_utf8_lossy(body).trim()));
    };
    let nested = json.get("error").filter(|e| e.is_object());
    let code = nested
        .and_then(|e| e.get("code"))
        .or_else(|| json.get("code"))
        .or_else(|| json.get("error").filter(|e| e.is_string()))
        .or_else(|| json.get("statusCode"))
        .and_then(scalar_text);
    let message = nested
        .and_then(|e| e.get("message"))
        .or_else(|| json.get("message"))
        .or_else(|| json.pointer("/exception/message"))
        .and_then(message_text)
        .unwrap_or_else(|| json.to_string());
    (code, truncate(&message))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// NestJS validation errors carry `message` as a list of strings.
fn message_text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => scalar_text(other),
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
        let now: Timestamp = "2015-10-21T07:27:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        for bad in ["", "-5", "soon", "1.5"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn statuses_are_classified_by_what_the_caller_can_do() {
        let cases = [
            (200, StatusClass::Delivered),
            (201, StatusClass::Delivered),
            (301, StatusClass::Rejected),
            (400, StatusClass::Rejected),
            (401, StatusClass::Rejected),
            (404, StatusClass::Rejected),
            (408, StatusClass::Unavailable),
            (422, StatusClass::Rejected),
            (429, StatusClass::Unavailable),
            (500, StatusClass::Unavailable),
            (503, StatusClass::Unavailable),
        ];
        for (status, class) in cases {
            assert_eq!(classify_status(status), class, "status {status}");
        }
    }

    #[test]
    fn meta_error_bodies_yield_the_numeric_code_and_message() {
        let body = br#"{"error":{"message":"Recipient not allowed","type":"OAuthException","code":131030,"fbtrace_id":"x"}}"#;
        let err = error_for_status(400, body).unwrap();
        assert_eq!(err.code(), Some("131030"));
        assert!(err.to_string().ends_with("Recipient not allowed"), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn nest_style_bodies_yield_the_error_name_and_joined_messages() {
        let body = br#"{"statusCode":422,"message":["chatId must be a string","text is empty"],"error":"Unprocessable Entity"}"#;
        let (code, message) = provider_error_details(body);
        assert_eq!(code.as_deref(), Some("Unprocessable Entity"));
        assert_eq!(message, "chatId must be a string; text is empty");
    }

    #[test]
    fn non_json_bodies_are_kept_as_truncated_text() {
        let long = "x".repeat(1000);
        let err = error_for_status(502, long.as_bytes()).unwrap();
        assert!(err.is_retryable());
        assert_eq!(err.code(), None);
        assert_eq!(err.status(), Some(502));
        let NotifyError::Unavailable { message, .. } = err else {
            unreachable!()
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn empty_error_bodies_still_say_what_happened() {
        let err = error_for_status(503, b"").unwrap();
        assert_eq!(
            err.to_string(),
            "provider unavailable (HTTP 503): HTTP 503 with an empty body"
        );
        assert_eq!(error_for_status(204, b""), None);
    }
}
