//! Queue administration, the schedule, and the usage and delivery summaries.

use serde_json::Value;

use super::super::build::{
    Auth, Op, array, boolean, date, date_time, doc, int, int_min, nullable, object, one_of_strings,
    reference, string, uuid,
};
use super::*;

fn admin(method: fn(String, &'static str) -> Op, path: &str, summary: &str) -> Op {
    method(v1(path), "Administration")
        .summary(summary)
        .auth(Auth::Admin)
}

fn summary_range(op: Op) -> Op {
    op.query(
        "date_from",
        date(),
        "First day; default: 29 days before `date_to`.",
    )
    .query(
        "date_to",
        date(),
        "Last day, included; default: today. At most 366 days.",
    )
    .describe("From the daily log aggregation (every node's logs): as fresh as its last run.")
}

fn failed_job_id(op: Op) -> Op {
    op.path_param(
        "id",
        uuid(),
        "The failed job's id (anything but a UUID is a 422).",
    )
}

pub(super) fn admin_operations() -> Vec<Op> {
    let audited = "Written to the audit log.";
    vec![
        admin(
            Op::get,
            "admin/schedule",
            "Scheduled tasks with their last and next runs",
        )
        .ok(reference("ScheduleOverview"))
        .errors(&[503]),
        admin(
            Op::get,
            "admin/queues",
            "Queue depths, throughput and this node's workers",
        )
        .ok(reference("QueueOverview"))
        .errors(&[503]),
        admin(
            Op::get,
            "admin/api-usage",
            "API usage per day, credential and endpoint",
        )
        .then(summary_range)
        .query("credential_id", int_min(1), "One device credential.")
        .ok(reference("ApiUsageReport"))
        .errors(&[422, 503]),
        admin(
            Op::get,
            "admin/whatsapp-deliveries",
            "WhatsApp deliveries per day and branch",
        )
        .then(summary_range)
        .query("branch_id", int_min(1), "One branch.")
        .ok(reference("WhatsAppDeliveryReport"))
        .errors(&[422, 503]),
        admin(
            Op::get,
            "admin/failed-jobs",
            "Jobs that exhausted their attempts",
        )
        .describe("Most recently failed first.")
        .query("page", int_min(1), "Page number, from 1.")
        .query(
            "per_page",
            int_min(1),
            "Rows per page; default 25, above 100 served as 100.",
        )
        .ok_page(reference("FailedJob"))
        .errors(&[422, 503]),
        admin(
            Op::post,
            "admin/failed-jobs/retry-all",
            "Queue every failed job again",
        )
        .describe(format!("With fresh attempts, due now. {audited}"))
        .ok(object(&[("retried", doc(count(), "Jobs queued again."))]))
        .errors(&[503]),
        admin(
            Op::post,
            "admin/failed-jobs/{id}/retry",
            "Queue one failed job again",
        )
        .describe(format!("With fresh attempts, due now. {audited}"))
        .then(failed_job_id)
        .ok(object(&[
            ("id", uuid()),
            ("status", one_of_strings(&["queued"])),
        ]))
        .errors(&[404, 422, 503]),
        admin(
            Op::delete,
            "admin/failed-jobs/{id}",
            "Discard one failed job",
        )
        .describe(audited)
        .then(failed_job_id)
        .ok(object(&[("id", uuid())]))
        .errors(&[404, 422, 503]),
    ]
}

/// `key` then `totals`: the core flattens its totals into each row.
fn keyed(key: &[(&'static str, Value)], totals: &[(&'static str, Value)]) -> Value {
    object(&[key, totals].concat())
}

pub(super) fn admin_schemas() -> Vec<(&'static str, Value)> {
    let tasks = [
        "report_refresh",
        "daily_reports",
        "log_aggregation",
        "file_cleanup",
        "monthly_reports",
        "failed_job_pruning",
        "stream_health",
        "partition_maintenance",
    ];
    let schedule = object(&[
        (
            "timezone",
            doc(nullable(string()), "The configured timezone's IANA name."),
        ),
        ("tasks", array(reference("ScheduledTask"))),
    ]);
    let task = object(&[
        ("task", one_of_strings(&tasks)),
        (
            "cadence",
            doc(
                string(),
                "E.g. `every 5 minutes`, `daily 01:00`, `monthly 1 02:00`.",
            ),
        ),
        (
            "last_run",
            doc(
                nullable(reference("ScheduleRun")),
                "The latest claimed slot.",
            ),
        ),
        ("next_run", date_time()),
    ]);
    let run = object(&[
        ("task", string()),
        ("slot", date_time()),
        ("node", string()),
        ("started_at", date_time()),
    ]);
    let queues = object(&[
        (
            "alert_threshold",
            doc(count(), "Pending jobs above which a queue alerts."),
        ),
        (
            "alert",
            doc(boolean(), "Some queue is above the threshold."),
        ),
        ("queues", array(reference("QueueState"))),
        (
            "workers",
            doc(
                array(reference("QueueWorkers")),
                "This node's workers only.",
            ),
        ),
    ]);
    let queue = object(&[
        ("queue", one_of_strings(&QUEUES)),
        (
            "pending",
            doc(count(), "Queued, due or waiting for a retry time."),
        ),
        (
            "running",
            doc(count(), "Pending jobs a worker (of any node) holds."),
        ),
        ("failed", count()),
        (
            "processed_per_minute",
            doc(count(), "Completed in the last minute."),
        ),
        (
            "oldest_pending_age_seconds",
            doc(nullable(count()), "`null`: nothing pending."),
        ),
        ("alert", boolean()),
    ]);
    let workers = object(&[
        ("node", string()),
        ("queue", one_of_strings(&QUEUES)),
        ("workers", count()),
        ("busy", doc(count(), "Workers on a job right now.")),
        (
            "processed",
            doc(count(), "Jobs completed since the process started."),
        ),
        ("failed_attempts", count()),
        ("restarts", doc(count(), "Workers restarted after a panic.")),
    ]);
    let failed_job = object(&[
        ("id", uuid()),
        ("queue", one_of_strings(&QUEUES)),
        ("kind", string()),
        ("attempts", count()),
        ("error", nullable(string())),
        (
            "payload_summary",
            doc(string(), "The payload as JSON, cut to 200 characters."),
        ),
        ("created_at", date_time()),
        ("failed_at", nullable(date_time())),
    ]);
    let range = || object(&[("from", date()), ("to", date())]);
    let every_day = "Every day of the range, zeros included.";
    let requests = [
        ("requests", int()),
        ("success", int()),
        ("errors", int()),
        (
            "avg_response_time_ms",
            doc(nullable(int()), "Weighted by requests; `null`: none."),
        ),
        ("max_response_time_ms", nullable(int())),
    ];
    let usage = object(&[
        ("range", range()),
        ("totals", object(&requests)),
        (
            "days",
            doc(array(keyed(&[("date", date())], &requests)), every_day),
        ),
        (
            "credentials",
            array(keyed(
                &[(
                    "credential_id",
                    doc(int(), "0: requests without a device credential."),
                )],
                &requests,
            )),
        ),
        (
            "endpoints",
            doc(
                array(keyed(
                    &[("endpoint", string()), ("method", string())],
                    &requests,
                )),
                "Busiest first.",
            ),
        ),
    ]);
    let messages = [
        (
            "attempts",
            doc(int(), "Every logged attempt, suppressed sends included."),
        ),
        ("delivered", doc(int(), "Accepted by the provider.")),
        (
            "failed",
            doc(int(), "Refused, or failed on the last attempt."),
        ),
        (
            "pending",
            doc(int(), "To be retried, or held back by the cooldown."),
        ),
        ("with_image", int()),
    ];
    let deliveries = object(&[
        ("range", range()),
        ("totals", object(&messages)),
        (
            "days",
            doc(array(keyed(&[("date", date())], &messages)), every_day),
        ),
        ("branches", array(keyed(&[("branch_id", int())], &messages))),
    ]);
    vec![
        ("ScheduleOverview", schedule),
        ("ScheduledTask", task),
        ("ScheduleRun", run),
        ("QueueOverview", queues),
        ("QueueState", queue),
        ("QueueWorkers", workers),
        ("FailedJob", failed_job),
        ("ApiUsageReport", usage),
        ("WhatsAppDeliveryReport", deliveries),
    ]
}
