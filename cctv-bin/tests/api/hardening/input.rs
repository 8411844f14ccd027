//! Hostile shapes of input: nesting, field counts and names, far-away times. Each is
//! refused with a 422 naming the field, nothing is stored, and the server stays up.

use serde_json::{Value, json};

use crate::helpers::*;

async fn post_form(app: &TestApp, body: String) -> Resp {
    let mut headers = app.auth();
    headers.push(("content-type", "application/x-www-form-urlencoded"));
    send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &headers,
        body.into_bytes(),
    )
    .await
}

fn nested_json(levels: usize) -> Value {
    (0..levels).fold(json!(1), |v, _| json!({ "a": v }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_field_nested_twenty_thousand_levels_is_refused_and_the_server_stays_up() {
    let app = spawn_app(Backend::Sqlite).await;
    let base = format!(
        "re_id=R1&branch_id={}&device_id={}",
        app.branch(0),
        app.device(0)
    );
    let deep = format!("{base}&detection_data{}=1", "[a]".repeat(20_000));
    let r = post_form(&app, deep).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "VALIDATION_ERROR"),
        "{:?}",
        r.body
    );
    assert!(
        r.body["error"]["details"]["detection_data"].is_array(),
        "{:?}",
        r.body
    );

    // Just over the limit, in a form, a multipart field and a JSON body.
    let over = format!("{base}&detection_data{}=1", "[a]".repeat(33));
    let r = post_form(&app, over).await;
    assert!(
        r.body["error"]["details"]["detection_data"].is_array(),
        "{:?}",
        r.body
    );
    let name = format!("person_features{}", "[b]".repeat(40));
    let r = app
        .post_multipart(
            &[
                ("re_id", "R1"),
                ("branch_id", &app.branch(0).to_string()),
                ("device_id", app.device(0)),
                (name.as_str(), "x"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.body["error"]["details"]["person_features"].is_array(),
        "{:?}",
        r.body
    );
    for levels in [33, 100, 127] {
        let r = app
            .post_json(
                &json!({"re_id": "R1", "branch_id": app.branch(0), "device_id": app.device(0),
                "detection_data": nested_json(levels)}),
            )
            .await;
        assert_eq!(r.status, 422, "{levels} levels: {:?}", r.body);
        assert!(
            r.body["error"]["details"]["detection_data"].is_array(),
            "{:?}",
            r.body
        );
    }
    // Far deeper than any parser goes: refused before parsing, the field still named.
    let body = format!(
        r#"{{"re_id":"R1","branch_id":{},"device_id":"{}","detection_data":{}1{}}}"#,
        app.branch(0),
        app.device(0),
        "{\"a\":".repeat(5000),
        "}".repeat(5000)
    );
    let mut h = app.auth();
    h.push(("content-type", "application/json"));
    let r = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &h,
        body.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.body["error"]["details"]["detection_data"].is_array(),
        "{:?}",
        r.body
    );
    // A JSON-encoded string field is held to the same limit.
    let as_string = serde_json::to_string(&nested_json(40)).unwrap();
    let r = app
        .post_multipart(
            &[
                ("re_id", "R1"),
                ("branch_id", &app.branch(0).to_string()),
                ("device_id", app.device(0)),
                ("detection_data", as_string.as_str()),
            ],
            None,
        )
        .await;
    assert!(
        r.body["error"]["details"]["detection_data"].is_array(),
        "{:?}",
        r.body
    );

    // At the limit it is kept whole.
    let ok = app
        .post_json(
            &json!({"re_id": "R1", "branch_id": app.branch(0), "device_id": app.device(0),
            "detection_data": {"extra": nested_json(30)}}),
        )
        .await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    app.wait_completed(ok.body["data"]["job_id"].as_str().unwrap())
        .await;
    assert_eq!(
        app.detections_total().await,
        1,
        "only the one accepted detection is stored"
    );
    let health = send(&app.addr, "GET", "/health", &[], vec![]).await;
    assert_eq!(health.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_form_fields_and_overlong_names_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let base = format!(
        "re_id=R1&branch_id={}&device_id={}",
        app.branch(0),
        app.device(0)
    );
    let many: String = (0..300).map(|i| format!("&f{i}=x")).collect();
    let r = post_form(&app, format!("{base}{many}")).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.body["error"]["details"]["body"].is_array(),
        "{:?}",
        r.body
    );
    let long = format!("{base}&{}=x", "n".repeat(300));
    let r = post_form(&app, long).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(app.detections_total().await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detected_at_far_in_the_past_is_refused_but_an_offline_backlog_is_accepted() {
    let options = AppOptions {
        detection_rules: cctv_core::detection::DetectionRules::default(),
        ..Default::default()
    };
    let app = spawn_app_with(Backend::Sqlite, options).await;
    for when in ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"] {
        let r = app
            .post_json(
                &json!({"re_id": "R1", "branch_id": app.branch(0), "device_id": app.device(0),
                "detected_at": when}),
            )
            .await;
        assert_eq!(r.status, 422, "{when}: {:?}", r.body);
        assert!(r.body["error"]["details"]["detected_at"].is_array());
    }
    let backlog = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 29)).to_string();
    let r = app
        .post_json(
            &json!({"re_id": "R1", "branch_id": app.branch(0), "device_id": app.device(0),
            "detected_at": backlog}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    app.stop().await;
}
