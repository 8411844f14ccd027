//! What the notification service must remember between attempts, and the storage seam
//! that keeps it.
//!
//! Three facts need more than the generic [`RecordStore`](cctv_core::records::RecordStore):
//! - one delivery row per (event, recipient, channel), upserted, so a retried job skips
//!   recipients that already got the message (or were refused for good);
//! - a cooldown window per (branch, recipient, channel) that exactly one event can take,
//!   atomically, even with several workers on several nodes;
//! - the suppressed sends a recipient has not yet been told about (the digest), marked
//!   `digested` in the same transaction as the message that counted them.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use cctv_core::jobs::JobId;
use cctv_core::storage::StorageError;

/// The state of one (event, recipient, channel) send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The provider accepted the message.
    Sent,
    /// The last attempt failed (see [`DeliveryRecord::permanent`]).
    Failed,
    /// Inside the recipient's cooldown: not sent, waiting for the next digest.
    Suppressed,
    /// A suppressed send that a later message's digest line has counted.
    Digested,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Digested => "digested",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sent, Self::Failed, Self::Suppressed, Self::Digested]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whose cooldown: a recipient of one branch on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CooldownKey {
    pub branch_id: i64,
    pub recipient: String,
    /// The notifier kind (`whatsapp`, `webhook`, …).
    pub channel: String,
}

/// One delivery row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub event_log_id: i64,
    pub job_id: Option<JobId>,
    pub branch_id: i64,
    pub device_id: String,
    pub recipient: String,
    pub channel: String,
    pub status: DeliveryStatus,
    /// For `Failed`: the provider refused the message, so it is never retried.
    pub permanent: bool,
    pub provider_message_id: Option<String>,
    pub latency_ms: Option<u64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The job attempt (1-based) that wrote this state.
    pub attempt: u32,
    /// For `Sent`: how many suppressed sends its digest line counted.
    pub digest_count: u32,
    pub at: Timestamp,
}

impl DeliveryRecord {
    /// Whether a later attempt of the job must leave this recipient alone.
    pub fn is_settled(&self) -> bool {
        match self.status {
            DeliveryStatus::Failed => self.permanent,
            _ => true,
        }
    }

    pub fn key(&self) -> CooldownKey {
        CooldownKey {
            branch_id: self.branch_id,
            recipient: self.recipient.clone(),
            channel: self.channel.clone(),
        }
    }
}

/// Suppressed sends of one [`CooldownKey`] not yet counted by a digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingDigest {
    /// Ids of the suppressed delivery rows (passed back to
    /// [`NotificationStore::record_delivery`] to mark exactly these as digested).
    pub delivery_ids: Vec<i64>,
    /// The earliest event time among them.
    pub since: Option<Timestamp>,
    /// The latest event time among them.
    pub until: Option<Timestamp>,
}

/// Storage of delivery state; implemented by each backend, checked by the conformance suite.
#[async_trait]
pub trait NotificationStore: Send + Sync + fmt::Debug + 'static {
    /// Every delivery row of an event.
    async fn deliveries(&self, event_log_id: i64) -> Result<Vec<DeliveryRecord>, StorageError>;

    /// Takes the cooldown window of `key` for `event_log_id` at `now`: `true` when the
    /// window was free (never taken, or taken at or before `now - cooldown`) or is already
    /// held by this event (a retry); `false` when another event holds it. Atomic.
    async fn take_cooldown(
        &self,
        key: &CooldownKey,
        event_log_id: i64,
        now: Timestamp,
        cooldown: Duration,
    ) -> Result<bool, StorageError>;

    /// Suppressed sends of `key` from other events than `event_log_id`.
    async fn pending_digest(
        &self,
        key: &CooldownKey,
        event_log_id: i64,
    ) -> Result<PendingDigest, StorageError>;

    /// Upserts the row of (event, recipient, channel) and, in the same transaction, marks
    /// the suppressed rows `digested` (ids from [`PendingDigest::delivery_ids`]) of the
    /// same key.
    async fn record_delivery(
        &self,
        record: &DeliveryRecord,
        digested: &[i64],
    ) -> Result<(), StorageError>;
}
