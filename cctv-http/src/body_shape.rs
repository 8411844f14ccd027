//! Bounds on the shape of a request body, checked before or while it is parsed: how many
//! form fields it may carry and how long their names may be, and a scan of raw JSON for
//! nesting deeper than [`MAX_NESTING`] (the core's limit on any value from outside).
//!
//! Form bodies name nested values PHP-style (`detection_data[bounding_box][x]=10`);
//! [`form_fields`] turns such pairs into one JSON object under the same bounds, without
//! ever building a value deeper than the limit. A JSON body too deep for any parser is
//! still refused with its field named ([`too_deep_json_member`]).

use cctv_core::input::{MAX_NESTING, too_deep_message};
use cctv_core::validation::ValidationErrors;
use serde_json::{Map, Value};

/// Most fields a form (or multipart) body may carry.
pub(crate) const MAX_FORM_FIELDS: usize = 256;
/// Longest accepted form field name, in bytes.
pub(crate) const MAX_FIELD_NAME_BYTES: usize = 256;

/// Scans a JSON document (without parsing it) for nesting deeper than [`MAX_NESTING`]
/// below the top-level object, so that a body too deep for any parser is still refused
/// with the field named. Returns the top-level member that nests too deeply (`"body"` when
/// the document itself is not an object or the member cannot be named), or `None`.
/// Malformed documents are left to the parser.
pub(crate) fn too_deep_json_member(json: &[u8]) -> Option<String> {
    too_deep_json_path(json, 1)
}

/// Like [`too_deep_json_member`] for a document whose fields sit `levels` containers
/// deep: a batch `{"detections": [{…fields…}]}` has its fields at level 3, and each of
/// them may nest [`MAX_NESTING`] levels below that. Names the value that nests too deeply
/// by its path, `detections.4.detection_data` (`"body"` when the document is not an
/// object or its member cannot be named; the path ends at a step that cannot be named).
pub(crate) fn too_deep_json_path(json: &[u8], levels: usize) -> Option<String> {
    let max_depth = MAX_NESTING + levels;
    // Each level opens with a bracket of its own: a document with no more of them than
    // the limit (counting those inside strings too) cannot nest past it. Counting bytes is
    // a few times cheaper than scanning, and every JSON request is checked.
    if json.iter().filter(|&&b| b == b'{' || b == b'[').count() <= max_depth {
        return None;
    }
    let path = scan_depth(json, max_depth, levels)?;
    let mut name = String::new();
    for step in &path {
        let part = match step {
            Step::Member(Some((a, b))) => match std::str::from_utf8(&json[*a..*b]) {
                Ok(n) if can_name(n) => n.to_owned(),
                _ => break,
            },
            Step::Member(None) => break,
            // The document itself must be an object for anything to be named.
            Step::Element(i) if !name.is_empty() => i.to_string(),
            Step::Element(_) => break,
        };
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&part);
    }
    Some(if name.is_empty() { "body".into() } else { name })
}

/// Whether a member's name may stand in an error's path: not longer than
/// [`MAX_FIELD_NAME_BYTES`], and without quotes or backslashes (a path could not show them
/// as they were sent).
pub(crate) fn can_name(name: &str) -> bool {
    name.len() <= MAX_FIELD_NAME_BYTES && !name.contains(['\\', '"'])
}

/// One container on the way to a value: an object (the byte range of the member being
/// scanned, once its name is known) or an array (the index of the element being scanned).
#[derive(Debug, Clone, Copy)]
enum Step {
    Member(Option<(usize, usize)>),
    Element(usize),
}

