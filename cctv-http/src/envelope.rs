//! The JSON envelope (`{success, message, data|error, meta}`), and the one place where
//! errors become responses.
//!
//! Internal causes are logged with the request id and never written to a body.

use std::time::Instant;

use cctv_core::query::Page;
use cctv_core::validation::ValidationErrors;
use cctv_rate_limit::RateDecision;
use jiff::Timestamp;
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// Per-request facts every response needs; put in the depot by [`RequestMetaHoop`].
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub started: Instant,
    pub request_id: String,
}

impl RequestMeta {
    /// `X-Request-ID` when the client sent a sane one, else a new UUID.
    pub fn from_request(req: &Request) -> Self {
        let sent = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()));
        Self {
            started: Instant::now(),
            request_id: sent.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
        }
    }

    /// The `meta` member of every answer.
    fn block(&self) -> MetaBlock<'_> {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        MetaBlock {
            execution_time: format!("{ms:.2}ms"),
            request_id: &self.request_id,
            timestamp: Timestamp::now().to_string(),
            version: "1.0",
        }
    }
}

/// The `meta` member, its keys in sorted order as in every other object of the envelope.
#[derive(Serialize)]
struct MetaBlock<'a> {
    execution_time: String,
    request_id: &'a str,
    timestamp: String,
    version: &'static str,
}

/// A successful answer's `data`: a JSON value, or one already written as JSON text
/// ([`Reply::written`]).
#[derive(Debug, Clone)]
enum Data {
    Value(Value),
    Written(Box<RawValue>),
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub message: String,
    data: Data,
    /// Extra top-level members (`pagination`, `statistics`).
    pub extra: Vec<(&'static str, Value)>,
}

impl Reply {
    pub fn ok(message: impl Into<String>, data: impl Serialize) -> Self {
        Self::with_status(StatusCode::OK, message, data)
    }

    pub fn with_status(
        status: StatusCode,
        message: impl Into<String>,
        data: impl Serialize,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            data: Data::Value(to_value(data)),
            extra: Vec::new(),
        }
    }

    /// Like [`Reply::with_status`], the data written as JSON text at once instead of
    /// through a `Value`: for large answers (a batch's 1,000 results), where building
    /// the map of every item cost more than writing it. The text has the members in the
    /// order `data` serialises them, where a `Value` sorts them: give such data its
    /// fields in sorted order to answer the same text.
    pub fn written(status: StatusCode, message: impl Into<String>, data: impl Serialize) -> Self {
        Self {
            status,
            message: message.into(),
            data: match serde_json::value::to_raw_value(&data) {
                Ok(text) => Data::Written(text),
                Err(_) => Data::Value(Value::Null),
            },
            extra: Vec::new(),
        }
    }

    /// A list with the pagination block.
    pub fn page<T: Serialize>(message: impl Into<String>, page: &Page<T>) -> Self {
        let mut reply = Self::ok(message, &page.items);
        reply.extra.push((
            "pagination",
            json!({
                "current_page": page.page.page,
                "per_page": page.page.per_page,
                "total": page.total,
                "last_page": page.last_page(),
                "from": page.from(),
                "to": page.to(),
            }),
        ));
        reply
    }

