//! [`NotificationStore`] on SQLite: delivery rows, cooldown windows and digests.
//!
//! Writes go through the single writer connection, so the conditional upsert of a cooldown
//! window is atomic without further locking.

use std::time::Duration;

use async_trait::async_trait;
use cctv_admin::notify::{
    CooldownKey, DeliveryRecord, DeliveryStatus, NotificationStore, PendingDigest,
};
use cctv_core::storage::StorageError;
use jiff::{SignedDuration, Timestamp};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{SqliteStore, map_err, parse_opt_ts, parse_ts, ts};

fn status(s: &str) -> Result<DeliveryStatus, StorageError> {
    DeliveryStatus::parse(s)
        .ok_or_else(|| StorageError::Corrupt(format!("delivery status {s:?}").into()))
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn deliveries(&self, event_log_id: i64) -> Result<Vec<DeliveryRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT event_log_id, job_id, branch_id, device_id, recipient, channel, status, permanent,
                    provider_message_id, latency_ms, error_code, error_message, attempt, digest_count, updated_at
             FROM notification_deliveries WHERE event_log_id = ? ORDER BY id",
        )
        .bind(event_log_id)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let job: Option<String> = r.get("job_id");
                Ok(DeliveryRecord {
                    event_log_id: r.get("event_log_id"),
                    job_id: job.and_then(|j| j.parse().ok()),
                    branch_id: r.get("branch_id"),
                    device_id: r.get("device_id"),
                    recipient: r.get("recipient"),
                    channel: r.get("channel"),
                    status: status(r.get("status"))?,
                    permanent: r.get::<i64, _>("permanent") != 0,
                    provider_message_id: r.get("provider_message_id"),
                    latency_ms: r
                        .get::<Option<i64>, _>("latency_ms")
                        .map(|l| l.max(0) as u64),
                    error_code: r.get("error_code"),
                    error_message: r.get("error_message"),
                    attempt: r.get::<i64, _>("attempt").clamp(0, i64::from(u32::MAX)) as u32,
                    digest_count: r
                        .get::<i64, _>("digest_count")
                        .clamp(0, i64::from(u32::MAX)) as u32,
                    at: parse_ts(r.get("updated_at"))?,
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
        // A retry of the holder within its window keeps the window's start; after the
        // window (holder or not) the taker starts a new one, so an old holder retrying
        // late cannot reopen an expired window next to a newer taker.
        let taken = sqlx::query(
            "INSERT INTO notification_cooldowns (branch_id, recipient, channel, event_log_id, window_start)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (branch_id, recipient, channel) DO UPDATE SET
                 window_start = CASE WHEN notification_cooldowns.event_log_id = excluded.event_log_id
                                          AND notification_cooldowns.window_start > ?6
                                     THEN notification_cooldowns.window_start ELSE excluded.window_start END,
                 event_log_id = excluded.event_log_id
             WHERE notification_cooldowns.event_log_id = excluded.event_log_id
                OR notification_cooldowns.window_start <= ?6
             RETURNING event_log_id",
        )
        .bind(key.branch_id)
        .bind(&key.recipient)
        .bind(&key.channel)
        .bind(event_log_id)
        .bind(ts(now))
        .bind(ts(cutoff))
        .fetch_optional(&self.writer)
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
             WHERE d.status = 'suppressed' AND d.branch_id = ? AND d.recipient = ? AND d.channel = ?
               AND d.event_log_id <> ?
             ORDER BY d.id",
        )
        .bind(key.branch_id)
        .bind(&key.recipient)
        .bind(&key.channel)
        .bind(event_log_id)
        .fetch_all(&self.writer)
        .await
        .map_err(map_err)?;
        let mut digest = PendingDigest::default();
        for row in rows {
            digest.delivery_ids.push(row.get(0));
            let at = parse_opt_ts(row.get(1))?;
            digest.since = match (digest.since, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            digest.until = match (digest.until, at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(digest)
    }

    async fn record_delivery(
        &self,
        r: &DeliveryRecord,
        digested: &[i64],
    ) -> Result<(), StorageError> {
        let at = ts(r.at);
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        sqlx::query(
            "INSERT INTO notification_deliveries (event_log_id, job_id, branch_id, device_id, recipient, channel, status,
                 permanent, provider_message_id, latency_ms, error_code, error_message, attempt, digest_count, created_at,
                 updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (event_log_id, recipient, channel) DO UPDATE SET
                 job_id = excluded.job_id, status = excluded.status, permanent = excluded.permanent,
                 provider_message_id = excluded.provider_message_id, latency_ms = excluded.latency_ms,
                 error_code = excluded.error_code, error_message = excluded.error_message,
                 attempt = excluded.attempt, digest_count = excluded.digest_count, updated_at = excluded.updated_at",
        )
        .bind(r.event_log_id)
        .bind(r.job_id.map(|j| j.to_string()))
        .bind(r.branch_id)
        .bind(&r.device_id)
        .bind(&r.recipient)
        .bind(&r.channel)
        .bind(r.status.as_str())
        .bind(i64::from(r.permanent))
        .bind(&r.provider_message_id)
        .bind(r.latency_ms.map(|l| l.min(i64::MAX as u64) as i64))
        .bind(&r.error_code)
        .bind(&r.error_message)
        .bind(i64::from(r.attempt))
        .bind(i64::from(r.digest_count))
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if !digested.is_empty() {
            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "UPDATE notification_deliveries SET status = 'digested', updated_at = ",
            );
            qb.push_bind(&at)
                .push(" WHERE status = 'suppressed' AND branch_id = ")
                .push_bind(r.branch_id)
                .push(" AND recipient = ")
                .push_bind(&r.recipient)
                .push(" AND channel = ")
                .push_bind(&r.channel)
                .push(" AND id IN (");
            let mut ids = qb.separated(", ");
            for id in digested {
                ids.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}
