//! `POST /api/v1/detection/log`: authenticate, read the body, and hand it to the core's
//! accept use case ([`cctv_core::Core::accept_detection`]), which validates, checks scope
//! and estate, stores the image and answers once the job is durable.
//!
//! This layer only translates HTTP: the body's shape (JSON, or form and multipart fields
//! with bounded count, name length and nesting), the `Idempotency-Key` header, and the
//! core's answer into the JSON envelope.

use crate::body_shape::{form_fields, too_deep_json_member};
use cctv_core::accept::{AcceptError, DetectionSubmission};
use cctv_core::input::too_deep_message;
use cctv_core::jobs::JobId;
use cctv_core::media::MAX_IMAGE_BYTES;
use jiff::Timestamp;
use salvo::http::ParseError;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::envelope::{ApiError, Reply, respond};
use crate::{AppState, auth, state};

#[handler]
pub async fn log_detection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = accept(&state, req, depot, res).await;
    if let Err(e) = &result {
        // Refused as a whole (items refused inside a batch are counted by the core).
        state.core.metrics().detection_rejected(e.code(), 1);
    }
    respond(res, depot, result);
}

async fn accept(
    state: &AppState,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<Reply, ApiError> {
    let auth = auth::authenticate(state, req, res, depot).await?;
    auth.require_write()?;
    let received_at = Timestamp::now();
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (fields, image) = read_body(state, req).await?;
    let submission = DetectionSubmission {
        fields,
        idempotency_key,
        image,
    };
    let accepted = state
        .core
        .accept_detection(
            state.ingest.as_ref(),
            &auth.entry.credential,
            submission,
            received_at,
        )
        .await
        .map_err(|e| match e {
            AcceptError::Invalid(errors) => ApiError::Validation(errors),
            AcceptError::Forbidden(m) => ApiError::Forbidden(m.into()),
            AcceptError::Conflict { job_id } => ApiError::IdempotencyConflict(job_id),
            AcceptError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Server(other.to_string()),
        })?;
    let message = if accepted.duplicate {
        "Detection already received (same event_id)"
    } else {
        "Detection queued for processing"
    };
    Ok(Reply::written(
        StatusCode::ACCEPTED,
        "Detection event received and queued successfully",
        AcceptedData {
            branch_id: accepted.branch_id,
            device_id: accepted.device_id,
            duplicate: accepted.duplicate,
            job_id: accepted.job_id,
            message,
            re_id: accepted.re_id,
            status: accepted.state.as_str(),
        },
    ))
}

/// The `data` of a 202, written straight to JSON (every detection of the fleet pays for
/// it: through a `Value` map it was built and written again). Fields in sorted order, as
/// a JSON map writes them.
#[derive(Serialize)]
struct AcceptedData {
    branch_id: Value,
    device_id: String,
    duplicate: bool,
    job_id: JobId,
    message: &'static str,
    re_id: String,
    status: &'static str,
}

/// The request fields as one JSON object, plus the uploaded image's bytes if any.
async fn read_body(
    state: &AppState,
    req: &mut Request,
) -> Result<(Map<String, Value>, Option<Vec<u8>>), ApiError> {
    let mime = req.content_type();
    let essence = mime
        .as_ref()
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" => {
            let body = req
                .payload_with_max_size(state.settings.max_json_bytes)
                .await
                .map_err(|e| {
                    parse_error(e, state.settings.max_json_bytes, "http.max_json_bytes")
                })?;
            // Refused before parsing, with the field named, however deep the body goes.
            if let Some(field) = too_deep_json_member(body) {
                return Err(ApiError::validation(&field, too_deep_message(&field)));
            }
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => Ok((map, None)),
                Ok(_) => Err(ApiError::validation(
                    "body",
                    "The request body must be a JSON object",
                )),
                Err(e) => Err(ApiError::validation("body", format!("Malformed JSON: {e}"))),
            }
        }
        "multipart/form-data" | "application/x-www-form-urlencoded" => {
            let form = req
                .form_data_max_size(state.settings.max_multipart_bytes)
                .await
                .map_err(|e| {
                    parse_error(
                        e,
                        state.settings.max_multipart_bytes,
                        "http.max_multipart_bytes",
                    )
                })?;
            let mut pairs = Vec::new();
            for (name, values) in form.fields.iter_all() {
                if name == "image" {
                    if values.iter().any(|v| !v.is_empty()) {
                        return Err(ApiError::validation("image", "File must be an image"));
                    }
                    continue;
                }
                pairs.extend(values.iter().map(|v| (name.as_str(), v.as_str())));
            }
            let fields = form_fields(pairs).map_err(ApiError::Validation)?;
            let image = match form.files.get("image") {
                Some(file) => {
                    if file.size() as usize > MAX_IMAGE_BYTES {
                        return Err(ApiError::validation(
                            "image",
                            "Image size must not exceed 10MB",
                        ));
                    }
                    Some(
                        tokio::fs::read(file.path())
                            .await
                            .map_err(|e| ApiError::Server(format!("reading upload: {e}")))?,
                    )
                }
                None => None,
            };
            Ok((fields, image))
        }
        "" => Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json or multipart/form-data".into(),
        )),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content type {other} is not supported; use application/json or multipart/form-data"
        ))),
    }
}

/// A body that could not be read; one over the limit names the limit and its setting.
fn parse_error(e: ParseError, limit: usize, setting: &str) -> ApiError {
    match e {
        ParseError::PayloadTooLarge => ApiError::PayloadTooLarge(format!(
            "The request body is larger than {limit} bytes, the most this server accepts ({setting})"
        )),
        other => ApiError::validation(
            "body",
            format!("The request body could not be read: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 202's data is written straight from the struct: its text must be what the map
    /// of the same fields wrote, member for member (devices may compare bytes).
    #[test]
    fn accepted_data_is_written_as_a_map_writes_it() {
        let data = AcceptedData {
            branch_id: serde_json::json!({"z": 1, "a": [2, "x"]}),
            device_id: "cam-1".into(),
            duplicate: false,
            job_id: JobId::new(),
            message: "Detection queued for processing",
            re_id: "person \"7\"".into(),
            status: "queued",
        };
        let direct = serde_json::to_string(&data).unwrap();
        let through_a_map = serde_json::to_string(&serde_json::to_value(&data).unwrap()).unwrap();
        assert_eq!(direct, through_a_map);
    }
}
