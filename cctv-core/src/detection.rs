//! A detection from a device: validation of the raw request and the job payload
//! that the ingest pipeline makes durable before it answers 202.
//!
//! Requests arrive as JSON or as multipart form fields; the HTTP layer turns both into one
//! JSON object (form values stay strings, `a[b]` names become nested objects) and
//! `DetectionRequest::from_fields` validates that object, so both shapes obey one rule set.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::blob::StoredBlob;
use crate::jobs::JobId;
use crate::json_text::JsonText;
use crate::validation::ValidationErrors;

pub(crate) mod fingerprint;

/// Longest accepted `re_id`, as in the original schema (varchar(100)).
pub const MAX_RE_ID_CHARS: usize = 100;
/// Longest accepted `device_id` (varchar(50)).
pub const MAX_DEVICE_ID_CHARS: usize = 50;
/// Longest accepted `event_id` / `Idempotency-Key`.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Upper bound of `detected_count`, so sums cannot overflow and typos are caught.
pub const MAX_DETECTED_COUNT: i64 = 10_000;
/// Largest accepted serialized `detection_data` / `person_features`, in bytes.
pub const MAX_JSON_FIELD_BYTES: usize = 64 * 1024;

/// Rules that depend on configuration.
#[derive(Debug, Clone, Copy)]
pub struct DetectionRules {
    /// How far in the future a device clock may be before `detected_at` is refused.
    pub max_future_skew: SignedDuration,
    /// How old a `detected_at` may be: long enough for an edge node's offline backlog,
    /// short enough that a wrong clock (year 1970) cannot write into closed months.
    pub max_past_age: SignedDuration,
}

/// Default of [`DetectionRules::max_past_age`], in days.
pub(crate) const DEFAULT_MAX_PAST_DAYS: i64 = 30;

impl Default for DetectionRules {
    fn default() -> Self {
        Self {
            max_future_skew: SignedDuration::from_secs(300),
            max_past_age: SignedDuration::from_hours(24 * DEFAULT_MAX_PAST_DAYS),
        }
    }
}

/// A validated detection request, before the estate and credential scope checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DetectionRequest {
    pub re_id: String,
    pub branch_id: i64,
    /// The `branch_id` exactly as submitted (number for JSON, string for forms), echoed in the 202.
    pub branch_id_raw: Value,
    pub device_id: String,
    pub detected_count: i32,
    pub detected_at: Option<Timestamp>,
    pub event_id: Option<String>,
    /// The id came in the `Idempotency-Key` header (unique per credential) rather than as
    /// the `event_id` field (unique per credential and device).
    pub keyed_by_header: bool,
    pub detection_data: Option<Value>,
    /// `detection_data` as written when its size was checked: the job stores this text.
    pub detection_data_text: Option<JsonText>,
    pub person_features: Option<Value>,
}

