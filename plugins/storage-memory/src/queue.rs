//! The job queue, with the SQLite backend's semantics: a job is `queued` until completed
//! or failed for good; a lease (owner, until) hides a queued job from other claims until it
//! ends; failing with a retry time clears the lease and moves `available_at`.

use async_trait::async_trait;
use cctv_core::jobs::*;
use cctv_core::storage::StorageError;
use jiff::Timestamp;
use serde_json::Value;

use crate::MemoryStore;
use crate::state::{Job, JobStatus};

/// Longest stored error text, as in SQLite.
const MAX_ERROR_CHARS: usize = 2000;

#[async_trait]
impl JobQueue for MemoryStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<(), StorageError> {
        let now = Timestamp::now();
        let mut state = self.lock();
        if let Some(j) = jobs.iter().find(|j| state.jobs.contains_key(&j.id)) {
            return Err(StorageError::Conflict(format!("job {} exists", j.id)));
        }
        for j in jobs {
            state.jobs.insert(
                j.id,
                Job {
                    queue: j.queue,
                    kind: j.kind.clone(),
                    payload: j.payload.clone(),
                    status: JobStatus::Queued,
                    attempts: 0,
                    max_attempts: j.max_attempts,
                    available_at: j.available_at,
                    lease: None,
                    last_error: None,
                    result: None,
                    credential_id: 0,
                    created_at: now,
                    finished_at: None,
                },
            );
        }
        Ok(())
    }

    async fn claim(
        &self,
        queue: Queue,
        lease: &Lease,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StorageError> {
        let mut state = self.lock();
        let mut due: Vec<(Timestamp, JobId)> = state
            .jobs
            .iter()
            .filter(|(_, j)| {
                j.queue == queue
                    && j.status == JobStatus::Queued
                    && j.available_at <= now
                    && j.lease.as_ref().is_none_or(|(_, until)| *until < now)
            })
            .map(|(id, j)| (j.available_at, *id))
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed: Vec<ClaimedJob> = due
            .into_iter()
            .filter_map(|(_, id)| {
                let j = state.jobs.get_mut(&id)?;
                j.lease = Some((lease.owner.clone(), lease.until));
                Some(ClaimedJob {
                    id,
                    queue: j.queue,
                    kind: j.kind.clone(),
                    payload: j.payload.clone(),
                    attempts: j.attempts,
                    max_attempts: j.max_attempts,
                })
            })
            .collect();
        claimed.sort_by_key(|j| j.id);
        Ok(claimed)
    }

    async fn complete(
        &self,
        id: JobId,
        result: Value,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock();
        let Some(j) = state
            .jobs
            .get_mut(&id)
            .filter(|j| j.status == JobStatus::Queued)
        else {
            return Ok(false);
        };
        j.complete(result, now);
        Ok(true)
    }

    async fn fail(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut state = self.lock();
        if let Some(j) = state
            .jobs
            .get_mut(&id)
            .filter(|j| j.status == JobStatus::Queued)
        {
            j.attempts += 1;
            j.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
            j.lease = None;
            match retry_at {
                Some(at) => j.available_at = at,
                None => {
                    j.status = JobStatus::Failed;
                    j.finished_at = Some(now);
                }
            }
        }
        Ok(())
    }

    async fn extend_lease(
        &self,
        id: JobId,
        lease: &Lease,
        _now: Timestamp,
    ) -> Result<bool, StorageError> {
        let mut state = self.lock();
        let held = state.jobs.get_mut(&id).filter(|j| {
            j.status == JobStatus::Queued
                && j.lease
                    .as_ref()
                    .is_some_and(|(owner, _)| *owner == lease.owner)
        });
        Ok(match held {
            Some(j) => {
                j.lease = Some((lease.owner.clone(), lease.until));
                true
            }
            None => false,
        })
    }

    async fn release_leases(&self, owner: Option<&str>) -> Result<u64, StorageError> {
        let mut state = self.lock();
        let mut released = 0;
        for j in state.jobs.values_mut() {
            let mine = j
                .lease
                .as_ref()
                .is_some_and(|(o, _)| owner.is_none_or(|w| w == o));
            if j.status == JobStatus::Queued && mine {
                j.lease = None;
                released += 1;
            }
        }
        Ok(released)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StorageError> {
        let state = self.lock();
        let Some(j) = state.jobs.get(&id) else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let state = match j.status {
            JobStatus::Completed => JobState::Completed,
            JobStatus::Failed => JobState::Failed,
            JobStatus::Queued if j.lease.as_ref().is_some_and(|(_, until)| *until > now) => {
                JobState::Processing
            }
            JobStatus::Queued => JobState::Queued,
        };
        Ok(Some(JobRecord {
            id,
            queue: j.queue,
            kind: j.kind.clone(),
            state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error.clone(),
            result: j.result.clone(),
            credential_id: (j.credential_id != 0).then_some(j.credential_id),
            created_at: j.created_at,
            available_at: j.available_at,
            finished_at: j.finished_at,
        }))
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, StorageError> {
        let state = self.lock();
        let mut depths: Vec<QueueDepth> = Queue::ALL
            .iter()
            .map(|q| QueueDepth {
                queue: *q,
                queued: 0,
                failed: 0,
            })
            .collect();
        for j in state.jobs.values() {
            if let Some(d) = depths.iter_mut().find(|d| d.queue == j.queue) {
                match j.status {
                    JobStatus::Queued => d.queued += 1,
                    JobStatus::Failed => d.failed += 1,
                    JobStatus::Completed => {}
                }
            }
        }
        Ok(depths)
    }

    async fn prune_completed(&self, before: Timestamp, limit: usize) -> Result<u64, StorageError> {
        let boundary = JobId::first_at(before);
        let mut state = self.lock();
        let old: Vec<JobId> = state
            .jobs
            .range(..boundary)
            .filter(|(_, j)| j.status == JobStatus::Completed)
            .map(|(id, _)| *id)
            .take(limit)
            .collect();
        for id in &old {
            state.jobs.remove(id);
        }
        // Keys of pruned jobs go too: a retry of such an old event counts again.
        let stale: Vec<(i64, String)> = state
            .keys
            .iter()
            .filter(|(_, k)| k.created_at < before)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        for key in stale {
            state.keys.remove(&key);
        }
        Ok(old.len() as u64)
    }
}
