//! `/analytics`: visitor analytics for everyone signed in, over their branches — new vs
//! returning persons per day, dwell times, flows between branches, visit frequency and
//! busy hours, as SVG charts drawn here from the same figures the API answers
//! (`crate::analytics`), each table with a CSV link to its endpoint.

use cctv_admin::AdminCore;
use cctv_admin::analytics as figures;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::require;
use super::render::{base, error_page, page, unsupported};
use crate::analytics::{Ask, branch_name, pending_detections};
use crate::envelope::ApiError;
use crate::state;

/// Width and height of the charts' drawing area (the view box adds room for labels).
const W: f64 = 600.0;
const H: f64 = 120.0;

/// Stacked bars per day: returning at the bottom, new on top.
fn visit_bars(days: &[figures::VisitDay]) -> Vec<Value> {
    let max = days
        .iter()
        .map(|d| d.unique_persons)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = W / days.len().max(1) as f64;
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            let ret = (d.returning_persons as f64 / max * H).round();
            let new = (d.new_persons as f64 / max * H).round();
            json!({
                "date": d.date.to_string(), "new": d.new_persons, "returning": d.returning_persons,
                "x": (i as f64 * slot).round(), "w": (slot * 0.8).max(1.0).round(),
                "ry": 10.0 + H - ret, "rh": ret, "ny": 10.0 + H - ret - new, "nh": new,
            })
        })
        .collect()
}

/// Plain bars with a label under each.
fn bars(points: &[(String, i64)]) -> Vec<Value> {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1) as f64;
    let slot = W / points.len().max(1) as f64;
    points
        .iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let h = (*v as f64 / max * H).round();
            json!({
                "label": label, "value": v, "x": (i as f64 * slot).round(),
                "w": (slot * 0.8).max(1.0).round(), "y": 10.0 + H - h, "h": h,
                "tx": (i as f64 * slot + slot * 0.4).round(),
            })
        })
        .collect()
}

/// `90` → "1 min 30 s"; `3700` → "1 h 1 min".
fn duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

fn bucket_label(b: &figures::DwellBucket) -> String {
    match b.to_seconds {
        Some(to) => format!("{}–{} min", b.from_seconds / 60, to / 60),
        None => format!("{}+ min", b.from_seconds / 60),
    }
}

/// The heatmap's cells with their shade (0–1 of the busiest hour).
fn heat(cells: &[figures::HeatCell]) -> Vec<Value> {
    let max = cells.iter().map(|c| c.detections).max().unwrap_or(0).max(1) as f64;
    cells
        .iter()
        .map(|c| {
            json!({
                "weekday": c.weekday, "hour": c.hour, "n": c.detections,
                "x": 40 + i64::from(c.hour) * 23, "y": (i64::from(c.weekday) - 1) * 18,
                "shade": ((c.detections as f64 / max) * 100.0).round() / 100.0,
            })
        })
        .collect()
}

/// A name cut to fit a diagram column.
fn short(name: &str) -> String {
    if name.chars().count() <= 28 {
        return name.to_owned();
    }
    let mut cut: String = name.chars().take(27).collect();
    cut.push('…');
    cut
}

