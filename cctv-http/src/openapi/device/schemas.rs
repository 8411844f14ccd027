//! The schemas of the device API: what devices send and what they read back.

use cctv_core::detection::{
    MAX_DETECTED_COUNT, MAX_DEVICE_ID_CHARS, MAX_EVENT_ID_CHARS, MAX_JSON_FIELD_BYTES,
    MAX_RE_ID_CHARS,
};
use serde_json::{Value, json};

use super::super::build::{
    any, array, boolean, date, date_time, doc, input, int, int_min, int_range, nullable, object,
    one_of_strings, reference, string, string_max, uuid, with_required,
};
use super::{JOB_STATES, MAX_NESTING, count, free_object};

pub(crate) fn schemas() -> Vec<(&'static str, Value)> {
    let mut out = ingest_schemas();
    out.extend(read_schemas());
    out
}

/// What devices send and what the uploads answer.
fn ingest_schemas() -> Vec<(&'static str, Value)> {
    let detection_request = with_required(
        input(&[
            (
                "re_id",
                doc(
                    string_max(MAX_RE_ID_CHARS),
                    "The person's re-identification id; trimmed, no control characters.",
                ),
            ),
            (
                "branch_id",
                doc(int_min(1), "The branch; a decimal string is accepted too."),
            ),
            (
                "device_id",
                doc(
                    string_max(MAX_DEVICE_ID_CHARS),
                    "An active device of that branch; trimmed.",
                ),
            ),
            (
                "detected_count",
                doc(
                    json!({"type": "integer", "minimum": 1, "maximum": MAX_DETECTED_COUNT,
                           "default": 1}),
                    "Persons counted in this detection.",
                ),
            ),
            (
                "detected_at",
                doc(
                    date_time(),
                    "When the device saw the person (RFC 3339 with offset). At most \
                     `ingest.max_future_skew_secs` (default 300) ahead and \
                     `ingest.max_past_days` (default 30) old; default the time of receipt.",
                ),
            ),
            (
                "event_id",
                doc(
                    json!({"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID_CHARS}),
                    "The device's id of this event, unique per credential and `device_id`: \
                     a repeat is answered as a duplicate. Printable characters; a number \
                     is accepted too.",
                ),
            ),
            ("detection_data", reference("DetectionData")),
            ("person_features", reference("PersonFeatures")),
        ]),
        &["re_id", "branch_id", "device_id"],
    );
    let as_json_text = |name: &str| {
        doc(
            string(),
            &format!(
                "The `{name}` object as JSON text, or its members as bracketed fields \
                 (`{name}[key]=value`)."
            ),
        )
    };
    let detection_form = with_required(
        input(&[
            ("re_id", string_max(MAX_RE_ID_CHARS)),
            ("branch_id", doc(string(), "A positive integer.")),
            ("device_id", string_max(MAX_DEVICE_ID_CHARS)),
            (
                "detected_count",
                doc(
                    string(),
                    &format!("An integer from 1 to {MAX_DETECTED_COUNT}; default 1."),
                ),
            ),
            ("detected_at", date_time()),
            ("event_id", string_max(MAX_EVENT_ID_CHARS)),
            ("detection_data", as_json_text("detection_data")),
            ("person_features", as_json_text("person_features")),
            (
                "image",
                doc(
                    json!({"type": "string", "contentMediaType": "application/octet-stream"}),
                    "A picture of the detection: JPEG, PNG, WebP, GIF or BMP (checked by \
                     content), at most 10 MB. Must be a file part.",
                ),
            ),
        ]),
        &["re_id", "branch_id", "device_id"],
    );
    let size_note = format!(
        "At most {} KB as JSON and {MAX_NESTING} levels deep; other members are kept as sent.",
        MAX_JSON_FIELD_BYTES / 1024
    );
    vec![
        ("DetectionRequest", detection_request),
        (
            "DetectionForm",
            doc(detection_form, "The fields of a form upload."),
        ),
        (
            "DetectionData",
            doc(
                input(&[
                    (
                        "confidence",
                        doc(
                            json!({"type": "number", "minimum": 0, "maximum": 1}),
                            "A numeric string is accepted too.",
                        ),
                    ),
                    ("bounding_box", free_object()),
                    ("appearance_features", json!({"type": ["object", "array"]})),
                ]),
                &format!("What the camera's model reported. {size_note}"),
            ),
        ),
        (
            "PersonFeatures",
            doc(
                input(&[
                    ("gender", string()),
                    ("age_range", string()),
                    ("clothing", json!({"type": ["object", "array"]})),
                ]),
                &format!("Attributes of the person. {size_note}"),
            ),
        ),
        (
            "DetectionAccepted",
            object(&[
                ("job_id", uuid()),
                (
                    "status",
                    doc(
                        one_of_strings(&JOB_STATES),
                        "`queued` for a new job; the original job's state for a duplicate.",
                    ),
                ),
                ("message", string()),
                (
                    "duplicate",
                    doc(boolean(), "A retry of a detection already stored."),
                ),
                ("re_id", string()),
                (
                    "branch_id",
                    doc(
                        json!({"anyOf": [int(), string()]}),
                        "As sent: a number from JSON, a string from a form.",
                    ),
                ),
                ("device_id", string()),
            ]),
        ),
        (
            "BatchRequest",
            json!({
                "type": "object",
                "required": ["detections"],
                "additionalProperties": false,
                "properties": {
                    "detections": doc(
                        json!({"type": "array", "minItems": 1,
                               "items": reference("DetectionRequest")}),
                        "1 to `ingest.max_batch_items` (default 1,000) detections.",
                    ),
                },
            }),
        ),
        (
            "BatchResult",
            object(&[
                ("accepted", count()),
                ("duplicates", count()),
                ("rejected", count()),
                ("results", array(reference("BatchItemResult"))),
            ]),
        ),
        (
            "BatchItemResult",
            object(&[
                (
                    "index",
                    doc(count(), "The item's position in `detections`, from 0."),
                ),
                (
                    "status",
                    doc(
                        one_of_strings(&["accepted", "duplicate", "rejected"]),
                        "`accepted`: a new job; `duplicate`: a retry of a stored detection \
                         (or of an earlier item of this batch), nothing new stored; \
                         `rejected`: nothing stored, see `error`.",
                    ),
                ),
                (
                    "job_id",
                    doc(
                        nullable(uuid()),
                        "The new job, or the original one for a duplicate; null when rejected.",
                    ),
                ),
                ("error", nullable(reference("BatchItemError"))),
            ]),
        ),
        (
            "BatchItemError",
            with_required(
                input(&[
                    (
                        "code",
                        one_of_strings(&["VALIDATION_ERROR", "FORBIDDEN", "IDEMPOTENCY_CONFLICT"]),
                    ),
                    (
                        "field",
                        doc(
                            string(),
                            "The field to blame (the first when several are wrong; `body` \
                             when the item is not an object).",
                        ),
                    ),
                    ("message", string()),
                    (
                        "job_id",
                        doc(
                            uuid(),
                            "For IDEMPOTENCY_CONFLICT only: the job stored under the key.",
                        ),
                    ),
                ]),
                &["code", "field", "message"],
            ),
        ),
        (
            "JobStatus",
            object(&[
                ("job_id", uuid()),
                ("status", one_of_strings(&JOB_STATES)),
                ("attempts", count()),
                ("max_attempts", count()),
                (
                    "error",
                    doc(nullable(string()), "The last attempt's error."),
                ),
                (
                    "result",
                    doc(
                        nullable(reference("DetectionJobResult")),
                        "What processing did, once completed.",
                    ),
                ),
                ("queued_at", date_time()),
                ("finished_at", nullable(date_time())),
            ]),
        ),
        (
            "DetectionJobResult",
            object(&[
                ("job_id", uuid()),
                (
                    "outcome",
                    doc(
                        one_of_strings(&["counted", "tracking_disabled", "already_processed"]),
                        "`tracking_disabled`: stored, but the person-day is inactive, so no \
                         counter changed; `already_processed`: a redelivery, nothing written.",
                    ),
                ),
                ("detection_date", date()),
                ("detection_id", nullable(int())),
                ("event_log_id", nullable(int())),
            ]),
        ),
    ]
}

/// What the reads answer.
fn read_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Detection",
            object(&[
                ("id", int()),
                ("re_id", string()),
                ("branch_id", int()),
                ("device_id", string()),
                ("detection_timestamp", date_time()),
                (
                    "detection_date",
                    doc(date(), "The local date in the configured `timezone`."),
                ),
                ("detected_count", int()),
                (
                    "detection_data",
                    doc(
                        nullable(free_object()),
                        "As sent (form values stay strings).",
                    ),
                ),
                (
                    "person_features",
                    doc(
                        nullable(free_object()),
                        "As sent (form values stay strings).",
                    ),
                ),
                ("created_at", date_time()),
                (
                    "branch",
                    doc(
                        nullable(reference("DetectionBranch")),
                        "Null when the branch is gone.",
                    ),
                ),
                (
                    "device",
                    doc(
                        nullable(reference("DetectionDevice")),
                        "Null when the device is gone.",
                    ),
                ),
                (
                    "re_id_master",
                    doc(
                        nullable(reference("DetectionPersonDay")),
                        "The person-day this detection counted towards, once processed.",
                    ),
                ),
            ]),
        ),
        (
            "DetectionBranch",
            object(&[
                ("id", int()),
                ("branch_code", string()),
                ("branch_name", string()),
                ("city", string()),
            ]),
        ),
        (
            "DetectionDevice",
            object(&[
                ("device_id", string()),
                ("device_name", string()),
                ("device_type", string()),
                ("branch_id", doc(int(), "The device's branch now.")),
            ]),
        ),
        (
            "DetectionPersonDay",
            object(&[
                ("re_id", string()),
                ("detection_date", date()),
                ("person_name", nullable(string())),
                ("status", one_of_strings(&["active", "inactive"])),
                ("total_actual_count", int()),
                ("total_detection_branch_count", int()),
            ]),
        ),
        (
            "DetectionSummary",
            object(&[
                ("date", date()),
                (
                    "summary",
                    object(&[
                        ("total_detections", count()),
                        ("total_detected_count", count()),
                        ("unique_persons", count()),
                        ("unique_branches", count()),
                        ("unique_devices", count()),
                    ]),
                ),
                (
                    "top_branches",
                    doc(
                        array(object(&[
                            ("branch_id", int()),
                            (
                                "branch_name",
                                doc(string(), "`N/A` when the branch is gone."),
                            ),
                            ("city", string()),
                            ("detection_count", count()),
                        ])),
                        "At most 5, by detections.",
                    ),
                ),
                (
                    "top_persons",
                    doc(
                        array(object(&[("re_id", string()), ("detection_count", count())])),
                        "At most 10, by detections.",
                    ),
                ),
                (
                    "hourly_trend",
                    doc(
                        array(object(&[
                            ("hour", int_range(0, 23)),
                            ("count", count()),
                            ("unique_persons", count()),
                        ])),
                        "24 buckets, zero-filled, in the configured `timezone`.",
                    ),
                ),
            ]),
        ),
        (
            "PersonDay",
            object(&[
                ("re_id", string()),
                ("detection_date", date()),
                ("detection_time", nullable(date_time())),
                ("person_name", nullable(string())),
                (
                    "appearance_features",
                    doc(any(), "As the processing stored it; null when none."),
                ),
                ("total_detection_branch_count", count()),
                ("total_actual_count", count()),
                ("first_detected_at", nullable(date_time())),
                ("last_detected_at", nullable(date_time())),
                ("status", one_of_strings(&["active", "inactive"])),
                (
                    "detected_branches",
                    doc(
                        array(reference("PersonDayBranch")),
                        "By detected count, largest first.",
                    ),
                ),
            ]),
        ),
        (
            "PersonDayBranch",
            object(&[
                ("branch_id", int()),
                (
                    "branch_name",
                    doc(string(), "`N/A` when the branch is gone."),
                ),
                ("branch_code", string()),
                ("city", string()),
                (
                    "detection_count",
                    doc(count(), "Detection rows from this branch that day."),
                ),
                (
                    "total_detected_count",
                    doc(
                        count(),
                        "Sum of `detected_count` from this branch that day.",
                    ),
                ),
                ("first_detection", date_time()),
                ("last_detection", date_time()),
            ]),
        ),
        (
            "BranchDayStatistics",
            object(&[
                ("branch_id", int()),
                ("branch_name", string()),
                ("city", string()),
                ("date", date()),
                ("total_detections", count()),
                ("total_detected_count", count()),
                ("unique_persons", count()),
                ("unique_devices", count()),
            ]),
        ),
        ("CredentialTest", credential_test()),
    ]
}

