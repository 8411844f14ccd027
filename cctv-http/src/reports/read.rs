//! The report endpoints: cache-first daily and monthly reports, the live dashboard.

use cctv_admin::AdminCore;
use cctv_admin::reporting::{
    CachedReport, DashboardReport, MAX_DASHBOARD_DAYS, ReportJob, ReportKey, ReportService,
    Reporting, StoredReport,
};
use jiff::Timestamp;
use jiff::civil::Date;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::scope;
use crate::AppState;
use crate::envelope::{ApiError, Reply, respond};
use crate::params::Params;
use crate::state;

pub(super) fn reporting_error(e: cctv_admin::reporting::ReportError) -> ApiError {
    use cctv_admin::reporting::ReportError as E;
    match e {
        E::NotFound => ApiError::NotFound("Report not found".into()),
        E::Rejected(m) => ApiError::validation("date", m),
        E::Unavailable(m) => {
            tracing::warn!(cause = %m, "reports unavailable");
            ApiError::Unavailable("The service is temporarily unavailable".into())
        }
        other => ApiError::Server(other.to_string()),
    }
}

fn present(report: &StoredReport) -> Value {
    json!({
        "report_type": report.key.kind,
        "report_date": report.key.date,
        "branch_id": report.key.branch_id,
        "total_detections": report.total_detections,
        "unique_persons": report.unique_persons,
        "total_detected_count": report.total_detected_count,
        "unique_devices": report.unique_devices,
        "total_events": report.total_events,
        "generated_at": report.generated_at,
        "report_data": report.data,
    })
}

/// The stored version if fresh; otherwise queue a generation and say so.
async fn cache_first(state: &AppState, key: ReportKey) -> Result<Reply, ApiError> {
    let service = ReportService::new(state.core.clone());
    let CachedReport { report, fresh } = service.cached(key).await.map_err(reporting_error)?;
    if fresh {
        let mut data = report.as_ref().map(present).unwrap_or_default();
        data["fresh"] = json!(true);
        return Ok(Reply::ok("Report retrieved successfully", data));
    }
    let job = ReportJob::generate(key).new_job(Timestamp::now());
    let job_id = state.core.queue_admin()?.enqueue_unique(&job).await?;
    Ok(match report {
        Some(report) => {
            let mut data = present(&report);
            data["fresh"] = json!(false);
            data["job_id"] = json!(job_id);
            Reply::ok("Report retrieved; a newer version is being generated", data)
        }
        None => Reply::with_status(
            StatusCode::ACCEPTED,
            "The report is being generated",
            json!({"job_id": job_id, "status": "queued", "fresh": false,
                   "report_type": key.kind, "report_date": key.date, "branch_id": key.branch_id}),
        ),
    })
}

/// The daily report a request asks for (`date` defaults to today), scope checked.
pub(super) async fn daily_key(state: &AppState, req: &Request) -> Result<ReportKey, ApiError> {
    let who = crate::extract::reader(state, req).await?;
    let mut p = Params::default();
    let date = p.date(req, "date");
    let branch = p.int(req, "branch_id");
    p.finish()?;
    scope(state, &who, branch)?;
    Ok(ReportKey::daily(
        date.unwrap_or_else(|| state.core.today()),
        branch,
    ))
}

/// The monthly report a request asks for (`month` defaults to this one), scope checked.
pub(super) async fn monthly_key(state: &AppState, req: &Request) -> Result<ReportKey, ApiError> {
    let who = crate::extract::reader(state, req).await?;
    let first = month(req, state.core.today())?;
    let mut p = Params::default();
    let branch = p.int(req, "branch_id");
    p.finish()?;
    scope(state, &who, branch)?;
    Ok(ReportKey::monthly(first, branch))
}

#[handler]
pub async fn daily(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async { cache_first(&state, daily_key(&state, req).await?).await }.await;
    respond(res, depot, result);
}

/// `YYYY-MM`, or the current month when absent.
fn month(req: &Request, today: Date) -> Result<Date, ApiError> {
    let Some(raw) = req
        .queries()
        .get("month")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    else {
        return Ok(today.first_of_month());
    };
    let parsed = raw
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<i16>().ok()?, m.parse::<i8>().ok()?)))
        .and_then(|(y, m)| Date::new(y, m, 1).ok());
    parsed.ok_or_else(|| ApiError::validation("month", "The month must be in YYYY-MM format"))
}

#[handler]
pub async fn monthly(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async { cache_first(&state, monthly_key(&state, req).await?).await }.await;
    respond(res, depot, result);
}

/// The dashboard a request asks for (default: the last 7 days), over the caller's
/// branches: cache-first for the JSON API (`cached`), exact for exports.
pub(super) async fn dashboard_of(
    state: &AppState,
    req: &Request,
    cached: bool,
) -> Result<DashboardReport, ApiError> {
    let who = crate::extract::reader(state, req).await?;
    let mut p = Params::default();
    let from = p.date(req, "date_from");
    let to = p.date(req, "date_to");
    let branch = p.int(req, "branch_id");
    p.finish()?;
    let to = to.unwrap_or_else(|| state.core.today());
    let from = from.unwrap_or_else(|| to.saturating_sub(jiff::Span::new().days(6)));
    let days = to.duration_since(from).as_secs() / 86_400 + 1;
    if from > to || days > i64::from(MAX_DASHBOARD_DAYS) {
        return Err(ApiError::validation(
            "date_from",
            format!(
                "date_from must not be after date_to, and the range at most {MAX_DASHBOARD_DAYS} days"
            ),
        ));
    }
    let branches = match branch {
        Some(b) => {
            scope(state, &who, Some(b))?;
            Some(vec![b])
        }
        None => who.branch_filter().map(|set| set.iter().copied().collect()),
    };
    let service = ReportService::new(state.core.clone());
    let report = if cached {
        service.dashboard_cached(from, to, branches).await
    } else {
        service.dashboard(from, to, branches).await
    };
    report.map_err(reporting_error)
}

/// A branch's name, "Unknown" for a branch no longer in the estate.
pub(super) fn branch_name(state: &AppState, id: i64) -> String {
    state
        .core
        .estate()
        .branches
        .get(&id)
        .map_or_else(|| "Unknown".to_owned(), |b| b.branch_name.clone())
}

#[handler]
pub async fn dashboard(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let report = dashboard_of(&state, req, true).await?;
        let mut data = serde_json::to_value(&report).unwrap_or_default();
        // Persons not computed yet are unknown, not zero.
        let pending = report.persons_pending;
        if pending {
            data["unique_persons"] = Value::Null;
        }
        if let Some(top) = data["top_branches"].as_array_mut() {
            for b in top {
                let id = b["branch_id"].as_i64().unwrap_or_default();
                b["branch_name"] = json!(branch_name(&state, id));
                if pending {
                    b["unique_persons"] = Value::Null;
                }
            }
        }
        data["fresh"] = json!(!report.persons_stale);
        Ok(Reply::ok("Dashboard retrieved successfully", data))
    }
    .await;
    respond(res, depot, result);
}
