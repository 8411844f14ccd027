//! `GET /ws`: live events for a logged-in browser (or a client with a bearer token). The
//! client sends `{"subscribe": ["detection_update", …]}` (any time, replacing its
//! topics); the server forwards matching events from the event bus that the person may
//! receive ([`Principal::may_receive`]: their branches, their role, their own account).
//! A slow client misses events (the bus is bounded) rather than slowing ingest; the page
//! script reconnects with backoff. A `resync` event (the cluster bus may have missed
//! events) goes to every client whatever its topics, so pages offer a reload.
//!
//! Who may connect: a browser always sends `Origin` on a WebSocket handshake, and it must
//! be ours (or configured in `HttpSettings::allowed_origins`), so another site cannot
//! ride on the session cookie. Without an `Origin` (not a browser) only an
//! `Authorization: Bearer` token is accepted, never the cookie.

use std::collections::BTreeSet;

use cctv_admin::access::Principal;
use cctv_admin::manage::tables::USERS;
use cctv_core::events::{Event, EventKind};
use futures_util::{SinkExt, StreamExt};
use salvo::http::StatusCode;
use salvo::http::header::{AUTHORIZATION, HOST, ORIGIN};
use salvo::websocket::{Message, WebSocketUpgrade};
use salvo::{Depot, Request, Response, handler};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::origin::origin_allowed;
use crate::extract::{SESSION_COOKIE, cookie};
use crate::{AppState, state};

/// The `Authorization` value to authenticate with, or the status refusing the handshake.
fn credentials(state: &AppState, req: &Request) -> Result<String, StatusCode> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let bearer = header(AUTHORIZATION).filter(|v| v.starts_with("Bearer "));
    match header(ORIGIN) {
        Some(origin) => {
            let host = header(HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
            if !origin_allowed(origin, host, &state.settings.allowed_origins) {
                tracing::info!(origin, "WebSocket from a foreign origin refused");
                return Err(StatusCode::FORBIDDEN);
            }
            bearer
                .map(str::to_owned)
                .or_else(|| cookie(req, SESSION_COOKIE).map(|t| format!("Bearer {t}")))
                .ok_or(StatusCode::UNAUTHORIZED)
        }
        None => bearer.map(str::to_owned).ok_or(StatusCode::UNAUTHORIZED),
    }
}

/// Whether `event` changed the account of `who` (its role, branches or status).
fn about_me(event: &Event, who: &Principal) -> bool {
    event.kind == EventKind::AccessUpdated
        && event.data.get("entity").and_then(Value::as_str) == Some(USERS.name)
        && event.data.get("id").and_then(Value::as_i64) == Some(who.user_id)
}

#[handler]
pub async fn connect(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let authorization = match credentials(&state, req) {
        Ok(a) => a,
        Err(status) => {
            res.status_code(status);
            return;
        }
    };
    let Ok(mut who) = state.manage.authenticate_login(&authorization).await else {
        res.status_code(StatusCode::UNAUTHORIZED);
        return;
    };
    let mut events = state.core.events().subscribe();
    let upgraded = WebSocketUpgrade::new()
        .upgrade(req, res, move |ws| async move {
            let (mut tx, mut rx) = ws.split();
            let mut topics: BTreeSet<String> = BTreeSet::new();
            loop {
                tokio::select! {
                    incoming = rx.next() => match incoming {
                        Some(Ok(msg)) if msg.is_close() => break,
                        Some(Ok(msg)) => {
                            if let Ok(text) = msg.as_str()
                                && let Ok(v) = serde_json::from_str::<Value>(text)
                                && let Some(list) = v.get("subscribe").and_then(Value::as_array)
                            {
                                topics = list.iter().filter_map(Value::as_str).map(str::to_owned).collect();
                            }
                        }
                        _ => break,
                    },
                    event = events.recv() => match event {
                        Ok(event) => {
                            if about_me(&event, &who) {
                                // Role, branches or status changed: hear from now on what
                                // the account may hear now; a disabled account is cut off.
                                match state.manage.authenticate_login(&authorization).await {
                                    Ok(now) => who = now,
                                    Err(_) => break,
                                }
                            }
                            if !who.may_receive(&event) {
                                continue;
                            }
                            let mut json = serde_json::to_value(&event).unwrap_or_default();
                            if event.kind == EventKind::DetectionUpdate {
                                for_pages(&state.core, &mut json["data"]);
                            }
                            let kind = json["type"].as_str().unwrap_or_default();
                            // A resync concerns every topic the page shows.
                            let wanted = topics.contains(kind) || event.kind == EventKind::Resync;
                            if wanted
                                && tx.send(Message::text(json.to_string())).await.is_err()
                            {
                                break;
                            }
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                }
            }
        })
        .await;
    if let Err(e) = upgraded {
        res.render(e);
    }
}

/// What a page shows of a detection besides the ids: its local time and the branch and
/// device names. Added here, for the pages that listen, rather than by the detection
/// workers for every detection.
fn for_pages(core: &cctv_core::Core, data: &mut Value) {
    let estate = core.estate();
    let name = |v: Option<&str>| v.map_or(Value::Null, Value::from);
    let branch = data["branch_id"]
        .as_i64()
        .and_then(|b| estate.branches.get(&b))
        .map(|b| b.branch_name.as_str());
    let device = data["device_id"]
        .as_str()
        .and_then(|d| estate.devices.get(d))
        .map(|d| d.device_name.as_str());
    let local = data["detected_at"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| {
            t.to_zoned_datetime(core.timezone().clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
    data["branch_name"] = name(branch);
    data["device_name"] = name(device);
    data["local_time"] = name(local.as_deref());
}
