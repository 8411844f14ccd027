//! The API reference: an OpenAPI 3.1 document of every `/api` route
//! (`GET /api/openapi.json`) and a page that presents it (`GET /api/docs`).
//!
//! The document is built from a catalog written next to the handlers' concerns: one
//! module per part of the API, each a list of [`Op`]s and the schemas they name. The
//! management resources are described from the same field specs the web forms use, so a
//! field added to a form appears in the reference too. A test walks the real router and
//! fails when a registered `/api` route is missing here, so the catalog cannot fall
//! behind the routes silently.

mod build;
mod device;
mod docs_page;
mod manage;
mod reports;

use std::sync::LazyLock;

use salvo::http::StatusCode;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use salvo::{Response, Router, handler};
use serde_json::{Map, Value, json};

pub(crate) use build::Op;

use build::{array, date_time, int, map_of, object, string};

/// `/api/openapi.json` and `/api/docs` (mounted under `/api`).
pub fn routes() -> Router {
    Router::new()
        .push(Router::with_path("openapi.json").get(openapi_json))
        .push(Router::with_path("docs").get(docs_page::page))
}

/// Every operation of the catalog.
pub(crate) fn operations() -> Vec<Op> {
    let mut ops = device::operations();
    ops.extend(manage::operations());
    ops.extend(reports::operations());
    ops.extend(reference_operations());
    ops
}

/// The document, built once per process.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build_document);
    &DOCUMENT
}

/// The methods the API serves at `path` (upper case, sorted), when `path` is an API route
/// at all: a request with another method is answered 405 with these in `Allow`, rather
/// than a 404 that would suggest the path does not exist. The document is the route table
/// here; a test keeps it equal to the router's `/api` routes.
pub(crate) fn allowed_methods(path: &str) -> Option<String> {
    static TEMPLATES: LazyLock<Vec<(Vec<String>, String)>> = LazyLock::new(|| {
        let mut out = Vec::new();
        for (template, item) in document()["paths"].as_object().into_iter().flatten() {
            let segments = template.split('/').map(str::to_owned).collect();
            let mut methods: Vec<String> = item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_uppercase())
                .collect();
            methods.sort();
            out.push((segments, methods.join(", ")));
        }
        out
    });
    let segments: Vec<&str> = path.split('/').collect();
    TEMPLATES.iter().find_map(|(template, methods)| {
        let fits = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty()));
        fits.then(|| methods.clone())
    })
}

#[handler]
async fn openapi_json(res: &mut Response) {
    static BYTES: LazyLock<Vec<u8>> =
        LazyLock::new(|| serde_json::to_vec_pretty(document()).unwrap_or_default());
    res.status_code(StatusCode::OK);
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    let _ = res.write_body(BYTES.clone());
}

fn reference_operations() -> Vec<Op> {
    vec![
        Op::get("/api/openapi.json", "Reference")
            .summary("This document")
            .raw(
                200,
                "The OpenAPI 3.1 document.",
                Some(("application/json", json!({"type": "object"}))),
            ),
        Op::get("/api/docs", "Reference")
            .summary("The API reference page")
            .raw(
                200,
                "An HTML page presenting this document.",
                Some(("text/html", string())),
            ),
    ]
}

fn build_document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in operations() {
        let item = paths
            .entry(op.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method] = op.to_json();
    }
    let mut schemas: Map<String, Value> = shared_schemas().into_iter().collect();
    for (name, schema) in device::schemas()
        .into_iter()
        .chain(manage::schemas())
        .chain(reports::schemas())
    {
        schemas.insert(name.to_owned(), schema);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cctv API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Person re-identification analytics across a company's branches.",
            "description": INTRODUCTION,
            "license": {"name": "Apache-2.0 OR MIT", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "This server"}],
        "tags": tags(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": {
                "deviceKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                    "description": "The key of a device credential (created by an admin)."},
                "deviceSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret",
                    "description": "The secret of the same credential, shown once at creation."},
                "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "A login token from POST /api/login (12 hours)."},
                "personalAccessToken": {"type": "http", "scheme": "bearer",
                    "description": "A personal access token (cctv_pat_…) created by an admin; \
                        read-only, limited to its scopes: reports:read, exports:read, \
                        metrics:read, detections:read."},
            },
        },
    })
}

