//! Daily, monthly and dashboard reports and their file exports.

use serde_json::{Value, json};

use super::super::build::{
    Auth, Op, array, boolean, date, date_time, doc, input, int, int_min, int_range, nullable,
    number, object, one_of_strings, reference, string, uuid, with_required,
};
use super::*;

fn report_branch(op: Op) -> Op {
    op.query(
        "branch_id",
        int_min(1),
        "One branch; without it the overall report of every branch, which a person limited \
         to some branches may not read (403): they must name one of theirs.",
    )
}

fn daily_params(op: Op) -> Op {
    op.query(
        "date",
        date(),
        "The local date (configured timezone); default: today.",
    )
    .then(report_branch)
}

fn monthly_params(op: Op) -> Op {
    op.query("month", month(), "`YYYY-MM`; default: the current month.")
        .then(report_branch)
}

fn dashboard_params(op: Op) -> Op {
    op.query(
        "date_from",
        date(),
        "First day; default: 6 days before `date_to`.",
    )
    .query(
        "date_to",
        date(),
        "Last day, included; default: today. At most 366 days.",
    )
    .query(
        "branch_id",
        int_min(1),
        "One branch; default: every branch the caller may see.",
    )
}

/// The format parameter and the file answer of report exports.
fn report_file(op: Op) -> Op {
    op.query(
        "format",
        one_of_strings(&["csv", "xlsx", "excel"]),
        "`csv` (default) or `xlsx` (`excel` is the same).",
    )
    .raw_any(
        200,
        &format!(
            "The report as an attachment: `text/csv` with a leading `section` column naming \
             each table (summary, then the breakdowns), or with `format=xlsx` a workbook \
             ({XLSX}) with one sheet per table."
        ),
        &[("text/csv", string()), (XLSX, binary())],
    )
    .auth(Auth::PersonOrScope("exports:read"))
    .errors(&[404, 422, 503])
}

pub(super) fn report_operations() -> Vec<Op> {
    let read = Auth::PersonOrScope("reports:read");
    let queued = "No version exists yet: the report is queued for generation.";
    let cache_first = format!(
        "Cache-first: a stored report that reflects every detection answers with `fresh: \
         true`; a stale one with `fresh: false` and the `job_id` of the job regenerating it; \
         with no stored version the answer is 202. {SESSION_NOTE}"
    );
    vec![
        Op::get(v1("reports/daily"), "Reports")
            .summary("The daily report of a branch or of every branch")
            .describe(&cache_first)
            .auth(read)
            .then(daily_params)
            .ok(reference("StoredDailyReport"))
            .answer(202, queued, reference("ReportQueued"))
            .errors(&[404, 422, 503]),
        Op::get(v1("reports/monthly"), "Reports")
            .summary("The monthly report of a branch or of every branch")
            .describe(&cache_first)
            .auth(read)
            .then(monthly_params)
            .ok(reference("StoredMonthlyReport"))
            .answer(202, queued, reference("ReportQueued"))
            .errors(&[404, 422, 503]),
        Op::get(v1("reports/dashboard"), "Reports")
            .summary("Totals, daily trend and top branches over a range of days")
            .describe(format!(
                "Computed from running totals. Distinct persons over several days come from a \
                 cache: `fresh: false` when they predate the latest detections (a refresh \
                 runs), `null` while a range is counted the first time. A person limited to \
                 some branches sees their branches only. {SESSION_NOTE}"
            ))
            .auth(read)
            .then(dashboard_params)
            .ok(reference("DashboardReport"))
            .errors(&[404, 422, 503]),
        Op::get(v1("reports/daily/export"), "Reports")
            .summary("The daily report as CSV or XLSX")
            .describe(format!(
                "A stale or missing report is generated first, so a file never carries \
                 outdated numbers. {SESSION_NOTE}"
            ))
            .then(daily_params)
            .then(report_file),
        Op::get(v1("reports/monthly/export"), "Reports")
            .summary("The monthly report as CSV or XLSX")
            .describe(format!(
                "A stale or missing report is generated first. {SESSION_NOTE}"
            ))
            .then(monthly_params)
            .then(report_file),
        Op::get(v1("reports/dashboard/export"), "Reports")
            .summary("The dashboard as CSV or XLSX")
            .describe(format!(
                "Exact figures: distinct persons are counted now, not read from the cache. \
                 {SESSION_NOTE}"
            ))
            .then(dashboard_params)
            .then(report_file),
    ]
}

/// The stored-report answer of `kind`: headline columns, the report itself in
/// `report_data`, and `job_id` only while a newer version is being generated.
fn stored_report(kind: &str, data: &str, date_note: &str) -> Value {
    let fields = [
        ("report_type", one_of_strings(&[kind])),
        ("report_date", doc(date(), date_note)),
        (
            "branch_id",
            doc(nullable(int()), "`null`: the overall report."),
        ),
        ("total_detections", count()),
        ("unique_persons", count()),
        ("total_detected_count", int()),
        ("unique_devices", count()),
        ("total_events", count()),
        ("generated_at", date_time()),
        ("report_data", reference(data)),
        (
            "fresh",
            doc(
                boolean(),
                "Whether it reflects every detection stored so far.",
            ),
        ),
        (
            "job_id",
            doc(
                uuid(),
                "Only when not fresh: the job generating a newer version.",
            ),
        ),
    ];
    let required: Vec<&str> = fields
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != "job_id")
        .collect();
    with_required(input(&fields), &required)
}

