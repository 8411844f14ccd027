//! The scheduling loop: find due slots, claim them, run them, sleep until the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

use super::{Cursors, ScheduleSettings, ScheduleStore, TaskName, TaskRunner, signed};
use cctv_core::storage::StorageError;

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at `base` and advances with tokio's clock, so that tests with
/// `tokio::time::pause` move it by sleeping (auto-advance) or `tokio::time::advance`.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(base: Timestamp) -> Self {
        Self {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.start);
        self.base + super::signed(elapsed)
    }
}

/// Longest sleep between looks at the schedule (a changed clock is noticed this fast).
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// Wait before trying again a slot that could not be claimed or started.
const RETRY_DELAY: Duration = Duration::from_secs(5);
/// Most missed slots of one task run in one pass (a week of a calendar task is 7).
const MAX_SLOTS_PER_PASS: usize = 64;

/// Runs the configured tasks at their slots. Cheap to share between tasks.
#[derive(Debug)]
pub struct Scheduler {
    store: Arc<dyn ScheduleStore>,
    runner: Arc<dyn TaskRunner>,
    settings: ScheduleSettings,
    cursors: Cursors,
}

impl Scheduler {
    /// Positions each task after its last claimed slot (at most `catch_up` back). On a
    /// database where nothing ever ran, tasks start from `now`: a new installation does
    /// not replay a week.
    pub async fn start(
        store: Arc<dyn ScheduleStore>,
        runner: Arc<dyn TaskRunner>,
        settings: ScheduleSettings,
        now: Timestamp,
    ) -> Result<Self, StorageError> {
        let last: HashMap<String, Timestamp> = store
            .last_runs()
            .await?
            .into_iter()
            .map(|r| (r.task, r.slot))
            .collect();
        let oldest = now - signed(settings.catch_up);
        // A task without history of its own (e.g. a daily task that had not come due
        // before the outage) starts where the scheduler was last seen alive: the latest
        // slot of any task.
        let alive = last.values().max().copied();
        let cursors = settings
            .tasks
            .iter()
            .map(|(task, _)| {
                let cursor = last
                    .get(task.as_str())
                    .copied()
                    .or(alive)
                    .map_or(now, |slot| slot.max(oldest));
                (*task, cursor)
            })
            .collect();
        Ok(Self {
            store,
            runner,
            settings,
            cursors: Arc::new(Mutex::new(cursors)),
        })
    }

    pub fn settings(&self) -> &ScheduleSettings {
        &self.settings
    }

    /// Claims and runs every slot due at `now`; returns the slots this node ran.
    pub async fn run_due(&self, now: Timestamp) -> Vec<(TaskName, Timestamp)> {
        let mut ran = Vec::new();
        for (task, cadence) in &self.settings.tasks {
            let Some(cursor) = self.cursor(*task) else {
                continue;
            };
            let mut slots = Vec::new();
            if cadence.is_interval() {
                // One run covers every missed interval slot: only the latest runs.
                let latest = cadence.latest_at_or_before(now);
                if latest > cursor {
                    slots.push(latest);
                }
            } else {
                let mut at = cursor;
                loop {
                    let next = cadence.next_after(at, &self.settings.timezone);
                    if next > now || slots.len() == MAX_SLOTS_PER_PASS {
                        break;
                    }
                    slots.push(next);
                    at = next;
                }
            }
            for slot in slots {
                match self.run_slot(*task, slot, now).await {
                    Ok(true) => ran.push((*task, slot)),
                    Ok(false) => {}
                    // Leave the cursor before this slot: the next pass tries it again.
                    Err(()) => break,
                }
                self.set_cursor(*task, slot);
            }
        }
        ran
    }

    /// `Ok(true)`: claimed and run here; `Ok(false)`: another node has it; `Err`: retry.
    async fn run_slot(&self, task: TaskName, slot: Timestamp, now: Timestamp) -> Result<bool, ()> {
        let node = &self.settings.node_id;
        match self.store.claim_slot(task.as_str(), slot, node, now).await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                tracing::warn!(task = task.as_str(), %slot, error = %e, "claiming a schedule slot failed");
                return Err(());
            }
        }
        tracing::info!(task = task.as_str(), %slot, "running scheduled task");
        match self.runner.run(task, slot).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(task = task.as_str(), %slot, error = %e, "scheduled task failed to start; slot released");
                if let Err(e) = self.store.release_slot(task.as_str(), slot).await {
                    tracing::warn!(task = task.as_str(), %slot, error = %e, "releasing the slot failed");
                }
                Err(())
            }
        }
    }

    /// The earliest instant at which some task is due.
    pub(crate) fn next_due(&self) -> Timestamp {
        self.settings
            .tasks
            .iter()
            .filter_map(|(task, cadence)| {
                self.cursor(*task)
                    .map(|c| cadence.next_after(c, &self.settings.timezone))
            })
            .min()
            .unwrap_or(Timestamp::MAX)
    }

    /// Runs due slots, then sleeps until the next one, forever.
    pub async fn run(self: Arc<Self>, clock: Arc<dyn Clock>) {
        loop {
            self.run_due(clock.now()).await;
            let now = clock.now();
            let next = self.next_due();
            let wait = if next <= now {
                // A slot is still due: claiming or starting it failed (database down?).
                RETRY_DELAY
            } else {
                // At most MAX_SLEEP, so that a changed system clock is noticed.
                Duration::try_from(next.duration_since(now))
                    .unwrap_or(MAX_SLEEP)
                    .min(MAX_SLEEP)
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn cursor(&self, task: TaskName) -> Option<Timestamp> {
        self.cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&task)
            .copied()
    }

    fn set_cursor(&self, task: TaskName, slot: Timestamp) {
        self.cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task, slot);
    }
}
