//! Row exports for BI tools.

use super::super::build::{Auth, Op, date, int_min, one_of_strings, string, string_max};
use super::*;

fn row_export(path: &str, summary: &str, scope: &'static str, columns: &str) -> Op {
    Op::get(v1(path), "Exports")
        .summary(summary)
        .auth(Auth::PersonOrScope(scope))
        .query(
            "format",
            one_of_strings(&["csv", "xlsx"]),
            "`csv` (default) or `xlsx`.",
        )
        .query(
            "date_from",
            date(),
            "First local day (configured timezone).",
        )
        .query(
            "date_to",
            date(),
            "Last local day, included; not before `date_from`.",
        )
        .query(
            "branch_id",
            int_min(1),
            "One branch (an unknown one is a 422); default: every branch the caller may see.",
        )
        .raw_any(
            200,
            &format!(
                "The rows as an attachment, streamed: `text/csv`, or with `format=xlsx` a \
                 workbook ({XLSX}; rows past Excel's limit continue on further sheets). \
                 Columns: {columns}. If reading fails halfway a CSV body is cut off (an \
                 incomplete transfer, never a file that looks complete)."
            ),
            &[("text/csv", string()), (XLSX, binary())],
        )
        .errors(&[422, 503])
}

pub(super) fn export_operations() -> Vec<Op> {
    let text = || string_max(100);
    vec![
        row_export(
            "exports/persons",
            "Person-days as CSV or XLSX",
            "exports:read",
            "Re-ID, Date, Name, Status, Branches, Detected count, First detected (UTC), Last \
             detected (UTC)",
        )
        .describe(format!("One row per person and day seen. {SESSION_NOTE}"))
        .query(
            "status",
            one_of_strings(&["active", "inactive"]),
            "The person's status.",
        )
        .query("re_id", text(), "Exactly this re-id.")
        .query(
            "search",
            text(),
            "Case-insensitive part of the re-id or the person's name.",
        ),
        row_export(
            "exports/events",
            "Event logs as CSV or XLSX",
            "exports:read",
            "ID, Time (UTC), Date, Branch ID, Branch, Device ID, Device, Re-ID, Event type, \
             Detected count, Notification sent, Message sent, Image sent, Image path",
        )
        .describe(SESSION_NOTE)
        .query("device_id", text(), "One device.")
        .query(
            "event_type",
            one_of_strings(&["detection", "alert", "motion", "manual"]),
            "One event type.",
        )
        .query(
            "search",
            text(),
            "Case-insensitive part of the re-id or the device id.",
        ),
        row_export(
            "exports/detections",
            "Detections as CSV or XLSX",
            "detections:read",
            "ID, Time (UTC), Date, Re-ID, Branch ID, Branch, Device ID, Device, Detected count, \
             Detection data",
        )
        .describe(SESSION_NOTE)
        .query("device_id", text(), "One device.")
        .query("re_id", text(), "Exactly this re-id."),
    ]
}
