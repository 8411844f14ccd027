//! Durable acceptance of detections on PostgreSQL (group commit), and the entry point of
//! processing (see `processing.rs`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cctv_core::jobs::{JobId, Queue};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, IngestStore, ProcessedDetection, StorageError,
};
use jiff::Timestamp;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::processing::{Failure, process};
use crate::{PgStore, is_retryable, map_err, odt};

/// Opens a processing transaction whose commit does not wait for its WAL to be flushed
/// (`synchronous_commit = off` for this transaction only). Accepting is what must be
/// durable before a device hears 202, and it is: the accepted job rows commit
/// synchronously. A processing commit lost to a crash of the database server (not of
/// cctv: the WAL is then already with PostgreSQL) takes its effects and its jobs'
/// completions with it, together, so those jobs are processed again from their durable
/// rows: nothing is lost and nothing counted twice. A child job (a notification, an
/// image) is claimed by an update, a synchronous commit, before it acts, and that commit
/// flushes the WAL written before it, the processing commit's included. What is shown
/// before the flush (a live event on this node, a job's status) may be undone by such a
/// crash and shown again when the jobs run again. SQLite's processing commits make the
/// same trade (`synchronous = NORMAL`). What it saves: a worker no longer waits for an
/// fsync before it takes its next batch.
const PROCESSING_BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit = off";

#[async_trait]
impl IngestStore for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn accept_detections(
        &self,
        batch: &[AcceptItem],
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        let now = odt(now);
        let mut outcomes = vec![AcceptOutcome::Accepted; batch.len()];

        let keyed: Vec<(usize, i64, String)> = batch
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                item.job
                    .dedup_key()
                    .map(|k| (i, item.job.credential_id.unwrap_or(0), k))
            })
            .collect();
        if keyed.is_empty() {
            // Nothing to look up and no key to conflict on: one statement, atomic and
            // durable on its own, stores the whole group. One round trip to the server
            // instead of three (BEGIN, INSERT, COMMIT) for the fleet's unkeyed requests.
            let fresh: Vec<(&AcceptItem, Option<&str>)> =
                batch.iter().map(|item| (item, None)).collect();
            let mut conn = self.pool.acquire().await.map_err(map_err)?;
            insert_fresh(&mut conn, &fresh, now).await?;
            return Ok(outcomes);
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let existing = existing_keys(&mut tx, &keyed).await?;
        // Two items of one batch with the same key: the first is stored, the others are
        // its duplicates.
        let mut first_in_batch: HashMap<(i64, &str), usize> = HashMap::new();
        for (i, credential, key) in &keyed {
            if let Some((id, hash)) = existing.get(&(*credential, key.clone())) {
                outcomes[*i] = AcceptOutcome::Duplicate {
                    original: JobId(*id),
                    request_hash: hash.clone(),
                };
            } else if let Some(first) = first_in_batch.get(&(*credential, key.as_str())) {
                outcomes[*i] = AcceptOutcome::Duplicate {
                    original: batch[*first].job.job_id,
                    request_hash: batch[*first].job.request_hash.clone(),
                };
            } else {
                first_in_batch.insert((*credential, key.as_str()), *i);
            }
        }

        // Each item's key, computed once above.
        let mut key_of: Vec<Option<&str>> = vec![None; batch.len()];
        for (i, _, key) in &keyed {
            key_of[*i] = Some(key.as_str());
        }
        let mut fresh: Vec<(&AcceptItem, Option<&str>)> = batch
            .iter()
            .zip(&outcomes)
            .zip(&key_of)
            .filter(|((_, o), _)| **o == AcceptOutcome::Accepted)
            .map(|((item, _), key)| (item, *key))
            .collect();
        // Inserted in key order: two commits under way at once (two per node, more across
        // nodes) that share idempotency keys then wait for each other in one order, never
        // in a cycle (a deadlock would fail both commits' requests).
        fresh.sort_by_key(|(item, key)| (item.job.credential_id.unwrap_or(0), *key));
        if !fresh.is_empty() {
            let inserted = insert_fresh(&mut tx, &fresh, now).await?;
            if inserted.len() != fresh.len() {
                // Another node stored the same event id between our check and our insert.
                let inserted: HashSet<Uuid> = inserted.into_iter().collect();
                let raced: Vec<(usize, i64, String)> = keyed
                    .iter()
                    .filter(|(i, _, _)| {
                        outcomes[*i] == AcceptOutcome::Accepted
                            && !inserted.contains(&batch[*i].job.job_id.0)
                    })
                    .cloned()
                    .collect();
                let existing = existing_keys(&mut tx, &raced).await?;
                for (i, credential, key) in &raced {
                    let (id, hash) = existing
                        .get(&(*credential, key.clone()))
                        .ok_or_else(|| StorageError::Unavailable("idempotency race".into()))?;
                    outcomes[*i] = AcceptOutcome::Duplicate {
                        original: JobId(*id),
                        request_hash: hash.clone(),
                    };
                }
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(outcomes)
    }

    /// Processing commits do not wait for their WAL to reach the disk (see
    /// [`PROCESSING_BEGIN`]).
    async fn process_detections(
        &self,
        batch: &[PreparedDetection],
        now: Timestamp,
    ) -> Result<Vec<ProcessedDetection>, StorageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self
                .pool
                .begin_with(PROCESSING_BEGIN)
                .await
                .map_err(map_err)?;
            match process(&mut tx, batch, now).await {
                Ok(results) => match tx.commit().await {
                    Ok(()) => return Ok(results),
                    Err(e) if is_retryable(&e) && attempt < 5 => continue,
                    Err(e) => return Err(map_err(e)),
                },
                Err(Failure::Database(e)) if is_retryable(&e) && attempt < 5 => continue,
                Err(Failure::Database(e)) => return Err(map_err(e)),
                Err(Failure::Removed(why)) => return Err(StorageError::Rejected(why)),
            }
        }
    }
}

