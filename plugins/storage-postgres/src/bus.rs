//! The cluster event bus: events published on one node reach subscribers on every node
//! sharing the database, over PostgreSQL's `LISTEN/NOTIFY`.
//!
//! Each node delivers its own events to its local subscribers at once and sends them to
//! the others as notifications on one channel per schema (so tests, and estates sharing a
//! server in separate schemas, do not hear each other). A notification carries the whole
//! event: events are ids and counts, far below PostgreSQL's 8,000-byte payload limit; one
//! that is not has its `data` replaced by `{"truncated": true}` and listeners read the
//! details back as they do for any change. Node-local events ([`EventKind::node_local`])
//! are not sent.
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
/// Notifications sent per statement.
const SEND_BATCH: usize = 256;

/// An [`EventBus`] shared by every node on one PostgreSQL database.
#[derive(Debug)]
pub struct PgEventBus {
    local: broadcast::Sender<Event>,
    outbox: mpsc::Sender<Event>,
    node: Uuid,
    dropped: AtomicU64,
    tasks: Vec<JoinHandle<()>>,
}

/// What travels in a notification.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    /// The sending node, so a node skips its own notifications.
    node: Uuid,
    /// Numbers the sender's notifications: PostgreSQL folds identical payloads sent in
    /// one transaction into one.
    seq: u64,
    event: Event,
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
    let mut name = format!("cctv_events_{schema}");
    name.truncate(63);
    name
}

/// Encodes an event for a notification, shrinking it when it would not fit.
fn encode(node: Uuid, seq: u64, event: Event) -> String {
    let mut wire = Wire { node, seq, event };
    let text = serde_json::to_string(&wire).unwrap_or_default();
    if text.len() <= MAX_PAYLOAD {
        return text;
    }
    wire.event.data = json!({ "truncated": true });
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Sends queued events as notifications, up to [`SEND_BATCH`] per statement.
async fn send_loop(pool: PgPool, channel: String, node: Uuid, mut queued: mpsc::Receiver<Event>) {
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(SEND_BATCH);
    while queued.recv_many(&mut batch, SEND_BATCH).await > 0 {
        let payloads: Vec<String> = batch
            .drain(..)
            .map(|event| {
                seq += 1;
                encode(node, seq, event)
            })
            .collect();
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
                tracing::warn!(error = %e, events = payloads.len(), "sending events to other nodes failed")
            }
        }
    }
}

/// Delivers other nodes' notifications to local subscribers.
async fn listen_loop(mut listener: PgListener, node: Uuid, local: broadcast::Sender<Event>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                match serde_json::from_str::<Wire>(notification.payload()) {
                    Ok(wire) if wire.node == node => {}
                    Ok(wire) => {
                        let _ = local.send(wire.event);
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

    #[test]
    fn an_oversized_event_travels_without_its_data() {
        let event = Event {
            kind: EventKind::DetectionUpdate,
            branch_id: Some(3),
            data: json!({ "re_id": "x".repeat(10_000) }),
            at: Timestamp::UNIX_EPOCH,
        };
        let node = Uuid::new_v4();
        let text = encode(node, 7, event);
        assert!(text.len() <= MAX_PAYLOAD);
        let wire: Wire = serde_json::from_str(&text).unwrap();
        assert_eq!(wire.event.branch_id, Some(3));
        assert_eq!(wire.event.data, json!({ "truncated": true }));
        assert_eq!((wire.node, wire.seq), (node, 7));
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "cctv_events_public");
        assert_eq!(channel_name(&"s".repeat(100)).len(), 63);
    }
}
