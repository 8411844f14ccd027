//! The document against the real route tree, and against itself.

use std::collections::BTreeSet;

use salvo::Router;
use serde_json::Value;

use super::document;

/// `(METHOD, /path/{param})` of every handler under `prefix` in a route tree.
fn registered(router: &Router, base: &str, out: &mut BTreeSet<(String, String)>) {
    let mut path = base.to_owned();
    let mut method = None;
    for filter in router.filters() {
        let text = format!("{filter:?}");
        if let Some(segment) = text.strip_prefix("path:") {
            if !segment.is_empty() {
                path = format!("{}/{}", path.trim_end_matches('/'), segment);
            }
        } else if let Some(m) = text.strip_prefix("method:") {
            method = Some(m.to_uppercase());
        }
    }
    if router.goal.is_some() {
        out.insert((method.unwrap_or_else(|| "ANY".into()), path.clone()));
    }
    for child in router.routers() {
        registered(child, &path, out);
    }
}

fn api_routes() -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    registered(&crate::routes(), "", &mut all);
    all.into_iter()
        .filter(|(_, path)| path.starts_with("/api/"))
        .collect()
}

fn documented() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_walk_sees_the_routes_it_should() {
    // Guards the walk itself: if salvo changed how filters print, the coverage test
    // below would compare two empty sets.
    let routes = api_routes();
    assert!(routes.len() > 80, "{routes:?}");
    for expected in [
        ("POST", "/api/v1/detection/log"),
        ("GET", "/api/v1/person/{re_id}"),
        ("PATCH", "/api/v1/device-masters/{id}"),
        ("GET", "/api/v1/cctv/streams/{device_id}/proxy/hls"),
        ("POST", "/api/login"),
    ] {
        assert!(
            routes.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} not found in {routes:?}"
        );
    }
}

#[test]
fn every_api_route_is_documented_and_nothing_else() {
    let routes = api_routes();
    let documented = documented();
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "registered but not documented: {missing:#?}"
    );
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(
        phantom.is_empty(),
        "documented but not registered: {phantom:#?}"
    );
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r);
            }
            o.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(all.len() > 100);
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn operations_declare_their_path_parameters_and_a_success() {
    let mut ids = BTreeSet::new();
    for op in super::operations() {
        let json = op.to_json();
        assert!(
            ids.insert(op.operation_id()),
            "duplicate id {}",
            op.operation_id()
        );
        assert!(
            !op.summary.is_empty(),
            "{} {} has no summary",
            op.method,
            op.path
        );
        let in_path: BTreeSet<&str> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = json["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(in_path, declared, "{} {}", op.method, op.path);
        let statuses: Vec<&String> = json["responses"].as_object().unwrap().keys().collect();
        assert!(
            statuses.iter().any(|s| s.starts_with('2'))
                || (op.refused && statuses.contains(&&"403".to_owned())),
            "{} {} has no success answer: {statuses:?}",
            op.method,
            op.path
        );
    }
}

#[test]
fn every_field_a_resource_accepts_has_a_type() {
    for resource in cctv_admin::manage::Resource::ALL {
        for field in resource.input_fields() {
            assert!(
                super::manage::field_schema(resource, field).is_some(),
                "{resource:?}.{field} has no type in the API reference"
            );
        }
    }
}

/// The official validator (`openapi-spec-validator` from PyPI), when installed; CI
/// installs it and sets `CCTV_TEST_OPENAPI_VALIDATOR=require`, so there a missing
/// validator fails instead of skipping.
#[test]
fn the_document_passes_the_openapi_validator() {
    let required = std::env::var("CCTV_TEST_OPENAPI_VALIDATOR").is_ok_and(|v| v == "require");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!required, "openapi-spec-validator is not installed");
        eprintln!("openapi-spec-validator not installed: validation skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(document()).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn type_labels_read_well() {
    use super::docs_page::type_label;
    use serde_json::json;
    assert_eq!(
        type_label(&json!({"type": ["integer", "null"]})),
        "integer or null"
    );
    assert_eq!(
        type_label(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Detection"}})),
        "array of Detection"
    );
    assert_eq!(
        type_label(&json!({"type": "string", "format": "date"})),
        "string (date)"
    );
}
