//! Person tracking: the list of person-days (newest sighting first; filters branch, date
//! range, status, search) and the person-day page (where and when the person was seen,
//! detection history, links to other days, name/status edit).

use cctv_admin::manage::tables::{PERSON_BRANCH_DAYS, PERSON_DAYS};
use cctv_core::query::{DetectionFilter, PageRequest};
use cctv_core::records::{Filter, ListQuery, Order};
use jiff::civil::Date;
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::{checked_form, flash, require};
use super::render::{base, error_page, page, redirect};
use super::session::Session;
use crate::extract::{caller, client_ip};
use crate::{AppState, state};

/// Most persons a branch filter considers (the list is paginated on top).
const BRANCH_FILTER_LIMIT: u32 = 5000;

fn date_param(req: &Request, name: &str) -> Option<Date> {
    req.query::<String>(name).and_then(|s| s.parse().ok())
}

/// Links to the row export at `path` (`/api/v1/exports/…`) with the list's current
/// filters (the page position left out), as CSV and as XLSX.
pub(super) fn export_links(req: &Request, path: &str) -> Value {
    let mut query = String::new();
    for (k, v) in req.queries().iter() {
        if matches!(k.as_str(), "page" | "per_page" | "format") || v.trim().is_empty() {
            continue;
        }
        query.push_str(&super::render::percent_encode(k, b"-._~"));
        query.push('=');
        query.push_str(&super::render::percent_encode(v.trim(), b"-._~"));
        query.push('&');
    }
    json!({
        "csv": format!("{path}?{query}format=csv"),
        "xlsx": format!("{path}?{query}format=xlsx"),
    })
}

async fn branches_seen(state: &AppState, re_id: &str, date: Date) -> Vec<i64> {
    let filters = [
        Filter::Eq("re_id", json!(re_id)),
        Filter::Eq("detection_date", json!(date.to_string())),
    ];
    state
        .core
        .storage()
        .distinct_values(&PERSON_BRANCH_DAYS, "branch_id", &filters, 1000)
        .await
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let who = &session.who;
    let mut filters = Vec::new();
    let (from, to) = (date_param(req, "date_from"), date_param(req, "date_to"));
    let mut day_filters = Vec::new();
    if let Some(d) = from {
        filters.push(Filter::Ge("detection_date", json!(d.to_string())));
        day_filters.push(Filter::Ge("detection_date", json!(d.to_string())));
    }
    if let Some(d) = to.and_then(|d| d.tomorrow().ok()) {
        filters.push(Filter::Lt("detection_date", json!(d.to_string())));
        day_filters.push(Filter::Lt("detection_date", json!(d.to_string())));
    }
    if let Some(status) = req
        .query::<String>("status")
        .filter(|s| s == "active" || s == "inactive")
    {
        filters.push(Filter::Eq("status", json!(status)));
    }
    if let Some(q) = req
        .query::<String>("search")
        .filter(|s| !s.trim().is_empty())
    {
        filters.push(Filter::Search(q));
    }
    let branch = req.query::<i64>("branch_id");
    let branches: Option<Vec<Value>> = match (branch, who.branch_filter()) {
        (Some(b), _) if who.may_view_branch(b) => Some(vec![json!(b)]),
        (Some(_), _) => {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "You may not view this branch.",
            );
        }
        (None, Some(mine)) => Some(mine.iter().map(|b| json!(b)).collect()),
        (None, None) => None,
    };
    if let Some(branches) = branches {
        day_filters.push(Filter::In("branch_id", branches));
        let re_ids = state
            .core
            .storage()
            .distinct_values(
                &PERSON_BRANCH_DAYS,
                "re_id",
                &day_filters,
                BRANCH_FILTER_LIMIT,
            )
            .await
            .unwrap_or_default();
        filters.push(Filter::In("re_id", re_ids));
    }
    let page_no = req.query::<u32>("page").filter(|p| *p >= 1).unwrap_or(1);
    let per_page = req
        .query::<u32>("per_page")
        .filter(|p| (1..=100).contains(p))
        .unwrap_or(25);
    let query = ListQuery {
        filters,
        order: Order {
            column: "last_detected_at",
            descending: true,
        },
        page: page_no,
        per_page,
    };
    let (rows, total) = match state
        .core
        .storage()
        .list_records(&PERSON_DAYS, &query)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "person list failed");
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "The list is unavailable right now.",
            );
        }
    };
    let estate = state.core.estate();
    let mut ctx = base(&session, "persons");
    ctx["items"] = json!(rows);
    ctx["branches"] = json!(
        estate
            .branches
            .values()
            .filter(|b| who.may_view_branch(b.id))
            .map(|b| json!({"id": b.id, "name": b.branch_name}))
            .collect::<Vec<_>>()
    );
    ctx["query"] = json!(
        req.queries()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    ctx["pagination"] = json!({"page": page_no, "per_page": per_page, "total": total, "last_page": total.div_ceil(u64::from(per_page)).max(1)});
    ctx["export"] = export_links(req, "/api/v1/exports/persons");
    page(res, StatusCode::OK, "persons.html", &ctx);
}

