//! Accepting detections: idempotency keys scoped per credential
//! ([`DetectionJob::dedup_key`](cctv_core::detection::DetectionJob::dedup_key)) and the
//! accepted jobs, stored together under one lock (the SQLite intake's one transaction).

use async_trait::async_trait;
use cctv_core::jobs::Queue;
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{
    AcceptItem, AcceptOutcome, IngestStore, ProcessedDetection, StorageError,
};
use jiff::Timestamp;

use crate::MemoryStore;
use crate::state::{Job, JobStatus, Key, State};

/// Stores the batch's new keys and jobs; an item whose key is known (stored before, or
/// earlier in this batch) is a duplicate of that key's job and stores nothing.
fn accept(
    state: &mut State,
    batch: &[AcceptItem],
    now: Timestamp,
) -> Result<Vec<AcceptOutcome>, StorageError> {
    // Encode every payload first, so that a failure leaves nothing behind.
    let payloads = batch
        .iter()
        .map(|i| serde_json::to_value(&i.job).map_err(|e| StorageError::Rejected(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let queue = Queue::Detections;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (item, payload) in batch.iter().zip(payloads) {
        let job = &item.job;
        let credential = job.credential_id.unwrap_or(0);
        if let Some(key) = job.dedup_key() {
            if let Some(stored) = state.keys.get(&(credential, key.clone())) {
                outcomes.push(AcceptOutcome::Duplicate {
                    original: stored.job,
                    request_hash: stored.request_hash.clone(),
                });
                continue;
            }
            state.keys.insert(
                (credential, key),
                Key {
                    job: job.job_id,
                    request_hash: job.request_hash.clone(),
                    created_at: now,
                },
            );
        }
        state.jobs.entry(job.job_id).or_insert_with(|| Job {
            queue,
            kind: "detection".into(),
            payload,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: queue.default_retry().max_attempts,
            available_at: now,
            lease: item.lease.as_ref().map(|l| (l.owner.clone(), l.until)),
            last_error: None,
            result: None,
            credential_id: credential,
            // A detection job was created when its request was received (as on every backend).
            created_at: job.received_at,
            finished_at: None,
        });
        outcomes.push(AcceptOutcome::Accepted);
    }
    Ok(outcomes)
}

#[async_trait]
impl IngestStore for MemoryStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn accept_detections(
        &self,
        batch: &[AcceptItem],
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError> {
        accept(&mut self.lock(), batch, now)
    }

    async fn process_detections(
        &self,
        batch: &[PreparedDetection],
        now: Timestamp,
    ) -> Result<Vec<ProcessedDetection>, StorageError> {
        crate::processing::process(&mut self.lock(), batch, now)
    }
}
