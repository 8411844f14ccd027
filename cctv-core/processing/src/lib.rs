//! # cctv-processing
//!
//! Processing accepted detections: the person-day rules, once, for every storage backend.
//! A backend's dependency, not an embedder's: an embedder hands a backend to
//! `cctv_core::Core` and never builds a plan itself.
//!
//! A backend processes a batch in one transaction and does three things there:
//! 1. **load** the [`ProcessingState`] of the batch's keys ([`BatchKeys`]): which jobs are
//!    not done yet, the person-days and branch memberships that exist, which devices have
//!    notifications on;
//! 2. call [`Plan::new`] — pure, in this crate — which turns the batch and that state into
//!    rows to insert and additive changes;
//! 3. **apply** the plan: upsert its [`Membership`]s, learn which of them were new
//!    ([`MembershipFacts`]: a serial backend takes [`Plan::predicted_facts`], a concurrent
//!    one reads them from its upsert), get the membership-dependent counters from
//!    [`Plan::person_days`] and [`Plan::day_counts`], write everything, complete the jobs.
//!
//! The rules ([`Plan::new`]):
//! - a job already done (redelivered) and a job twice in the batch have no effect;
//! - a detection is stored whatever happens (detection row, event log row), but if its
//!   person-day is `inactive` it changes no counter and notifies nobody
//!   (`DetectionOutcome::TrackingDisabled`);
//! - a person-day adds `detected_count` to `total_actual_count`, moves
//!   `first_detected_at` / `last_detected_at` by min/max (out-of-order events are fine),
//!   merges `appearance_features` (top-level keys of the newer object win), and counts a
//!   branch once per day, from that branch's first tracked detection on;
//! - every branch that saw the person that day is a membership row; the first row of a
//!   (person, day, branch) adds a person to that branch's day total, the first row of a
//!   (person, day) adds one to the all-branches total;
//! - day and device totals add detections and `detected_count`;
//! - child jobs (outbox): a notification when the (branch, device) has notifications on and
//!   the detection is tracked (never for imported history), an image job when an image came; the report day of every
//!   (date, branch) is marked dirty.
//!
//! Every change is additive (`x = x + delta`, min, max, merge), so a backend with
//! concurrent writers (several workers, several nodes) applies a plan without locks: only
//! the membership facts must come from its own upsert, never from the snapshot.

pub mod day_counts;
mod person_day;
mod plan;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use serde_json::Value;

use cctv_core::jobs::JobId;
use cctv_core::person_day::PreparedDetection;

pub use plan::{ChildJob, Membership, MembershipFacts, PersonDayChange, Plan, image_metadata};
#[cfg(test)]
pub(crate) use plan::{IMAGE_KIND, NOTIFY_KIND};

/// What a backend must read for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchKeys {
    /// The batch's job ids, distinct.
    pub jobs: Vec<JobId>,
    /// The batch's person-days `(re_id, local date)`, distinct, in order.
    pub person_days: Vec<(String, Date)>,
}

impl BatchKeys {
    pub fn of(batch: &[PreparedDetection]) -> Self {
        let mut jobs: Vec<JobId> = batch.iter().map(|d| d.job.job_id).collect();
        jobs.sort();
        jobs.dedup();
        let mut person_days: Vec<(String, Date)> = batch
            .iter()
            .map(|d| (d.job.re_id.clone(), d.date))
            .collect();
        person_days.sort();
        person_days.dedup();
        Self { jobs, person_days }
    }
}

/// A person-day as processing needs to know it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonDayState {
    /// Marked `inactive`: detections are stored but not counted.
    pub inactive: bool,
    pub appearance_features: Option<Value>,
}

/// What exists for a batch's keys when it is processed.
///
/// A backend that applies plans one at a time loads all of it. A backend whose writers run
/// concurrently reads the membership facts from its own upserts ([`Plan::person_days`] and
/// [`Plan::day_counts`] take them) and merges features in its upsert
/// ([`PersonDayChange::features_delta`]), so it needs only `pending`, the inactive
/// person-days and `notify`: `memberships` and the stored features feed nothing else.
///
/// [`Plan::person_days`]: crate::Plan::person_days
/// [`Plan::day_counts`]: crate::Plan::day_counts
/// [`PersonDayChange::features_delta`]: crate::PersonDayChange::features_delta
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessingState {
    /// Jobs of the batch not done yet (no completed or failed job row).
    pub pending: HashSet<JobId>,
    /// Existing person-days among the batch's (a concurrent backend: the inactive ones).
    pub person_days: HashMap<(String, Date), PersonDayState>,
    /// Existing branch memberships of those person-days, and whether each counts.
    pub memberships: HashMap<(String, Date, i64), bool>,
    /// `(branch_id, device_id)` pairs whose event settings have notifications on.
    pub notify: HashSet<(i64, String)>,
}
