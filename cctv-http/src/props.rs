//! Property tests of the HTTP layer's own parsers of outside input (form fields, the JSON
//! depth scan, cookies, the flash cookie, bearer tokens); the login page's `next` parser
//! has its own in `web::next`.
//! `CCTV_PROPTEST_CASES` raises the case count for a long run (see TESTING.md).

use cctv_core::input::MAX_NESTING;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::body_shape::tests::depth as nesting_depth;
use crate::body_shape::{form_fields, too_deep_json_member, too_deep_json_path};
use crate::extract::cookie_in;
use crate::web::render::percent_encode;
use crate::web::session::decode_flash;

/// `default` cases, or `CCTV_PROPTEST_CASES` when set.
pub(crate) fn config(default: u32) -> ProptestConfig {
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

fn form_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,12}",
        "[a-z]{1,6}(\\[[a-z0-9]{0,4}\\]){0,40}",
        "[\\[\\]a-z]{0,64}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Any header values: looking a cookie up never panics, and a value it returns was
    /// written after that very name.
    #[test]
    fn cookie_lookup_is_total(
        headers in prop::collection::vec("[ -~]{0,60}", 0..4),
        name in "[a-z_]{1,12}",
    ) {
        if let Some(v) = cookie_in(headers.iter().map(String::as_str), &name) {
            let needle = format!("{name}={v}");
            prop_assert!(headers.iter().any(|h| h.contains(&needle)));
        }
    }

    /// Cookies written as `name=value` pairs are found, the first one winning.
    #[test]
    fn written_cookies_are_found(
        pairs in prop::collection::vec(("[a-z_]{1,8}", "[A-Za-z0-9|._-]{0,20}"), 1..6),
    ) {
        let header = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let (name, value) = &pairs[0];
        prop_assert_eq!(cookie_in([header.as_str()], name), Some(value.as_str()));
    }

    /// The flash cookie decodes whatever arrives, and round-trips what we encode.
    #[test]
    fn flash_decoding_is_total_and_round_trips(raw in ".{0,80}", message in ".{0,80}") {
        let _ = decode_flash(&raw);
        prop_assert_eq!(decode_flash(&percent_encode(&message, b"-._")), message);
    }

    /// Any `Authorization` value: bearer parsing never panics.
    #[test]
    fn bearer_parsing_is_total(header in prop_oneof![".{0,80}", "Bearer [0-9]{0,6}\\|[ -~]{0,70}"]) {
        let _ = cctv_admin::access::parse_bearer(&header);
    }

    /// Whatever the names, form parsing never panics and never yields a value nested
    /// deeper than the limit.
    #[test]
    fn form_parsing_is_total_and_bounded(
        pairs in prop::collection::vec((form_name(), any::<String>()), 0..40)
    ) {
        match form_fields(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
            Ok(fields) => {
                for value in fields.values() {
                    prop_assert!(nesting_depth(value) <= MAX_NESTING);
                }
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    /// The depth scan agrees with the parser on every document the parser reads: it flags
    /// a member exactly when that member nests deeper than the limit.
    #[test]
    fn json_depth_scan_agrees_with_the_parsed_depth(
        depths in prop::collection::vec(0usize..40, 1..4),
        text in "[a-z{}\\[\\]\\\\\"]{0,8}",
    ) {
        let mut doc = Map::new();
        for (i, d) in depths.iter().enumerate() {
            let v = (0..*d).fold(json!(text.clone()), |v, k| if k % 2 == 0 { json!([v]) } else { json!({"k": v}) });
            doc.insert(format!("f{i}"), v);
        }
        let bytes = serde_json::to_vec(&Value::Object(doc.clone())).unwrap();
        let flagged = too_deep_json_member(&bytes);
        let too_deep: Vec<&String> =
            doc.iter().filter(|(_, v)| nesting_depth(v) > MAX_NESTING).map(|(k, _)| k).collect();
        prop_assert_eq!(flagged.is_some(), !too_deep.is_empty());
        if let Some(name) = flagged {
            prop_assert!(too_deep.iter().any(|k| **k == name));
        }
    }

    /// Any bytes: the scan never panics.
    #[test]
    fn json_depth_scan_is_total(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = too_deep_json_member(&bytes);
        let _ = too_deep_json_path(&bytes, 3);
    }

    /// A batch body: the scan flags it exactly when an item's field nests deeper than the
    /// limit, and names an item and field that do.
    #[test]
    fn batch_depth_scan_names_a_too_deep_item_field(
        items in prop::collection::vec(prop::collection::vec(0usize..40, 1..3), 1..4),
        text in "[a-z{}\\[\\],.\\\\\"]{0,8}",
    ) {
        let mut too_deep = Vec::new();
        let detections: Vec<Value> = items.iter().enumerate().map(|(i, depths)| {
            let mut item = Map::new();
            for (f, d) in depths.iter().enumerate() {
                let v = (0..*d).fold(json!(text.clone()), |v, k| if k % 2 == 0 { json!([v]) } else { json!({"k": v}) });
                if nesting_depth(&v) > MAX_NESTING {
                    too_deep.push(format!("detections.{i}.f{f}"));
                }
                item.insert(format!("f{f}"), v);
            }
            Value::Object(item)
        }).collect();
        let bytes = serde_json::to_vec(&json!({"detections": detections})).unwrap();
        let flagged = too_deep_json_path(&bytes, 3);
        prop_assert_eq!(flagged.is_some(), !too_deep.is_empty());
        if let Some(name) = flagged {
            prop_assert!(too_deep.contains(&name), "{} not in {:?}", name, too_deep);
        }
    }
}