const INTRODUCTION: &str = "Every JSON answer is an envelope: `{success, message, data, meta}` \
on success (lists add `pagination`), `{success: false, message, error: {code, details?}, meta}` \
on failure. Validation errors (422) list the messages per field in `error.details`. \
`meta.request_id` repeats the `X-Request-ID` header for support. Devices authenticate with \
`X-API-Key` and `X-API-Secret`; people with a bearer token from `POST /api/login` or a \
personal access token.";

fn tags() -> Value {
    json!([
        {"name": "Device", "description": "The device API used by cameras and edge nodes."},
        {"name": "Account", "description": "Logging in and out."},
        {"name": "Management", "description": "The estate and access: groups, branches, devices, users, credentials, streams, layouts, settings, audit log."},
        {"name": "Streams", "description": "Live camera streams through the server."},
        {"name": "Reports", "description": "Daily, monthly and dashboard reports and their exports."},
        {"name": "Exports", "description": "Row exports (CSV or XLSX) for BI tools."},
        {"name": "Analytics", "description": "Visits, dwell, flows, frequency and heatmaps."},
        {"name": "Administration", "description": "Queues, failed jobs, schedule, usage and delivery summaries, tokens."},
        {"name": "Reference", "description": "This document."},
    ])
}

/// Schemas every part uses: the envelope's blocks.
fn shared_schemas() -> Vec<(String, Value)> {
    vec![
        (
            "Meta".into(),
            object(&[
                ("timestamp", date_time()),
                ("version", string()),
                ("request_id", string()),
                (
                    "execution_time",
                    build::doc(string(), "Milliseconds, e.g. `3.20ms`."),
                ),
            ]),
        ),
        (
            "Pagination".into(),
            object(&[
                ("current_page", int()),
                ("per_page", int()),
                ("total", int()),
                ("last_page", int()),
                ("from", build::nullable(int())),
                ("to", build::nullable(int())),
            ]),
        ),
        (
            "Error".into(),
            json!({
                "type": "object",
                "required": ["success", "message", "error", "meta"],
                "properties": {
                    "success": {"const": false},
                    "message": string(),
                    "error": {
                        "type": "object",
                        "required": ["code"],
                        "properties": {
                            "code": build::one_of_strings(&ERROR_CODES),
                            "details": build::doc(build::any(),
                                "For VALIDATION_ERROR: field name → list of messages; for \
                                 RATE_LIMIT_EXCEEDED: limit, remaining, period, reset_at; \
                                 for IDEMPOTENCY_CONFLICT: the stored job_id."),
                        },
                    },
                    "meta": build::reference("Meta"),
                },
            }),
        ),
        ("ValidationDetails".into(), map_of(array(string()))),
    ]
}

const ERROR_CODES: [&str; 17] = [
    "UNAUTHORIZED",
    "INVALID_CREDENTIALS",
    "EXPIRED_CREDENTIALS",
    "FORBIDDEN",
    "NOT_FOUND",
    "VALIDATION_ERROR",
    "RATE_LIMIT_EXCEEDED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "CONFLICT",
    "IDEMPOTENCY_CONFLICT",
    "SERVER_ERROR",
    "SERVICE_UNAVAILABLE",
    "BAD_GATEWAY",
    "GATEWAY_TIMEOUT",
    "METHOD_NOT_ALLOWED",
    "NOT_IMPLEMENTED",
];

fn error_responses() -> Value {
    let described = [
        (401, "Missing, invalid or expired credentials."),
        (
            403,
            "The caller may not do this (role, branch scope or token scope).",
        ),
        (404, "No such resource, or not visible to the caller."),
        (
            409,
            "Conflicts with the current state (a duplicate key, a reused idempotency key).",
        ),
        (
            413,
            "The body or batch is larger than allowed; the message names the limit.",
        ),
        (415, "The body's media type is not accepted."),
        (
            422,
            "Validation failed; `error.details` lists the messages per field.",
        ),
        (429, "Rate limited; `Retry-After` says when to try again."),
        (
            500,
            "An internal error; the cause is logged under the request id.",
        ),
        (
            501,
            "The storage backend the server embeds does not provide this feature (never on the reference server's backends).",
        ),
        (502, "The camera behind the stream proxy failed."),
        (503, "The service is temporarily unavailable."),
        (
            504,
            "The camera behind the stream proxy did not answer in time.",
        ),
    ];
    let mut out = Map::new();
    for (status, description) in described {
        out.insert(
            format!("E{status}"),
            json!({
                "description": description,
                "content": {"application/json": {"schema": build::reference("Error")}},
            }),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
