//! The processing rules against plain data: a state, a batch, the plan.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::day_counts::ALL_BRANCHES;
use cctv_core::blob::StoredBlob;
use cctv_core::detection::DetectionJob;
use cctv_core::jobs::Queue;
use cctv_core::storage::DetectionOutcome;

const DAY: Date = date(2026, 11, 28);

/// A detection of `re_id` at `branch` (device `D{branch}`) at `at`, placed in UTC; the
/// fixture of every test of this crate.
pub(crate) fn det(re_id: &str, branch: i64, count: i32, at: &str) -> PreparedDetection {
    let at: jiff::Timestamp = at.parse().unwrap();
    PreparedDetection::new(
        DetectionJob {
            job_id: JobId::new(),
            credential_id: None,
            event_id: None,
            idempotency_key: None,
            request_hash: None,
            re_id: re_id.into(),
            branch_id: branch,
            device_id: format!("D{branch}"),
            detected_count: count,
            detected_at: at,
            received_at: at,
            detection_data: None,
            person_features: None,
            image: None,
            imported: false,
        },
        &TimeZone::UTC,
    )
}

pub(crate) fn with_features(mut d: PreparedDetection, f: Value) -> PreparedDetection {
    d.job.detection_data = Some(json!({ "appearance_features": f }).into());
    d
}

fn pending(batch: &[PreparedDetection]) -> ProcessingState {
    ProcessingState {
        pending: batch.iter().map(|d| d.job.job_id).collect(),
        ..Default::default()
    }
}

#[test]
fn keys_are_distinct_and_ordered() {
    let batch = vec![
        det("B", 1, 1, "2026-11-28T08:00:00Z"),
        det("A", 1, 1, "2026-11-28T08:00:00Z"),
        det("B", 2, 1, "2026-11-28T09:00:00Z"),
    ];
    let keys = BatchKeys::of(&batch);
    assert_eq!(keys.jobs.len(), 3);
    assert_eq!(
        keys.person_days,
        vec![("A".to_owned(), DAY), ("B".to_owned(), DAY)]
    );
}

#[test]
fn done_and_repeated_jobs_have_no_effect() {
    let a = det("A", 1, 2, "2026-11-28T08:00:00Z");
    let done = det("A", 1, 5, "2026-11-28T09:00:00Z");
    let batch = vec![a.clone(), done.clone(), a.clone()];
    let mut state = pending(&batch);
    state.pending.remove(&done.job.job_id);
    let plan = Plan::new(&batch, &state);
    assert_eq!(
        plan.detections.len(),
        1,
        "the repeat and the done job are skipped"
    );
    assert_eq!(plan.skipped.len(), 2);
    let days = plan.person_days(plan.predicted_facts());
    assert_eq!(days[0].actual_count, 2);
    let results = plan.results(&[(10, 20)]);
    assert_eq!(results[0].detection_id, Some(10));
    assert_eq!(results[1].outcome, DetectionOutcome::AlreadyProcessed);
}

#[test]
fn a_person_day_adds_counts_moves_times_by_min_max_and_merges_features() {
    let batch = vec![
        with_features(
            det("A", 1, 2, "2026-11-28T10:00:00Z"),
            json!({"hat": "red"}),
        ),
        with_features(det("A", 1, 3, "2026-11-28T07:00:00Z"), json!({"bag": true})),
    ];
    let mut state = pending(&batch);
    state.person_days.insert(
        ("A".into(), DAY),
        PersonDayState {
            inactive: false,
            appearance_features: Some(json!({"hat": "blue", "shoes": "black"})),
        },
    );
    state.memberships.insert(("A".into(), DAY, 1), true);
    let plan = Plan::new(&batch, &state);
    let day = &plan.person_days(plan.predicted_facts())[0];
    assert_eq!(day.actual_count, 5);
    assert_eq!(day.first_at.to_string(), "2026-11-28T07:00:00Z");
    assert_eq!(day.last_at.to_string(), "2026-11-28T10:00:00Z");
    assert_eq!(day.branch_count, 0, "branch 1 already counts today");
    assert_eq!(
        day.features,
        Some(json!({"hat": "red", "bag": true, "shoes": "black"}))
    );
    assert_eq!(day.features_delta, Some(json!({"hat": "red", "bag": true})));
    assert!(plan.memberships.iter().all(|m| !m.changes));
}

#[test]
fn a_branch_counts_once_per_day_from_its_first_tracked_detection() {
    let batch = vec![
        det("A", 1, 1, "2026-11-28T08:00:00Z"),
        det("A", 2, 1, "2026-11-28T08:05:00Z"),
        det("A", 2, 1, "2026-11-28T08:06:00Z"),
        det("A", 3, 1, "2026-11-28T08:07:00Z"),
    ];
    let mut state = pending(&batch);
    state.memberships.insert(("A".into(), DAY, 1), true);
    // Branch 2 saw the person while the day was inactive: a row that does not count yet.
    state.memberships.insert(("A".into(), DAY, 2), false);
    let plan = Plan::new(&batch, &state);
    let facts = plan.predicted_facts();
    assert_eq!(facts.created, vec![("A".to_owned(), DAY, 3)]);
    assert_eq!(
        facts.newly_counted,
        vec![("A".to_owned(), DAY, 2), ("A".to_owned(), DAY, 3)]
    );
    assert!(facts.first_of_day.is_empty());
    assert_eq!(plan.person_days(facts)[0].branch_count, 2);
    let changed: Vec<i64> = plan
        .memberships
        .iter()
        .filter(|m| m.changes)
        .map(|m| m.branch_id)
        .collect();
    assert_eq!(changed, vec![2, 3]);
}