/// The containers around the first container that opens deeper than `max_depth` (the
/// document's own object or array is level 1), at most the outer `named` of them.
fn scan_depth(json: &[u8], max_depth: usize, named: usize) -> Option<Vec<Step>> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_start = 0;
    // The containers of the outer `named` levels, and per level the last string that
    // ended there (a candidate member name until its `:`).
    let mut path: Vec<Step> = Vec::new();
    let mut last_string: Vec<Option<(usize, usize)>> = Vec::new();
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth >= 1 && depth <= path.len() {
                    last_string[depth - 1] = Some((string_start, i));
                }
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b':' if depth >= 1 && depth <= path.len() => {
                path[depth - 1] = Step::Member(last_string[depth - 1].take());
            }
            b',' if depth >= 1 && depth <= path.len() => {
                if let Step::Element(n) = &mut path[depth - 1] {
                    *n += 1;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    path.truncate(named);
                    return Some(path);
                }
                if depth <= named && depth == path.len() + 1 {
                    path.push(if b == b'{' {
                        Step::Member(None)
                    } else {
                        Step::Element(0)
                    });
                    last_string.push(None);
                }
            }
            b'}' | b']' => {
                if depth >= 1 && depth == path.len() {
                    path.pop();
                    last_string.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    None
}

/// Builds one JSON object from form pairs: `a=1` is a string member, `a[b][c]=1` nests
/// objects, `a[]=x` appends (keys `"0"`, `"1"`, …). Bounded: at most [`MAX_FORM_FIELDS`]
/// pairs, names of at most [`MAX_FIELD_NAME_BYTES`], nesting of at most [`MAX_NESTING`].
pub(crate) fn form_fields<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Map<String, Value>, ValidationErrors> {
    let mut fields = Map::new();
    let mut errors = ValidationErrors::new();
    for (count, (name, value)) in pairs.into_iter().enumerate() {
        if count >= MAX_FORM_FIELDS {
            errors.add(
                "body",
                format!("A request may carry at most {MAX_FORM_FIELDS} form fields"),
            );
            break;
        }
        let (base, keys) = split_name(name);
        // Errors name the field as sent, unless even its base name is unreasonably long.
        let field = if base.len() <= MAX_FIELD_NAME_BYTES {
            base
        } else {
            "body"
        };
        if keys.len() > MAX_NESTING {
            errors.add(field, too_deep_message(field));
            continue;
        }
        if name.len() > MAX_FIELD_NAME_BYTES {
            errors.add(
                field,
                format!("Form field names must not exceed {MAX_FIELD_NAME_BYTES} bytes"),
            );
            continue;
        }
        insert(&mut fields, base, &keys, value);
    }
    errors.into_result(fields)
}

/// `a[b][c]` → (`a`, [`b`, `c`]); a name without a well-formed bracket suffix is taken whole.
fn split_name(name: &str) -> (&str, Vec<&str>) {
    match name.find('[') {
        Some(i) if i > 0 && name.ends_with(']') => {
            let inner = &name[i + 1..name.len() - 1];
            (&name[..i], inner.split("][").collect())
        }
        _ => (name, Vec::new()),
    }
}

fn insert(fields: &mut Map<String, Value>, base: &str, keys: &[&str], value: &str) {
    if keys.is_empty() {
        fields.insert(base.to_owned(), Value::String(value.to_owned()));
        return;
    }
    let mut slot = fields
        .entry(base.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    for key in keys {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(map) = slot else {
            unreachable!("made an object above")
        };
        let key = if key.is_empty() {
            map.len().to_string()
        } else {
            (*key).to_owned()
        };
        slot = map.entry(key).or_insert(Value::Null);
    }
    *slot = Value::String(value.to_owned());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// How deeply `value` nests objects and arrays (a scalar is 0): the parsed depth the
    /// scans are checked against.
    pub(crate) fn depth(value: &Value) -> usize {
        match value {
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn bracketed_form_names_become_nested_objects() {
        let fields = form_fields([
            ("re_id", "R"),
            ("detection_data[confidence]", "0.9"),
            ("detection_data[bounding_box][x]", "10"),
            ("person_features[clothing][]", "red shirt"),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"re_id": "R", "detection_data": {"confidence": "0.9", "bounding_box": {"x": "10"}},
                   "person_features": {"clothing": {"0": "red shirt"}}})
        );
    }

    #[test]
    fn nesting_at_the_limit_is_kept_and_one_more_level_is_refused() {
        let at_limit = format!("d{}", "[a]".repeat(MAX_NESTING));
        let fields = form_fields([(at_limit.as_str(), "1")]).unwrap();
        assert_eq!(depth(&fields["d"]), MAX_NESTING);
        let over = format!("d{}", "[a]".repeat(MAX_NESTING + 1));
        let err = form_fields([(over.as_str(), "1")]).unwrap_err();
        assert!(err.has("d"), "{err:?}");
    }

    #[test]
    fn twenty_thousand_levels_are_refused_without_building_them() {
        let name = format!("detection_data{}", "[a]".repeat(20_000));
        let err = form_fields([(name.as_str(), "1")]).unwrap_err();
        assert!(err.has("detection_data"), "{err:?}");
    }

    #[test]
    fn too_many_fields_are_refused() {
        let names: Vec<String> = (0..=MAX_FORM_FIELDS).map(|i| format!("f{i}")).collect();
        let err = form_fields(names.iter().map(|n| (n.as_str(), "x"))).unwrap_err();
        assert!(err.has("body"));
        assert!(form_fields(names[..MAX_FORM_FIELDS].iter().map(|n| (n.as_str(), "x"))).is_ok());
    }

    #[test]
    fn a_json_body_too_deep_for_the_parser_names_its_member() {
        let deep = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
        let body = format!(r#"{{"re_id":"x","detection_data":{}}}"#, deep(5000));
        assert_eq!(
            too_deep_json_member(body.as_bytes()).as_deref(),
            Some("detection_data")
        );
        let at_limit = format!(r#"{{"re_id":"x","detection_data":{}}}"#, deep(MAX_NESTING));
        assert_eq!(too_deep_json_member(at_limit.as_bytes()), None);
        let parsed: Value = serde_json::from_str(&at_limit).unwrap();
        assert_eq!(depth(&parsed["detection_data"]), MAX_NESTING);
        let over = format!(
            r#"{{"re_id":"{{[","detection_data":{}}}"#,
            deep(MAX_NESTING + 1)
        );
        assert_eq!(
            too_deep_json_member(over.as_bytes()).as_deref(),
            Some("detection_data"),
            "brackets inside strings do not count"
        );
        assert_eq!(
            too_deep_json_member("[".repeat(40).as_bytes()).as_deref(),
            Some("body")
        );
        assert_eq!(
            too_deep_json_member("[".repeat(MAX_NESTING + 2).as_bytes()).as_deref(),
            Some("body"),
            "one bracket past the limit is enough"
        );
        let shallow = format!(
            r#"{{"re_id":"{}","detection_data":{{"a":[1]}}}}"#,
            "{[".repeat(40)
        );
        assert_eq!(
            too_deep_json_member(shallow.as_bytes()),
            None,
            "many brackets, all inside a string"
        );
    }

    #[test]
    fn a_batch_body_too_deep_names_the_item_and_its_field() {
        let deep = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        let item = |d: usize| format!(r#"{{"re_id":"x,[{{","detection_data":{}}}"#, deep(d));
        let body = |d: usize| format!(r#"{{"detections":[{},{},{}]}}"#, item(1), item(2), item(d));
        assert_eq!(too_deep_json_path(body(MAX_NESTING).as_bytes(), 3), None);
        let parsed: Value = serde_json::from_str(&body(MAX_NESTING)).unwrap();
        assert_eq!(
            depth(&parsed["detections"][2]["detection_data"]),
            MAX_NESTING
        );
        assert_eq!(
            too_deep_json_path(body(MAX_NESTING + 1).as_bytes(), 3).as_deref(),
            Some("detections.2.detection_data"),
            "commas and brackets inside strings do not count"
        );
        assert_eq!(
            too_deep_json_path(body(20_000).as_bytes(), 3).as_deref(),
            Some("detections.2.detection_data")
        );
        assert_eq!(
            too_deep_json_path(deep(50).as_bytes(), 3).as_deref(),
            Some("body"),
            "a document that is not an object names no field"
        );
        let nameless = format!(r#"{{"detections":[{}]}}"#, deep(40));
        assert_eq!(
            too_deep_json_path(nameless.as_bytes(), 3).as_deref(),
            Some("detections.0.0")
        );
    }
}
