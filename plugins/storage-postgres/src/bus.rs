//! The cluster event bus: events published on one node reach subscribers on every node
//! sharing the database, over PostgreSQL's `LISTEN/NOTIFY`.
//!
//! Each node delivers its own events to its local subscribers at once and sends them to
//! the others as notifications on one channel per schema (so tests, and estates sharing a
//! server in separate schemas, do not hear each other). Node-local events
//! ([`EventKind::node_local`]) are not sent.
//!
//! A notification carries whole events, as many as fit in PostgreSQL's 8,000-byte
//! payload limit: one notification per event (one per processed detection) cost
//! PostgreSQL a queue entry and a delivery to every listening connection, the sender's
//! own included, per detection. Events are ids and counts, far below the limit; one that
//! is not has its `data` replaced by `{"truncated": true}` and listeners read the details
//! back as they do for any change. A node recognises its own notifications by their first
//! bytes and skips them unparsed. The channel's name carries the payload's version, so
//! nodes of two versions during a rolling upgrade do not misread each other (they do not
//! hear each other until all run the new one).
//!
//! Publishing never blocks: events go to a bounded outbox that one task drains, many
//! notifications per round trip. The listening task reconnects after a dropped
//! connection and then publishes [`EventKind::Resync`] locally, since whatever was sent
//! in between is gone; pages answer it by offering a reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cctv_core::events::{Event, EventBus, EventKind};
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{PgStore, map_err};

/// PostgreSQL refuses payloads of 8,000 bytes or more; leave room for the envelope.
const MAX_PAYLOAD: usize = 7_800;
/// Events waiting to be sent; beyond this the bus drops (and counts) rather than block.
const OUTBOX: usize = 16_384;
/// Events sent per statement (in as few notifications as fit them).
const SEND_BATCH: usize = 256;
/// The longest text before a payload's events: `{"node":"<36>","seq":<20 digits>,"events":[`.
const HEAD_MAX: usize = 84;
/// The longest an event's text may be to fit a payload on its own.
const MAX_EVENT: usize = MAX_PAYLOAD - HEAD_MAX - 2;

/// An [`EventBus`] shared by every node on one PostgreSQL database.
#[derive(Debug)]
pub struct PgEventBus {
    local: broadcast::Sender<Event>,
    outbox: mpsc::Sender<Event>,
    node: Uuid,
    dropped: AtomicU64,
    tasks: Vec<JoinHandle<()>>,
}

/// What a notification carries, as its listeners read it. [`pack`] writes it field by
/// field: `node`, then `seq`, which numbers the sender's notifications (PostgreSQL folds
/// identical payloads sent in one transaction into one), then `events`.
#[derive(serde::Deserialize)]
struct Wire {
    /// The sending node, so a node skips its own notifications.
    node: Uuid,
    /// In publishing order.
    events: Vec<Event>,
}

impl PgEventBus {
    /// Starts listening on the store's database and returns the bus. `capacity` bounds
    /// each local subscriber's backlog (a slower subscriber misses events).
    pub async fn start(store: &PgStore, capacity: usize) -> Result<Arc<Self>, StorageError> {
        let pool = store.pool.clone();
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(map_err)?;
        let channel = channel_name(&schema);
        let mut listener = PgListener::connect_with(&pool).await.map_err(map_err)?;
        listener.listen(&channel).await.map_err(map_err)?;
        let (local, _) = broadcast::channel(capacity.max(1));
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let node = Uuid::new_v4();
        let tasks = vec![
            tokio::spawn(send_loop(pool, channel, node, queued)),
            tokio::spawn(listen_loop(listener, node, local.clone())),
        ];
        Ok(Arc::new(Self {
            local,
            outbox,
            node,
            dropped: AtomicU64::new(0),
            tasks,
        }))
    }

    /// This node's id on the bus.
    pub fn node(&self) -> Uuid {
        self.node
    }

    /// Events not sent to other nodes because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for PgEventBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EventBus for PgEventBus {
    fn publish(&self, event: Event) {
        if !event.kind.node_local()
            && self.outbox.try_send(event.clone()).is_err()
            && self
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1000)
        {
            tracing::warn!("cluster event outbox full: events are not reaching other nodes");
        }
        // No receiver is not an error: nobody on this node is listening right now.
        let _ = self.local.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }
}

/// One channel per schema; identifiers are at most 63 bytes.
fn channel_name(schema: &str) -> String {
    let mut name = format!("cctv_events2_{schema}");
    name.truncate(63);
    name
}

/// An event's text, shrunk to fit a notification on its own.
fn event_text(mut event: Event) -> String {
    let text = serde_json::to_string(&event).unwrap_or_default();
    if text.len() <= MAX_EVENT {
        return text;
    }
    event.data = json!({ "truncated": true });
    serde_json::to_string(&event).unwrap_or_default()
}

/// The first bytes of every payload `node` sends.
fn own_prefix(node: Uuid) -> String {
    format!("{{\"node\":\"{node}\",")
}

