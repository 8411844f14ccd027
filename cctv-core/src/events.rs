//! The event bus: what happened, for live dashboards and other listeners.
//!
//! One node uses the in-process `BroadcastBus`. Several nodes on one database need a bus
//! that crosses processes (the PostgreSQL backend ships one over `LISTEN/NOTIFY`); either
//! way subscribers get a local [`broadcast::Receiver`], so listeners do not care which.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// The closed set of event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    DetectionUpdate,
    NotificationUpdate,
    /// A company group or branch was created, changed or deactivated.
    GroupUpdated,
    LayoutUpdated,
    /// A device or one of its streams changed (including a stream's health status).
    DeviceUpdated,
    /// Branch event settings or WhatsApp settings changed.
    SettingsUpdated,
    /// A user or an API credential changed.
    AccessUpdated,
    QueueStatus,
    /// Events may have been missed (a cluster bus lost its connection for a while):
    /// listeners that keep figures up to date from events should reload them.
    Resync,
}

impl EventKind {
    /// Whether the event is about this node only. Every node watches the shared queues
    /// itself, so a cluster bus does not forward queue status (each dashboard would see
    /// every crossing once per node); `Resync` is raised by a node for its own listeners.
    pub fn node_local(self) -> bool {
        matches!(self, Self::QueueStatus | Self::Resync)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The branch the event concerns, so listeners can filter by the user's branches.
    pub branch_id: Option<i64>,
    pub data: Value,
    pub at: Timestamp,
}

/// Publish/subscribe. Publishing never blocks and never fails: a slow listener misses
/// events rather than slowing ingest.
pub trait EventBus: Send + Sync + fmt::Debug + 'static {
    fn publish(&self, event: Event);
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// Whether anyone could receive an event published now. Publishers of frequent
    /// events (one per processed detection) skip building them when nobody listens; a bus
    /// that cannot tell (listeners on other nodes) answers `true`, the default.
    fn has_listeners(&self) -> bool {
        true
    }
}

/// The in-process bus (a bounded broadcast channel).
#[derive(Debug)]
pub(crate) struct BroadcastBus {
    sender: broadcast::Sender<Event>,
}

impl BroadcastBus {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for BroadcastBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl EventBus for BroadcastBus {
    fn publish(&self, event: Event) {
        // No receiver is not an error: nobody is listening right now.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    fn has_listeners(&self) -> bool {
        self.sender.receiver_count() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_receive_published_events() {
        let bus = BroadcastBus::new(8);
        bus.publish(Event {
            kind: EventKind::QueueStatus,
            branch_id: None,
            data: Value::Null,
            at: Timestamp::UNIX_EPOCH,
        });
        let mut rx = bus.subscribe();
        let ev = Event {
            kind: EventKind::DetectionUpdate,
            branch_id: Some(1),
            data: Value::Null,
            at: Timestamp::UNIX_EPOCH,
        };
        bus.publish(ev.clone());
        assert_eq!(rx.try_recv().unwrap(), ev);
        assert_eq!(
            serde_json::to_value(&ev).unwrap()["type"],
            "detection_update"
        );
    }

    #[test]
    fn the_bus_knows_whether_anyone_listens() {
        let bus = BroadcastBus::new(8);
        assert!(!bus.has_listeners());
        let first = bus.subscribe();
        let second = bus.subscribe();
        assert!(bus.has_listeners());
        drop(first);
        assert!(bus.has_listeners());
        drop(second);
        assert!(!bus.has_listeners());
    }
}
