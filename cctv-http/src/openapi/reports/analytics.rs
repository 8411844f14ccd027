//! Visitor analytics.

use serde_json::Value;

use super::super::build::{
    Auth, Op, array, date, doc, int, int_min, int_range, nullable, number, object, one_of_strings,
    reference, string,
};
use super::*;

fn analytics_op(path: &str, summary: &str, data: &str, csv_columns: &str) -> Op {
    Op::get(v1(path), "Analytics")
        .summary(summary)
        .describe(format!(
            "Exact as of the last processed detection: `pending_detections` counts the \
             accepted ones not in the figures yet. A person limited to some branches gets \
             figures over their branches only. With `format=csv` the answer is the table as \
             a `text/csv` attachment instead, columns {csv_columns}. {SESSION_NOTE}"
        ))
        .auth(Auth::PersonOrScope("reports:read"))
        .query("from", date(), "First day; default: 29 days before `to`.")
        .query(
            "to",
            date(),
            "Last day, included; default: today. At most 366 days.",
        )
        .query(
            "branch_id",
            int_min(1),
            "One branch; default: every branch the caller may see.",
        )
        .query(
            "format",
            one_of_strings(&["json", "csv"]),
            "`json` (default) or `csv`.",
        )
        .ok(reference(data))
        .also(200, "text/csv", string())
        .errors(&[404, 422, 503])
}

pub(super) fn analytics_operations() -> Vec<Op> {
    vec![
        analytics_op(
            "analytics/visits",
            "New and returning persons per day",
            "VisitsAnalytics",
            "date, unique_persons, new_persons, returning_persons",
        )
        .query(
            "lookback_days",
            int_range(1, 366),
            "Days looked back for an earlier visit (at any branch) that makes a person \
             returning; default: the server's `[analytics] lookback_days` (30 unless set).",
        ),
        analytics_op(
            "analytics/dwell",
            "Dwell times of visits",
            "DwellAnalytics",
            "from_seconds, to_seconds, visits",
        ),
        analytics_op(
            "analytics/flows",
            "Persons moving between branches on the same day",
            "FlowsAnalytics",
            "from_branch_id, from_branch_name, to_branch_id, to_branch_name, persons",
        ),
        analytics_op(
            "analytics/frequency",
            "Persons by number of days seen",
            "FrequencyAnalytics",
            "days, persons",
        ),
        analytics_op(
            "analytics/heatmap",
            "Detections by weekday and hour",
            "HeatmapAnalytics",
            "weekday, hour, detections",
        ),
    ]
}

/// An analytics answer: the range and scope every answer repeats, then `fields`.
fn analytics(fields: &[(&'static str, Value)]) -> Value {
    let head = [
        ("from", date()),
        ("to", date()),
        (
            "branch_id",
            doc(nullable(int()), "The branch asked for, if any."),
        ),
        (
            "pending_detections",
            doc(count(), "Accepted detections not processed yet."),
        ),
    ];
    object(&[&head[..], fields].concat())
}

pub(super) fn analytics_schemas() -> Vec<(&'static str, Value)> {
    let seconds = |text| doc(nullable(int()), text);
    let visits = analytics(&[
        ("lookback_days", int()),
        (
            "days",
            doc(
                array(reference("VisitDay")),
                "Every day of the range, zeros included.",
            ),
        ),
    ]);
    let visit_day = object(&[
        ("date", date()),
        ("unique_persons", int()),
        ("new_persons", int()),
        ("returning_persons", int()),
    ]);
    let dwell = analytics(&[
        (
            "visits",
            doc(
                int(),
                "Visits with two or more detections (the others have none).",
            ),
        ),
        (
            "mean_seconds",
            doc(nullable(number()), "`null` without such visits."),
        ),
        ("p50_seconds", seconds("Median, by nearest rank.")),
        ("p90_seconds", seconds("90th percentile, by nearest rank.")),
        ("max_seconds", seconds("The longest dwell.")),
        (
            "histogram",
            doc(
                array(reference("DwellBucket")),
                "Minutes 0, 1, 5, 15, 30, 60, 120+.",
            ),
        ),
    ]);
    let bucket = object(&[
        ("from_seconds", int()),
        (
            "to_seconds",
            doc(nullable(int()), "Excluded; `null`: no upper bound."),
        ),
        ("visits", int()),
    ]);
    let flows = analytics(&[(
        "flows",
        doc(
            array(reference("BranchFlow")),
            "Most persons first; only between visible branches.",
        ),
    )]);
    let flow = object(&[
        ("from_branch_id", int()),
        (
            "from_branch_name",
            doc(string(), "`#<id>` for a branch no longer in the estate."),
        ),
        ("to_branch_id", int()),
        ("to_branch_name", string()),
        ("persons", int()),
    ]);
    let frequency = analytics(&[
        ("persons", doc(int(), "Persons seen in the range.")),
        (
            "buckets",
            doc(
                array(reference("FrequencyBucket")),
                "1 to the most days, zeros included.",
            ),
        ),
    ]);
    let heatmap = analytics(&[(
        "cells",
        doc(
            array(reference("HeatCell")),
            "All 168 cells, Monday 00:00 first.",
        ),
    )]);
    let cell = object(&[
        (
            "weekday",
            doc(int_range(1, 7), "ISO weekday: 1 Monday … 7 Sunday."),
        ),
        ("hour", doc(int_range(0, 23), "Local hour.")),
        ("detections", int()),
    ]);
    vec![
        ("VisitsAnalytics", visits),
        ("VisitDay", visit_day),
        ("DwellAnalytics", dwell),
        ("DwellBucket", bucket),
        ("FlowsAnalytics", flows),
        ("BranchFlow", flow),
        ("FrequencyAnalytics", frequency),
        (
            "FrequencyBucket",
            object(&[("days", int_min(1)), ("persons", int())]),
        ),
        ("HeatmapAnalytics", heatmap),
        ("HeatCell", cell),
    ]
}