/// Inserts the fresh items' jobs (`ON CONFLICT` on the idempotency key: a key another
/// commit stored meanwhile is skipped); the ids inserted.
async fn insert_fresh(
    conn: &mut PgConnection,
    fresh: &[(&AcceptItem, Option<&str>)],
    now: time::OffsetDateTime,
) -> Result<Vec<Uuid>, StorageError> {
    let mut ids = Vec::with_capacity(fresh.len());
    let mut payloads = Vec::with_capacity(fresh.len());
    let mut owners = Vec::with_capacity(fresh.len());
    let mut untils = Vec::with_capacity(fresh.len());
    let mut credentials = Vec::with_capacity(fresh.len());
    let mut keys = Vec::with_capacity(fresh.len());
    let mut hashes = Vec::with_capacity(fresh.len());
    let mut received = Vec::with_capacity(fresh.len());
    for (item, key) in fresh {
        ids.push(item.job.job_id.0);
        // Serialised once, straight into the bind buffer (a job's `detection_data`
        // is embedded as the text it was validated as).
        payloads.push(sqlx::types::Json(&item.job));
        owners.push(item.lease.as_ref().map(|l| l.owner.clone()));
        untils.push(item.lease.as_ref().map(|l| odt(l.until)));
        credentials.push(item.job.credential_id.unwrap_or(0));
        keys.push(*key);
        hashes.push(item.job.request_hash.clone());
        received.push(odt(item.job.received_at));
    }
    sqlx::query_scalar(
        "INSERT INTO jobs (id, queue, kind, priority, payload, max_attempts, available_at, lease_owner, lease_until,
                           credential_id, idempotency_key, request_hash, created_at, updated_at)
         SELECT u.id, 'detections', 'detection', $7, u.payload, $8, $9, u.owner, u.until, u.credential, u.key, u.hash, u.received, $9
         FROM UNNEST($1::uuid[], $2::jsonb[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[], $10::text[],
                     $11::timestamptz[])
              AS u(id, payload, owner, until, credential, key, hash, received)
         ON CONFLICT (credential_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&payloads)
    .bind(&owners)
    .bind(&untils)
    .bind(&credentials)
    .bind(&keys)
    .bind(Queue::Detections.priority())
    .bind(Queue::Detections.default_retry().max_attempts as i32)
    .bind(now)
    .bind(&hashes)
    // A detection job was created when its request was received (as on every backend).
    .bind(&received)
    .fetch_all(conn)
    .await
    .map_err(map_err)
}

async fn existing_keys(
    conn: &mut PgConnection,
    keyed: &[(usize, i64, String)],
) -> Result<HashMap<(i64, String), (Uuid, Option<String>)>, StorageError> {
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let credentials: Vec<i64> = keyed.iter().map(|(_, c, _)| *c).collect();
    let keys: Vec<&str> = keyed.iter().map(|(_, _, k)| k.as_str()).collect();
    let rows = sqlx::query(
        "SELECT j.credential_id, j.idempotency_key, j.id, j.request_hash FROM jobs j
         JOIN UNNEST($1::bigint[], $2::text[]) AS k(credential, key) ON j.credential_id = k.credential AND j.idempotency_key = k.key",
    )
    .bind(credentials)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect())
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, PgConnection};

    use super::PROCESSING_BEGIN;

    /// Only the processing transaction skips the flush: the setting ends with it, so the
    /// connection, back in the pool, makes the next accept durable again.
    #[tokio::test]
    async fn only_the_processing_transaction_skips_the_flush() {
        let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
            eprintln!("CCTV_TEST_PG_URL is not set: skipped");
            return;
        };
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let show = "SHOW synchronous_commit";
        let before: String = sqlx::query_scalar(show).fetch_one(&mut conn).await.unwrap();
        let mut tx = conn.begin_with(PROCESSING_BEGIN).await.unwrap();
        let inside: String = sqlx::query_scalar(show).fetch_one(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let after: String = sqlx::query_scalar(show).fetch_one(&mut conn).await.unwrap();
        assert_eq!(inside, "off");
        assert_eq!(after, before);
    }
}
