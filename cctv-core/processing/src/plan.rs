//! [`Plan`]: what processing a batch changes, computed from the batch and a
//! [`ProcessingState`]; the rules are listed in the [module docs](super).

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use super::ProcessingState;
use cctv_core::blob::StoredBlob;
use crate::day_counts::{
    DayCountDelta, DeviceDayDelta, HourDelta, day_count_deltas, device_day_deltas, hour_deltas,
};
use cctv_core::jobs::Queue;
use crate::person_day::{PersonDayDelta, group_person_days, merge_features};
use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{DetectionOutcome, ProcessedDetection};

/// The job kind of a notification child job.
pub(crate) const NOTIFY_KIND: &str = "notify_detection";
/// The job kind of an image child job.
pub(crate) const IMAGE_KIND: &str = "process_image";

/// A branch that saw a person on a day: one *visit*. Apply as an upsert on
/// `(re_id, date, branch_id)` with `counted = counted OR new.counted`, and move the
/// visit's figures additively: `first_at` by min, `last_at` by max, `detections` plus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub re_id: String,
    pub date: Date,
    pub branch_id: i64,
    /// The branch counts towards the person-day (its person-day is tracked).
    pub counted: bool,
    /// Per the loaded state the upsert makes a row or flips `counted` (it is new, or
    /// starts to count): what the membership facts depend on. The visit figures change
    /// on every membership.
    pub changes: bool,
    /// The batch's earliest and latest detection of the visit, and how many it has:
    /// dwell time and flows between branches are read from these.
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    pub detections: i64,
}

/// What the membership upsert did, which the counters depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipFacts {
    /// Rows this transaction created.
    pub created: Vec<(String, Date, i64)>,
    /// Rows that count now and did not before (created counted, or flipped).
    pub newly_counted: Vec<(String, Date, i64)>,
    /// Person-days that had no membership row before this transaction.
    pub first_of_day: Vec<(String, Date)>,
}

/// One tracked person-day's change. Apply as an upsert on `(re_id, date)`: add
/// `actual_count` and `branch_count`, `first_at` by min, `last_at` by max, and the features.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonDayChange {
    pub re_id: String,
    pub date: Date,
    pub actual_count: i64,
    pub branch_count: i64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// The features merged into the loaded value: what a serial backend writes.
    pub features: Option<Value>,
    /// The batch's own features: what a concurrent backend merges into the stored value
    /// (objects: top-level keys of the delta win; otherwise the delta replaces).
    pub features_delta: Option<Value>,
}

/// A job to enqueue with the detection's effects (the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildJob {
    pub queue: Queue,
    pub kind: &'static str,
    /// Index into [`Plan::detections`].
    pub detection: usize,
    image_path: Option<String>,
}

impl ChildJob {
    /// The job's payload, once the event log row has its id.
    pub fn payload(&self, event_log_id: i64) -> Value {
        match &self.image_path {
            Some(path) => json!({"event_log_id": event_log_id, "image_path": path}),
            None => json!({"event_log_id": event_log_id}),
        }
    }
}

/// Everything one batch changes.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The detections to store, in batch order: jobs not done yet, each once. A
    /// detection's index here is its row index (the backend assigns the ids).
    pub detections: Vec<&'a PreparedDetection>,
    /// Per detection: it counts (its person-day is not inactive).
    pub tracked: Vec<bool>,
    pub memberships: Vec<Membership>,
    pub children: Vec<ChildJob>,
    /// Report days to mark dirty, `(date, branch_id)`, in order.
    pub dirty_days: Vec<(Date, i64)>,
    pub device_counts: Vec<DeviceDayDelta>,
    /// Detections per local hour: the busy-hours heatmap reads these.
    pub hour_counts: Vec<HourDelta>,
    /// The batch's jobs that were already done: no effect.
    pub skipped: Vec<&'a PreparedDetection>,
    days: Vec<PersonDayDelta>,
    inactive: Vec<bool>,
    loaded_features: Vec<Option<Value>>,
    predicted: MembershipFacts,
}