/// One check of the self-test: its outcome and message, and what else it reports.
fn check(extra: &[(&'static str, Value)]) -> Value {
    let mut fields = vec![
        ("status", one_of_strings(&["success", "error"])),
        ("message", string()),
    ];
    fields.extend(extra.iter().cloned());
    object(&fields)
}

fn credential_test() -> Value {
    object(&[
        (
            "credential",
            object(&[
                ("id", int()),
                ("credential_name", string()),
                ("api_key", string()),
                (
                    "branch_id",
                    doc(nullable(int()), "The branch it is limited to."),
                ),
                (
                    "device_id",
                    doc(nullable(string()), "The device it is limited to."),
                ),
                (
                    "permissions",
                    object(&[("read", boolean()), ("write", boolean())]),
                ),
                ("rate_limit", doc(count(), "Requests per hour.")),
                ("expires_at", nullable(date_time())),
                ("status", one_of_strings(&["active", "inactive", "expired"])),
            ]),
        ),
        (
            "test_results",
            object(&[
                ("database", check(&[])),
                ("api_key", check(&[])),
                (
                    "rate_limit",
                    check(&[(
                        "details",
                        object(&[
                            ("limit", count()),
                            ("remaining", count()),
                            (
                                "reset",
                                doc(int(), "Unix time (seconds) when the hour ends."),
                            ),
                        ]),
                    )]),
                ),
            ]),
        ),
        (
            "overall_status",
            one_of_strings(&["success", "partial_failure"]),
        ),
        ("tested_at", date_time()),
    ])
}