pub(super) fn report_schemas() -> Vec<(&'static str, Value)> {
    let queued = object(&[
        ("job_id", uuid()),
        ("status", one_of_strings(&["queued"])),
        ("fresh", json!({"const": false})),
        ("report_type", one_of_strings(&["daily", "monthly"])),
        (
            "report_date",
            doc(date(), "The day, or the first day of the month."),
        ),
        ("branch_id", nullable(int())),
    ]);
    let daily = object(&[
        ("date", date()),
        ("total_detections", doc(count(), "Detection rows.")),
        ("unique_persons", doc(count(), "Distinct re-ids.")),
        (
            "total_detected_count",
            doc(int(), "Sum of the people counts devices reported."),
        ),
        ("unique_devices", count()),
        ("total_events", count()),
        (
            "hourly_breakdown",
            doc(array(reference("DailyReportHour")), "Local hours 0–23."),
        ),
        (
            "device_breakdown",
            doc(array(reference("DailyReportDevice")), "Busiest first."),
        ),
        (
            "top_persons",
            doc(
                array(reference("DailyReportPerson")),
                "The 10 most detected.",
            ),
        ),
        (
            "peak_hour",
            doc(nullable(int_range(0, 23)), "`null` without detections."),
        ),
    ]);
    let hour = object(&[
        ("hour", int_range(0, 23)),
        ("detections", count()),
        ("detected_count", int()),
        ("unique_persons", count()),
    ]);
    let device = object(&[
        ("device_id", string()),
        ("detections", count()),
        ("detected_count", int()),
        ("unique_persons", count()),
    ]);
    let person = object(&[
        ("re_id", string()),
        ("detections", count()),
        ("detected_count", int()),
        ("first_detected_at", date_time()),
        ("last_detected_at", date_time()),
    ]);
    let monthly = object(&[
        ("month", doc(month(), "`YYYY-MM`.")),
        ("total_detections", count()),
        ("total_detected_count", int()),
        (
            "unique_persons",
            doc(count(), "Distinct over the whole month."),
        ),
        ("unique_devices", count()),
        ("total_events", count()),
        (
            "daily_breakdown",
            doc(
                array(reference("MonthlyReportDay")),
                "Every day, zero-filled.",
            ),
        ),
        (
            "days_counted",
            doc(count(), "Days of the month begun: the average's divisor."),
        ),
        (
            "avg_detections_per_day",
            doc(number(), "Rounded to 2 decimals."),
        ),
        (
            "busiest_day",
            doc(nullable(date()), "`null` without detections."),
        ),
        (
            "branch_breakdown",
            doc(array(reference("ReportBranchStats")), "Busiest first."),
        ),
    ]);
    let month_day = object(&[
        ("date", date()),
        ("detections", count()),
        ("detected_count", int()),
        ("unique_persons", count()),
        ("events", count()),
    ]);
    let branch = object(&[
        ("branch_id", int()),
        ("detections", count()),
        ("detected_count", int()),
        (
            "unique_persons",
            doc(count(), "Distinct persons at the branch over the period."),
        ),
    ]);
    let dashboard = object(&[
        ("date_from", date()),
        ("date_to", date()),
        ("total_detections", count()),
        ("total_detected_count", int()),
        (
            "unique_persons",
            doc(nullable(count()), "`null` while first counted."),
        ),
        (
            "persons_stale",
            doc(boolean(), "Distinct persons predate the latest detections."),
        ),
        (
            "persons_pending",
            doc(boolean(), "Distinct persons are being counted (`null`)."),
        ),
        ("unique_branches", count()),
        ("unique_devices", count()),
        ("total_events", count()),
        (
            "daily_trend",
            doc(
                array(reference("DashboardTrendDay")),
                "Every date, zero-filled.",
            ),
        ),
        (
            "top_branches",
            doc(array(reference("DashboardBranch")), "The 10 busiest."),
        ),
        ("fresh", doc(boolean(), "`false` when `persons_stale`.")),
    ]);
    let trend_day = object(&[
        ("date", date()),
        ("detections", count()),
        ("detected_count", int()),
        ("events", count()),
    ]);
    let top_branch = object(&[
        ("branch_id", int()),
        (
            "branch_name",
            doc(string(), "`Unknown` for a branch no longer in the estate."),
        ),
        ("detections", count()),
        ("detected_count", int()),
        (
            "unique_persons",
            doc(nullable(count()), "`null` while first counted."),
        ),
    ]);
    vec![
        (
            "StoredDailyReport",
            stored_report("daily", "DailyReport", "The local date."),
        ),
        (
            "StoredMonthlyReport",
            stored_report("monthly", "MonthlyReport", "The month's first day."),
        ),
        ("ReportQueued", queued),
        ("DailyReport", daily),
        ("DailyReportHour", hour),
        ("DailyReportDevice", device),
        ("DailyReportPerson", person),
        ("MonthlyReport", monthly),
        ("MonthlyReportDay", month_day),
        ("ReportBranchStats", branch),
        ("DashboardReport", dashboard),
        ("DashboardTrendDay", trend_day),
        ("DashboardBranch", top_branch),
    ]
}
