//! The API reference as a client uses it: the document and its page are served (the page
//! loading nothing from elsewhere), and real answers of the documented routes match the
//! documented schemas, checked by a small JSON Schema reader below.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::manage::{call, people};

/// Checks `value` against `schema` (resolving `$ref`s in `doc`), collecting mismatches.
/// It reads the keywords the document uses: `$ref`, `type`, `const`, `enum`, `format`
/// (date and date-time), `properties`, `required`, `additionalProperties`, `items`,
/// `allOf`, `anyOf`, `oneOf`.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} does not resolve"));
        return check(doc, target, value, at, errors);
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        errors.push(format!("{at}: {value} is not {c}"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {values:?}"));
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(doc, part, value, at, errors);
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(parts) = schema.get(combinator).and_then(Value::as_array) {
            let fits = parts.iter().any(|p| {
                let mut e = Vec::new();
                check(doc, p, value, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: {value} fits none of {combinator} {parts:?}"));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| is_type(t, value)) {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let (Some(format), Some(text)) =
        (schema.get("format").and_then(Value::as_str), value.as_str())
    {
        let ok = match format {
            "date-time" => text.parse::<cctv_core::jiff::Timestamp>().is_ok(),
            "date" => text.parse::<cctv_core::jiff::civil::Date>().is_ok(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {text:?} is not a {format}"));
        }
    }
    match value {
        Value::Object(members) => {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap();
                if !members.contains_key(name) {
                    errors.push(format!("{at}: member {name} is missing"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, member) in members {
                let here = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(s) => check(doc, s, member, &here, errors),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(format!("{here}: not documented")),
                        Some(s @ Value::Object(_)) => check(doc, s, member, &here, errors),
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item, v, &format!("{at}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn is_type(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// The documented schema of the answer `method template` gives with `status`.
fn answer_schema<'a>(doc: &'a Value, method: &str, template: &str, status: u16) -> &'a Value {
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let mut response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} does not document {status}"
    );
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        response = doc.pointer(r.trim_start_matches('#')).unwrap();
    }
    &response["content"]["application/json"]["schema"]
}

/// Asserts that `body`, answered with `status` by `method template`, is as documented.
fn conforms(doc: &Value, method: &str, template: &str, status: u16, body: &Value) {
    let schema = answer_schema(doc, method, template, status);
    let mut errors = Vec::new();
    check(doc, schema, body, "body", &mut errors);
    assert!(
        errors.is_empty(),
        "{method} {template} answered {status} differently from its documentation:\n{}\n{body:#}",
        errors.join("\n")
    );
}

#[test]
fn the_schema_reader_finds_mismatches() {
    let doc = json!({"components": {"schemas": {"Row": {
        "type": "object", "required": ["id"], "additionalProperties": false,
        "properties": {"id": {"type": "integer"}, "at": {"type": ["string", "null"], "format": "date-time"}},
    }}}});
    let row = json!({"$ref": "#/components/schemas/Row"});
    let mut errors = Vec::new();
    check(
        &doc,
        &row,
        &json!({"id": 1, "at": "2026-12-04T10:00:00Z"}),
        "ok",
        &mut errors,
    );
    check(&doc, &row, &json!({"id": 1, "at": null}), "ok", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    for bad in [
        json!({"at": null}),
        json!({"id": "1"}),
        json!({"id": 1, "at": "yesterday"}),
        json!({"id": 1, "extra": 0}),
    ] {
        let mut errors = Vec::new();
        check(&doc, &row, &bad, "bad", &mut errors);
        assert!(!errors.is_empty(), "{bad} passed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_is_served_and_its_page_loads_nothing_from_elsewhere() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/detection/log"));

    let page = send_raw(&app.addr, "GET", "/api/docs", &[], vec![]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // The templates escape `/` and `=` in values.
    let text = page.body.replace("&#x2f;", "/").replace("&#x3d;", "=");
    for path in paths.keys() {
        assert!(
            text.contains(&format!("<code>{path}</code>")),
            "{path} not on the page"
        );
    }
    // Everything the page loads comes from this server.
    for attr in ["src=\"", "href=\""] {
        for (i, _) in page.body.match_indices(attr) {
            let target = &page.body[i + attr.len()..];
            assert!(
                target.starts_with('/') || target.starts_with('#'),
                "the page loads {}",
                &target[..target.find('"').unwrap_or(40).min(80)]
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_api_path_with_another_method_is_405_naming_the_methods_it_has() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = app.get("/api/openapi.json").await.body;
    for (method, path, template, allow) in [
        (
            "DELETE",
            "/api/v1/detection/log",
            "/api/v1/detection/log",
            "POST",
        ),
        ("TRACE", "/api/me", "/api/me", "GET"),
        (
            "POST",
            "/api/v1/device-masters/7",
            "/api/v1/device-masters/{id}",
            "DELETE, GET, PATCH, PUT",
        ),
    ] {
        let r = send(&app.addr, method, path, &[], vec![]).await;
        assert_eq!(r.status, 405, "{method} {path}: {:?}", r.body);
        assert_eq!(
            r.headers.get("allow").map(String::as_str),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(r.body["error"]["code"], "METHOD_NOT_ALLOWED");
        let mut errors = Vec::new();
        check(
            &doc,
            &doc["components"]["responses"]["E405"]["content"]["application/json"]["schema"],
            &r.body,
            "body",
            &mut errors,
        );
        assert!(errors.is_empty(), "{template}: {errors:?}");
    }
    // An unknown path stays 404, whatever the method.
    let r = send(&app.addr, "DELETE", "/api/v1/no-such-thing", &[], vec![]).await;
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_documented_schemas() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let doc = app.get("/api/openapi.json").await.body;
        let people = people(&app).await;
        let admin = Some(people.admin.as_str());
        let (branch, device) = (app.branch(0), app.device(0).to_owned());

        // The device API.
        let detection = json!({"re_id": "DOC-1", "branch_id": branch, "device_id": device,
            "event_id": "doc-ev-1", "detected_count": 1});
        let r = app.post_json(&detection).await;
        conforms(&doc, "POST", "/api/v1/detection/log", r.status, &r.body);
        let job = r.body["data"]["job_id"].as_str().unwrap().to_owned();
        app.wait_completed(&job).await;
        let again = app.post_json(&detection).await;
        conforms(
            &doc,
            "POST",
            "/api/v1/detection/log",
            again.status,
            &again.body,
        );
        let invalid = app.post_json(&json!({"re_id": ""})).await;
        assert_eq!(invalid.status, 422);
        conforms(&doc, "POST", "/api/v1/detection/log", 422, &invalid.body);
        let today = app.core.today();
        for (template, path) in [
            (
                "/api/v1/detection/status/{job_id}",
                format!("/api/v1/detection/status/{job}"),
            ),
            (
                "/api/v1/detection/summary",
                format!("/api/v1/detection/summary?date={today}"),
            ),
            ("/api/v1/detections", "/api/v1/detections".to_owned()),
            (
                "/api/v1/person/{re_id}",
                format!("/api/v1/person/DOC-1?date={today}"),
            ),
            (
                "/api/v1/person/{re_id}/detections",
                "/api/v1/person/DOC-1/detections".to_owned(),
            ),
            (
                "/api/v1/branch/{id}/detections",
                format!("/api/v1/branch/{branch}/detections"),
            ),
        ] {
            let r = app.get(&path).await;
            assert_eq!(r.status, 200, "{path}: {:?}", r.body);
            conforms(&doc, "GET", template, 200, &r.body);
        }
        let batch = send(
            &app.addr,
            "POST",
            "/api/v1/detection/batch",
            &[app.auth(), vec![("content-type", "application/json")]].concat(),
            serde_json::to_vec(&json!({"detections": [
                {"re_id": "DOC-2", "branch_id": branch, "device_id": device, "event_id": "doc-b1"},
                {"re_id": "", "branch_id": branch, "device_id": device},
            ]}))
            .unwrap(),
        )
        .await;
        conforms(
            &doc,
            "POST",
            "/api/v1/detection/batch",
            batch.status,
            &batch.body,
        );

        // People and the management resources.
        let me = call(&app, "GET", "/api/me", admin, None).await;
        conforms(&doc, "GET", "/api/me", 200, &me.body);
        let anonymous = call(&app, "GET", "/api/me", None, None).await;
        conforms(&doc, "GET", "/api/me", 401, &anonymous.body);
        let group = call(
            &app,
            "POST",
            "/api/v1/company-groups",
            admin,
            Some(
                json!({"province_code": "DOC", "province_name": "Docs", "group_name": "Reference"}),
            ),
        )
        .await;
        conforms(
            &doc,
            "POST",
            "/api/v1/company-groups",
            group.status,
            &group.body,
        );
        let id = group.body["data"]["id"].as_i64().unwrap();
        let changed = call(
            &app,
            "PATCH",
            &format!("/api/v1/company-groups/{id}"),
            admin,
            Some(json!({"address": "Jl. Sudirman 1"})),
        )
        .await;
        conforms(
            &doc,
            "PATCH",
            "/api/v1/company-groups/{id}",
            changed.status,
            &changed.body,
        );
        let refused = call(
            &app,
            "POST",
            "/api/v1/company-groups",
            admin,
            Some(json!({"colour": 1})),
        )
        .await;
        conforms(&doc, "POST", "/api/v1/company-groups", 422, &refused.body);
        for resource in cctv_admin::manage::Resource::ALL {
            let base = format!("/api/v1/{}", resource.path());
            let list = call(&app, "GET", &base, admin, None).await;
            assert_eq!(list.status, 200, "{base}: {:?}", list.body);
            conforms(&doc, "GET", &base, 200, &list.body);
            if let Some(first) = list.body["data"][0]["id"].as_i64() {
                let one = call(&app, "GET", &format!("{base}/{first}"), admin, None).await;
                conforms(
                    &doc,
                    "GET",
                    &format!("{base}/{{id}}"),
                    one.status,
                    &one.body,
                );
            }
        }
        let token = call(&app, "POST", "/api/v1/admin/tokens", admin, Some(json!({
            "user_id": people.admin_id, "name": "grafana", "scopes": ["reports:read"], "expires": "30d"}))).await;
        conforms(
            &doc,
            "POST",
            "/api/v1/admin/tokens",
            token.status,
            &token.body,
        );
        let tokens = call(&app, "GET", "/api/v1/admin/tokens", admin, None).await;
        conforms(
            &doc,
            "GET",
            "/api/v1/admin/tokens",
            tokens.status,
            &tokens.body,
        );

        // Reports, analytics and administration.
        let month = &today.to_string()[..7];
        for (template, query) in [
            ("/api/v1/reports/daily", format!("?date={today}")),
            ("/api/v1/reports/monthly", format!("?month={month}")),
            ("/api/v1/reports/dashboard", String::new()),
            ("/api/v1/analytics/visits", String::new()),
            ("/api/v1/analytics/dwell", String::new()),
            ("/api/v1/analytics/flows", String::new()),
            ("/api/v1/analytics/frequency", String::new()),
            ("/api/v1/analytics/heatmap", String::new()),
            ("/api/v1/admin/queues", String::new()),
            ("/api/v1/admin/schedule", String::new()),
            ("/api/v1/admin/failed-jobs", String::new()),
            ("/api/v1/admin/api-usage", String::new()),
            ("/api/v1/admin/whatsapp-deliveries", String::new()),
            ("/api/v1/users/pagination/options", String::new()),
        ] {
            let r = call(&app, "GET", &format!("{template}{query}"), admin, None).await;
            assert!(
                r.status < 300,
                "{template}{query}: {} {:?}",
                r.status,
                r.body
            );
            conforms(&doc, "GET", template, r.status, &r.body);
        }
        app.stop().await;
    }
}
