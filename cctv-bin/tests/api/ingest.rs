//! The original fleet's request shapes, idempotency and the person-day rules over HTTP.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_json_requests_are_queued_processed_and_queryable() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let (b0, b1) = (app.branch(0), app.branch(1));
        let first = app.post_json(&json!({"re_id": "REID_20251008_0001", "branch_id": b0, "device_id": app.device(0)})).await;
        assert_eq!(first.status, 202, "{:?}", first.body);
        assert_eq!(first.body["success"], true);
        assert_eq!(first.body["data"]["status"], "queued");
        assert_eq!(first.body["data"]["branch_id"], b0);
        assert_eq!(first.body["meta"]["version"], "1.0");
        assert!(first.headers.contains_key("x-ratelimit-remaining"));
        let job = first.body["data"]["job_id"].as_str().unwrap().to_owned();
        let done = app.wait_completed(&job).await;
        assert_eq!(done.body["data"]["status"], "completed");
        assert_eq!(done.body["data"]["result"]["outcome"], "counted");

        let second = app
            .post_json(&json!({"re_id": "REID_20251008_0001", "branch_id": b1, "device_id": app.device(1), "detected_count": 3}))
            .await;
        app.wait_completed(second.body["data"]["job_id"].as_str().unwrap())
            .await;

        let person = app.get("/api/v1/person/REID_20251008_0001").await;
        assert_eq!(person.status, 200, "{:?}", person.body);
        assert_eq!(person.body["data"]["total_actual_count"], 4);
        assert_eq!(person.body["data"]["total_detection_branch_count"], 2);
        assert_eq!(
            person.body["data"]["detected_branches"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        let list = app.get("/api/v1/detections?per_page=20").await;
        assert_eq!(list.body["pagination"]["total"], 2);
        assert_eq!(list.body["pagination"]["from"], 1);
        let history = app
            .get("/api/v1/person/REID_20251008_0001/detections")
            .await;
        assert_eq!(history.body["data"].as_array().unwrap().len(), 2);

        let branch = app.get(&format!("/api/v1/branch/{b1}/detections")).await;
        assert_eq!(branch.body["statistics"]["total_detections"], 1);
        assert_eq!(branch.body["statistics"]["total_detected_count"], 3);
        assert_eq!(branch.body["data"][0]["detected_count"], 3);

        let summary = app.get("/api/v1/detection/summary").await;
        assert_eq!(summary.body["data"]["summary"]["total_detections"], 2);
        assert_eq!(summary.body["data"]["summary"]["unique_persons"], 1);
        assert_eq!(summary.body["data"]["summary"]["unique_branches"], 2);
        assert_eq!(
            summary.body["data"]["hourly_trend"]
                .as_array()
                .unwrap()
                .len(),
            24
        );

        let missing = app.get("/api/v1/person/NOBODY").await;
        assert_eq!((missing.status, missing.code()), (404, "NOT_FOUND"));
        let no_branch = app.get("/api/v1/branch/99999/detections").await;
        assert_eq!(no_branch.status, 404);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_requests_with_an_image_are_accepted_and_the_image_is_stored() {
    let app = spawn_app(Backend::Sqlite).await;
    let branch = app.branch(0).to_string();
    let png = png_2x1();
    let r = app
        .post_multipart(
            &[
                ("re_id", "REID_IMG"),
                ("branch_id", &branch),
                ("device_id", app.device(0)),
                ("detection_data[confidence]", "0.91"),
            ],
            Some(("image", "snapshot.jpg", &png)),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        r.body["data"]["branch_id"], branch,
        "form branch_id echoes as a string"
    );
    let done = app
        .wait_completed(r.body["data"]["job_id"].as_str().unwrap())
        .await;
    // The image job then adds the processed JPEG and the thumbnail next to the upload.
    let event = done.body["data"]["result"]["event_log_id"]
        .as_i64()
        .unwrap();
    crate::files::settled_event(&app, event).await;
    let mut stored: Vec<_> = walk(&app.dir.path().join("storage/events"));
    assert_eq!(stored.len(), 3, "{stored:?}");
    stored.retain(|p| {
        !p.to_string_lossy().ends_with("_processed.jpg")
            && !p.to_string_lossy().ends_with("_thumb.jpg")
    });
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        stored[0].extension().unwrap() == "png",
        "extension comes from the content, not the name"
    );
    assert_eq!(std::fs::read(&stored[0]).unwrap(), png);
    let list = app.get("/api/v1/detections?re_id=REID_IMG").await;
    assert_eq!(list.body["data"][0]["detection_data"]["confidence"], "0.91");
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_id_sent_five_times_counts_once() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let body = json!({"re_id": "REID_DUP", "branch_id": app.branch(0), "device_id": app.device(0), "event_id": "evt-0001", "detected_count": 2});
        // The header form of a key: the same body without event_id, another person.
        let mut keyed = body.clone();
        keyed.as_object_mut().unwrap().remove("event_id");
        keyed["re_id"] = json!("REID_KEYED");
        let mut ids = Vec::new();
        let mut keyed_ids = Vec::new();
        for _ in 0..5 {
            let r = app.post_json(&body).await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            ids.push(r.body["data"]["job_id"].as_str().unwrap().to_owned());
            let mut h = app.auth();
            h.push(("content-type", "application/json"));
            h.push(("idempotency-key", "evt-0001"));
            let r = send(
                &app.addr,
                "POST",
                "/api/v1/detection/log",
                &h,
                serde_json::to_vec(&keyed).unwrap(),
            )
            .await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            keyed_ids.push(r.body["data"]["job_id"].as_str().unwrap().to_owned());
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert!(
            keyed_ids.iter().all(|id| *id == keyed_ids[0]),
            "{keyed_ids:?}"
        );
        app.wait_completed(&ids[0]).await;
        app.wait_completed(&keyed_ids[0]).await;
        let person = app.get("/api/v1/person/REID_DUP").await;
        assert_eq!(person.body["data"]["total_actual_count"], 2);
        let person = app.get("/api/v1/person/REID_KEYED").await;
        assert_eq!(person.body["data"]["total_actual_count"], 2);
        assert_eq!(app.detections_total().await, 2);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_detected_at_moves_first_detected_at_back() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        // Yesterday (UTC, the app's timezone here): both times are in the past whatever the hour.
        let day = app.core.today().yesterday().unwrap();
        let at = |h: u32| format!("{day}T{h:02}:00:00Z");
        for hour in [10, 7] {
            let r = app
                .post_json(&json!({"re_id": "REID_LATE", "branch_id": app.branch(0), "device_id": app.device(0), "detected_at": at(hour)}))
                .await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
                .await;
        }
        let p = app
            .get(&format!("/api/v1/person/REID_LATE?date={day}"))
            .await;
        let first: jiff::Timestamp = p.body["data"]["first_detected_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let last: jiff::Timestamp = p.body["data"]["last_detected_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(first, at(7).parse::<jiff::Timestamp>().unwrap());
        assert_eq!(last, at(10).parse::<jiff::Timestamp>().unwrap());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detection_for_an_inactive_person_day_changes_no_counter() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let r = app.post_json(&json!({"re_id": "REID_OFF", "branch_id": app.branch(0), "device_id": app.device(0)})).await;
        app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
        app.core
            .storage()
            .set_person_day_status(
                "REID_OFF",
                app.core.today(),
                cctv_core::estate::RecordStatus::Inactive,
            )
            .await
            .unwrap();
        let r = app.post_json(&json!({"re_id": "REID_OFF", "branch_id": app.branch(1), "device_id": app.device(1), "detected_count": 5})).await;
        let done = app
            .wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
        assert_eq!(done.body["data"]["result"]["outcome"], "tracking_disabled");
        let p = app.get("/api/v1/person/REID_OFF").await;
        assert_eq!(p.body["data"]["total_actual_count"], 1);
        assert_eq!(p.body["data"]["total_detection_branch_count"], 1);
        assert_eq!(p.body["data"]["status"], "inactive");
        assert_eq!(
            app.detections_total().await,
            2,
            "the detection itself is stored"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_detections_of_one_person_across_three_branches_count_exactly() {
    for backend in backends() {
        let app = std::sync::Arc::new(spawn_app(backend).await);
        let mut tasks = Vec::new();
        let mut expected = 0;
        for i in 0..1000usize {
            let count = (i % 3 + 1) as i64;
            expected += count;
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let n = i % 3;
                let r = app
                    .post_json(&json!({"re_id": "REID_CROWD", "branch_id": app.branch(n), "device_id": app.device(n), "detected_count": count}))
                    .await;
                assert_eq!(r.status, 202, "{:?}", r.body);
                r.body["data"]["job_id"].as_str().unwrap().to_owned()
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        for id in ids.iter().rev().take(20) {
            app.wait_completed(id).await;
        }
        let mut total = 0;
        for _ in 0..500 {
            total = app.get("/api/v1/person/REID_CROWD").await.body["data"]["total_actual_count"]
                .as_i64()
                .unwrap_or(0);
            if total == expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(total, expected, "{backend:?}");
        let p = app.get("/api/v1/person/REID_CROWD").await;
        assert_eq!(
            p.body["data"]["total_detection_branch_count"], 3,
            "{backend:?}"
        );
        assert_eq!(app.detections_total().await, 1000);
        std::sync::Arc::try_unwrap(app)
            .ok()
            .expect("tasks finished")
            .stop()
            .await;
    }
}
