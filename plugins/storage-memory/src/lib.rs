//! # cctv-storage-memory
//!
//! A storage backend that keeps everything in the memory of one process. It implements the
//! required [`Storage`](cctv_core::storage::Storage) interface only — intake and
//! processing, the job queue, estate and credential reads, the registry and the generic
//! management records — and none of the optional capabilities of `cctv_admin::FullStorage`
//! (notifications, reports, schedule, queue administration, exports).
//!
//! **No persistence**: all data is lost when the process ends, and the store cannot be
//! shared between processes. It exists to prove that the required interface is small, to
//! run the core's tests without a database, and for embedders that want a throwaway store.
//!
//! All state sits behind one mutex, taken once per operation and never held across an
//! `.await`. That makes every operation atomic and serial, which is what the SQLite
//! backend gets from its single writer connection: processing takes the plan's
//! *predicted* membership facts, which are exact when nothing else writes in between.
//!
//! ```
//! use cctv_storage_memory::MemoryStore;
//! let store = MemoryStore::new();
//! # let _ = store;
//! ```

mod estate;
mod intake;
mod processing;
mod queue;
mod records;
mod registry;
mod schema;
mod state;

use std::sync::{Mutex, MutexGuard};

use state::State;

/// The in-memory backend. Create one per test or embedding; clone the `Arc` you wrap it in
/// to share it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store (no estate, no jobs, no records).
    pub fn new() -> Self {
        Self::default()
    }

    /// The state. A panic while the lock was held cannot leave half a change behind that
    /// matters more than losing the store would (every operation validates before it
    /// mutates, and `apply` rolls back on error), so a poisoned lock is recovered.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
