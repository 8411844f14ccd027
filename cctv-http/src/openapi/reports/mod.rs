//! Reports, row exports, visitor analytics, queue administration and live streams.
//!
//! Written from the handlers in `reports/`, `analytics/` and `streams/` and the core
//! types they serialise: a field here is a field serde writes there. The reads a personal
//! access token may also make name the scope `TokenScope::required_for` gives them.

mod admin;
mod analytics;
mod exports;
mod read;
mod streams;

use serde_json::{Value, json};

use super::build::{Op, count, v1};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Every person-facing read here is a link the web pages open, so `extract::reader`
/// accepts the session cookie as well as a token.
const SESSION_NOTE: &str =
    "A browser session cookie is accepted too (without an `Authorization` header).";

const QUEUES: [&str; 6] = [
    "critical",
    "detections",
    "notifications",
    "images",
    "reports",
    "maintenance",
];

/// Lets shared parameter sets read as one more step of a builder chain.
trait Then: Sized {
    fn then(self, step: impl FnOnce(Self) -> Self) -> Self {
        step(self)
    }
}

impl Then for Op {}

/// Bytes passed on as they are (camera pictures).
fn binary() -> Value {
    json!({"type": "string", "format": "binary"})
}

/// One of `values` or `null`: the `enum` must list `null` too for it to validate.
fn nullable_enum(values: &[&str]) -> Value {
    let mut all: Vec<Value> = values.iter().map(|v| json!(v)).collect();
    all.push(Value::Null);
    json!({"type": ["string", "null"], "enum": all})
}

fn month() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"})
}

pub(super) fn operations() -> Vec<Op> {
    let mut ops = read::report_operations();
    ops.extend(exports::export_operations());
    ops.extend(admin::admin_operations());
    ops.extend(analytics::analytics_operations());
    ops.extend(streams::stream_operations());
    ops
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let mut all = read::report_schemas();
    all.extend(admin::admin_schemas());
    all.extend(analytics::analytics_schemas());
    all.push(("LiveStreamPlayback", streams::playback_schema()));
    all
}
