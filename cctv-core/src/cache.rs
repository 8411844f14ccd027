//! In-memory views of the estate and of the credentials, read on every device request.
//!
//! Readers take an `Arc` snapshot (no I/O, no lock held across awaits). A change made
//! through this process reloads at once (`EstateCache::reload`); a change made by another
//! process (the CLI, another node) is noticed by `Core::refresh_caches`, which compares
//! the store's change stamps (a trigger-maintained counter) about once a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;

use crate::credential::Credential;
use crate::estate::EstateSnapshot;
use crate::storage::error::StorageError;
use crate::storage::{ChangeTopic, Storage};

/// The estate snapshot and the stamp it was loaded at.
#[derive(Debug, Default)]
pub(crate) struct EstateCache {
    snapshot: RwLock<Arc<EstateSnapshot>>,
    stamp: AtomicI64,
}

impl EstateCache {
    pub(crate) fn get(&self) -> Arc<EstateSnapshot> {
        self.snapshot.read().expect("estate cache lock").clone()
    }

    pub(crate) async fn reload(&self, store: &dyn Storage) -> Result<(), StorageError> {
        let stamp = store.change_stamp(ChangeTopic::Estate).await?;
        let snapshot = store.estate_snapshot().await?;
        *self.snapshot.write().expect("estate cache lock") = Arc::new(snapshot);
        self.stamp.store(stamp, Ordering::Release);
        Ok(())
    }

    /// Reloads only when the store's stamp moved.
    pub(crate) async fn refresh(&self, store: &dyn Storage) -> Result<bool, StorageError> {
        let stamp = store.change_stamp(ChangeTopic::Estate).await?;
        if stamp == self.stamp.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload(store).await?;
        Ok(true)
    }
}

/// A credential plus the time it was last used (flushed to the store in the background).
#[derive(Debug)]
pub struct CredentialEntry {
    pub credential: Credential,
    last_used: AtomicI64,
}

impl CredentialEntry {
    /// Notes a use; costs one relaxed atomic store.
    pub fn touch(&self, now: Timestamp) {
        self.last_used.store(now.as_second(), Ordering::Relaxed);
    }
}

/// How often, at most, a request with an unknown API key may check the store for new
/// credentials (the periodic refresh checks about once a second anyway).
pub(crate) const MISS_CHECK_MS: i64 = 200;

/// Credentials by API key: a hit or a miss costs one hash-map lookup, so unknown keys
/// cannot make the server do more work than known ones — except that a miss may check the
/// store's stamp, at most once per `MISS_CHECK_MS` for the whole process, so a key
/// created a moment ago by another process (`cctv demo`, `cctv credential create`, another
/// node) works on its first request.
#[derive(Debug, Default)]
pub(crate) struct CredentialCache {
    by_key: RwLock<Arc<HashMap<String, Arc<CredentialEntry>>>>,
    stamp: AtomicI64,
    /// When a miss last checked the stamp (milliseconds since the Unix epoch).
    miss_checked_ms: AtomicI64,
    /// Last-used second already written to the store, per credential id.
    flushed: std::sync::Mutex<HashMap<i64, i64>>,
}

impl CredentialCache {
    pub(crate) fn lookup(&self, api_key: &str) -> Option<Arc<CredentialEntry>> {
        self.by_key
            .read()
            .expect("credential cache lock")
            .get(api_key)
            .cloned()
    }

    /// After a [`lookup`](Self::lookup) miss: a stamp check (and a reload if it moved),
    /// unless another miss checked within [`MISS_CHECK_MS`]; then the key again.
    pub(crate) async fn refresh_on_miss(
        &self,
        store: &dyn Storage,
        api_key: &str,
    ) -> Option<Arc<CredentialEntry>> {
        let now = Timestamp::now().as_millisecond();
        let last = self.miss_checked_ms.load(Ordering::Acquire);
        let due = now - last >= MISS_CHECK_MS;
        if !due
            || self
                .miss_checked_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        match self.refresh(store).await {
            Ok(true) => self.lookup(api_key),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, "checking for new credentials failed");
                None
            }
        }
    }

    pub(crate) async fn reload(&self, store: &dyn Storage) -> Result<(), StorageError> {
        let stamp = store.change_stamp(ChangeTopic::Credentials).await?;
        let credentials = store.credentials().await?;
        let old = self.by_key.read().expect("credential cache lock").clone();
        let map = credentials
            .into_iter()
            .map(|credential| {
                // Keep unflushed use times across reloads.
                let last = old
                    .get(&credential.api_key)
                    .map_or(0, |e| e.last_used.load(Ordering::Relaxed));
                let key = credential.api_key.clone();
                (
                    key,
                    Arc::new(CredentialEntry {
                        credential,
                        last_used: AtomicI64::new(last),
                    }),
                )
            })
            .collect();
        *self.by_key.write().expect("credential cache lock") = Arc::new(map);
        self.stamp.store(stamp, Ordering::Release);
        Ok(())
    }

    pub(crate) async fn refresh(&self, store: &dyn Storage) -> Result<bool, StorageError> {
        let stamp = store.change_stamp(ChangeTopic::Credentials).await?;
        if stamp == self.stamp.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload(store).await?;
        Ok(true)
    }

    /// Writes `last_used_at` of credentials used since the previous flush.
    pub(crate) async fn flush_usage(&self, store: &dyn Storage) -> Result<usize, StorageError> {
        let snapshot = self.by_key.read().expect("credential cache lock").clone();
        let pending: Vec<(i64, i64)> = {
            let flushed = self.flushed.lock().expect("flush lock");
            snapshot
                .values()
                .filter_map(|e| {
                    let used = e.last_used.load(Ordering::Relaxed);
                    (used > 0 && flushed.get(&e.credential.id).is_none_or(|f| *f < used))
                        .then_some((e.credential.id, used))
                })
                .collect()
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let uses: Vec<(i64, Timestamp)> = pending
            .iter()
            .filter_map(|(id, s)| Timestamp::from_second(*s).ok().map(|t| (*id, t)))
            .collect();
        store.record_credential_use(&uses).await?;
        let mut flushed = self.flushed.lock().expect("flush lock");
        for (id, s) in pending {
            flushed.insert(id, s);
        }
        Ok(uses.len())
    }
}
