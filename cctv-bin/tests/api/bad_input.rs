//! Every kind of bad input gets the envelope with the right code, and nothing is stored.

use cctv_core::credential::CredentialStatus;
use cctv_core::estate::EstateWrites;
use serde_json::{Value, json};

use crate::helpers::*;

async fn credential(
    app: &TestApp,
    rate_limit: u32,
    branch: Option<i64>,
    expires: Option<&str>,
) -> (String, String, i64) {
    app.credential(rate_limit, branch, expires).await
}

async fn post_as(app: &TestApp, key: &str, secret: &str, body: &Value) -> Resp {
    app.post_json_as(key, secret, body).await
}

fn assert_error(r: &Resp, status: u16, code: &str, field: Option<&str>) {
    assert_eq!((r.status, r.code()), (status, code), "{:?}", r.body);
    assert_eq!(r.body["success"], false);
    assert!(r.body["meta"]["request_id"].is_string());
    if let Some(f) = field {
        assert!(
            r.body["error"]["details"][f].is_array(),
            "field {f} named in {:?}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_detections_are_refused_with_the_field_named_and_nothing_is_stored() {
    let app = spawn_app(Backend::Sqlite).await;
    app.core
        .storage()
        .set_device_status(app.device(2), cctv_core::estate::RecordStatus::Inactive)
        .await
        .unwrap();
    app.core.reload_caches().await.unwrap();
    let (b0, b1, b2) = (app.branch(0), app.branch(1), app.branch(2));
    let d0 = app.device(0).to_owned();
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing re_id",
            json!({"branch_id": b0, "device_id": d0}),
            "re_id",
        ),
        (
            "re_id of 101 characters",
            json!({"re_id": "x".repeat(101), "branch_id": b0, "device_id": d0}),
            "re_id",
        ),
        (
            "unknown branch",
            json!({"re_id": "R", "branch_id": 99999, "device_id": d0}),
            "branch_id",
        ),
        (
            "device of another branch",
            json!({"re_id": "R", "branch_id": b1, "device_id": d0}),
            "device_id",
        ),
        (
            "inactive device",
            json!({"re_id": "R", "branch_id": b2, "device_id": app.device(2)}),
            "device_id",
        ),
        (
            "unknown device",
            json!({"re_id": "R", "branch_id": b0, "device_id": "NOPE"}),
            "device_id",
        ),
        (
            "confidence 1.5",
            json!({"re_id": "R", "branch_id": b0, "device_id": d0, "detection_data": {"confidence": 1.5}}),
            "detection_data.confidence",
        ),
        (
            "future detected_at",
            json!({"re_id": "R", "branch_id": b0, "device_id": d0, "detected_at": future}),
            "detected_at",
        ),
        (
            "detected_count 0",
            json!({"re_id": "R", "branch_id": b0, "device_id": d0, "detected_count": 0}),
            "detected_count",
        ),
        (
            "detection_data not an object",
            json!({"re_id": "R", "branch_id": b0, "device_id": d0, "detection_data": [1, 2]}),
            "detection_data",
        ),
    ];
    for (name, body, field) in cases {
        let r = app.post_json(&body).await;
        assert_eq!(r.status, 422, "{name}: {:?}", r.body);
        assert_error(&r, 422, "VALIDATION_ERROR", Some(field));
    }

    let mut h = app.auth();
    h.push(("content-type", "application/json"));
    let malformed = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &h,
        b"{\"re_id\": \"R\", ".to_vec(),
    )
    .await;
    assert_error(&malformed, 422, "VALIDATION_ERROR", Some("body"));
    // Validation errors are JSON whatever the Accept header says (never a redirect).
    h.push(("accept", "text/html"));
    let html = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &h,
        b"[]".to_vec(),
    )
    .await;
    assert_error(&html, 422, "VALIDATION_ERROR", Some("body"));

    let mut h = app.auth();
    h.push(("content-type", "text/plain"));
    let text = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &h,
        b"re_id=R".to_vec(),
    )
    .await;
    assert_error(&text, 415, "UNSUPPORTED_MEDIA_TYPE", None);
    let none = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &app.auth(),
        b"{}".to_vec(),
    )
    .await;
    assert_error(&none, 415, "UNSUPPORTED_MEDIA_TYPE", None);

    let branch = b0.to_string();
    let fields = [
        ("re_id", "R"),
        ("branch_id", branch.as_str()),
        ("device_id", d0.as_str()),
    ];
    let mut big = png_2x1();
    big.resize(11 * 1024 * 1024, 0);
    assert_error(
        &app.post_multipart(&fields, Some(("image", "big.png", &big)))
            .await,
        422,
        "VALIDATION_ERROR",
        Some("image"),
    );
    assert_error(
        &app.post_multipart(
            &fields,
            Some(("image", "photo.jpg", b"just some text, not a picture")),
        )
        .await,
        422,
        "VALIDATION_ERROR",
        Some("image"),
    );
    let mut huge = png_2x1();
    huge.resize(13 * 1024 * 1024, 0);
    assert_error(
        &app.post_multipart(&fields, Some(("image", "huge.png", &huge)))
            .await,
        413,
        "PAYLOAD_TOO_LARGE",
        None,
    );

    // Nothing of the above was stored: no detection row, no job, no file.
    let depths = app.core.storage().queue_depths().await.unwrap();
    assert!(
        depths.iter().all(|d| d.queued == 0 && d.failed == 0),
        "{depths:?}"
    );
    assert_eq!(app.detections_total().await, 0);
    assert!(
        !app.dir.path().join("storage/events").exists(),
        "no upload was kept"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_and_limits_enforced() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({"re_id": "R", "branch_id": app.branch(0), "device_id": app.device(0)});

    let missing = send(
        &app.addr,
        "POST",
        "/api/v1/detection/log",
        &[
            ("x-api-key", &app.key),
            ("content-type", "application/json"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_error(&missing, 401, "UNAUTHORIZED", None);
    assert_error(
        &post_as(&app, &app.key, "wrong-secret", &body).await,
        401,
        "INVALID_CREDENTIALS",
        None,
    );
    assert_error(
        &post_as(&app, "cctv_unknownkey", &app.secret, &body).await,
        401,
        "INVALID_CREDENTIALS",
        None,
    );

    let (key, secret, _) = credential(&app, 100, None, Some("2020-01-01T00:00:00Z")).await;
    assert_error(
        &post_as(&app, &key, &secret, &body).await,
        401,
        "EXPIRED_CREDENTIALS",
        None,
    );

    let (key, secret, id) = credential(&app, 100, None, None).await;
    assert_eq!(post_as(&app, &key, &secret, &body).await.status, 202);
    app.core
        .storage()
        .set_credential_status(id, CredentialStatus::Inactive)
        .await
        .unwrap();
    app.core.reload_caches().await.unwrap();
    assert_error(
        &post_as(&app, &key, &secret, &body).await,
        401,
        "INVALID_CREDENTIALS",
        None,
    );

    let (key, secret, _) = credential(&app, 2, None, None).await;
    let first = post_as(&app, &key, &secret, &body).await;
    assert_eq!(first.headers["x-ratelimit-limit"], "2");
    assert_eq!(first.headers["x-ratelimit-remaining"], "1");
    assert_eq!(post_as(&app, &key, &secret, &body).await.status, 202);
    let limited = post_as(&app, &key, &secret, &body).await;
    assert_error(&limited, 429, "RATE_LIMIT_EXCEEDED", None);
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    let retry: i64 = limited.headers["retry-after"].parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(limited.body["error"]["details"]["period"], "hour");

    let (key, secret, _) = credential(&app, 100, Some(app.branch(0)), None).await;
    let other = json!({"re_id": "R", "branch_id": app.branch(1), "device_id": app.device(1)});
    assert_error(
        &post_as(&app, &key, &secret, &other).await,
        403,
        "FORBIDDEN",
        None,
    );
    let foreign = send(
        &app.addr,
        "GET",
        &format!("/api/v1/branch/{}/detections", app.branch(1)),
        &[("x-api-key", &key), ("x-api-secret", &secret)],
        vec![],
    )
    .await;
    assert_error(&foreign, 403, "FORBIDDEN", None);
    assert_eq!(post_as(&app, &key, &secret, &body).await.status, 202);

    let bad_query = app
        .get("/api/v1/detections?date_from=yesterday&per_page=abc")
        .await;
    assert_error(&bad_query, 422, "VALIDATION_ERROR", Some("date_from"));
    assert!(bad_query.body["error"]["details"]["per_page"].is_array());
    let not_a_job = app.get("/api/v1/detection/status/not-a-uuid").await;
    assert_error(&not_a_job, 422, "VALIDATION_ERROR", Some("job_id"));
    let unknown_route = app.get("/api/v1/nothing-here").await;
    assert_error(&unknown_route, 404, "NOT_FOUND", None);
    app.stop().await;
}
