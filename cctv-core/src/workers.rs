//! What the workers of this process are doing, for the health probe and the admin queue
//! view. Whatever runs the workers (cctv-actors' pipeline) registers a [`WorkerStatus`]
//! with [`Core::set_worker_status`](crate::Core::set_worker_status); one core, one
//! registration.

use std::fmt;

use serde::Serialize;

use crate::jobs::Queue;

/// The workers of one queue on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerState {
    pub node: String,
    pub queue: Queue,
    pub workers: usize,
    /// Workers on a job (or batch) right now; the others are idle, waiting for work.
    pub busy: usize,
    /// Jobs completed since this process started.
    pub processed: u64,
    pub failed_attempts: u64,
    /// Times a supervisor restarted a worker of this queue (after a panic).
    pub restarts: u64,
}

/// Reports the state of a process's workers; implemented by whatever runs them.
pub trait WorkerStatus: Send + Sync + fmt::Debug + 'static {
    fn states(&self) -> Vec<WorkerState>;
}
