//! Event logs: a filtered list with thumbnails, and the event page with the processed
//! image and the notification outcome per recipient. Images are shown through signed,
//! expiring `/storage/file` URLs minted per page view.

use cctv_core::records::ColumnType::{Bool, Date, Int, Text, Timestamp};
use cctv_core::records::{Filter, ListQuery, Order, Table, by_id, col};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::require;
use super::render::{base, error_page, page};
use crate::state;

static EVENTS: Table = Table {
    name: "event_logs",
    columns: &[
        col("branch_id", Int),
        col("device_id", Text),
        col("re_id", Text),
        col("event_type", Text),
        col("detected_count", Int),
        col("image_path", Text),
        col("thumbnail_path", Text),
        col("image_error", Text),
        col("image_sent", Bool),
        col("message_sent", Bool),
        col("notification_sent", Bool),
        col("event_timestamp", Timestamp),
        col("event_date", Date),
    ],
    search: &["re_id", "device_id"],
};

static DELIVERIES: Table = Table {
    name: "notification_deliveries",
    columns: &[
        col("event_log_id", Int),
        col("recipient", Text),
        col("channel", Text),
        col("status", Text),
        col("provider_message_id", Text),
        col("latency_ms", Int),
        col("error_code", Text),
        col("error_message", Text),
        col("attempt", Int),
        col("digest_count", Int),
    ],
    search: &[],
};

#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let who = &session.who;
    let mut filters = Vec::new();
    match (req.query::<i64>("branch_id"), who.branch_filter()) {
        (Some(b), _) if who.may_view_branch(b) => filters.push(Filter::Eq("branch_id", json!(b))),
        (Some(_), _) => {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "You may not view this branch.",
            );
        }
        (None, Some(mine)) => filters.push(Filter::In(
            "branch_id",
            mine.iter().map(|b| json!(b)).collect(),
        )),
        (None, None) => {}
    }
    for (param, column) in [("date_from", "event_date"), ("date_to", "event_date")] {
        if let Some(d) = req
            .query::<String>(param)
            .and_then(|s| s.parse::<jiff::civil::Date>().ok())
        {
            filters.push(if param == "date_from" {
                Filter::Ge(column, json!(d.to_string()))
            } else {
                Filter::Lt(column, json!(d.tomorrow().unwrap_or(d).to_string()))
            });
        }
    }
    if let Some(q) = req
        .query::<String>("search")
        .filter(|s| !s.trim().is_empty())
    {
        filters.push(Filter::Search(q));
    }
    let page_no = req.query::<u32>("page").filter(|p| *p >= 1).unwrap_or(1);
    let per_page = req
        .query::<u32>("per_page")
        .filter(|p| (1..=100).contains(p))
        .unwrap_or(25);
    let query = ListQuery {
        filters,
        order: Order::NEWEST_FIRST,
        page: page_no,
        per_page,
    };
    let (rows, total) = match state.core.storage().list_records(&EVENTS, &query).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "event list failed");
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "The list is unavailable right now.",
            );
        }
    };
    let estate = state.core.estate();
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut v = Value::Object(r);
            if let Some(t) = v["thumbnail_path"].as_str().and_then(|p| state.file_url(p)) {
                v["thumbnail_url"] = json!(t);
            }
            if let Some(b) = v["branch_id"]
                .as_i64()
                .and_then(|b| estate.branches.get(&b))
            {
                v["branch_name"] = json!(b.branch_name);
            }
            v
        })
        .collect();
    let mut ctx = base(&session, "events");
    ctx["device_names"] = super::render::device_names(&state.core.estate());
    ctx["branch_names"] = super::render::branch_names(&state.core.estate());
    ctx["items"] = json!(items);
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
    ctx["export"] = super::persons::export_links(req, "/api/v1/exports/events");
    page(res, StatusCode::OK, "events.html", &ctx);
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let Some(id) = req.param::<i64>("id") else {
        return error_page(res, &session, StatusCode::NOT_FOUND, "No such event.");
    };
    let storage = state.core.storage();
    let event = match storage.find_record(&EVENTS, &by_id(id)).await {
        Ok(Some(e)) => e,
        Ok(None) => return error_page(res, &session, StatusCode::NOT_FOUND, "No such event."),
        Err(_) => {
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable right now.",
            );
        }
    };
    let branch = event
        .get("branch_id")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    if !session.who.may_view_branch(branch) {
        return error_page(
            res,
            &session,
            StatusCode::FORBIDDEN,
            "You may not view this branch.",
        );
    }
    let deliveries = storage
        .list_records(
            &DELIVERIES,
            &ListQuery {
                filters: vec![Filter::Eq("event_log_id", json!(id))],
                order: Order::asc("id"),
                page: 1,
                per_page: 100,
            },
        )
        .await
        .map(|(rows, _)| rows)
        .unwrap_or_default();
    let mut event = Value::Object(event);
    for (path, url) in [
        ("image_path", "image_url"),
        ("thumbnail_path", "thumbnail_url"),
    ] {
        if let Some(u) = event[path].as_str().and_then(|p| state.file_url(p)) {
            event[url] = json!(u);
        }
    }
    let mut ctx = base(&session, "events");
    ctx["device_names"] = super::render::device_names(&state.core.estate());
    ctx["branch_names"] = super::render::branch_names(&state.core.estate());
    ctx["event"] = event;
    ctx["deliveries"] = json!(deliveries);
    page(res, StatusCode::OK, "event.html", &ctx);
}
