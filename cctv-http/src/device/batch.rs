//! `POST /api/v1/detection/batch`: an edge node's backlog, `{"detections": [ … ]}`, each
//! item the JSON fields of one `POST /api/v1/detection/log`. The core's batch use case
//! ([`cctv_core::Core::accept_detection_batch`]) checks every item as it checks one
//! detection and answers once the accepted ones are durable.
//!
//! This layer translates HTTP and counts the request against the credential's hour: a
//! batch costs one per item, taken at once (all or nothing: a batch that does not fit in
//! what is left is refused whole with 429); a request refused before its items are known
//! costs one, like any other request.

use crate::body_shape::{MAX_FIELD_NAME_BYTES, can_name, too_deep_json_path};
use cctv_core::accept::batch::{BatchError, ItemResult, ItemStatus, check_batch_len};
use cctv_core::input::{MAX_NESTING, nesting_depth, too_deep_message};
use jiff::Timestamp;
use salvo::http::{ParseError, StatusCode};
use salvo::{Depot, Request, Response, handler};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{self, DeviceAuth};
use crate::envelope::{ApiError, Reply, respond};
use crate::{AppState, state};

/// Containers around an item's fields (`{"detections": [{…}]}`): the nesting bound of one
/// detection's fields applies below them.
const ITEM_FIELD_LEVEL: usize = 3;

#[handler]
pub async fn batch_detections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
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
    let mut auth = auth::authenticate_costing(state, req, res, depot, 0).await?;
    let received_at = Timestamp::now();
    let read = read_items(state, req, &auth).await;
    let cost = read.as_ref().map_or(1, Vec::len);
    auth::charge(
        state,
        res,
        depot,
        &mut auth,
        u32::try_from(cost).unwrap_or(u32::MAX),
    )
    .await?;
    let items = read?;
    let results = state
        .core
        .accept_detection_batch(
            state.ingest.as_ref(),
            &auth.entry.credential,
            items,
            received_at,
        )
        .await
        .map_err(batch_error)?;
    let count = |status| results.iter().filter(|r| r.status == status).count();
    let (accepted, duplicates, rejected) = (
        count(ItemStatus::Accepted),
        count(ItemStatus::Duplicate),
        count(ItemStatus::Rejected),
    );
    Ok(Reply::written(
        StatusCode::ACCEPTED,
        format!(
            "Detection batch received: {accepted} accepted, {duplicates} duplicate, {rejected} rejected"
        ),
        Answer {
            accepted,
            duplicates,
            rejected,
            results: &results,
        },
    ))
}

/// A batch's `data`, written straight to JSON (up to 1,000 results: through a `Value`,
/// every result was a map built and written again). Fields in sorted order, as a JSON
/// map writes them.
#[derive(Serialize)]
struct Answer<'a> {
    accepted: usize,
    duplicates: usize,
    rejected: usize,
    results: &'a [ItemResult],
}

/// The batch's items, once the credential may write and the body is a batch of an
/// allowed size.
async fn read_items(
    state: &AppState,
    req: &mut Request,
    auth: &DeviceAuth,
) -> Result<Vec<Value>, ApiError> {
    auth.require_write()?;
    // Idempotency is per item: a key for the whole request would be ambiguous (which
    // items does a retry repeat?), and silently ignoring it would mislead the sender.
    if req.headers().contains_key("idempotency-key") {
        return Err(ApiError::validation(
            "idempotency_key",
            "A batch takes no Idempotency-Key header; give each detection its own event_id",
        ));
    }
    let items = read_body(state, req).await?;
    check_batch_len(items.len(), state.core.settings().max_batch_items).map_err(batch_error)?;
    Ok(items)
}

