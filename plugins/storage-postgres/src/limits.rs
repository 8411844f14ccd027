//! Counters every node shares: the hourly request limits (one row per credential and
//! hour, which only ever grants what is left of the limit) and login attempts.

use std::time::Duration;

use async_trait::async_trait;
use cctv_admin::access::SharedLoginAttempts;
use cctv_core::rate_limit::AllowanceStore;
use cctv_core::storage::StorageError;

use crate::{PgStore, map_err};

#[async_trait]
impl AllowanceStore for PgStore {
    async fn lease(
        &self,
        credential_id: i64,
        window: i64,
        limit: u32,
        want: u32,
    ) -> Result<(u32, u32), StorageError> {
        // Every right-hand side reads the row as it was, so `last_grant` is this lease's
        // grant and `used` the total after it; the row lock orders concurrent leases.
        let (used, granted): (i32, i32) = sqlx::query_as(
            "INSERT INTO rate_windows AS r (credential_id, hour, used, last_grant)
             VALUES ($1, $2, LEAST($4, $3), LEAST($4, $3))
             ON CONFLICT (credential_id, hour) DO UPDATE SET
                 last_grant = LEAST($4, GREATEST($3 - r.used, 0)),
                 used = r.used + LEAST($4, GREATEST($3 - r.used, 0))
             RETURNING used, last_grant",
        )
        .bind(credential_id)
        .bind(window)
        .bind(i64::from(limit))
        .bind(i64::from(want))
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok((granted.max(0) as u32, used.max(0) as u32))
    }

    async fn give_back(&self, credential_id: i64, window: i64, n: u32) -> Result<(), StorageError> {
        sqlx::query(
            "UPDATE rate_windows SET used = GREATEST(used - $3, 0)
             WHERE credential_id = $1 AND hour = $2",
        )
        .bind(credential_id)
        .bind(window)
        .bind(i64::from(n))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn forget_before(&self, window: i64) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM rate_windows WHERE hour < $1")
            .bind(window)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl SharedLoginAttempts for PgStore {
    async fn begin(
        &self,
        keys: &[String],
        max_failures: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, StorageError> {
        let mut keys = keys.to_vec();
        // One lock order for every node: no deadlock between two attempts.
        keys.sort();
        keys.dedup();
        let window_secs = window.as_secs_f64();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // A key over the limit is not updated (the WHERE) and so not returned.
        let counted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO login_attempts AS a (key, attempts, since)
             SELECT k, 1, now() FROM unnest($1::text[]) AS k ORDER BY k
             ON CONFLICT (key) DO UPDATE SET
                 attempts = CASE WHEN a.since <= now() - make_interval(secs => $3)
                                 THEN 1 ELSE a.attempts + 1 END,
                 since = CASE WHEN a.since <= now() - make_interval(secs => $3)
                              THEN now() ELSE a.since END
             WHERE a.since <= now() - make_interval(secs => $3) OR a.attempts < $2
             RETURNING key",
        )
        .bind(&keys)
        .bind(i64::from(max_failures))
        .bind(window_secs)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        if counted.len() == keys.len() {
            tx.commit().await.map_err(map_err)?;
            return Ok(Ok(()));
        }
        // All or nothing: the keys that were counted are not.
        let wait: Option<f64> = sqlx::query_scalar(
            "SELECT max(EXTRACT(EPOCH FROM (since + make_interval(secs => $2) - now()))::float8)
             FROM login_attempts WHERE key = ANY($1)",
        )
        .bind(&keys)
        .bind(window_secs)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.rollback().await.map_err(map_err)?;
        let wait = Duration::from_secs_f64(wait.unwrap_or(1.0).max(1.0));
        Ok(Err(wait))
    }

    async fn succeeded(&self, clear: &str, refund: &str) -> Result<(), StorageError> {
        sqlx::query(
            "WITH gone AS (DELETE FROM login_attempts WHERE key = $1)
             UPDATE login_attempts SET attempts = GREATEST(attempts - 1, 0) WHERE key = $2",
        )
        .bind(clear)
        .bind(refund)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