/// The durable job payload of one accepted detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionJob {
    pub job_id: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The scoped key that identifies a retry (see `DetectionRequest::idempotency_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request (see `DetectionRequest::fingerprint`): a repeated key
    /// with another fingerprint is a conflict, not a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_hash: Option<String>,
    pub re_id: String,
    pub branch_id: i64,
    pub device_id: String,
    pub detected_count: i32,
    /// When the device saw the person (device clock, or time of receipt).
    pub detected_at: Timestamp,
    pub received_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// As validated, kept as JSON text (see [`JsonText`]).
    pub detection_data: Option<JsonText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_features: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<StoredBlob>,
    /// History brought over from another system (`cctv import`): stored and counted like
    /// any detection, but nobody is notified of something that happened long ago.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

impl DetectionJob {
    /// The key that recognises a retry of this job, stored with its credential: the
    /// request's scoped key, or — for a job built by hand with only an `event_id` — that
    /// event id scoped to the job's device.
    pub fn dedup_key(&self) -> Option<String> {
        self.idempotency_key.clone().or_else(|| {
            self.event_id
                .as_deref()
                .map(|id| event_key(&self.device_id, id))
        })
    }
}

/// The stored key of an `event_id` sent by `device_id`. The length prefix keeps
/// (device `a/b`, event `c`) apart from (`a`, `b/c`).
fn event_key(device_id: &str, event_id: &str) -> String {
    format!("e/{}/{device_id}/{event_id}", device_id.chars().count())
}

impl DetectionRequest {
    /// Validates the request fields. `idempotency_key` is the `Idempotency-Key` header, an
    /// alias of `event_id`; `now` is the time of receipt.
    pub(crate) fn from_fields(
        mut fields: Map<String, Value>,
        idempotency_key: Option<&str>,
        rules: &DetectionRules,
        now: Timestamp,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();

        let re_id = match fields.get("re_id") {
            None | Some(Value::Null) => {
                errors.add("re_id", "Re-identification ID is required");
                String::new()
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    errors.add("re_id", "Re-identification ID is required");
                } else if s.chars().count() > MAX_RE_ID_CHARS {
                    errors.add(
                        "re_id",
                        format!(
                            "Re-identification ID must not exceed {MAX_RE_ID_CHARS} characters"
                        ),
                    );
                } else if s.chars().any(char::is_control) {
                    errors.add(
                        "re_id",
                        "Re-identification ID must not contain control characters",
                    );
                }
                s.to_owned()
            }
            Some(_) => {
                errors.add("re_id", "Re-identification ID must be a string");
                String::new()
            }
        };

        let branch_id_raw = fields.get("branch_id").cloned().unwrap_or(Value::Null);
        let branch_id = match &branch_id_raw {
            Value::Null => {
                errors.add("branch_id", "Branch ID is required");
                0
            }
            other => match integer(other) {
                Some(id) if id > 0 => id,
                _ => {
                    errors.add("branch_id", "Branch ID must be a positive integer");
                    0
                }
            },
        };

        let device_id = match fields.get("device_id") {
            None | Some(Value::Null) => {
                errors.add("device_id", "Device ID is required");
                String::new()
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    errors.add("device_id", "Device ID is required");
                } else if s.chars().count() > MAX_DEVICE_ID_CHARS {
                    errors.add(
                        "device_id",
                        format!("Device ID must not exceed {MAX_DEVICE_ID_CHARS} characters"),
                    );
                }
                s.to_owned()
            }
            Some(_) => {
                errors.add("device_id", "Device ID must be a string");
                String::new()
            }
        };

        let detected_count = match fields.get("detected_count") {
            None | Some(Value::Null) => 1,
            Some(v) => {
                match integer(v) {
                    Some(n) if (1..=MAX_DETECTED_COUNT).contains(&n) => n as i32,
                    _ => {
                        errors.add(
                        "detected_count",
                        format!("Detected count must be an integer between 1 and {MAX_DETECTED_COUNT}"),
                    );
                        1
                    }
                }
            }
        };

        let detected_at = match fields.get("detected_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match s.trim().parse::<Timestamp>() {
                Ok(ts) if ts > now.saturating_add(rules.max_future_skew).unwrap_or(now) => {
                    errors.add("detected_at", "Detection time must not be in the future");
                    None
                }
                Ok(ts) if ts < now.saturating_sub(rules.max_past_age).unwrap_or(now) => {
                    errors.add(
                        "detected_at",
                        format!(
                            "Detection time must not be more than {} days in the past",
                            rules.max_past_age.as_hours() / 24
                        ),
                    );
                    None
                }
                Ok(ts) => Some(ts),
                Err(_) => {
                    errors.add(
                        "detected_at",
                        "Detection time must be an RFC 3339 timestamp with offset",
                    );
                    None
                }
            },
            Some(_) => {
                errors.add(
                    "detected_at",
                    "Detection time must be an RFC 3339 timestamp with offset",
                );
                None
            }
        };

        let body_event_id = match fields.get("event_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                errors.add("event_id", "Event ID must be a string");
                None
            }
        };
        let header_event_id = idempotency_key.map(|s| s.trim().to_owned());
        let keyed_by_header = header_event_id.is_some();
        let event_id = match (body_event_id, header_event_id) {
            (Some(a), Some(b)) if a != b => {
                errors.add("event_id", "Event ID and Idempotency-Key header differ");
                None
            }
            (Some(id), _) | (None, Some(id)) => Some(id),
            (None, None) => None,
        };
        if let Some(id) = &event_id
            && (id.is_empty()
                || id.chars().count() > MAX_EVENT_ID_CHARS
                || id.chars().any(char::is_control))
        {
            errors.add(
                "event_id",
                format!("Event ID must be 1 to {MAX_EVENT_ID_CHARS} printable characters"),
            );
        }

        let (detection_data, detection_data_text) =
            optional_object(&mut fields, "detection_data", &mut errors).unzip();
        if let Some(Value::Object(data)) = &detection_data {
            check_detection_data(data, &mut errors);
        }
        let person_features =
            optional_object(&mut fields, "person_features", &mut errors).map(|(value, _)| value);
        if let Some(Value::Object(features)) = &person_features {
            check_person_features(features, &mut errors);
        }

        errors.into_result(Self {
            re_id,
            branch_id,
            branch_id_raw,
            device_id,
            detected_count,
            detected_at,
            event_id,
            keyed_by_header,
            detection_data,
            detection_data_text,
            person_features,
        })
    }

    /// The key under which a retry of this request is recognised: an `event_id` is unique
    /// per (credential, device) — a fleet sharing one API key may reuse event ids across
    /// devices — and an `Idempotency-Key` header per credential. The credential is the
    /// other half of the stored key. `None` without either.
    pub(crate) fn idempotency_key(&self) -> Option<String> {
        let id = self.event_id.as_deref()?;
        Some(if self.keyed_by_header {
            format!("k/{id}")
        } else {
            event_key(&self.device_id, id)
        })
    }

    /// Turns the validated request into the job payload. `image` is the stored upload and
    /// `image_sha256` its SHA-256, needed only when the request carries an idempotency key:
    /// only then is its fingerprint computed (nothing compares it otherwise).
    pub(crate) fn into_job(
        self,
        job_id: JobId,
        credential_id: Option<i64>,
        received_at: Timestamp,
        image: Option<StoredBlob>,
        image_sha256: Option<&[u8; 32]>,
    ) -> DetectionJob {
        DetectionJob {
            job_id,
            credential_id,
            idempotency_key: self.idempotency_key(),
            request_hash: self
                .event_id
                .is_some()
                .then(|| self.fingerprint(image_sha256)),
            event_id: self.event_id,
            re_id: self.re_id,
            branch_id: self.branch_id,
            device_id: self.device_id,
            detected_count: self.detected_count,
            detected_at: self.detected_at.unwrap_or(received_at),
            received_at,
            detection_data: self.detection_data_text,
            person_features: self.person_features,
            image,
            imported: false,
        }
    }
}

/// An integer from a JSON number or a decimal string (form fields are strings).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An optional object field, taken out of the request's fields (not copied), with its
/// compact text: written once, to check its size, and kept for the job. Forms may carry
/// it as a JSON string.
fn optional_object(
    fields: &mut Map<String, Value>,
    name: &str,
    errors: &mut ValidationErrors,
) -> Option<(Value, JsonText)> {
    let value = match fields.remove(name) {
        None | Some(Value::Null) => return None,
        Some(Value::String(s)) if s.trim().is_empty() => return None,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(v) => v,
            Err(_) => {
                errors.add(name, format!("The {name} field must be an object"));
                return None;
            }
        },
        Some(v) => v,
    };
    if !value.is_object() {
        errors.add(name, format!("The {name} field must be an object"));
        return None;
    }
    if crate::input::nesting_depth(&value) > crate::input::MAX_NESTING {
        errors.add(name, crate::input::too_deep_message(name));
        return None;
    }
    let text = JsonText::from(&value);
    if text.as_str().len() > MAX_JSON_FIELD_BYTES {
        errors.add(
            name,
            format!(
                "The {name} field must not exceed {} KB",
                MAX_JSON_FIELD_BYTES / 1024
            ),
        );
        return None;
    }
    Some((value, text))
}

fn check_detection_data(data: &Map<String, Value>, errors: &mut ValidationErrors) {
    match data.get("confidence") {
        None | Some(Value::Null) => {}
        Some(v) => match number(v) {
            Some(c) if (0.0..=1.0).contains(&c) => {}
            _ => errors.add(
                "detection_data.confidence",
                "Confidence must be a number between 0 and 1",
            ),
        },
    }
    match data.get("bounding_box") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => errors.add(
            "detection_data.bounding_box",
            "Bounding box must be an object",
        ),
    }
    match data.get("appearance_features") {
        None | Some(Value::Null) | Some(Value::Object(_)) | Some(Value::Array(_)) => {}
        Some(_) => errors.add(
            "detection_data.appearance_features",
            "Appearance features must be an object or an array",
        ),
    }
}

fn check_person_features(features: &Map<String, Value>, errors: &mut ValidationErrors) {
    for key in ["gender", "age_range"] {
        match features.get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => errors.add(
                &format!("person_features.{key}"),
                format!("The {key} must be a string"),
            ),
        }
    }
    match features.get("clothing") {
        None | Some(Value::Null) | Some(Value::Object(_)) | Some(Value::Array(_)) => {}
        Some(_) => errors.add(
            "person_features.clothing",
            "Clothing must be an object or an array",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-28T10:00:00Z".parse().unwrap()
    }

    fn validate(v: Value) -> Result<DetectionRequest, ValidationErrors> {
        DetectionRequest::from_fields(
            v.as_object().unwrap().clone(),
            None,
            &DetectionRules::default(),
            now(),
        )
    }

    #[test]
    fn object_fields_are_limited_by_their_written_size() {
        // {"note":"…"} takes 11 bytes besides the text.
        let sized = |bytes: usize| json!({"note": "x".repeat(bytes - 11)});
        for name in ["detection_data", "person_features"] {
            let request = |value: Value| {
                let mut fields = json!({"re_id": "R", "branch_id": 1, "device_id": "D"});
                fields[name] = value;
                validate(fields)
            };
            let at_limit = request(sized(MAX_JSON_FIELD_BYTES)).unwrap();
            let kept = if name == "detection_data" {
                at_limit.detection_data
            } else {
                at_limit.person_features
            };
            assert_eq!(kept, Some(sized(MAX_JSON_FIELD_BYTES)));
            let errors = request(sized(MAX_JSON_FIELD_BYTES + 1)).unwrap_err();
            let messages: Vec<_> = errors.fields().collect();
            let expected = format!("The {name} field must not exceed 64 KB");
            assert_eq!(messages, [(name, &[expected][..])]);
        }
    }

    #[test]
    fn minimal_original_request_is_accepted_with_defaults() {
        let req =
            validate(json!({"re_id": "REID_1", "branch_id": 1, "device_id": "CAM_JKT001_001"}))
                .unwrap();
        assert_eq!(req.re_id, "REID_1");
        assert_eq!(req.branch_id, 1);
        assert_eq!(req.detected_count, 1);
        assert_eq!(req.detected_at, None);
        let job = req.into_job(JobId::new(), None, now(), None, None);
        assert_eq!(job.detected_at, now(), "time of receipt is the default");
    }

    #[test]
    fn form_strings_are_accepted_for_numbers() {
        let req = validate(
            json!({"re_id": "R", "branch_id": "7", "device_id": "D", "detected_count": "3",
            "detection_data": {"confidence": "0.9"}}),
        )
        .unwrap();
        assert_eq!(req.branch_id, 7);
        assert_eq!(req.branch_id_raw, json!("7"));
        assert_eq!(req.detected_count, 3);
    }

    #[test]
    fn each_bad_field_is_named() {
        let err = validate(json!({"re_id": "x".repeat(101), "device_id": 5, "detected_count": 0,
            "detected_at": "2026-11-28T11:00:00Z", "detection_data": {"confidence": 1.5, "bounding_box": 3}}))
        .unwrap_err();
        for field in [
            "re_id",
            "branch_id",
            "device_id",
            "detected_count",
            "detected_at",
            "detection_data.confidence",
            "detection_data.bounding_box",
        ] {
            assert!(err.has(field), "{field} missing in {err}");
        }
    }

    #[test]
    fn detected_at_within_skew_is_accepted_and_kept() {
        let req = validate(json!({"re_id": "R", "branch_id": 1, "device_id": "D", "detected_at": "2026-11-28T17:04:00+07:00"})).unwrap();
        assert_eq!(
            req.detected_at,
            Some("2026-11-28T10:04:00Z".parse().unwrap())
        );
    }

    #[test]
    fn event_id_and_header_must_agree() {
        let fields = json!({"re_id": "R", "branch_id": 1, "device_id": "D", "event_id": "a"});
        let rules = DetectionRules::default();
        let with_header = |key| {
            let fields = fields.as_object().unwrap().clone();
            DetectionRequest::from_fields(fields, Some(key), &rules, now())
        };
        let err = with_header("b").unwrap_err();
        assert!(err.has("event_id"));
        let ok = with_header("a").unwrap();
        assert_eq!(ok.event_id.as_deref(), Some("a"));
    }

    #[test]
    fn detection_data_may_arrive_as_a_json_string() {
        let req = validate(json!({"re_id": "R", "branch_id": 1, "device_id": "D", "detection_data": "{\"confidence\":0.5}"})).unwrap();
        assert_eq!(req.detection_data, Some(json!({"confidence": 0.5})));
        assert!(
            validate(
                json!({"re_id": "R", "branch_id": 1, "device_id": "D", "detection_data": "[1]"})
            )
            .is_err()
        );
    }
}
