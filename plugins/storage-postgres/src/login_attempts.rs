//! Login attempts every node shares (one row per key, counted within a window), so a
//! password guesser cannot spread over the nodes of a cluster.

use std::time::Duration;

use async_trait::async_trait;
use cctv_admin::access::SharedLoginAttempts;
use cctv_core::storage::StorageError;

use crate::{PgStore, map_err};

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
