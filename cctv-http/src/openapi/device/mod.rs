//! The device API v1: ingest (`detection/log`, `detection/batch`) and the reads a device
//! credential may make.
//!
//! Written from the handlers in `device/` and the core types they serialise
//! (`cctv_core::query`, `cctv_core::jobs`, `cctv_core::accept`): a field here is a field
//! serde writes there, and a limit here is the limit the core enforces.

use crate::body_shape::{MAX_FIELD_NAME_BYTES, MAX_FORM_FIELDS};
use cctv_core::detection::{MAX_DEVICE_ID_CHARS, MAX_EVENT_ID_CHARS, MAX_RE_ID_CHARS};
use cctv_core::input::MAX_NESTING;
mod schemas;

use serde_json::{Value, json};

use super::build::{
    Auth, Op, array, count, date, envelope, int_min, reference, row_id, string, string_max, uuid,
    v1,
};

const TAG: &str = "Device";

/// The states a client sees of a job (`cctv_core::jobs::JobState`).
const JOB_STATES: [&str; 4] = ["queued", "processing", "completed", "failed"];

/// `page` and `per_page` as `Params::page` (`crate::params`) reads them: the default page
/// size differs per list, and a larger `per_page` than 100 is served as 100, not refused.
fn paged(op: Op, default_per_page: u32) -> Op {
    let per_page = json!({"type": "integer", "minimum": 1, "default": default_per_page});
    op.query(
        "page",
        json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 1}),
        "Page number, from 1.",
    )
    .query(
        "per_page",
        per_page,
        "Rows per page; values above 100 are served as 100.",
    )
}

/// A date parameter of the reads: a local date in the configured `timezone`.
fn day(what: &str) -> String {
    format!("{what} (YYYY-MM-DD, a local date in the configured `timezone`).")
}

/// An object sent by a device and returned as stored (form values stay strings).
fn free_object() -> Value {
    json!({"type": "object"})
}

pub(super) fn operations() -> Vec<Op> {
    vec![
        log_detection(),
        batch_detections(),
        Op::get(v1("detection/status/{job_id}"), TAG)
            .summary("The state of a submitted detection job")
            .describe(
                "A credential sees only the jobs it submitted (another credential's job is \
                 404). Needs the read permission. Completed jobs are deleted \
                 `ingest.completed_job_retention_hours` (default 168) after they were \
                 queued and answer 404 from then on.",
            )
            .auth(Auth::Device)
            .path_param(
                "job_id",
                uuid(),
                "The job id from the 202 answer of an upload.",
            )
            .ok(reference("JobStatus"))
            .errors(&[404, 422, 503]),
        Op::get(v1("detection/summary"), TAG)
            .summary("Totals of one day")
            .describe(
                "Totals, the top 5 branches and top 10 persons by detections, and 24 hourly \
                 buckets. A credential limited to a branch (or to a device) sees its branch \
                 only.",
            )
            .auth(Auth::Device)
            .query("date", date(), &day("The day; default today"))
            .ok(reference("DetectionSummary"))
            .errors(&[422, 503]),
        paged(
            Op::get(v1("detections"), TAG)
                .summary("List detections")
                .describe(
                    "Newest first. A credential limited to a branch (or to a device) sees its \
                     branch only; a `branch_id` outside it gives an empty list.",
                )
                .auth(Auth::Device)
                .query("date_from", date(), &day("First day"))
                .query("date_to", date(), &day("Last day, inclusive"))
                .query("branch_id", int_min(1), "Only this branch.")
                .query(
                    "device_id",
                    string_max(MAX_DEVICE_ID_CHARS),
                    "Only this device (exact match).",
                )
                .query(
                    "re_id",
                    string_max(MAX_RE_ID_CHARS),
                    "Only this person (exact match).",
                ),
            15,
        )
        .ok_page(reference("Detection"))
        .errors(&[422, 503]),
        paged(
            Op::get(v1("person/{re_id}/detections"), TAG)
                .summary("A person's detection history")
                .describe(
                    "Newest first. A credential limited to a branch (or to a device) sees its \
                     branch only.",
                )
                .auth(Auth::Device)
                .path_param("re_id", string(), "The person's re-identification id.")
                .query("date_from", date(), &day("First day"))
                .query("date_to", date(), &day("Last day, inclusive"))
                .query("branch_id", int_min(1), "Only this branch."),
            20,
        )
        .ok_page(reference("Detection"))
        .errors(&[422, 503]),
        Op::get(v1("person/{re_id}"), TAG)
            .summary("A person's day")
            .describe(
                "The person-day and the branches where the person was seen that day. A \
                 credential limited to a branch sees only that branch's figures, and 404 \
                 when the person was not seen there.",
            )
            .auth(Auth::Device)
            .path_param("re_id", string(), "The person's re-identification id.")
            .query("date", date(), &day("The day; default today"))
            .ok(reference("PersonDay"))
            .errors(&[404, 422, 503]),
        branch_detections(),
        Op::get(v1("api-credentials/{id}/test"), TAG)
            .summary("Self-test of a credential")
            .describe(
                "A credential tests itself only: any other id (or one that is not a number) \
                 is 404. Checks the key and secret, the hourly limit and that the database \
                 is reachable; a failed database check is reported in `test_results` \
                 (`overall_status: partial_failure`), not as an error status. Counts as one \
                 request against the hourly limit.",
            )
            .auth(Auth::Device)
            .path_param("id", row_id(), "The id of the calling credential.")
            .ok(reference("CredentialTest"))
            .errors(&[404]),
    ]
}

