//! `GET /ws`: live events for a logged-in browser. The client sends
//! `{"subscribe": ["detection_update", …]}` (any time, replacing its topics); the server
//! forwards matching events from the event bus, dropping those about branches the person
//! may not see. A slow client misses events (the bus is bounded) rather than slowing
//! ingest; the page script reconnects with backoff.

use std::collections::BTreeSet;

use futures_util::{SinkExt, StreamExt};
use salvo::http::StatusCode;
use salvo::websocket::{Message, WebSocketUpgrade};
use salvo::{Depot, Request, Response, handler};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::session::current;
use crate::state;

#[handler]
pub async fn connect(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let Some(session) = current(&state, req, res).await else {
        res.status_code(StatusCode::UNAUTHORIZED);
        return;
    };
    let who = session.who;
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
                            let visible = event.branch_id.is_none_or(|b| who.may_view_branch(b));
                            let json = serde_json::to_value(&event).unwrap_or_default();
                            let kind = json["type"].as_str().unwrap_or_default();
                            if visible && topics.contains(kind)
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