    pub fn extra(mut self, key: &'static str, value: impl Serialize) -> Self {
        self.extra.push((key, to_value(value)));
        self
    }
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Everything that can go wrong in a request, by what the client can do about it.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized(String),
    InvalidCredentials,
    ExpiredCredentials,
    Forbidden(String),
    NotFound(String),
    Validation(ValidationErrors),
    RateLimited(RateDecision),
    /// Too many failed logins: 429 with `Retry-After`.
    TooManyAttempts(std::time::Duration),
    PayloadTooLarge(String),
    /// A batch upload with more items than allowed: 413 naming the limit.
    BatchTooLarge {
        limit: usize,
        items: usize,
    },
    UnsupportedMediaType(String),
    Conflict(String),
    /// An idempotency key reused for a different request: 409 naming the stored job.
    IdempotencyConflict(cctv_core::jobs::JobId),
    /// Logged with its cause; the client sees a generic message.
    Server(String),
    Unavailable(String),
    /// A camera behind the stream proxy refused, failed or sent too much (502).
    BadGateway(String),
    /// A camera behind the stream proxy did not answer in time (504).
    GatewayTimeout(String),
    /// The storage backend the server was built with lacks the capability (501); the
    /// reference server's backends have them all, an embedder's may not.
    NotImplemented(String),
    /// The person already has this many proxied streams open (429).
    TooManyStreams(usize),
    /// An API path asked with a method it does not have (405 with `Allow`).
    MethodNotAllowed {
        method: String,
        allow: String,
    },
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationErrors::single(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) | Self::InvalidCredentials | Self::ExpiredCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) | Self::TooManyAttempts(_) | Self::TooManyStreams(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::PayloadTooLarge(_) | Self::BatchTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict(_) | Self::IdempotencyConflict(_) => StatusCode::CONFLICT,
            Self::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::ExpiredCredentials => "EXPIRED_CREDENTIALS",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::RateLimited(_) | Self::TooManyAttempts(_) | Self::TooManyStreams(_) => {
                "RATE_LIMIT_EXCEEDED"
            }
            Self::PayloadTooLarge(_) | Self::BatchTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::Conflict(_) => "CONFLICT",
            Self::IdempotencyConflict(_) => "IDEMPOTENCY_CONFLICT",
            Self::Server(_) => "SERVER_ERROR",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::BadGateway(_) => "BAD_GATEWAY",
            Self::GatewayTimeout(_) => "GATEWAY_TIMEOUT",
            Self::NotImplemented(_) => "NOT_IMPLEMENTED",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::PayloadTooLarge(m) => m.clone(),
            Self::UnsupportedMediaType(m) | Self::Conflict(m) | Self::Unavailable(m) => m.clone(),
            Self::BadGateway(m) | Self::GatewayTimeout(m) | Self::NotImplemented(m) => m.clone(),
            Self::TooManyStreams(max) => {
                format!(
                    "You have {max} streams open, the most allowed at once. Close one and try again."
                )
            }
            Self::MethodNotAllowed { method, allow } => {
                format!("This path does not accept {method}; it accepts {allow}")
            }
            Self::InvalidCredentials => "Invalid API credentials".into(),
            Self::ExpiredCredentials => "API credentials expired".into(),
            Self::Validation(e) => e
                .first_message()
                .unwrap_or("The given data was invalid")
                .to_owned(),
            Self::BatchTooLarge { limit, items } => {
                format!("A batch may hold at most {limit} detections; this one holds {items}")
            }
            Self::RateLimited(_) => "Rate limit exceeded. Try again later.".into(),
            Self::TooManyAttempts(_) => "Too many login attempts. Try again later.".into(),
            Self::Server(_) => "An internal error occurred".into(),
            Self::IdempotencyConflict(_) => {
                "This idempotency key was already used for a different request".into()
            }
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::Validation(e) => Some(to_value(e)),
            Self::IdempotencyConflict(job_id) => Some(json!({ "job_id": job_id })),
            Self::BatchTooLarge { limit, items } => Some(json!({ "limit": limit, "items": items })),
            Self::RateLimited(d) => Some(json!({
                "limit": d.limit,
                "remaining": d.remaining,
                "period": "hour",
                "reset_at": Timestamp::from_second(d.reset_at).map(|t| t.to_string()).unwrap_or_default(),
            })),
            Self::TooManyStreams(max) => Some(json!({"max_open_streams": max})),
            Self::MethodNotAllowed { allow, .. } => Some(json!({"allow": allow})),
            _ => None,
        }
    }
}

