//! How deep a JSON value from outside may nest.
//!
//! A nested value is cloned, serialised, stored and read back recursively all over the
//! product (serde_json refuses to read more than 128 levels; dropping a value 20,000
//! levels deep overflows the stack). So nesting is bounded once, where input arrives, well
//! below any of those limits: a request nested deeper than [`MAX_NESTING`] is refused with
//! a 422 that names the field, before anything is stored. The accept use cases check the
//! fields they are given; `cctv-http` also bounds request bodies before parsing them (form
//! fields, a raw JSON depth scan) with the same limit.

use serde_json::{Map, Value};

use crate::validation::ValidationErrors;

/// Deepest accepted nesting of a JSON value (an object or array counts one level, so a
/// field holding `{"a": {"b": 1}}` is two levels deep).
pub const MAX_NESTING: usize = 32;
/// How deeply `value` nests objects and arrays (a scalar is 0). A value deeper than
/// [`MAX_NESTING`] is measured only that far (the answer is then `MAX_NESTING + 1`), so
/// the recursion is at most that deep whatever the value. Nothing is allocated: it runs
/// for every field of every detection.
pub fn nesting_depth(value: &Value) -> usize {
    depth_at(value, 0)
}

/// The deepest level reached from `value`, found at level `above`.
fn depth_at(value: &Value, above: usize) -> usize {
    match value {
        Value::Object(map) => deepest_child(map.values(), above + 1),
        Value::Array(items) => deepest_child(items.iter(), above + 1),
        _ => above,
    }
}

/// The deepest level reached from the children of a container at level `depth`.
fn deepest_child<'a>(children: impl Iterator<Item = &'a Value>, depth: usize) -> usize {
    let mut deepest = depth;
    if depth > MAX_NESTING {
        // Deep enough to refuse: no need to walk the rest.
        return deepest;
    }
    for child in children {
        deepest = deepest.max(depth_at(child, depth));
        if deepest > MAX_NESTING {
            break;
        }
    }
    deepest
}

/// The message of a field nested too deeply.
pub fn too_deep_message(field: &str) -> String {
    format!("The {field} field must not be nested more than {MAX_NESTING} levels deep")
}

/// Refuses the top-level members of `fields` that nest deeper than [`MAX_NESTING`],
/// naming each of them.
pub(crate) fn check_nesting(fields: &Map<String, Value>) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    for (name, value) in fields {
        if nesting_depth(value) > MAX_NESTING {
            errors.add(name, too_deep_message(name));
        }
    }
    errors.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nesting_depth_counts_objects_and_arrays() {
        assert_eq!(nesting_depth(&json!(1)), 0);
        assert_eq!(nesting_depth(&json!({"a": [1, {"b": {}}]})), 4);
        let deep = (0..200).fold(json!(1), |v, _| json!([v]));
        assert_eq!(nesting_depth(&deep), MAX_NESTING + 1);
        // Exactly the limit, in objects, and behind a shallow sibling.
        let limit = (0..MAX_NESTING).fold(json!(1), |v, _| json!({ "k": v }));
        assert_eq!(nesting_depth(&json!([[1], limit.clone()])), MAX_NESTING + 1);
        assert_eq!(nesting_depth(&limit), MAX_NESTING);
        assert_eq!(nesting_depth(&json!([[], {}, "x"])), 2);
        let err = check_nesting(json!({"ok": 1, "deep": deep}).as_object().unwrap()).unwrap_err();
        assert!(err.has("deep") && !err.has("ok"));
    }
}
