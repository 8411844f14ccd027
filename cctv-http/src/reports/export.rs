//! `GET /api/v1/reports/{daily,monthly,dashboard}/export?…&format=csv|xlsx`: the same
//! report the JSON endpoint answers, as a file. A stale or missing daily or monthly
//! report is generated first (synchronously), so a file never carries outdated numbers.

use cctv_admin::export::{
    Sheet, daily_sheets, dashboard_sheets, monthly_sheets, write_csv, write_xlsx,
};
use cctv_admin::reporting::{
    DailyReport, MonthlyReport, ReportKey, ReportService, Reporting, StoredReport,
};
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response, handler};

use super::read::{branch_name, daily_key, dashboard_of, monthly_key, reporting_error};
use crate::AppState;
use crate::envelope::{ApiError, render_error};
use crate::state;

#[derive(Debug, Clone, Copy)]
enum Format {
    Csv,
    Xlsx,
}

fn format(req: &Request) -> Result<Format, ApiError> {
    match req.queries().get("format").map(|s| s.trim()) {
        None | Some("") | Some("csv") => Ok(Format::Csv),
        Some("xlsx") | Some("excel") => Ok(Format::Xlsx),
        Some(_) => Err(ApiError::validation(
            "format",
            "The format must be csv or xlsx",
        )),
    }
}

/// The stored report if fresh, else a newly generated one.
async fn current(state: &AppState, key: ReportKey) -> Result<StoredReport, ApiError> {
    let service = ReportService::new(state.core.clone());
    let cached = service.cached(key).await.map_err(reporting_error)?;
    match cached.report {
        Some(report) if cached.fresh => Ok(report),
        _ => service.generate(key).await.map_err(reporting_error),
    }
}

fn scope_name(state: &AppState, branch: Option<i64>) -> String {
    branch.map_or_else(|| "Overall".to_owned(), |b| branch_name(state, b))
}

fn decode<T: serde::de::DeserializeOwned>(report: &StoredReport) -> Result<T, ApiError> {
    serde_json::from_value(report.data.clone())
        .map_err(|e| ApiError::Server(format!("stored report {} unreadable: {e}", report.key)))
}

fn send(res: &mut Response, sheets: &[Sheet], format: Format, name: &str) -> Result<(), ApiError> {
    let (bytes, mime, ext) = match format {
        Format::Csv => {
            let mut out = Vec::new();
            write_csv(sheets, &mut out).map_err(|e| ApiError::Server(e.to_string()))?;
            (out, "text/csv; charset=utf-8", "csv")
        }
        Format::Xlsx => (
            write_xlsx(sheets).map_err(|e| ApiError::Server(e.to_string()))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    res.status_code(StatusCode::OK);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{ext}\"")) {
        res.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    res.write_body(bytes)
        .map_err(|e| ApiError::Server(e.to_string()))
}

fn finish(res: &mut Response, depot: &Depot, result: Result<(), ApiError>) {
    if let Err(e) = result {
        render_error(res, depot, e);
    }
}

#[handler]
pub async fn daily(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let format = format(req)?;
        let key = daily_key(&state, req).await?;
        let report: DailyReport = decode(&current(&state, key).await?)?;
        let sheets = daily_sheets(&report, &scope_name(&state, key.branch_id));
        let suffix = key
            .branch_id
            .map(|b| format!("_branch_{b}"))
            .unwrap_or_default();
        send(
            res,
            &sheets,
            format,
            &format!("Daily_Report_{}{suffix}", key.date),
        )
    }
    .await;
    finish(res, depot, result);
}

#[handler]
pub async fn monthly(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let format = format(req)?;
        let key = monthly_key(&state, req).await?;
        let report: MonthlyReport = decode(&current(&state, key).await?)?;
        let sheets = monthly_sheets(&report, &scope_name(&state, key.branch_id), |b| {
            branch_name(&state, b)
        });
        let suffix = key
            .branch_id
            .map(|b| format!("_branch_{b}"))
            .unwrap_or_default();
        send(
            res,
            &sheets,
            format,
            &format!("Monthly_Report_{}{suffix}", report.month),
        )
    }
    .await;
    finish(res, depot, result);
}

#[handler]
pub async fn dashboard(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let format = format(req)?;
        let report = dashboard_of(&state, req, false).await?;
        let sheets = dashboard_sheets(&report, |b| branch_name(&state, b));
        let name = format!("Dashboard_Report_{}_{}", report.date_from, report.date_to);
        send(res, &sheets, format, &name)
    }
    .await;
    finish(res, depot, result);
}