#[test]
fn day_totals_count_detections_and_first_sightings() {
    let batch = vec![
        det("A", 1, 2, "2026-11-28T08:00:00Z"),
        det("A", 2, 1, "2026-11-28T08:05:00Z"),
        det("B", 1, 4, "2026-11-28T08:07:00Z"),
    ];
    let mut state = pending(&batch);
    state.memberships.insert(("B".into(), DAY, 1), true);
    let plan = Plan::new(&batch, &state);
    let totals = plan.day_counts(plan.predicted_facts());
    let row = |b: i64| totals.iter().find(|t| t.branch_key == b).unwrap();
    assert_eq!(
        (
            row(ALL_BRANCHES).detections,
            row(ALL_BRANCHES).detected_count,
            row(ALL_BRANCHES).persons
        ),
        (3, 7, 1),
        "A is new today, B was seen before"
    );
    assert_eq!((row(1).detections, row(1).persons), (2, 1));
    assert_eq!((row(2).detections, row(2).persons), (1, 1));
    assert_eq!(plan.device_counts.len(), 2);
}

#[test]
fn counters_follow_the_facts_of_a_concurrent_backend_not_the_prediction() {
    let batch = vec![det("A", 1, 1, "2026-11-28T08:00:00Z")];
    let plan = Plan::new(&batch, &pending(&batch));
    assert_eq!(plan.predicted_facts().created.len(), 1);
    // Another node stored the same membership first: this transaction created nothing.
    let facts = MembershipFacts::default();
    assert_eq!(plan.person_days(&facts)[0].branch_count, 0);
    let totals = plan.day_counts(&facts);
    assert!(totals.iter().all(|t| t.persons == 0 && t.detections == 1));
}

#[test]
fn an_inactive_person_day_stores_but_counts_nothing_and_notifies_nobody() {
    let batch = vec![det("A", 1, 3, "2026-11-28T08:00:00Z")];
    let mut state = pending(&batch);
    state.person_days.insert(
        ("A".into(), DAY),
        PersonDayState {
            inactive: true,
            appearance_features: None,
        },
    );
    state.notify.insert((1, "D1".into()));
    let plan = Plan::new(&batch, &state);
    assert_eq!(plan.detections.len(), 1, "the detection is stored");
    assert_eq!(plan.outcome(0), DetectionOutcome::TrackingDisabled);
    assert!(plan.person_days(plan.predicted_facts()).is_empty());
    assert!(plan.children.is_empty());
    assert!(!plan.memberships[0].counted);
    assert!(plan.predicted_facts().newly_counted.is_empty());
    assert_eq!(plan.dirty_days, vec![(DAY, 1)]);
}

#[test]
fn child_jobs_follow_the_settings_and_the_image() {
    let mut with_image = det("A", 1, 1, "2026-11-28T08:00:00Z");
    with_image.job.image = Some(StoredBlob {
        path: "events/2026/11/28/1_x.jpg".into(),
        mime: "image/jpeg".into(),
        size: 1,
        width: None,
        height: None,
    });
    let quiet = det("B", 2, 1, "2026-11-28T08:00:00Z");
    let batch = vec![with_image, quiet];
    let mut state = pending(&batch);
    state.notify.insert((1, "D1".into()));
    let plan = Plan::new(&batch, &state);
    let kinds: Vec<(Queue, &str, usize)> = plan
        .children
        .iter()
        .map(|c| (c.queue, c.kind, c.detection))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Queue::Notifications, NOTIFY_KIND, 0),
            (Queue::Images, IMAGE_KIND, 0)
        ]
    );
    assert_eq!(
        plan.children[1].payload(7),
        json!({"event_log_id": 7, "image_path": "events/2026/11/28/1_x.jpg"})
    );
    assert_eq!(plan.images().count(), 1);
    assert_eq!(plan.dirty_days, vec![(DAY, 1), (DAY, 2)]);
}

#[test]
fn imported_history_is_counted_but_never_notified() {
    let mut old = det("A", 1, 2, "2026-11-28T08:00:00Z");
    old.job.imported = true;
    let live = det("A", 1, 1, "2026-11-28T09:00:00Z");
    let batch = vec![old, live];
    let mut state = pending(&batch);
    state.notify.insert((1, "D1".into()));
    let plan = Plan::new(&batch, &state);
    let notified: Vec<usize> = plan.children.iter().map(|c| c.detection).collect();
    assert_eq!(notified, vec![1], "only the live detection notifies");
    let days = plan.person_days(plan.predicted_facts());
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].actual_count, 3, "both are counted");
}
