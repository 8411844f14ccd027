//! Report pages: the range dashboard (computed live), and the cached daily and monthly
//! reports (a stale or missing report is queued for generation and the page says so),
//! each with a bar chart drawn as SVG from the report's breakdown and CSV/XLSX export
//! links to the same export endpoints as the API.

use cctv_admin::AdminCore;
use cctv_admin::reporting::{CachedReport, ReportJob, ReportKey, ReportService, Reporting};
use jiff::Timestamp;
use jiff::civil::Date;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::require;
use super::render::{base, error_page, page};
use crate::state;

/// Bars for the chart: `(label, value)` → positions in a 600×160 view box.
fn bars(points: &[(String, i64)]) -> Vec<Value> {
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let width = 600.0 / points.len().max(1) as f64;
    points
        .iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let h = (*v as f64 / max as f64 * 120.0).round();
            json!({"label": label, "value": v, "x": (i as f64 * width).round(), "w": (width - 2.0).max(1.0),
                   "y": 130.0 - h, "h": h, "tx": (i as f64 * width + width / 2.0).round()})
        })
        .collect()
}

fn series(data: &Value, list: &str, label: &str) -> Vec<(String, i64)> {
    data[list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let l = match &p[label] {
                        Value::String(s) => s.get(8..).unwrap_or(s).to_owned(),
                        other => other.to_string(),
                    };
                    (l, p["detections"].as_i64().unwrap_or(0))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let who = &session.who;
    let kind = req
        .query::<String>("kind")
        .unwrap_or_else(|| "dashboard".into());
    let today = state.core.today();
    let date = req
        .query::<String>("date")
        .and_then(|d| d.parse::<Date>().ok())
        .unwrap_or(today);
    let requested = req.query::<i64>("branch_id");
    let estate = state.core.estate();
    let mut visible: Vec<_> = estate
        .branches
        .values()
        .filter(|b| who.may_view_branch(b.id))
        .collect();
    visible.sort_by(|a, b| a.branch_code.cmp(&b.branch_code));
    let branch = match (requested, who.branch_filter()) {
        (Some(b), _) if who.may_view_branch(b) => Some(b),
        (Some(_), _) => {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "You may not view this branch.",
            );
        }
        (None, Some(_)) if kind != "dashboard" => visible.first().map(|b| b.id),
        _ => None,
    };
    let service = ReportService::new(state.core.clone());
    let mut ctx = base(&session, "reports");
    ctx["kind"] = json!(kind);
    ctx["date"] = json!(date.to_string());
    ctx["branch"] = json!(branch);
    ctx["branches"] = json!(
        visible
            .iter()
            .map(|b| json!({"id": b.id, "name": b.branch_name}))
            .collect::<Vec<_>>()
    );
    // Report rows carry branch ids; the page shows names.
    ctx["branch_names"] = json!(
        state
            .core
            .estate()
            .branches
            .values()
            .map(|b| (b.id.to_string(), Value::from(b.branch_name.clone())))
            .collect::<serde_json::Map<String, Value>>()
    );
    let mut export = format!("kind={kind}");
    match kind.as_str() {
        "daily" | "monthly" => {
            let key = if kind == "daily" {
                ReportKey::daily(date, branch)
            } else {
                ReportKey::monthly(date, branch)
            };
            let (report, fresh) = match service.cached(key).await {
                Ok(CachedReport { report, fresh }) => (report, fresh),
                Err(e) => {
                    return error_page(
                        res,
                        &session,
                        StatusCode::SERVICE_UNAVAILABLE,
                        &e.to_string(),
                    );
                }
            };
            if !fresh {
                let job = ReportJob::generate(key).new_job(Timestamp::now());
                let queued = match state.core.queue_admin() {
                    Ok(queues) => queues.enqueue_unique(&job).await.map(drop),
                    Err(e) => Err(e),
                };
                if let Err(e) = queued {
                    tracing::warn!(error = %e, "queueing a report failed");
                }
            }
            ctx["fresh"] = json!(fresh);
            if let Some(r) = report {
                let data = &r.data;
                let points = if kind == "daily" {
                    series(data, "hourly_breakdown", "hour")
                } else {
                    series(data, "daily_breakdown", "date")
                };
                ctx["chart"] = json!(bars(&points));
                ctx["report"] = json!({"total_detections": r.total_detections, "unique_persons": r.unique_persons,
                    "total_detected_count": r.total_detected_count, "unique_devices": r.unique_devices,
                    "total_events": r.total_events, "generated_at": r.generated_at, "data": r.data});
            }
            let d = if kind == "daily" {
                date.to_string()
            } else {
                date.strftime("%Y-%m").to_string()
            };
            export = format!(
                "{}?{}={d}",
                kind,
                if kind == "daily" { "date" } else { "month" }
            );
        }
        _ => {
            let from = req
                .query::<String>("date_from")
                .and_then(|d| d.parse::<Date>().ok())
                .unwrap_or_else(|| {
                    today
                        .checked_sub(jiff::Span::new().days(6))
                        .unwrap_or(today)
                });
            let to = req
                .query::<String>("date_to")
                .and_then(|d| d.parse::<Date>().ok())
                .unwrap_or(today);
            let scope = match (branch, who.branch_filter()) {
                (Some(b), _) => Some(vec![b]),
                (None, Some(mine)) => Some(mine.iter().copied().collect()),
                (None, None) => None,
            };
            match service.dashboard_cached(from, to, scope).await {
                Ok(report) => {
                    let mut data = serde_json::to_value(&report).unwrap_or_default();
                    if report.persons_pending {
                        // Being computed: shown as such, never as zero.
                        data["unique_persons"] = json!("…");
                        if let Some(top) = data["top_branches"].as_array_mut() {
                            for b in top {
                                b["unique_persons"] = json!("…");
                            }
                        }
                    }
                    ctx["chart"] = json!(bars(&series(&data, "daily_trend", "date")));
                    ctx["report"] = json!({"data": data, "total_detections": data["total_detections"],
                        "unique_persons": data["unique_persons"], "total_detected_count": data["total_detected_count"],
                        "unique_devices": data["unique_devices"], "total_events": data["total_events"]});
                    // Distinct persons from before the latest detections (refreshing).
                    ctx["fresh"] = json!(!report.persons_stale);
                }
                Err(e) => {
                    return error_page(
                        res,
                        &session,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &e.to_string(),
                    );
                }
            }
            ctx["date_from"] = json!(from.to_string());
            ctx["date_to"] = json!(to.to_string());
            export = format!("dashboard?date_from={from}&date_to={to}");
        }
    }
    if let Some(b) = branch {
        export.push_str(&format!("&branch_id={b}"));
    }
    let export = export.replacen("kind=", "", 1);
    ctx["export_csv"] =
        json!(format!("/api/v1/reports/{export}&format=csv").replacen("?", "/export?", 1));
    ctx["export_xlsx"] =
        json!(format!("/api/v1/reports/{export}&format=xlsx").replacen("?", "/export?", 1));
    page(res, StatusCode::OK, "reports.html", &ctx);
}
