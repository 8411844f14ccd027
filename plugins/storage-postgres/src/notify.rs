//! [`NotificationStore`] on PostgreSQL: delivery rows, cooldown windows and digests.
//!
//! The cooldown window is taken with one conditional `INSERT … ON CONFLICT DO UPDATE …
//! WHERE`: the row lock of the upsert serialises concurrent workers, and only one of them
//! gets a row back.

use std::time::Duration;

use async_trait::async_trait;
use cctv_admin::notify::{
    CooldownKey, DeliveryRecord, DeliveryStatus, NotificationStore, PendingDigest,
};
use cctv_core::jobs::JobId;
use cctv_core::storage::StorageError;
use jiff::{SignedDuration, Timestamp};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{PgStore, from_odt, map_err, odt};

fn status(s: &str) -> Result<DeliveryStatus, StorageError> {
    DeliveryStatus::parse(s)
        .ok_or_else(|| StorageError::Corrupt(format!("delivery status {s:?}").into()))
}

fn count(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn deliveries(&self, event_log_id: i64) -> Result<Vec<DeliveryRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT event_log_id, job_id, branch_id, device_id, recipient, channel, status, permanent,
                    provider_message_id, latency_ms, error_code, error_message, attempt, digest_count, updated_at
             FROM notification_deliveries WHERE event_log_id = $1 ORDER BY id",
        )
        .bind(event_log_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    event_log_id: r.get("event_log_id"),
                    job_id: r.get::<Option<Uuid>, _>("job_id").map(JobId),
                    branch_id: r.get("branch_id"),
                    device_id: r.get("device_id"),
                    recipient: r.get("recipient"),
                    channel: r.get("channel"),
                    status: status(r.get("status"))?,
                    permanent: r.get("permanent"),
                    provider_message_id: r.get("provider_message_id"),
                    latency_ms: r
                        .get::<Option<i64>, _>("latency_ms")
                        .map(|l| l.max(0) as u64),
                    error_code: r.get("error_code"),
                    error_message: r.get("error_message"),
                    attempt: count(r.get("attempt")),
                    digest_count: count(r.get("digest_count")),
                    at: from_odt(r.get::<OffsetDateTime, _>("updated_at")),
                })
            })
            .collect()
    }

    async fn take_cooldown(
        &self,
        key: &CooldownKey,
        event_log_id: i64,
        now: Timestamp,
        cooldown: Duration,
    ) -> Result<bool, StorageError> {
        let cutoff = now - SignedDuration::try_from(cooldown).unwrap_or(SignedDuration::ZERO);
        // A retry of the holder within its window keeps its start; after the window the
        // taker (holder or not) starts a new one.
        let taken = sqlx::query(
            "INSERT INTO notification_cooldowns AS c (branch_id, recipient, channel, event_log_id, window_start)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (branch_id, recipient, channel) DO UPDATE SET
                 window_start = CASE WHEN c.event_log_id = excluded.event_log_id AND c.window_start > $6
                                     THEN c.window_start ELSE excluded.window_start END,
                 event_log_id = excluded.event_log_id
             WHERE c.event_log_id = excluded.event_log_id OR c.window_start <= $6
             RETURNING c.event_log_id",
        )
        .bind(key.branch_id)
        .bind(&key.recipient)
        .bind(&key.channel)
        .bind(event_log_id)
        .bind(odt(now))
        .bind(odt(cutoff))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(taken.is_some())
    }

    async fn pending_digest(
        &self,
        key: &CooldownKey,
        event_log_id: i64,
    ) -> Result<PendingDigest, StorageError> {
        let rows = sqlx::query(
            "SELECT d.id, e.event_timestamp FROM notification_deliveries d
             JOIN event_logs e ON e.id = d.event_log_id
             WHERE d.status = 'suppressed' AND d.branch_id = $1 AND d.recipient = $2 AND d.channel = $3
               AND d.event_log_id <> $4
             ORDER BY d.id",
        )
        .bind(key.branch_id)
        .bind(&key.recipient)
        .bind(&key.channel)
        .bind(event_log_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut digest = PendingDigest::default();
        for row in rows {
            digest.delivery_ids.push(row.get(0));
            let at = from_odt(row.get::<OffsetDateTime, _>(1));
            digest.since = Some(digest.since.map_or(at, |s: Timestamp| s.min(at)));
            digest.until = Some(digest.until.map_or(at, |s: Timestamp| s.max(at)));
        }
        Ok(digest)
    }

    async fn record_delivery(
        &self,
        r: &DeliveryRecord,
        digested: &[i64],
    ) -> Result<(), StorageError> {
        let at = odt(r.at);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO notification_deliveries (event_log_id, job_id, branch_id, device_id, recipient, channel, status,
                 permanent, provider_message_id, latency_ms, error_code, error_message, attempt, digest_count, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
             ON CONFLICT (event_log_id, recipient, channel) DO UPDATE SET
                 job_id = excluded.job_id, status = excluded.status, permanent = excluded.permanent,
                 provider_message_id = excluded.provider_message_id, latency_ms = excluded.latency_ms,
                 error_code = excluded.error_code, error_message = excluded.error_message,
                 attempt = excluded.attempt, digest_count = excluded.digest_count, updated_at = excluded.updated_at",
        )
        .bind(r.event_log_id)
        .bind(r.job_id.map(|j| j.0))
        .bind(r.branch_id)
        .bind(&r.device_id)
        .bind(&r.recipient)
        .bind(&r.channel)
        .bind(r.status.as_str())
        .bind(r.permanent)
        .bind(&r.provider_message_id)
        .bind(r.latency_ms.map(|l| l.min(i64::MAX as u64) as i64))
        .bind(&r.error_code)
        .bind(&r.error_message)
        .bind(i64::from(r.attempt))
        .bind(i64::from(r.digest_count))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if !digested.is_empty() {
            sqlx::query(
                "UPDATE notification_deliveries SET status = 'digested', updated_at = $1
                 WHERE status = 'suppressed' AND branch_id = $2 AND recipient = $3 AND channel = $4
                   AND id = ANY($5::bigint[])",
            )
            .bind(at)
            .bind(r.branch_id)
            .bind(&r.recipient)
            .bind(&r.channel)
            .bind(digested)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}
