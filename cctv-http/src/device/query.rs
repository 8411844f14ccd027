//! The device API's read endpoints.

use cctv_core::detection::{MAX_DEVICE_ID_CHARS, MAX_RE_ID_CHARS};
use cctv_core::jobs::JobId;
use cctv_core::query::DetectionFilter;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use crate::auth::{self, DeviceAuth};
use crate::envelope::{ApiError, Reply, respond};
use crate::params::Params;
use crate::{AppState, state};

/// Authenticates a read request.
async fn reader(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    depot: &mut Depot,
) -> Result<DeviceAuth, ApiError> {
    let auth = auth::authenticate(state, req, res, depot).await?;
    auth.require_read()?;
    Ok(auth)
}

#[handler]
pub async fn job_status(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let raw = req.param::<String>("job_id").unwrap_or_default();
        let id: JobId = raw
            .parse()
            .map_err(|_| ApiError::validation("job_id", "The job id must be a UUID"))?;
        let not_found = || ApiError::NotFound(format!("Job '{id}' not found"));
        let job = state.core.storage().job(id).await?.ok_or_else(not_found)?;
        // A credential sees only the jobs it submitted.
        if job.credential_id != Some(auth.id()) {
            return Err(not_found());
        }
        let message = match job.state {
            cctv_core::jobs::JobState::Queued => "Job is queued",
            cctv_core::jobs::JobState::Processing => "Job is still processing",
            cctv_core::jobs::JobState::Completed => "Job completed successfully",
            cctv_core::jobs::JobState::Failed => "Job processing failed",
        };
        Ok(Reply::ok(
            message,
            json!({
                "job_id": job.id,
                "status": job.state.as_str(),
                "attempts": job.attempts,
                "max_attempts": job.max_attempts,
                "error": job.last_error,
                "result": job.result,
                "queued_at": job.created_at,
                "finished_at": job.finished_at,
            }),
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn list_detections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let mut p = Params::default();
        let filter = DetectionFilter {
            date_from: p.date(req, "date_from"),
            date_to: p.date(req, "date_to"),
            branch_id: p.int(req, "branch_id"),
            device_id: p.text(req, "device_id", MAX_DEVICE_ID_CHARS),
            re_id: p.text(req, "re_id", MAX_RE_ID_CHARS),
            scope_branch: auth.scope_branch,
        };
        let page = p.page(req, 15);
        p.finish()?;
        let page = state.core.storage().list_detections(&filter, page).await?;
        Ok(Reply::page("Detections retrieved successfully", &page))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn summary(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let mut p = Params::default();
        let date = p.date(req, "date").unwrap_or_else(|| state.core.today());
        p.finish()?;
        let totals = state
            .core
            .storage()
            .detection_summary(date, auth.scope_branch)
            .await?;
        Ok(Reply::ok(
            "Detection summary retrieved successfully",
            totals,
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn person(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let re_id = req.param::<String>("re_id").unwrap_or_default();
        let mut p = Params::default();
        let date = p.date(req, "date").unwrap_or_else(|| state.core.today());
        p.finish()?;
        let day = state
            .core
            .storage()
            .person_day(&re_id, date, auth.scope_branch)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "Person with re_id '{re_id}' not found for date {date}"
                ))
            })?;
        Ok(Reply::ok("Person information retrieved successfully", day))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn person_detections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let re_id = req.param::<String>("re_id").unwrap_or_default();
        let mut p = Params::default();
        let filter = DetectionFilter {
            date_from: p.date(req, "date_from"),
            date_to: p.date(req, "date_to"),
            branch_id: p.int(req, "branch_id"),
            re_id: Some(re_id.clone()),
            scope_branch: auth.scope_branch,
            ..Default::default()
        };
        let page = p.page(req, 20);
        p.finish()?;
        let page = state.core.storage().list_detections(&filter, page).await?;
        Ok(Reply::page(
            format!("Detection history for re_id '{re_id}' retrieved successfully"),
            &page,
        ))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn branch_detections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = reader(&state, req, res, depot).await?;
        let raw = req.param::<String>("id").unwrap_or_default();
        let branch_id: i64 = raw.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::validation("id", "The branch id must be a positive integer")
        })?;
        auth.require_branch(branch_id)?;
        let mut p = Params::default();
        let date = p.date(req, "date").unwrap_or_else(|| state.core.today());
        let device_id = p.text(req, "device_id", MAX_DEVICE_ID_CHARS);
        let page = p.page(req, 20);
        p.finish()?;
        let stats = state
            .core
            .storage()
            .branch_statistics(branch_id, date, device_id.as_deref())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("Branch with ID {branch_id} not found")))?;
        let filter = DetectionFilter {
            date_from: Some(date),
            date_to: Some(date),
            branch_id: Some(branch_id),
            device_id,
            ..Default::default()
        };
        let page = state.core.storage().list_detections(&filter, page).await?;
        Ok(
            Reply::page("Branch detections retrieved successfully", &page)
                .extra("statistics", stats),
        )
    }
    .await;
    respond(res, depot, result);
}

/// `GET /api/v1/api-credentials/{id}/test`: a credential checks itself (and only itself).
#[handler]
pub async fn credential_test(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let auth = auth::authenticate(&state, req, res, depot).await?;
        let id: i64 = req.param::<String>("id").and_then(|s| s.parse().ok()).unwrap_or(0);
        if id != auth.id() {
            return Err(ApiError::NotFound("API credential not found".into()));
        }
        let credential = &auth.entry.credential;
        let database = match state.core.storage().change_stamp(cctv_core::storage::ChangeTopic::Credentials).await {
            Ok(_) => json!({"status": "success", "message": "Database reachable"}),
            Err(e) => {
                tracing::warn!(error = %e, "credential test: database check failed");
                json!({"status": "error", "message": "Database unreachable"})
            }
        };
        let ok = database["status"] == "success";
        Ok(Reply::ok(
            if ok { "All tests passed successfully" } else { "Some tests failed, check individual results" },
            json!({
                "credential": {
                    "id": credential.id,
                    "credential_name": credential.name,
                    "api_key": credential.api_key,
                    "branch_id": credential.branch_id,
                    "device_id": credential.device_id,
                    "permissions": credential.permissions,
                    "rate_limit": credential.rate_limit,
                    "expires_at": credential.expires_at,
                    "status": credential.status,
                },
                "test_results": {
                    "database": database,
                    "api_key": {"status": "success", "message": "Key and secret verified"},
                    "rate_limit": {"status": "success", "message": "Within the hourly limit",
                                   "details": {"limit": auth.rate.limit, "remaining": auth.rate.remaining, "reset": auth.rate.reset_at}},
                },
                "overall_status": if ok { "success" } else { "partial_failure" },
                "tested_at": jiff::Timestamp::now(),
            }),
        ))
    }
    .await;
    respond(res, depot, result);
}
