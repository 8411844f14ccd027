//! Admin pages over the queue operations: queue health (pending, running, failed,
//! throughput, oldest pending, alert) and failed jobs with retry / retry-all / discard —
//! the same storage calls and audit entries as the JSON endpoints.

use cctv_admin::AdminCore;
use cctv_core::jobs::JobId;
use cctv_core::query::PageRequest;
use jiff::Timestamp;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use super::guard::{checked_form, flash, require};
use super::render::{base, error_page, page, redirect, unsupported};
use super::session::Session;
use crate::{AppState, state};

pub(super) async fn admin(state: &AppState, req: &Request, res: &mut Response) -> Option<Session> {
    let session = require(state, req, res).await?;
    if !session.who.is_admin() {
        error_page(
            res,
            &session,
            StatusCode::FORBIDDEN,
            "This page is for administrators.",
        );
        return None;
    }
    Some(session)
}

#[handler]
pub async fn queues(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    let storage = match state.core.queue_admin() {
        Ok(storage) => storage,
        Err(e) => return unsupported(res, &session, &e),
    };
    let threshold = state.core.admin_settings().queue_alert_threshold;
    let stats = match storage.queue_stats(Timestamp::now()).await {
        Ok(s) => s,
        Err(_) => {
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Queues are unavailable right now.",
            );
        }
    };
    let page_no = req.query::<u32>("page").filter(|p| *p >= 1).unwrap_or(1);
    let failed = storage
        .failed_jobs(PageRequest {
            page: page_no,
            per_page: 25,
        })
        .await
        .ok();
    let mut ctx = base(&session, "queues");
    ctx["threshold"] = json!(threshold);
    ctx["queues"] =
        json!(stats.iter().map(|q| json!({
        "queue": q.queue, "pending": q.pending, "running": q.running, "failed": q.failed,
        "per_minute": q.processed_last_minute, "oldest": q.oldest_pending_at,
        "alert": q.pending > threshold,
    })).collect::<Vec<_>>());
    if let Some(failed) = failed {
        ctx["failed"] = json!(failed.items.iter().map(|f| json!({
            "id": f.id.to_string(), "queue": f.queue, "kind": f.kind, "attempts": f.attempts,
            "error": f.error, "summary": f.payload_summary(), "failed_at": f.failed_at,
        })).collect::<Vec<_>>());
        ctx["pagination"] = json!({"page": page_no, "per_page": 25, "total": failed.total,
            "last_page": failed.total.div_ceil(25).max(1)});
    }
    ctx["query"] = json!({});
    page(res, StatusCode::OK, "queues.html", &ctx);
}

/// `POST /admin/failed-jobs/{id}/retry|delete`, `POST /admin/failed-jobs/retry-all`.
#[handler]
pub async fn failed_action(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    if checked_form(req, res, &session).await.is_none() {
        return;
    }
    // The retry-all route has no action segment.
    let action = req
        .param::<String>("action")
        .unwrap_or_else(|| "retry-all".into());
    let id = req
        .param::<String>("id")
        .and_then(|s| s.parse::<JobId>().ok());
    let storage = match state.core.queue_admin() {
        Ok(storage) => storage,
        Err(e) => return unsupported(res, &session, &e),
    };
    let now = Timestamp::now();
    let (outcome, audit_action) = match (action.as_str(), id) {
        ("retry", Some(id)) => (
            storage
                .retry_failed(Some(id), now)
                .await
                .map(|n| format!("{n} job moved back to its queue.")),
            "retry_failed_job",
        ),
        ("delete", Some(id)) => (
            storage.delete_failed(id).await.map(|d| {
                if d {
                    "The job was discarded.".into()
                } else {
                    "No such failed job.".into()
                }
            }),
            "delete_failed_job",
        ),
        ("retry-all", _) => (
            storage
                .retry_failed(None, now)
                .await
                .map(|n| format!("{n} jobs moved back to their queues.")),
            "retry_all_failed_jobs",
        ),
        _ => return error_page(res, &session, StatusCode::NOT_FOUND, "Not found"),
    };
    match outcome {
        Ok(message) => {
            if let Err(e) =
                crate::reports::admin::audit(&state, req, &session.who, audit_action, id).await
            {
                tracing::warn!(error = ?e, "audit of a failed-job action failed");
            }
            flash(req, res, &message);
            redirect(res, "/admin/queues");
        }
        Err(_) => error_page(
            res,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable right now.",
        ),
    }
}

#[handler]
pub async fn schedule(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    let core = &state.core;
    let settings = cctv_admin::schedule::ScheduleSettings {
        tasks: core.admin_settings().schedule.clone(),
        timezone: core.timezone().clone(),
        catch_up: std::time::Duration::ZERO,
        node_id: String::new(),
    };
    let store = match core.schedule_store() {
        Ok(store) => store,
        Err(e) => return unsupported(res, &session, &e),
    };
    let last = match store.last_runs().await {
        Ok(l) => l,
        Err(_) => {
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable right now.",
            );
        }
    };
    let tasks = cctv_admin::schedule::overview(&settings, &last, Timestamp::now());
    let mut ctx = base(&session, "schedule");
    ctx["tasks"] = serde_json::to_value(&tasks).unwrap_or_default();
    page(res, StatusCode::OK, "schedule.html", &ctx);
}
