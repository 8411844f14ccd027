//! The live view: a layout selector and a grid of its 4/6/8 positions. Each position
//! shows its stream the way a browser can play it, always through the server: MJPEG and
//! snapshots as images and HLS in a `<video>` element (native where the browser supports
//! it) from the stream proxy, RTSP/RTMP through the configured gateway's player — or says
//! plainly that a gateway is needed. No camera URL or credential is in the page.
//! Branch/device pickers save the position.

use cctv_admin::manage::{ListParams, ManageError, Resource};
use salvo::http::StatusCode;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::guard::{checked_form, flash, require};
use super::render::{base, error_page, page_with_origin, redirect};
use crate::extract::{caller, client_ip};
use crate::state;

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let ip = client_ip(req);
    let who = caller(&session.who, &ip);
    let params = ListParams {
        page: 1,
        per_page: 100,
        ..Default::default()
    };
    let layouts = match state.manage.list(who, Resource::Layouts, &params).await {
        Ok(l) => l.items,
        Err(e) => {
            return error_page(
                res,
                &session,
                StatusCode::SERVICE_UNAVAILABLE,
                &e.to_string(),
            );
        }
    };
    let chosen = req
        .query::<i64>("layout_id")
        .or_else(|| {
            layouts
                .iter()
                .find(|l| l["is_default"] == true)
                .and_then(|l| l["id"].as_i64())
        })
        .or_else(|| layouts.first().and_then(|l| l["id"].as_i64()));
    let mut ctx = base(&session, "live");
    ctx["layouts"] = json!(layouts);
    let estate = state.core.estate();
    let mut branches: Vec<Value> = estate
        .branches
        .values()
        .filter(|b| session.who.may_view_branch(b.id))
        .map(|b| json!({"id": b.id, "name": b.branch_name}))
        .collect();
    branches.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut devices: Vec<Value> = estate
        .devices
        .values()
        .filter(|d| session.who.may_view_branch(d.branch_id))
        .map(|d| json!({"device_id": d.device_id, "name": d.device_name, "branch_id": d.branch_id}))
        .collect();
    devices.sort_by(|a, b| a["device_id"].as_str().cmp(&b["device_id"].as_str()));
    ctx["branches"] = json!(branches);
    ctx["devices"] = json!(devices);
    if let Some(id) = chosen {
        match state.manage.layout_with_positions(who, id).await {
            Ok(mut layout) => {
                if let Some(positions) = layout.get_mut("positions").and_then(Value::as_array_mut) {
                    for p in positions.iter_mut() {
                        let device = p["device_id"].as_str().map(str::to_owned);
                        p["stream"] = match device {
                            Some(d) => match state.manage.stream_source(&session.who, &d).await {
                                Ok(s) => crate::streams::describe(&state.streams, &s),
                                Err(ManageError::Forbidden(_)) => {
                                    json!({"error": "You may not view this branch."})
                                }
                                Err(_) => {
                                    json!({"error": "No stream is configured for this device."})
                                }
                            },
                            None => Value::Null,
                        };
                    }
                }
                ctx["layout"] = layout;
            }
            Err(e) => return error_page(res, &session, StatusCode::NOT_FOUND, &e.to_string()),
        }
    }
    // The gateway's player is on another origin; the page may embed it, nothing else.
    let gateway = state.streams.settings.gateway.as_ref();
    let origin = gateway.and_then(crate::streams::Gateway::origin);
    page_with_origin(res, StatusCode::OK, "live.html", &ctx, origin.as_deref());
}

#[handler]
pub async fn save_position(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = require(&state, req, res).await else {
        return;
    };
    let Some(form) = checked_form(req, res, &session).await else {
        return;
    };
    let layout = req.param::<i64>("layout_id").unwrap_or_default();
    let number = req.param::<i64>("position").unwrap_or_default();
    let id = |name: &str| form.get(name).and_then(|v| v.parse::<i64>().ok());
    let body = json!({
        "branch_id": id("branch_id"),
        "device_id": form.get("device_id").filter(|d| !d.is_empty()),
        "is_enabled": true,
    });
    let ip = client_ip(req);
    let message = match state
        .manage
        .update_position(caller(&session.who, &ip), layout, number, &body)
        .await
    {
        Ok(_) => format!("Position {number} saved."),
        // Viewers, and operators picking another branch's camera.
        Err(ManageError::Forbidden(m)) => {
            return error_page(res, &session, StatusCode::FORBIDDEN, &m);
        }
        Err(ManageError::Validation(e)) => format!("Position {number} not saved: {e}"),
        Err(e) => format!("Position {number} not saved: {e}"),
    };
    flash(req, res, &message);
    redirect(res, &format!("/live?layout_id={layout}"));
}
