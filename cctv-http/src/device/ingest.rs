//! `POST /api/v1/detection/log`: validate, store the image, submit, answer 202.
//!
//! Order matters: authentication and limits first (cheap, refuse early), then the body,
//! then the estate and scope checks, and only then is anything written; a refused request
//! stores nothing.

use cctv_core::blob::{StoredBlob, event_blob_path};
use cctv_core::detection::DetectionRequest;
use cctv_core::ingest::IngestError;
use cctv_core::jobs::JobId;
use cctv_core::media::{MAX_IMAGE_BYTES, inspect_image};
use jiff::Timestamp;
use salvo::http::ParseError;
use salvo::http::StatusCode;
use salvo::http::form::FilePart;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Map, Value, json};

use crate::envelope::{ApiError, Reply, respond};
use crate::{AppState, auth, state};

#[handler]
pub async fn log_detection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = accept(&state, req, depot, res).await;
    respond(res, depot, result);
}

async fn accept(
    state: &AppState,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<Reply, ApiError> {
    let auth = auth::authenticate(state, req, res, depot)?;
    auth.require_write()?;
    let received_at = Timestamp::now();
    let (fields, image) = read_body(state, req).await?;
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = DetectionRequest::from_fields(
        &fields,
        idempotency_key.as_deref(),
        &state.core.settings().detection_rules,
        received_at,
    )
    .map_err(ApiError::Validation)?;
    if let Err(rejection) = state
        .core
        .estate()
        .check_device(request.branch_id, &request.device_id)
    {
        return Err(ApiError::validation(rejection.field(), rejection.message()));
    }
    auth.require_branch(request.branch_id)?;
    if let Some(own) = &auth.entry.credential.device_id
        && *own != request.device_id
    {
        return Err(ApiError::Forbidden(
            "This API credential is not allowed for this device".into(),
        ));
    }
    let image = match image {
        Some(file) => Some(store_image(state, &file, received_at).await?),
        None => None,
    };
    let branch_raw = request.branch_id_raw.clone();
    let job = request.into_job(JobId::new(), Some(auth.id()), received_at, image.clone());
    let (re_id, device_id) = (job.re_id.clone(), job.device_id.clone());
    let submitted = state.ingest.submit(job).await;
    let submitted = match submitted {
        Ok(s) => s,
        Err(e) => {
            discard_image(state, image.as_ref()).await;
            return Err(match e {
                IngestError::Overloaded => {
                    ApiError::Unavailable("The server is busy; retry shortly".into())
                }
                IngestError::ShuttingDown => {
                    ApiError::Unavailable("The server is shutting down; retry shortly".into())
                }
                other => {
                    tracing::error!(error = %other, "detection could not be made durable");
                    ApiError::Unavailable("The detection could not be stored; retry shortly".into())
                }
            });
        }
    };
    let mut status = "queued".to_owned();
    if submitted.duplicate {
        discard_image(state, image.as_ref()).await;
        if let Ok(Some(job)) = state.core.storage().job(submitted.job_id).await {
            status = job.state.as_str().to_owned();
        }
    }
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        "Detection event received and queued successfully",
        json!({
            "job_id": submitted.job_id,
            "status": status,
            "message": if submitted.duplicate { "Detection already received (same event_id)" } else { "Detection queued for processing" },
            "duplicate": submitted.duplicate,
            "re_id": re_id,
            "branch_id": branch_raw,
            "device_id": device_id,
        }),
    ))
}

/// The request fields as one JSON object, plus the uploaded image if any.
async fn read_body(
    state: &AppState,
    req: &mut Request,
) -> Result<(Map<String, Value>, Option<FilePart>), ApiError> {
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
                .map_err(parse_error)?;
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
                .map_err(parse_error)?;
            let mut fields = Map::new();
            for (name, values) in form.fields.iter_all() {
                if name == "image" {
                    if values.iter().any(|v| !v.is_empty()) {
                        return Err(ApiError::validation("image", "File must be an image"));
                    }
                    continue;
                }
                for value in values {
                    insert_form_field(&mut fields, name, value.clone());
                }
            }
            Ok((fields, form.files.get("image").cloned()))
        }
        "" => Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json or multipart/form-data".into(),
        )),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content type {other} is not supported; use application/json or multipart/form-data"
        ))),
    }
}

fn parse_error(e: ParseError) -> ApiError {
    match e {
        ParseError::PayloadTooLarge => {
            ApiError::PayloadTooLarge("The request body is too large".into())
        }
        other => ApiError::validation(
            "body",
            format!("The request body could not be read: {other}"),
        ),
    }
}

/// Puts `a[b][c]=v` into nested objects, as PHP-style form clients send them.
fn insert_form_field(fields: &mut Map<String, Value>, name: &str, value: String) {
    let (base, rest) = match name.find('[') {
        Some(i) if name.ends_with(']') => (&name[..i], &name[i..]),
        _ => {
            fields.insert(name.to_owned(), Value::String(value));
            return;
        }
    };
    let keys: Vec<&str> = rest
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split("][")
        .collect();
    let mut slot = fields
        .entry(base.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    for key in keys {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let map = slot.as_object_mut().expect("made an object above");
        let key = if key.is_empty() {
            map.len().to_string()
        } else {
            key.to_owned()
        };
        slot = map.entry(key).or_insert(Value::Null);
    }
    *slot = Value::String(value);
}

async fn store_image(
    state: &AppState,
    file: &FilePart,
    now: Timestamp,
) -> Result<StoredBlob, ApiError> {
    if file.size() as usize > MAX_IMAGE_BYTES {
        return Err(ApiError::validation(
            "image",
            "Image size must not exceed 10MB",
        ));
    }
    let bytes = tokio::fs::read(file.path())
        .await
        .map_err(|e| ApiError::Server(format!("reading upload: {e}")))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::validation(
            "image",
            "Image size must not exceed 10MB",
        ));
    }
    let info = inspect_image(&bytes).ok_or_else(|| {
        ApiError::validation(
            "image",
            "File must be an image (JPEG, PNG, WebP, GIF or BMP)",
        )
    })?;
    let blobs = state
        .core
        .blobs()
        .ok_or_else(|| ApiError::Unavailable("Image storage is not configured".into()))?;
    let path = event_blob_path(now, info.format.extension());
    blobs.put(&path, &bytes).await.map_err(|e| {
        tracing::error!(error = %e, "storing an uploaded image failed");
        ApiError::Unavailable("The image could not be stored; retry shortly".into())
    })?;
    Ok(StoredBlob {
        path,
        mime: info.format.mime().into(),
        size: bytes.len() as u64,
        width: Some(info.width),
        height: Some(info.height),
    })
}

async fn discard_image(state: &AppState, image: Option<&StoredBlob>) {
    if let (Some(image), Some(blobs)) = (image, state.core.blobs())
        && let Err(e) = blobs.delete(&image.path).await
    {
        tracing::warn!(error = %e, path = %image.path, "removing an unused upload failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_form_names_become_nested_objects() {
        let mut fields = Map::new();
        insert_form_field(&mut fields, "re_id", "R".into());
        insert_form_field(&mut fields, "detection_data[confidence]", "0.9".into());
        insert_form_field(&mut fields, "detection_data[bounding_box][x]", "10".into());
        insert_form_field(
            &mut fields,
            "person_features[clothing][]",
            "red shirt".into(),
        );
        assert_eq!(
            Value::Object(fields),
            json!({"re_id": "R", "detection_data": {"confidence": "0.9", "bounding_box": {"x": "10"}},
                   "person_features": {"clothing": {"0": "red shirt"}}})
        );
    }
}