impl From<cctv_core::storage::StorageError> for ApiError {
    fn from(e: cctv_core::storage::StorageError) -> Self {
        use cctv_core::storage::StorageError as E;
        match e {
            E::NotFound => Self::NotFound("Resource not found".into()),
            E::Unsupported(_) => Self::NotImplemented(e.to_string()),
            E::Unavailable(m) => {
                tracing::warn!(cause = %m, "storage unavailable");
                Self::Unavailable("The service is temporarily unavailable".into())
            }
            other => Self::Server(other.to_string()),
        }
    }
}

/// The `meta` member for this request (`null` when the request was not given one).
fn meta(depot: &Depot) -> Option<MetaBlock<'_>> {
    depot
        .get_typed::<RequestMeta>()
        .ok()
        .map(RequestMeta::block)
}

fn write_json(res: &mut Response, status: StatusCode, body: &impl Serialize) {
    res.status_code(status);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let _ = res.write_body(bytes);
}

/// Writes a successful reply.
pub fn render_reply(res: &mut Response, depot: &Depot, reply: Reply) {
    let body = SuccessBody {
        reply: &reply,
        meta: meta(depot),
    };
    write_json(res, reply.status, &body);
}

/// A successful answer's body, written straight from the [`Reply`] (every answer pays
/// for it, so it is not copied into a JSON map first). Its members come out in sorted
/// order, as a JSON map writes them: `data`, `message`, `meta`, the extra members, `success`.
struct SuccessBody<'a> {
    reply: &'a Reply,
    meta: Option<MetaBlock<'a>>,
}

/// One member of [`SuccessBody`].
enum Member<'a> {
    Json(&'a Value),
    Raw(&'a RawValue),
    Text(&'a str),
    Meta(&'a Option<MetaBlock<'a>>),
    Flag(bool),
}

impl Serialize for Member<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Json(v) => v.serialize(serializer),
            Self::Raw(v) => v.serialize(serializer),
            Self::Text(t) => t.serialize(serializer),
            Self::Meta(m) => m.serialize(serializer),
            Self::Flag(b) => b.serialize(serializer),
        }
    }
}

impl Serialize for SuccessBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // In the order a map would have been filled, so that a later member of the same
        // name wins, as it did there.
        let mut members = vec![
            ("success", Member::Flag(true)),
            ("message", Member::Text(&self.reply.message)),
            (
                "data",
                match &self.reply.data {
                    Data::Written(text) => Member::Raw(text),
                    Data::Value(value) => Member::Json(value),
                },
            ),
        ];
        members.extend(self.reply.extra.iter().map(|(k, v)| (*k, Member::Json(v))));
        members.push(("meta", Member::Meta(&self.meta)));
        members.reverse();
        members.sort_by_key(|(key, _)| *key); // stable: of equal names the last set is first
        members.dedup_by_key(|(key, _)| *key);
        serializer.collect_map(members)
    }
}

/// Writes an error (logging server-side causes).
pub fn render_error(res: &mut Response, depot: &Depot, error: ApiError) {
    let request_id = depot
        .get_typed::<RequestMeta>()
        .map(|m| m.request_id.clone())
        .unwrap_or_default();
    if let ApiError::Server(cause) = &error {
        tracing::error!(%request_id, %cause, "request failed");
    }
    let retry = match &error {
        ApiError::RateLimited(d) => Some(d.retry_after(Timestamp::now())),
        ApiError::TooManyAttempts(d) => Some(d.as_secs().max(1) as i64),
        ApiError::TooManyStreams(_) => Some(5),
        _ => None,
    };
    if let Some(retry) = retry
        && let Ok(v) = HeaderValue::from_str(&retry.to_string())
    {
        res.headers_mut().insert("retry-after", v);
    }
    if let ApiError::MethodNotAllowed { allow, .. } = &error
        && let Ok(v) = HeaderValue::from_str(allow)
    {
        res.headers_mut().insert("allow", v);
    }
    let mut err = Map::new();
    err.insert("code".into(), Value::String(error.code().into()));
    if let Some(details) = error.details() {
        err.insert("details".into(), details);
    }
    let body = json!({"success": false, "message": error.message(), "error": err, "meta": to_value(meta(depot))});
    write_json(res, error.status(), &body);
}