impl<'a> Plan<'a> {
    pub fn new(batch: &'a [PreparedDetection], state: &ProcessingState) -> Self {
        let mut seen = HashSet::new();
        let (detections, skipped): (Vec<_>, Vec<_>) = batch
            .iter()
            .partition(|d| state.pending.contains(&d.job.job_id) && seen.insert(d.job.job_id));
        let days = group_person_days(detections.iter().copied());
        let mut inactive = Vec::with_capacity(days.len());
        let mut loaded_features = Vec::with_capacity(days.len());
        for d in &days {
            let loaded = state.person_days.get(&(d.re_id.clone(), d.date));
            inactive.push(loaded.is_some_and(|p| p.inactive));
            loaded_features.push(loaded.and_then(|p| p.appearance_features.clone()));
        }
        let mut tracked = vec![true; detections.len()];
        let visits = visit_figures(&detections);
        let mut memberships = Vec::new();
        let mut predicted = MembershipFacts::default();
        let seen_days: HashSet<(&str, Date)> = state
            .memberships
            .keys()
            .map(|(r, day, _)| (r.as_str(), *day))
            .collect();
        for (i, d) in days.iter().enumerate() {
            let counted = !inactive[i];
            if !counted {
                for &m in &d.members {
                    tracked[m] = false;
                }
            }
            if !seen_days.contains(&(d.re_id.as_str(), d.date)) {
                predicted.first_of_day.push((d.re_id.clone(), d.date));
            }
            for &branch_id in &d.branches {
                let key = (d.re_id.clone(), d.date, branch_id);
                let existing = state.memberships.get(&key).copied();
                let created = existing.is_none();
                let starts_counting = counted && existing != Some(true);
                if created {
                    predicted.created.push(key.clone());
                }
                if starts_counting {
                    predicted.newly_counted.push(key.clone());
                }
                let (first_at, last_at, count) = visits
                    .get(&(key.0.as_str(), key.1, branch_id))
                    .copied()
                    .unwrap_or((d.first_at, d.last_at, 0));
                memberships.push(Membership {
                    re_id: key.0,
                    date: key.1,
                    branch_id,
                    counted,
                    changes: created || starts_counting,
                    first_at,
                    last_at,
                    detections: count,
                });
            }
        }
        let mut children = Vec::new();
        for (i, d) in detections.iter().enumerate() {
            let device = (d.job.branch_id, d.job.device_id.clone());
            if tracked[i] && !d.job.imported && state.notify.contains(&device) {
                children.push(ChildJob {
                    queue: Queue::Notifications,
                    kind: NOTIFY_KIND,
                    detection: i,
                    image_path: None,
                });
            }
            if let Some(image) = &d.job.image {
                children.push(ChildJob {
                    queue: Queue::Images,
                    kind: IMAGE_KIND,
                    detection: i,
                    image_path: Some(image.path.clone()),
                });
            }
        }
        let mut dirty_days: Vec<(Date, i64)> = detections
            .iter()
            .map(|d| (d.date, d.job.branch_id))
            .collect();
        dirty_days.sort();
        dirty_days.dedup();
        Self {
            device_counts: device_day_deltas(detections.iter().copied()),
            hour_counts: hour_deltas(detections.iter().copied()),
            detections,
            tracked,
            memberships,
            children,
            dirty_days,
            skipped,
            days,
            inactive,
            loaded_features,
            predicted,
        }
    }

    /// The membership facts as the loaded state predicts them: exact for a backend that
    /// applies plans one at a time (nothing changed since it loaded the state).
    pub fn predicted_facts(&self) -> &MembershipFacts {
        &self.predicted
    }