/// The flow diagram: the busiest flows as lines from a left column of origins to a right
/// column of destinations, each as thick as its share.
fn diagram(flows: &[figures::Flow]) -> Value {
    let top: Vec<&figures::Flow> = flows.iter().take(8).collect();
    let mut left: Vec<(i64, String)> = Vec::new();
    let mut right: Vec<(i64, String)> = Vec::new();
    for f in &top {
        if !left.iter().any(|(id, _)| *id == f.from_branch_id) {
            left.push((f.from_branch_id, f.from_branch_name.clone()));
        }
        if !right.iter().any(|(id, _)| *id == f.to_branch_id) {
            right.push((f.to_branch_id, f.to_branch_name.clone()));
        }
    }
    let y = |i: usize| 14 + i as i64 * 22;
    let max = top.first().map_or(1, |f| f.persons).max(1) as f64;
    let lines: Vec<Value> = top
        .iter()
        .map(|f| {
            let from = left
                .iter()
                .position(|(id, _)| *id == f.from_branch_id)
                .unwrap_or(0);
            let to = right
                .iter()
                .position(|(id, _)| *id == f.to_branch_id)
                .unwrap_or(0);
            json!({
                "y1": y(from), "y2": y(to), "persons": f.persons,
                "width": (f.persons as f64 / max * 10.0).max(1.0).round(),
                "from": f.from_branch_name, "to": f.to_branch_name,
            })
        })
        .collect();
    let column = |list: &[(i64, String)]| {
        list.iter()
            .enumerate()
            .map(|(i, (_, name))| json!({"name": short(name), "y": y(i) + 4}))
            .collect::<Vec<_>>()
    };
    json!({
        "lines": lines, "left": column(&left), "right": column(&right),
        "height": y(left.len().max(right.len())),
    })
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let who = &session.who;
    let mut ctx = base(&session, "analytics");
    let estate = state.core.estate();
    let mut visible: Vec<_> = estate
        .branches
        .values()
        .filter(|b| who.may_view_branch(b.id))
        .collect();
    visible.sort_by(|a, b| a.branch_code.cmp(&b.branch_code));
    ctx["branches"] = json!(
        visible
            .iter()
            .map(|b| json!({"id": b.id, "name": b.branch_name}))
            .collect::<Vec<_>>()
    );
    for name in ["from", "to"] {
        ctx[name] = json!(req.query::<String>(name).unwrap_or_default());
    }
    let ask = match Ask::read(&state, who, req) {
        Ok(ask) => ask,
        Err(ApiError::Validation(errors)) => {
            ctx["error"] = json!(errors.first_message().unwrap_or("Choose another range"));
            return page(
                res,
                StatusCode::UNPROCESSABLE_ENTITY,
                "analytics.html",
                &ctx,
            );
        }
        Err(ApiError::Forbidden(m)) => {
            return error_page(res, &session, StatusCode::FORBIDDEN, &m);
        }
        Err(ApiError::NotFound(m)) => {
            return error_page(res, &session, StatusCode::NOT_FOUND, &m);
        }
        Err(_) => {
            return error_page(
                res,
                &session,
                StatusCode::BAD_REQUEST,
                "Choose another range.",
            );
        }
    };
    ctx["from"] = json!(ask.range.from.to_string());
    ctx["to"] = json!(ask.range.to.to_string());
    ctx["branch"] = json!(ask.branch);
    ctx["lookback_days"] = json!(ask.lookback_days);
    let mut query = format!("from={}&to={}", ask.range.from, ask.range.to);
    if let Some(b) = ask.branch {
        query.push_str(&format!("&branch_id={b}"));
    }
    if req.query::<String>("lookback_days").is_some() {
        query.push_str(&format!("&lookback_days={}", ask.lookback_days));
    }
    ctx["query"] = json!(query);
    let scope = figures::Scope {
        range: ask.range,
        population: ask.population(),
        visible: ask.visible.as_deref(),
        focus: ask.branch,
        lookback_days: ask.lookback_days,
    };
    let store = match state.core.analytics_store() {
        Ok(store) => store.as_ref(),
        Err(e) => return unsupported(res, &session, &e),
    };
    let Ok(figures::Analytics {
        days,
        dwell,
        flows,
        frequency,
        cells,
    }) = figures::all(store, scope, |b| branch_name(&state, b)).await
    else {
        return error_page(
            res,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            "The analytics are unavailable right now.",
        );
    };
    ctx["pending"] = json!(pending_detections(&state).await);
    ctx["visits"] = json!({
        "bars": visit_bars(&days),
        "unique": days.iter().map(|d| d.unique_persons).sum::<i64>(),
        "new": days.iter().map(|d| d.new_persons).sum::<i64>(),
        "returning": days.iter().map(|d| d.returning_persons).sum::<i64>(),
        "first": days.first().map(|d| d.date.to_string()),
        "last": days.last().map(|d| d.date.to_string()),
    });
    ctx["dwell"] = json!({
        "visits": dwell.visits,
        "mean": dwell.mean_seconds.map(|m| duration(m.round() as i64)),
        "p50": dwell.p50_seconds.map(duration),
        "p90": dwell.p90_seconds.map(duration),
        "max": dwell.max_seconds.map(duration),
        "bars": bars(&dwell.histogram.iter().map(|b| (bucket_label(b), b.visits)).collect::<Vec<_>>()),
    });
    ctx["flows"] = json!({ "rows": flows.iter().take(50).collect::<Vec<_>>(), "count": flows.len(), "diagram": diagram(&flows) });
    ctx["frequency"] = json!({
        "bars": bars(&frequency.iter().map(|b| (b.days.to_string(), b.persons)).collect::<Vec<_>>()),
        "persons": frequency.iter().map(|b| b.persons).sum::<i64>(),
    });
    ctx["heat"] = json!({
        "cells": heat(&cells),
        "total": cells.iter().map(|c| c.detections).sum::<i64>(),
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    });
    page(res, StatusCode::OK, "analytics.html", &ctx);
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(90), "1 min 30 s");
        assert_eq!(duration(3700), "1 h 1 min");
    }
}
