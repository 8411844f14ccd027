//! The dashboard: stat cards, a 7-day trend chart (SVG drawn by the template from numbers
//! computed here), top branches, recent detections and queue health. Numbers come from the
//! running day totals the processing transaction keeps (`day_counts`), so the page costs a
//! few rows with any history, and they equal `GET /api/v1/detection/summary`'s recount;
//! they then update live over the WebSocket: a detection in view adds its row at once and
//! has the page fetch `/dashboard?format=json` (at most every 2 s) to redraw every card.

use cctv_core::query::{DetectionFilter, PageRequest};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::require;
use super::render::{base, error_page, page, redirect};
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
    let week_start = today
        .checked_sub(jiff::Span::new().days(6))
        .unwrap_or(today);
    // Running day totals: one row per day and branch, whatever the number of detections.
    let counts = match storage.day_counts(week_start, today).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "dashboard day totals failed");
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Statistics are unavailable right now.",
            );
        }
    };
    let of_day = |day: jiff::civil::Date| {
        counts
            .iter()
            .find(|c| c.date == day && c.branch_id == scope)
            .map(|c| (c.detections, c.persons))
            .unwrap_or((0, 0))
    };
    let mut trend: Vec<Value> = (0..7)
        .rev()
        .map(|back| {
            let day = today
                .checked_sub(jiff::Span::new().days(back))
                .unwrap_or(today);
            json!({"date": day.to_string(), "label": day.strftime("%a %d").to_string(), "count": of_day(day).0})
        })
        .collect();
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
    let (today_count, unique_persons) = of_day(today);
    let mut top: Vec<_> = counts
        .iter()
        .filter(|c| c.date == today)
        .filter_map(|c| Some((c.branch_id?, c.detections)))
        .filter(|(b, _)| scope.is_none_or(|s| s == *b))
        .collect();
    top.sort_by_key(|(b, n)| (std::cmp::Reverse(*n), *b));
    let top_branches: Vec<Value> = top
        .into_iter()
        .take(5)
        .map(|(b, n)| {
            let branch = estate.branches.get(&b);
            json!({
                "branch_id": b,
                "branch_name": branch.map_or("N/A", |x| x.branch_name.as_str()),
                "city": branch.map_or("", |x| x.city.as_str()),
                "detection_count": n,
            })
        })
        .collect();
    let groups: std::collections::BTreeSet<i64> = visible.iter().map(|b| b.group_id).collect();
    let devices = estate
        .devices
        .values()
        .filter(|d| who.may_view_branch(d.branch_id))
        .count();
    let stats = json!({
        "groups": groups.len(), "branches": visible.len(), "devices": devices,
        "today": today_count, "yesterday": yesterday,
        "note": format!("{:+} vs yesterday ({yesterday})", today_count - yesterday),
        "unique_persons": unique_persons,
    });
    if req.query::<String>("format").as_deref() == Some("json") {
        // The page refreshes its cards from this after live detections: only the cards.
        let _ = res.add_header("cache-control", "no-store", true);
        res.render(salvo::writing::Json(json!({
            "stats": stats, "trend": trend, "top_branches": top_branches,
        })));
        return;
    }
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
    let mut ctx = base(&session, "dashboard");
    ctx["today"] = json!(today.to_string());
    ctx["scope"] = json!(scope);
    ctx["branches"] = json!(
        visible
            .iter()
            .map(|b| json!({"id": b.id, "name": b.branch_name, "code": b.branch_code}))
            .collect::<Vec<_>>()
    );
    ctx["stats"] = stats;
    ctx["trend"] = json!(trend);
    ctx["top_branches"] = json!(top_branches);
    ctx["recent"] = recent;
    ctx["device_names"] = super::render::device_names(&estate);
    ctx["queues"] = queues;
    page(res, StatusCode::OK, "dashboard.html", &ctx);
}