/// `{"detections": [ … ]}` and nothing else, within the JSON size and nesting bounds.
///
/// A value nested too deeply refuses the whole batch, with its path named
/// (`detections.4.detection_data`). The body is parsed first: serde_json stops at 128
/// levels, and the parsed items are then measured ([`too_deep_item`]). Only a body the
/// parser refuses is scanned as bytes for the path ([`too_deep_json_path`]), so a batch
/// that is not too deep (nearly all) is not read twice.
async fn read_body(state: &AppState, req: &mut Request) -> Result<Vec<Value>, ApiError> {
    let is_json = req
        .content_type()
        .is_some_and(|m| m.essence_str() == "application/json");
    if !is_json {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json (a batch carries no images)".into(),
        ));
    }
    let max = state.settings.max_json_bytes;
    let body = req.payload_with_max_size(max).await.map_err(|e| match e {
        ParseError::PayloadTooLarge => {
            ApiError::PayloadTooLarge(format!("The request body must not exceed {max} bytes"))
        }
        other => ApiError::validation(
            "body",
            format!("The request body could not be read: {other}"),
        ),
    })?;
    let mut fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(ApiError::validation(
                "body",
                r#"The request body must be a JSON object {"detections": [ … ]}"#,
            ));
        }
        Err(e) => {
            // Too deep for the parser: named all the same, however deep the body goes.
            if let Some(field) = too_deep_json_path(body, ITEM_FIELD_LEVEL) {
                return Err(ApiError::validation(&field, too_deep_message(&field)));
            }
            return Err(ApiError::validation("body", format!("Malformed JSON: {e}")));
        }
    };
    if let Some(unknown) = fields.keys().find(|k| *k != "detections") {
        let field = if unknown.len() <= MAX_FIELD_NAME_BYTES {
            unknown.as_str()
        } else {
            "body"
        };
        return Err(ApiError::validation(
            field,
            format!("Unknown field {field}: a batch body holds only detections"),
        ));
    }
    match fields.remove("detections") {
        Some(Value::Array(items)) => match too_deep_item(&items) {
            Some(field) => Err(ApiError::validation(&field, too_deep_message(&field))),
            None => Ok(items),
        },
        None | Some(Value::Null) => Err(ApiError::validation(
            "detections",
            "The detections field is required",
        )),
        Some(_) => Err(ApiError::validation(
            "detections",
            "The detections field must be an array of detections",
        )),
    }
}

/// The path of the first value in `items` nested deeper than the core allows below an
/// item's field (an item's fields, or an array item's elements, may each nest
/// [`MAX_NESTING`] levels), named as [`too_deep_json_path`] names it: the path ends at
/// the item when the field's name cannot be shown.
fn too_deep_item(items: &[Value]) -> Option<String> {
    items.iter().enumerate().find_map(|(i, item)| {
        let step = match item {
            Value::Object(fields) => fields
                .iter()
                .find(|(_, v)| nesting_depth(v) > MAX_NESTING)
                .map(|(name, _)| can_name(name).then(|| name.clone())),
            Value::Array(elements) => elements
                .iter()
                .position(|v| nesting_depth(v) > MAX_NESTING)
                .map(|j| Some(j.to_string())),
            _ => None,
        }?;
        Some(match step {
            Some(step) => format!("detections.{i}.{step}"),
            None => format!("detections.{i}"),
        })
    })
}

fn batch_error(e: BatchError) -> ApiError {
    match e {
        BatchError::Empty { limit } => ApiError::validation(
            "detections",
            format!("The detections field must hold 1 to {limit} detections"),
        ),
        BatchError::TooLarge { limit, items } => ApiError::BatchTooLarge { limit, items },
        BatchError::Forbidden(m) => ApiError::Forbidden(m.into()),
        BatchError::Unavailable(m) => ApiError::Unavailable(m),
        other => ApiError::Server(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn deep(levels: usize) -> Value {
        (0..levels).fold(json!(1), |v, _| json!({ "k": v }))
    }

    /// Parsed items are named as the byte scan names them, where the parser can read the
    /// body, so a batch is refused with the same field whichever of the two finds it.
    #[test]
    fn parsed_items_are_named_as_the_byte_scan_names_them() {
        let ok = json!({"re_id": "a", "detection_data": deep(MAX_NESTING)});
        let named = |name: &str| {
            let mut item = Map::new();
            item.insert("re_id".into(), json!("c"));
            item.insert(name.into(), deep(40));
            Value::Object(item)
        };
        let cases = vec![
            vec![ok.clone()],
            vec![json!(5), json!([deep(MAX_NESTING)]), ok.clone()],
            vec![
                ok.clone(),
                json!({"re_id": "b", "detection_data": deep(MAX_NESTING + 1)}),
            ],
            vec![ok.clone(), ok.clone(), json!(["x", deep(MAX_NESTING + 5)])],
            vec![ok.clone(), named("a\"b")],
            vec![named(&"x".repeat(MAX_FIELD_NAME_BYTES + 1))],
            vec![named(&"y".repeat(MAX_FIELD_NAME_BYTES))],
        ];
        let mut refused = 0;
        for items in cases {
            let body = serde_json::to_vec(&json!({ "detections": items })).unwrap();
            let scanned = too_deep_json_path(&body, ITEM_FIELD_LEVEL);
            refused += usize::from(scanned.is_some());
            assert_eq!(too_deep_item(&items), scanned, "{items:?}");
        }
        assert_eq!(refused, 5);
    }
}