/// Packs `events` into as few payloads as fit them, in order, numbering each from `seq`.
fn pack(node: Uuid, seq: &mut u64, events: impl IntoIterator<Item = Event>) -> Vec<String> {
    let prefix = own_prefix(node);
    let mut payloads = Vec::new();
    let mut texts = String::new();
    let mut close = |texts: &mut String| {
        *seq += 1;
        payloads.push(format!("{prefix}\"seq\":{seq},\"events\":[{texts}]}}"));
        texts.clear();
    };
    for event in events {
        let text = event_text(event);
        if !texts.is_empty() && texts.len() + 1 + text.len() > MAX_EVENT {
            close(&mut texts);
        }
        if !texts.is_empty() {
            texts.push(',');
        }
        texts.push_str(&text);
    }
    if !texts.is_empty() {
        close(&mut texts);
    }
    payloads
}

/// Sends queued events as notifications, up to [`SEND_BATCH`] events per statement.
async fn send_loop(pool: PgPool, channel: String, node: Uuid, mut queued: mpsc::Receiver<Event>) {
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(SEND_BATCH);
    while queued.recv_many(&mut batch, SEND_BATCH).await > 0 {
        let payloads = pack(node, &mut seq, batch.drain(..));
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(&channel)
            .bind(&payloads)
            .execute(&pool)
            .await;
        match sent {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            // Best effort, like the local bus: a lost batch is logged, not retried, so a
            // database outage cannot pile events up in memory.
            Err(e) => {
                tracing::warn!(error = %e, notifications = payloads.len(), "sending events to other nodes failed")
            }
        }
    }
}

/// Delivers other nodes' notifications to local subscribers.
async fn listen_loop(mut listener: PgListener, node: Uuid, local: broadcast::Sender<Event>) {
    let mut backoff = Duration::from_millis(100);
    let own = own_prefix(node);
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) if notification.payload().starts_with(&own) => {
                backoff = Duration::from_millis(100);
            }
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                match serde_json::from_str::<Wire>(notification.payload()) {
                    Ok(wire) if wire.node == node => {}
                    Ok(wire) => {
                        for event in wire.events {
                            let _ = local.send(event);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "an undecodable cluster event was ignored")
                    }
                }
            }
            Ok(None) => {
                tracing::warn!(
                    "the cluster event connection was lost and re-established; asking pages to resync"
                );
                let _ = local.send(resync());
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "listening for cluster events failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn resync() -> Event {
    Event {
        kind: EventKind::Resync,
        branch_id: None,
        data: Value::Null,
        at: Timestamp::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: i64, data: Value) -> Event {
        Event {
            kind: EventKind::DetectionUpdate,
            branch_id: Some(i),
            data,
            at: Timestamp::UNIX_EPOCH,
        }
    }

    /// The payload as a listener reads it, and its number.
    fn unpack(payload: &str) -> (Wire, u64) {
        assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
        let seq: Value = serde_json::from_str(payload).unwrap();
        (
            serde_json::from_str(payload).unwrap(),
            seq["seq"].as_u64().unwrap(),
        )
    }

    #[test]
    fn an_oversized_event_travels_without_its_data() {
        let node = Uuid::new_v4();
        let mut seq = u64::MAX - 1;
        let big = event(3, json!({ "re_id": "x".repeat(10_000) }));
        let payloads = pack(node, &mut seq, [big, event(4, json!({ "re_id": "p" }))]);
        // The shrunk event still leaves room for a small one (and the longest number).
        assert_eq!(payloads.len(), 1);
        let (wire, seq) = unpack(&payloads[0]);
        assert_eq!((wire.node, seq), (node, u64::MAX));
        assert_eq!(wire.events[0].branch_id, Some(3));
        assert_eq!(wire.events[0].data, json!({ "truncated": true }));
        assert_eq!(wire.events[1], event(4, json!({ "re_id": "p" })));
    }

    #[test]
    fn events_travel_many_to_a_notification_in_order() {
        let node = Uuid::new_v4();
        let mut seq = 0;
        // About 230 bytes each, as a detection's update: 256 of them fill 8 or 9
        // notifications, not 256.
        let events: Vec<Event> = (0..256)
            .map(|i| {
                event(
                    i,
                    json!({ "re_id": format!("person-{i:06}"), "pad": "y".repeat(150) }),
                )
            })
            .collect();
        let payloads = pack(node, &mut seq, events.clone());
        assert!(
            (8..=9).contains(&payloads.len()),
            "{} notifications",
            payloads.len()
        );
        let (wires, seqs): (Vec<Wire>, Vec<u64>) = payloads.iter().map(|p| unpack(p)).unzip();
        assert_eq!(seqs, (1..=payloads.len() as u64).collect::<Vec<_>>());
        assert_eq!(seq, payloads.len() as u64);
        let back: Vec<Event> = wires.into_iter().flat_map(|w| w.events).collect();
        assert_eq!(back, events);
        // Each node skips exactly its own notifications, unparsed.
        assert!(payloads.iter().all(|p| p.starts_with(&own_prefix(node))));
        assert!(!payloads[0].starts_with(&own_prefix(Uuid::new_v4())));
        assert!(pack(node, &mut seq, []).is_empty());
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "cctv_events2_public");
        assert_eq!(channel_name(&"s".repeat(100)).len(), 63);
    }
}
