//! `GET /api/v1/admin/api-usage` and `GET /api/v1/admin/whatsapp-deliveries`: the daily
//! summaries over a range of days (default: the 30 days ending today), admins only.
//! The figures come from the daily log aggregation, which folds every node's logs.

use cctv_admin::usage::{DayRange, api_usage as usage_report, deliveries};
use cctv_core::storage::StorageError;
use salvo::{Depot, Request, Response, handler};
use serde_json::json;

use super::admin as signed_in_admin;
use crate::AppState;
use crate::envelope::{ApiError, Reply, respond};
use crate::params::Params;
use crate::state;

/// The range asked for: `date_from`, `date_to` (inclusive, days in the configured
/// timezone; default: the 30 days ending today). Errors go to `params`. The API and the
/// `/admin/usage` page read their range here.
pub(crate) fn range(state: &AppState, params: &mut Params, req: &Request) -> Option<DayRange> {
    params.day_range(req, ("date_from", "date_to"), state.core.today())
}

/// A range holding more summary rows than one answer may carry is the caller's to
/// shorten (422), not a server failure.
fn too_long(e: StorageError) -> ApiError {
    match e {
        StorageError::Rejected(message) => ApiError::validation("date_from", message),
        other => other.into(),
    }
}

#[handler]
pub async fn api_usage(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        signed_in_admin(&state, req).await?;
        let mut params = Params::default();
        let range = range(&state, &mut params, req);
        let credential = params.int(req, "credential_id");
        params.finish()?;
        let range = range.ok_or_else(|| ApiError::Server("range missing".into()))?;
        let report = usage_report(state.core.storage().as_ref(), range, credential)
            .await
            .map_err(too_long)?;
        Ok(Reply::ok("API usage retrieved successfully", json!(report)))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
pub async fn whatsapp_deliveries(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        signed_in_admin(&state, req).await?;
        let mut params = Params::default();
        let range = range(&state, &mut params, req);
        let branch = params.int(req, "branch_id");
        params.finish()?;
        let range = range.ok_or_else(|| ApiError::Server("range missing".into()))?;
        let report = deliveries(state.core.storage().as_ref(), range, branch)
            .await
            .map_err(too_long)?;
        Ok(Reply::ok(
            "WhatsApp deliveries retrieved successfully",
            json!(report),
        ))
    }
    .await;
    respond(res, depot, result);
}