    /// The tracked person-days' changes, their branch counts from `facts`, in
    /// `(re_id, date)` order (so concurrent writers lock rows in one order).
    pub fn person_days(&self, facts: &MembershipFacts) -> Vec<PersonDayChange> {
        let new_branches = Self::branch_counts(facts);
        self.days
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.inactive[*i])
            .map(|(i, d)| PersonDayChange {
                re_id: d.re_id.clone(),
                date: d.date,
                actual_count: d.actual_count,
                branch_count: new_branches
                    .get(&(d.re_id.as_str(), d.date))
                    .copied()
                    .unwrap_or(0),
                first_at: d.first_at,
                last_at: d.last_at,
                features: merge_features(self.loaded_features[i].as_ref(), d.features.as_ref()),
                features_delta: d.features.clone(),
            })
            .collect()
    }

    /// Per person-day `(re_id, date)`, the branches that started to count, in key order:
    /// what a backend that writes branch counts on their own adds.
    pub fn branch_counts(facts: &MembershipFacts) -> BTreeMap<(&str, Date), i64> {
        let mut counts: BTreeMap<(&str, Date), i64> = BTreeMap::new();
        for (re_id, date, _) in &facts.newly_counted {
            *counts.entry((re_id.as_str(), *date)).or_default() += 1;
        }
        counts
    }

    /// The day totals' increments, persons from `facts`, in key order.
    pub fn day_counts(&self, facts: &MembershipFacts) -> Vec<DayCountDelta> {
        day_count_deltas(
            self.detections.iter().copied(),
            facts
                .created
                .iter()
                .map(|(_, date, branch)| (*date, *branch)),
            facts.first_of_day.iter().map(|(_, date)| *date),
        )
    }

    /// Detections with an image, to register in the file registry with their event.
    pub fn images(&self) -> impl Iterator<Item = (usize, &'a StoredBlob)> + '_ {
        self.detections
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.job.image.as_ref().map(|image| (i, image)))
    }

    /// The outcome of detection `i`.
    pub(crate) fn outcome(&self, i: usize) -> DetectionOutcome {
        if self.tracked[i] {
            DetectionOutcome::Counted
        } else {
            DetectionOutcome::TrackingDisabled
        }
    }

    /// The result of every job of the batch: the stored detections with their row ids
    /// (`ids[i]` = (detection id, event log id) of detection `i`), then the skipped ones.
    pub fn results(&self, ids: &[(i64, i64)]) -> Vec<ProcessedDetection> {
        let mut results: Vec<ProcessedDetection> = self
            .detections
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (d, (detection, event)))| ProcessedDetection {
                job_id: d.job.job_id,
                outcome: self.outcome(i),
                detection_date: d.date,
                detection_id: Some(*detection),
                event_log_id: Some(*event),
            })
            .collect();
        results.extend(
            self.skipped
                .iter()
                .map(|d| ProcessedDetection {
                    job_id: d.job.job_id,
                    outcome: DetectionOutcome::AlreadyProcessed,
                    detection_date: d.date,
                    detection_id: None,
                    event_log_id: None,
                }),
        );
        results
    }
}

/// Per visit `(re_id, date, branch)`: earliest and latest detection, and how many.
fn visit_figures<'b>(
    detections: &[&'b PreparedDetection],
) -> HashMap<(&'b str, Date, i64), (Timestamp, Timestamp, i64)> {
    let mut visits: HashMap<(&str, Date, i64), (Timestamp, Timestamp, i64)> = HashMap::new();
    for d in detections {
        let at = d.job.detected_at;
        visits
            .entry((d.job.re_id.as_str(), d.date, d.job.branch_id))
            .and_modify(|v| {
                v.0 = v.0.min(at);
                v.1 = v.1.max(at);
                v.2 += 1;
            })
            .or_insert((at, at, 1));
    }
    visits
}

/// The file registry's metadata of an event image.
pub fn image_metadata(d: &PreparedDetection) -> Value {
    json!({"job_id": d.job.job_id, "kind": "event_image"})
}
