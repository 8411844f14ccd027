//! `/admin/usage`: API usage and WhatsApp deliveries over a range of days, from the daily
//! summaries (`cctv_admin::usage`, the same figures as `GET /api/v1/admin/api-usage` and
//! `/admin/whatsapp-deliveries`), with a bar chart of each per day.

use cctv_admin::usage::{api_usage, deliveries};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::admin::admin;
use super::render::{base, error_page, page};
use crate::envelope::ApiError;
use crate::params::Params;
use crate::reports::summaries::range;
use crate::state;

/// Bars of a chart 600 wide and 120 high (the template draws them), one per day.
fn bars(days: &[(String, i64)]) -> Vec<Value> {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let slot = 600.0 / days.len().max(1) as f64;
    days.iter()
        .enumerate()
        .map(|(i, (date, value))| {
            let height = (*value as f64 / max as f64 * 120.0).round();
            json!({
                "date": date, "value": value,
                "x": (i as f64 * slot).round(), "width": (slot * 0.8).max(1.0).round(),
                "y": 130.0 - height, "height": height,
            })
        })
        .collect()
}

#[handler]
pub async fn usage(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = admin(&state, req, res).await else {
        return;
    };
    let mut params = Params::default();
    let asked = range(&state, &mut params, req);
    let mut ctx = base(&session, "usage");
    for name in ["date_from", "date_to"] {
        ctx[name] = json!(req.query::<String>(name).unwrap_or_default());
    }
    let range = match (params.finish(), asked) {
        (Ok(()), Some(r)) => r,
        (result, _) => {
            let message = match result {
                Err(ApiError::Validation(errors)) => errors.first_message().map(str::to_owned),
                _ => None,
            };
            ctx["error"] = json!(message.unwrap_or_else(|| "Choose another range".into()));
            return page(res, StatusCode::UNPROCESSABLE_ENTITY, "usage.html", &ctx);
        }
    };
    ctx["date_from"] = json!(range.from.to_string());
    ctx["date_to"] = json!(range.to.to_string());
    let store = state.core.storage().as_ref();
    let (Ok(api), Ok(wa)) = (
        api_usage(store, range, None).await,
        deliveries(store, range, None).await,
    ) else {
        return error_page(
            res,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "The summaries are unavailable right now.",
        );
    };
    let estate = state.core.estate();
    let branch_name = |id: i64| {
        estate
            .branches
            .get(&id)
            .map(|b| b.branch_name.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    ctx["api"] = json!({
        "totals": api.totals,
        "bars": bars(&api.days.iter().map(|d| (d.date.to_string(), d.totals.requests)).collect::<Vec<_>>()),
        "endpoints": api.endpoints.iter().take(20).collect::<Vec<_>>(),
        "credentials": api.credentials,
    });
    ctx["wa"] = json!({
        "totals": wa.totals,
        "bars": bars(&wa.days.iter().map(|d| (d.date.to_string(), d.totals.attempts)).collect::<Vec<_>>()),
        "branches": wa.branches.iter().map(|b| json!({
            "name": branch_name(b.branch_id), "totals": b.totals,
        })).collect::<Vec<_>>(),
    });
    page(res, StatusCode::OK, "usage.html", &ctx);
}
