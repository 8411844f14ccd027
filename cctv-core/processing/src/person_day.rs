//! Person-day rules: a batch folded per person-day, so a backend issues one upsert per
//! person-day instead of one per detection, and the rules (min/max times, feature merge)
//! live in one place.

use std::collections::BTreeMap;

use cctv_core::person_day::PreparedDetection;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

/// The combined effect of a batch's detections on one person-day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PersonDayDelta {
    pub re_id: String,
    pub date: Date,
    /// Sum of `detected_count`.
    pub actual_count: i64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// Features merged in batch order (later detections win).
    pub features: Option<Value>,
    /// Distinct branches, ascending.
    pub branches: Vec<i64>,
    /// Indexes of the batch's detections that belong to this person-day.
    pub members: Vec<usize>,
}

/// Folds a batch per person-day, ordered by `(re_id, date)` so that every backend takes
/// row locks in one global order (no deadlocks between concurrent batches).
/// `members` index the iteration order of `batch`.
pub(crate) fn group_person_days<'a>(
    batch: impl IntoIterator<Item = &'a PreparedDetection>,
) -> Vec<PersonDayDelta> {
    let mut days: BTreeMap<(&'a str, Date), PersonDayDelta> = BTreeMap::new();
    for (index, det) in batch.into_iter().enumerate() {
        let at = det.job.detected_at;
        let delta = days
            .entry((det.job.re_id.as_str(), det.date))
            .or_insert_with(|| PersonDayDelta {
                re_id: det.job.re_id.clone(),
                date: det.date,
                actual_count: 0,
                first_at: at,
                last_at: at,
                features: None,
                branches: Vec::new(),
                members: Vec::new(),
            });
        delta.actual_count += i64::from(det.job.detected_count);
        delta.first_at = delta.first_at.min(at);
        delta.last_at = delta.last_at.max(at);
        delta.features = merge_features(delta.features.as_ref(), appearance_features(det).as_ref());
        if let Err(pos) = delta.branches.binary_search(&det.job.branch_id) {
            delta.branches.insert(pos, det.job.branch_id);
        }
        delta.members.push(index);
    }
    days.into_values().collect()
}

/// Merges appearance features: for two objects, top-level keys of `new` win; otherwise a
/// present `new` value replaces the old one. Both backends implement exactly this.
pub(crate) fn merge_features(old: Option<&Value>, new: Option<&Value>) -> Option<Value> {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut merged = a.clone();
            for (k, v) in b {
                merged.insert(k.clone(), v.clone());
            }
            Some(Value::Object(merged))
        }
        (_, Some(n)) if !n.is_null() => Some(n.clone()),
        (Some(o), _) => Some(o.clone()),
        _ => None,
    }
}

/// The `appearance_features` carried in a detection's `detection_data`, if any.
fn appearance_features(detection: &PreparedDetection) -> Option<Value> {
    detection
        .job
        .detection_data
        .as_ref()?
        .member("appearance_features")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn det(
        re_id: &str,
        branch: i64,
        count: i32,
        at: &str,
        features: Option<Value>,
    ) -> PreparedDetection {
        let d = crate::tests::det(re_id, branch, count, at);
        match features {
            Some(f) => crate::tests::with_features(d, f),
            None => d,
        }
    }

    #[test]
    fn a_batch_folds_counts_times_branches_and_features_per_person_day() {
        let batch = vec![
            det(
                "A",
                2,
                2,
                "2026-11-28T05:00:00Z",
                Some(json!({"hat": "red", "bag": true})),
            ),
            det(
                "A",
                1,
                3,
                "2026-11-28T03:00:00Z",
                Some(json!({"hat": "blue"})),
            ),
            det("B", 1, 1, "2026-11-28T04:00:00Z", None),
            det("A", 2, 1, "2026-11-28T06:00:00Z", None),
        ];
        let days = group_person_days(&batch);
        assert_eq!(days.len(), 2);
        let a = &days[0];
        assert_eq!(a.re_id, "A");
        assert_eq!(a.actual_count, 6);
        assert_eq!(a.first_at.to_string(), "2026-11-28T03:00:00Z");
        assert_eq!(a.last_at.to_string(), "2026-11-28T06:00:00Z");
        assert_eq!(a.branches, vec![1, 2]);
        assert_eq!(a.members, vec![0, 1, 3]);
        assert_eq!(a.features, Some(json!({"hat": "blue", "bag": true})));
        assert_eq!(days[1].actual_count, 1);
    }

    #[test]
    fn features_merge_shallowly_and_non_objects_replace() {
        assert_eq!(
            merge_features(Some(&json!({"a": {"x": 1}})), Some(&json!({"a": {"y": 2}}))),
            Some(json!({"a": {"y": 2}}))
        );
        assert_eq!(
            merge_features(Some(&json!({"a": 1})), Some(&json!([1, 2]))),
            Some(json!([1, 2]))
        );
        assert_eq!(
            merge_features(Some(&json!({"a": 1})), None),
            Some(json!({"a": 1}))
        );
        assert_eq!(merge_features(None, Some(&Value::Null)), None);
    }
}
