//! Reports and queue operations over HTTP.
//!
//! - `GET /api/v1/reports/{daily,monthly,dashboard}`: any signed-in person. Reports are
//!   cache-first: the stored report is answered with `"fresh"`; a stale or missing one is
//!   queued for generation (the answer carries the `job_id`; 202 when no version exists).
//!   Operators see only their branches: they must name one of them for daily and monthly
//!   reports (the overall report covers every branch, so it is for admins and viewers),
//!   and their dashboard is computed over their branches only.
//! - `GET /api/v1/reports/{daily,monthly,dashboard}/export?…&format=csv|xlsx`: the same
//!   reports as files (same scope rules).
//! - `GET /api/v1/exports/{persons,events,detections}?…&format=csv|xlsx`: rows as
//!   streamed files (see `rows.rs`), any signed-in person; operators get their branches'
//!   rows only.
//! - `GET /api/v1/admin/schedule`, `/admin/queues`, `/admin/failed-jobs` and the
//!   failed-job actions: admins only; actions are written to the audit log.
//! - `GET /api/v1/admin/api-usage`, `/admin/whatsapp-deliveries`: the daily summaries
//!   over a range of days, admins only (`summaries.rs`).

pub(crate) mod admin;
mod export;
mod read;
mod rows;
pub(crate) mod summaries;

use cctv_admin::access::Principal;
use salvo::Router;

use crate::AppState;
use crate::envelope::ApiError;

/// The routes, relative to `/api/v1`.
pub fn routes() -> Router {
    Router::new()
        .push(Router::with_path("reports/daily").get(read::daily))
        .push(Router::with_path("reports/monthly").get(read::monthly))
        .push(Router::with_path("reports/dashboard").get(read::dashboard))
        .push(Router::with_path("reports/daily/export").get(export::daily))
        .push(Router::with_path("reports/monthly/export").get(export::monthly))
        .push(Router::with_path("reports/dashboard/export").get(export::dashboard))
        .push(Router::with_path("exports/persons").get(rows::persons))
        .push(Router::with_path("exports/events").get(rows::events))
        .push(Router::with_path("exports/detections").get(rows::detections))
        .push(Router::with_path("admin/schedule").get(admin::schedule))
        .push(Router::with_path("admin/queues").get(admin::queues))
        .push(Router::with_path("admin/api-usage").get(summaries::api_usage))
        .push(Router::with_path("admin/whatsapp-deliveries").get(summaries::whatsapp_deliveries))
        .push(Router::with_path("admin/failed-jobs").get(admin::failed_jobs))
        .push(Router::with_path("admin/failed-jobs/retry-all").post(admin::retry_all))
        .push(Router::with_path("admin/failed-jobs/{id}/retry").post(admin::retry_one))
        .push(Router::with_path("admin/failed-jobs/{id}").delete(admin::discard))
}

/// The signed-in admin behind the request.
async fn admin(state: &AppState, req: &salvo::Request) -> Result<Principal, ApiError> {
    let who = crate::extract::person(state, req).await?;
    if !who.is_admin() {
        return Err(ApiError::Forbidden(
            "This action is for admins only.".into(),
        ));
    }
    Ok(who)
}

/// Checks that `branch` exists and `who` may see it; `None` (every branch) is refused
/// to operators.
fn scope(state: &AppState, who: &Principal, branch: Option<i64>) -> Result<(), ApiError> {
    match branch {
        Some(b) => {
            if !state.core.estate().branches.contains_key(&b) {
                return Err(ApiError::NotFound("Branch not found".into()));
            }
            if !who.may_view_branch(b) {
                return Err(ApiError::Forbidden("You may not see this branch.".into()));
            }
            Ok(())
        }
        None if who.branch_filter().is_some() => Err(ApiError::Forbidden(
            "The overall report covers every branch: pass a branch_id of yours.".into(),
        )),
        None => Ok(()),
    }
}