/// Renders either outcome.
pub fn respond(res: &mut Response, depot: &Depot, result: Result<Reply, ApiError>) {
    match result {
        Ok(reply) => render_reply(res, depot, reply),
        Err(error) => render_error(res, depot, error),
    }
}

#[cfg(test)]
mod tests {
    use cctv_core::storage::StorageError;

    use super::*;

    /// The body as it was built before: every member put into a JSON map.
    fn body_through_a_map(reply: Reply, meta: Value) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(true));
        body.insert("message".into(), Value::String(reply.message));
        let data = match reply.data {
            Data::Value(value) => value,
            Data::Written(text) => serde_json::from_str(text.get()).unwrap(),
        };
        body.insert("data".into(), data);
        for (key, value) in reply.extra {
            body.insert(key.into(), value);
        }
        body.insert("meta".into(), meta);
        serde_json::to_vec(&Value::Object(body)).unwrap()
    }

    #[test]
    fn a_reply_is_written_as_through_a_map() {
        let request = RequestMeta {
            started: Instant::now(),
            request_id: "req-\"1\"".into(),
        };
        let replies = || {
            let mut paged = Reply::ok("Listed", json!([{"b": 1, "a": "x"}]));
            paged.extra.push(("statistics", json!({"total": 2})));
            paged.extra.push(("pagination", json!({"page": 1})));
            let mut clashing = Reply::ok("Clash", json!(null));
            clashing.extra.push(("data", json!("extra wins")));
            clashing.extra.push(("meta", json!("meta wins")));
            [
                Reply::with_status(
                    StatusCode::ACCEPTED,
                    "Queued ✓",
                    json!({"z": 1, "a": [1.5]}),
                ),
                paged,
                clashing,
            ]
        };
        for (reply, expected) in replies().into_iter().zip(replies()) {
            for meta in [Some(request.block()), None] {
                let meta_value = to_value(&meta);
                let written = serde_json::to_vec(&SuccessBody {
                    reply: &reply,
                    meta,
                })
                .unwrap();
                let expected = body_through_a_map(
                    Reply {
                        status: expected.status,
                        message: expected.message.clone(),
                        data: expected.data.clone(),
                        extra: expected.extra.clone(),
                    },
                    meta_value,
                );
                assert_eq!(String::from_utf8(written), String::from_utf8(expected));
            }
        }
    }

    /// Data with its fields in sorted order is answered written as it is answered
    /// through a `Value`.
    #[test]
    fn written_data_is_answered_as_through_a_value() {
        #[derive(Serialize)]
        struct Item {
            error: Option<&'static str>,
            index: usize,
            status: &'static str,
        }
        let data = json!({"b": [1, 2.5, "x\"y"], "a": null});
        let items = [
            Item {
                error: None,
                index: 0,
                status: "ok",
            },
            Item {
                error: Some("bad"),
                index: 1,
                status: "no",
            },
        ];
        let body = |reply: Reply| {
            serde_json::to_vec(&SuccessBody {
                reply: &reply,
                meta: None,
            })
            .unwrap()
        };
        for (written, through_a_value) in [
            (
                Reply::written(StatusCode::ACCEPTED, "m", &data),
                Reply::with_status(StatusCode::ACCEPTED, "m", &data),
            ),
            (
                Reply::written(StatusCode::ACCEPTED, "m", &items),
                Reply::with_status(StatusCode::ACCEPTED, "m", &items),
            ),
        ] {
            assert_eq!(body(written), body(through_a_value));
        }
    }

    #[test]
    fn a_capability_the_backend_lacks_is_a_501_naming_it() {
        let e = ApiError::from(StorageError::Unsupported("reports"));
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(e.code(), "NOT_IMPLEMENTED");
        assert_eq!(e.message(), "this storage backend does not provide reports");
    }

    #[test]
    fn an_unavailable_store_is_a_503_without_its_cause() {
        let e = ApiError::from(StorageError::Unavailable("pool timed out".into()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message().contains("pool"));
    }
}
