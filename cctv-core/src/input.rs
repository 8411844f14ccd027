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
/// How deeply `value` nests objects and arrays (a scalar is 0). Iterative, so a value of
/// any depth is measured without recursion.
pub(crate) fn nesting_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        let depth = depth + 1;
        deepest = deepest.max(depth);
        if depth > MAX_NESTING {
            // Deep enough to refuse: no need to walk the rest.
            return depth;
        }
        stack.extend(children.map(|c| (c, depth)));
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
        assert!(nesting_depth(&deep) > MAX_NESTING);
        let err = check_nesting(json!({"ok": 1, "deep": deep}).as_object().unwrap()).unwrap_err();
        assert!(err.has("deep") && !err.has("ok"));
    }
}
