//! Admin views of the scheduler and the queues, and the failed-job actions.

use cctv_admin::AdminCore;
use cctv_admin::manage::tables::AUDIT_LOGS;
use cctv_admin::queue_ops::QueueAlarm;
use cctv_admin::schedule::{ScheduleSettings, overview};
use cctv_core::jobs::JobId;
use cctv_core::records::{Record, WriteOp};
use jiff::Timestamp;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::admin as signed_in_admin;
use crate::AppState;
use crate::envelope::{ApiError, Reply, respond};
use crate::extract::client_ip;
use crate::params::Params;
use crate::state;

#[handler]
pub async fn schedule(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        signed_in_admin(&state, req).await?;
        let core = &state.core;
        let settings = ScheduleSettings {
            tasks: core.admin_settings().schedule.clone(),
            timezone: core.timezone().clone(),
            catch_up: std::time::Duration::ZERO,
            node_id: String::new(),
        };
        let last = core.schedule_store()?.last_runs().await?;
        let tasks = overview(&settings, &last, Timestamp::now());
        Ok(Reply::ok(
            "Schedule retrieved successfully",
            json!({"timezone": core.timezone().iana_name(), "tasks": tasks}),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn queues(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        signed_in_admin(&state, req).await?;
        let now = Timestamp::now();
        let threshold = state.core.admin_settings().queue_alert_threshold;
        let alarm = QueueAlarm::new(threshold);
        let stats = state.core.queue_admin()?.queue_stats(now).await?;
        let rows: Vec<Value> = stats
            .iter()
            .map(|s| {
                json!({
                    "queue": s.queue,
                    "pending": s.pending,
                    "running": s.running,
                    "failed": s.failed,
                    "processed_per_minute": s.processed_last_minute,
                    "oldest_pending_age_seconds": s.oldest_pending_at
                        .map(|t| now.duration_since(t).as_secs().max(0)),
                    "alert": alarm.is_above(s.pending),
                })
            })
            .collect();
        let alert = stats.iter().any(|s| alarm.is_above(s.pending));
        // Workers of this node only: other nodes' workers show in `running` above.
        let workers = state.core.worker_states();
        Ok(Reply::ok(
            "Queues retrieved successfully",
            json!({"alert_threshold": threshold, "alert": alert, "queues": rows, "workers": workers}),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn failed_jobs(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        signed_in_admin(&state, req).await?;
        let mut p = Params::default();
        let page = p.page(req, 25);
        p.finish()?;
        let page = state.core.queue_admin()?.failed_jobs(page).await?;
        let shown = cctv_core::query::Page {
            items: page
                .items
                .iter()
                .map(|j| {
                    json!({
                        "id": j.id,
                        "queue": j.queue,
                        "kind": j.kind,
                        "attempts": j.attempts,
                        "error": j.error,
                        "payload_summary": j.payload_summary(),
                        "created_at": j.created_at,
                        "failed_at": j.failed_at,
                    })
                })
                .collect::<Vec<_>>(),
            total: page.total,
            page: page.page,
        };
        Ok(Reply::page("Failed jobs retrieved successfully", &shown))
    }
    .await;
    respond(res, depot, result);
}

fn job_id(req: &Request) -> Result<JobId, ApiError> {
    req.param::<String>("id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::validation("id", "The id must be a job id (UUID)."))
}

/// Writes the admin's action to the audit log.
pub(crate) async fn audit(
    state: &AppState,
    req: &Request,
    who: &cctv_admin::access::Principal,
    action: &str,
    id: Option<JobId>,
) -> Result<(), ApiError> {
    let mut record = Record::new();
    record.insert("user_id".into(), json!(who.user_id));
    record.insert("user_email".into(), json!(who.email));
    record.insert("action".into(), json!(action));
    record.insert("entity".into(), json!("jobs"));
    record.insert(
        "entity_id".into(),
        id.map_or(Value::Null, |i| json!(i.to_string())),
    );
    record.insert("before_data".into(), Value::Null);
    record.insert("after_data".into(), Value::Null);
    record.insert("ip_address".into(), json!(client_ip(req)));
    state
        .core
        .storage()
        .apply(&[WriteOp::Insert {
            table: &AUDIT_LOGS,
            record,
            link: None,
        }])
        .await?;
    Ok(())
}

#[handler]
pub async fn retry_one(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = signed_in_admin(&state, req).await?;
        let id = job_id(req)?;
        if state
            .core
            .queue_admin()?
            .retry_failed(Some(id), Timestamp::now())
            .await?
            == 0
        {
            return Err(ApiError::NotFound("Failed job not found".into()));
        }
        audit(&state, req, &who, "retry_failed_job", Some(id)).await?;
        Ok(Reply::ok(
            "Job queued again",
            json!({"id": id, "status": "queued"}),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn retry_all(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = signed_in_admin(&state, req).await?;
        let retried = state
            .core
            .queue_admin()?
            .retry_failed(None, Timestamp::now())
            .await?;
        audit(&state, req, &who, "retry_all_failed_jobs", None).await?;
        Ok(Reply::ok(
            "Failed jobs queued again",
            json!({"retried": retried}),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn discard(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = signed_in_admin(&state, req).await?;
        let id = job_id(req)?;
        if !state.core.queue_admin()?.delete_failed(id).await? {
            return Err(ApiError::NotFound("Failed job not found".into()));
        }
        audit(&state, req, &who, "delete_failed_job", Some(id)).await?;
        Ok(Reply::ok("Failed job deleted", json!({"id": id})))
    }
    .await;
    respond(res, depot, result);
}