fn log_detection() -> Op {
    Op::post(v1("detection/log"), TAG)
        .summary("Submit one detection")
        .describe(format!(
            "Validates the detection, checks the credential's scope (its branch or device) \
             and that the device is an active device of that active branch, and answers 202 \
             once the job is durable; processing follows asynchronously (see \
             `GET /api/v1/detection/status/{{job_id}}`). Needs the write permission.\n\n\
             **Bodies.** `application/json` (the `DetectionRequest` schema, at most \
             `http.max_json_bytes`, default 1 MiB), or `multipart/form-data` / \
             `application/x-www-form-urlencoded` (the `DetectionForm` schema, at most \
             `http.max_multipart_bytes`, default 12 MiB) with an optional `image` file \
             (JPEG, PNG, WebP, GIF or BMP, checked by content, at most 10 MB). A form \
             carries at most {MAX_FORM_FIELDS} fields with names of at most \
             {MAX_FIELD_NAME_BYTES} bytes; nested values are named PHP-style \
             (`detection_data[confidence]=0.9`) or sent as a JSON string. No member may \
             nest deeper than {MAX_NESTING} levels. Any other content type is 415; a body \
             too large is 413.\n\n\
             **Retries.** Give an `event_id` (unique per credential and `device_id`) or an \
             `Idempotency-Key` header (unique per credential). Repeating the same request \
             answers 202 with `duplicate: true`, the original job and its current state, \
             and stores nothing; the same key with different fields or another image is \
             409 `IDEMPOTENCY_CONFLICT` with `error.details.job_id`. Keys are remembered \
             while their job is (`ingest.completed_job_retention_hours`). 503 means \
             nothing was stored: retry."
        ))
        .auth(Auth::Device)
        .header(
            "Idempotency-Key",
            json!({"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID_CHARS}),
            "An alias of `event_id`, unique per credential (not per device). When both are \
             sent they must be equal (422 otherwise).",
        )
        .json_body(reference("DetectionRequest"))
        .body("multipart/form-data", reference("DetectionForm"))
        .body(
            "application/x-www-form-urlencoded",
            reference("DetectionForm"),
        )
        .answer(
            202,
            "Accepted and durable, or a retry of a detection already stored \
             (`duplicate: true`).",
            reference("DetectionAccepted"),
        )
        .errors(&[409, 413, 415, 503])
}

fn batch_detections() -> Op {
    Op::post(v1("detection/batch"), TAG)
        .summary("Submit a batch of detections (an edge node's backlog)")
        .describe(
            "`{\"detections\": [ … ]}`, each item the JSON fields of one \
             `POST /api/v1/detection/log` (no images). Needs the write permission.\n\n\
             **Limits.** 1 to `ingest.max_batch_items` (default 1,000) items: none is 422, \
             more is 413 with `error.details = {limit, items}`. The body must fit in \
             `http.max_json_bytes` (default 1 MiB; larger is 413) and hold only \
             `detections` (other members are 422); only `application/json` is accepted \
             (415).\n\n\
             **Per item.** Every item is checked as one detection would be; a refused item \
             is reported in its result and does not affect the others, so the answer is \
             202 even when all are rejected. Idempotency is per item through `event_id`: \
             a retried batch answers `duplicate` for the stored items. An \
             `Idempotency-Key` header is refused (422).\n\n\
             **Rate limit.** Each item counts against the credential's hourly limit, taken \
             at once: a batch larger than what is left of the hour is refused whole with \
             429. A request refused before its items are counted costs one.\n\n\
             The accepted items are stored in one transaction: on 503 none was stored, \
             retry the whole batch.",
        )
        .auth(Auth::Device)
        .json_body(reference("BatchRequest"))
        .answer(
            202,
            "The batch was read; every accepted item is durable. One result per item, in \
             input order.",
            reference("BatchResult"),
        )
        .errors(&[413, 415, 503])
}

fn branch_detections() -> Op {
    // The page comes with a `statistics` block beside `pagination`, which the plain page
    // answer does not have.
    let mut body = envelope(array(reference("Detection")));
    body["required"] = json!([
        "success",
        "message",
        "data",
        "pagination",
        "statistics",
        "meta"
    ]);
    body["properties"]["pagination"] = reference("Pagination");
    body["properties"]["statistics"] = reference("BranchDayStatistics");
    paged(
        Op::get(v1("branch/{id}/detections"), TAG)
            .summary("A branch's detections of one day, with its statistics")
            .describe(
                "Newest first. A credential limited to another branch gets 403; an unknown \
                 branch is 404. `statistics` counts the whole day (of the one device, when \
                 `device_id` is given), not just the page.",
            )
            .auth(Auth::Device)
            .path_param(
                "id",
                row_id(),
                "The branch id (a positive integer, else 422).",
            )
            .query("date", date(), &day("The day; default today"))
            .query(
                "device_id",
                string_max(MAX_DEVICE_ID_CHARS),
                "Only this device (exact match).",
            ),
        20,
    )
    .raw(
        200,
        "A page of the branch's detections that day, with the day's statistics.",
        Some(("application/json", body)),
    )
    .errors(&[404, 422, 503])
}

pub(super) use schemas::schemas;
