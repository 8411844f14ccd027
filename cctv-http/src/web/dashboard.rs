//! The dashboard: stat cards, a 7-day trend chart (SVG drawn by the template from numbers
//! computed here), top branches, recent detections and queue health. Numbers come from
//! the same registry queries as `GET /api/v1/detection/summary`, so page and API agree;
//! they then update live over the WebSocket.

use cctv_core::query::{DetectionFilter, PageRequest};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::render::{base, error_page, page, redirect};
use super::session::require;
use crate::state;

#[handler]
pub async fn home(res: &mut Response) {
    redirect(res, "/dashboard");
}

#[handler]
pub async fn page_handler(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    page_impl(req, depot, res).await;
}

async fn page_impl(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let who = &session.who;
    let estate = state.core.estate();
    let mut visible: Vec<_> = estate
        .branches
        .values()
        .filter(|b| who.may_view_branch(b.id))
        .collect();
    visible.sort_by(|a, b| a.branch_code.cmp(&b.branch_code));
    let requested = req.query::<i64>("branch_id");
    // Operators always look at one of their branches; others may choose one or all.
    let scope = match (requested, who.branch_filter()) {
        (Some(b), _) if who.may_view_branch(b) => Some(b),
        (Some(_), _) => {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "You may not view this branch.",
            );
        }
        (None, Some(_)) => visible.first().map(|b| b.id),
        (None, None) => None,
    };
    let storage = state.core.storage();
    let today = state.core.today();
    let mut trend = Vec::new();
    let mut today_summary = None;
    for back in (0..7).rev() {
        let day = today
            .checked_sub(jiff::Span::new().days(back))
            .unwrap_or(today);
        match storage.detection_summary(day, scope).await {
            Ok(s) => {
                trend.push(json!({"date": day.to_string(), "label": day.strftime("%a %d").to_string(), "count": s.summary.total_detections}));
                if back == 0 {
                    today_summary = Some(s);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "dashboard summary failed");
                return error_page(
                    res,
                    &session,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Statistics are unavailable right now.",
                );
            }
        }
    }
    let max = trend
        .iter()
        .filter_map(|t| t["count"].as_i64())
        .max()
        .unwrap_or(0)
        .max(1);
    for (i, t) in trend.iter_mut().enumerate() {
        let count = t["count"].as_i64().unwrap_or(0);
        let height = (count as f64 / max as f64 * 120.0).round() as i64;
        t["height"] = json!(height);
        t["y"] = json!(130 - height);
        t["x"] = json!(10 + i as i64 * 60);
    }
    let yesterday = trend.get(5).and_then(|t| t["count"].as_i64()).unwrap_or(0);
    let summary = today_summary
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let today_count = summary["summary"]["total_detections"].as_i64().unwrap_or(0);
    let recent = storage
        .list_detections(
            &DetectionFilter {
                scope_branch: scope,
                ..Default::default()
            },
            PageRequest {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .map(|p| serde_json::to_value(p.items).unwrap_or_default())
        .unwrap_or_default();
    let queues = storage
        .queue_depths()
        .await
        .map(|q| serde_json::to_value(q).unwrap_or_default())
        .unwrap_or_default();
    let groups: std::collections::BTreeSet<i64> = visible.iter().map(|b| b.group_id).collect();
    let devices = estate
        .devices
        .values()
        .filter(|d| who.may_view_branch(d.branch_id))
        .count();
    let mut ctx = base(&session, "dashboard");
    ctx["today"] = json!(today.to_string());
    ctx["scope"] = json!(scope);
    ctx["branches"] = json!(
        visible
            .iter()
            .map(|b| json!({"id": b.id, "name": b.branch_name, "code": b.branch_code}))
            .collect::<Vec<_>>()
    );
    ctx["stats"] = json!({
        "groups": groups.len(), "branches": visible.len(), "devices": devices,
        "today": today_count, "yesterday": yesterday,
        "note": format!("{:+} vs yesterday ({yesterday})", today_count - yesterday),
        "unique_persons": summary["summary"]["unique_persons"],
    });
    ctx["trend"] = json!(trend);
    ctx["top_branches"] = summary["top_branches"].clone();
    ctx["recent"] = recent;
    ctx["queues"] = queues;
    page(res, StatusCode::OK, "dashboard.html", &ctx);
}