async fn show_page(
    state: &AppState,
    session: &Session,
    req: &Request,
    res: &mut Response,
    errors: Value,
) {
    let who = &session.who;
    let re_id = req.param::<String>("re_id").unwrap_or_default();
    let date = date_param(req, "date").unwrap_or_else(|| state.core.today());
    let seen = branches_seen(state, &re_id, date).await;
    if who.branch_filter().is_some() && !seen.iter().any(|b| who.may_view_branch(*b)) {
        return error_page(
            res,
            session,
            StatusCode::FORBIDDEN,
            "This person was not seen in your branches that day.",
        );
    }
    let storage = state.core.storage();
    let day = match storage.person_day(&re_id, date, None).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return error_page(
                res,
                session,
                StatusCode::NOT_FOUND,
                "No record of this person on that day.",
            );
        }
        Err(_) => {
            return error_page(
                res,
                session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable right now.",
            );
        }
    };
    let mut day = serde_json::to_value(day).unwrap_or_default();
    // Operators see only their branches' part of the day.
    if let Some(seen_in) = day
        .get_mut("detected_branches")
        .and_then(Value::as_array_mut)
    {
        seen_in.retain(|b| {
            b["branch_id"]
                .as_i64()
                .is_some_and(|id| who.may_view_branch(id))
        });
    }
    let filter = DetectionFilter {
        date_from: Some(date),
        date_to: Some(date),
        re_id: Some(re_id.clone()),
        ..Default::default()
    };
    let history = storage
        .list_detections(
            &filter,
            PageRequest {
                page: 1,
                per_page: 100,
            },
        )
        .await
        .map(|p| {
            p.items
                .into_iter()
                .filter(|d| who.may_view_branch(d.branch_id))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let days_query = ListQuery {
        filters: vec![Filter::Eq("re_id", json!(re_id))],
        order: Order {
            column: "detection_date",
            descending: true,
        },
        page: 1,
        per_page: 30,
    };
    let other_days = storage
        .list_records(&PERSON_DAYS, &days_query)
        .await
        .map(|(rows, _)| {
            rows.into_iter()
                .filter_map(|r| r.get("detection_date").cloned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut ctx = base(session, "persons");
    ctx["device_names"] = super::render::device_names(&state.core.estate());
    ctx["re_id"] = json!(re_id);
    ctx["date"] = json!(date.to_string());
    ctx["day"] = day;
    ctx["history"] = json!(history);
    ctx["other_days"] = json!(other_days);
    ctx["errors"] = errors;
    let status = if ctx["errors"].as_object().is_some_and(|e| !e.is_empty()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(res, status, "person.html", &ctx);
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    show_page(&state, &session, req, res, json!({})).await;
}

#[handler]
pub async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let Some(form) = checked_form(req, res, &session).await else {
        return;
    };
    let re_id = req.param::<String>("re_id").unwrap_or_default();
    let date = form.get("date").cloned().unwrap_or_default();
    let body =
        json!({"date": date, "person_name": form.get("person_name"), "status": form.get("status")});
    let ip = client_ip(req);
    match state
        .manage
        .patch_person(caller(&session.who, &ip), &re_id, &body)
        .await
    {
        Ok(_) => {
            flash(req, res, "The person was updated.");
            let path = super::render::percent_encode(&re_id, b"-_.");
            redirect(res, &format!("/persons/{path}?date={date}"));
        }
        Err(cctv_admin::manage::ManageError::Validation(e)) => {
            show_page(
                &state,
                &session,
                req,
                res,
                serde_json::to_value(e).unwrap_or_default(),
            )
            .await
        }
        Err(cctv_admin::manage::ManageError::Forbidden(m)) => {
            error_page(res, &session, StatusCode::FORBIDDEN, &m)
        }
        Err(cctv_admin::manage::ManageError::NotFound(m)) => {
            error_page(res, &session, StatusCode::NOT_FOUND, &m)
        }
        Err(e) => {
            tracing::error!(error = %e, "person update failed");
            error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable right now.",
            )
        }
    }
}
