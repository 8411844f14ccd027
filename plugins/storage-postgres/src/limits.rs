//! The hourly request limits every node shares: one row per credential and hour, which
//! only ever grants what is left of the limit.

use async_trait::async_trait;
use cctv_rate_limit::{AllowanceError, AllowanceStore};

use crate::{PgStore, map_err};

#[async_trait]
impl AllowanceStore for PgStore {
    async fn lease(
        &self,
        credential_id: i64,
        window: i64,
        limit: u32,
        want: u32,
    ) -> Result<(u32, u32), AllowanceError> {
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

    async fn give_back(&self, credential_id: i64, window: i64, n: u32) -> Result<(), AllowanceError> {
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

    async fn forget_before(&self, window: i64) -> Result<(), AllowanceError> {
        sqlx::query("DELETE FROM rate_windows WHERE hour < $1")
            .bind(window)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
