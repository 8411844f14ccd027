//! Property tests of the core's parser of outside input, detection requests (`cctv-admin`
//! has its own for templates, CSV cells, phone numbers and signed file URLs, `cctv-http`
//! for form fields and the JSON depth scan). Each property says what must hold for *any* input — above all, that nothing
//! panics and nothing unbounded comes out.
//!
//! The suite runs a few hundred cases per property. `CCTV_PROPTEST_CASES` raises that for a
//! long run (see TESTING.md), e.g.
//! `CCTV_PROPTEST_CASES=1000000 cargo test --release -p cctv-core props::`.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::detection::fingerprint::fingerprint_as_first_written;
use crate::detection::{
    DetectionRequest, DetectionRules, MAX_DETECTED_COUNT, MAX_JSON_FIELD_BYTES, MAX_RE_ID_CHARS,
};
use crate::input::{MAX_NESTING, nesting_depth};

/// `default` cases, or `CCTV_PROPTEST_CASES` when set.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("CCTV_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[0-9]{1,4}".prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn now() -> Timestamp {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

/// A value a device might send for one of the detection fields.
fn field_value(name: &'static str) -> BoxedStrategy<Value> {
    let text = match name {
        "detected_at" => prop_oneof![
            (-100_000i64..100_000)
                .prop_map(|s| (now() + SignedDuration::from_secs(s * 60)).to_string()),
            ".{0,30}",
        ]
        .boxed(),
        "branch_id" | "detected_count" => "-?[0-9]{0,12}(\\.[0-9]{0,3})?".boxed(),
        _ => ".{0,120}".boxed(),
    };
    prop_oneof![text.prop_map(Value::from), json_value()].boxed()
}

fn detection_fields() -> impl Strategy<Value = Map<String, Value>> {
    let names = [
        "re_id",
        "branch_id",
        "device_id",
        "detected_count",
        "detected_at",
        "event_id",
        "detection_data",
        "person_features",
    ];
    let known = names.map(|n| proptest::option::of(field_value(n)));
    (known, proptest::option::of(("[a-z]{1,8}", json_value()))).prop_map(move |(values, extra)| {
        let mut map = Map::new();
        for (name, value) in names.iter().zip(values) {
            if let Some(v) = value {
                map.insert((*name).to_owned(), v);
            }
        }
        if let Some((k, v)) = extra {
            map.insert(k, v);
        }
        map
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// Any request: validation never panics; what it accepts is within every bound, and
    /// its fingerprint is the one stored fingerprints were computed with.
    #[test]
    fn detection_parsing_is_total_and_accepted_requests_are_in_bounds(
        fields in detection_fields(),
        header in proptest::option::of(".{0,140}"),
    ) {
        let rules = DetectionRules::default();
        if let Ok(req) = DetectionRequest::from_fields(fields, header.as_deref(), &rules, now()) {
            let chars = req.re_id.chars().count();
            prop_assert!((1..=MAX_RE_ID_CHARS).contains(&chars));
            prop_assert!(!req.re_id.chars().any(char::is_control));
            prop_assert!(req.branch_id > 0);
            prop_assert!((1..=MAX_DETECTED_COUNT as i32).contains(&req.detected_count));
            if let Some(at) = req.detected_at {
                prop_assert!(at <= now() + rules.max_future_skew);
                prop_assert!(at >= now() - rules.max_past_age);
            }
            for v in [&req.detection_data, &req.person_features].into_iter().flatten() {
                prop_assert!(v.is_object());
                prop_assert!(nesting_depth(v) <= MAX_NESTING);
                prop_assert!(serde_json::to_vec(v).unwrap().len() <= MAX_JSON_FIELD_BYTES);
            }
            prop_assert_eq!(req.idempotency_key().is_some(), req.event_id.is_some());
            // The fingerprint is the one stored fingerprints were computed with.
            for image in [None, Some(&[0x5a; 32])] {
                prop_assert_eq!(req.fingerprint(image), fingerprint_as_first_written(&req, image));
            }
        }
    }
}
