//! `POST /api/v1/detection/batch`: per-item answers in input order, idempotency per item,
//! durability of the whole accepted part, and exactly-once processing.

mod limits;

use serde_json::{Value, json};

use crate::helpers::*;

const BATCH: &str = "/api/v1/detection/batch";

/// Posts `body` to the batch endpoint with the given credential.
pub async fn post_batch_as(app: &TestApp, key: &str, secret: &str, body: &Value) -> Resp {
    send(
        &app.addr,
        "POST",
        BATCH,
        &[
            ("x-api-key", key),
            ("x-api-secret", secret),
            ("content-type", "application/json"),
        ],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

pub async fn post_batch(app: &TestApp, items: Vec<Value>) -> Resp {
    post_batch_as(app, &app.key, &app.secret, &json!({ "detections": items })).await
}

/// Polls the status endpoint with the credential that submitted the job.
async fn wait_completed_as(app: &TestApp, key: &str, secret: &str, job: &str) -> Resp {
    let path = format!("/api/v1/detection/status/{job}");
    for _ in 0..500 {
        let r = send(
            &app.addr,
            "GET",
            &path,
            &[("x-api-key", key), ("x-api-secret", secret)],
            vec![],
        )
        .await;
        if r.body["data"]["status"] == "completed" || r.body["data"]["status"] == "failed" {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {job} did not complete");
}

fn results(r: &Resp) -> &Vec<Value> {
    r.body["data"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {:?}", r.body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_answers_every_item_in_order_and_stores_only_the_accepted_ones_once() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let (b0, b1, d0, d1) = (app.branch(0), app.branch(1), app.device(0), app.device(1));
        // A key of branch 0 only, which already sent one detection with event_id pre-1.
        let (key, secret, _) = app.credential(1_000_000, Some(b0), None).await;
        let stored =
            json!({"re_id": "EARLIER", "branch_id": b0, "device_id": d0, "event_id": "pre-1"});
        let pre = app.post_json_as(&key, &secret, &stored).await;
        assert_eq!(pre.status, 202, "{:?}", pre.body);
        let pre_job = pre.body["data"]["job_id"].clone();
        let mut conflicting = stored.clone();
        conflicting["re_id"] = json!("SOMEONE_ELSE");
        let new =
            json!({"re_id": "BATCH_P", "branch_id": b0, "device_id": d0, "event_id": "new-1"});
        let items = vec![
            new.clone(),
            json!({"branch_id": b0, "device_id": d0}),
            stored,
            conflicting,
            json!({"re_id": "BATCH_P", "branch_id": b1, "device_id": d1}),
            json!({"re_id": "BATCH_P", "branch_id": 999_999, "device_id": d0}),
            json!({"re_id": "BATCH_P", "branch_id": b0, "device_id": d0, "detected_count": 3}),
            json!(["not", "a", "detection"]),
            new,
        ];
        let r = post_batch_as(&app, &key, &secret, &json!({ "detections": items })).await;
        assert_eq!(r.status, 202, "{backend:?}: {:?}", r.body);
        assert_eq!(r.body["success"], true);
        let res = results(&r);
        let statuses: Vec<&str> = res.iter().map(|i| i["status"].as_str().unwrap()).collect();
        assert_eq!(
            statuses,
            [
                "accepted",
                "rejected",
                "duplicate",
                "rejected",
                "rejected",
                "rejected",
                "accepted",
                "rejected",
                "duplicate"
            ],
            "{backend:?}: {:?}",
            r.body
        );
        for (i, item) in res.iter().enumerate() {
            assert_eq!(item["index"], i);
            let rejected = item["status"] == "rejected";
            assert_eq!(item["job_id"].is_null(), rejected, "{item}");
            assert_eq!(item["error"].is_null(), !rejected, "{item}");
        }
        let error = |i: usize| {
            (
                res[i]["error"]["code"].as_str(),
                res[i]["error"]["field"].as_str(),
            )
        };
        assert_eq!(error(1), (Some("VALIDATION_ERROR"), Some("re_id")));
        assert_eq!(error(3), (Some("IDEMPOTENCY_CONFLICT"), Some("event_id")));
        assert_eq!(
            res[3]["error"]["job_id"], pre_job,
            "the conflict names the stored job"
        );
        assert_eq!(
            res[2]["job_id"], pre_job,
            "a retried item answers with the original job"
        );
        assert_eq!(error(4), (Some("FORBIDDEN"), Some("branch_id")));
        assert_eq!(
            error(5),
            (Some("FORBIDDEN"), Some("branch_id")),
            "scope before estate: the key learns nothing about branch 999999"
        );
        assert_eq!(error(7), (Some("VALIDATION_ERROR"), Some("body")));
        assert_eq!(
            res[8]["job_id"], res[0]["job_id"],
            "a copy within the batch"
        );
        assert_eq!(
            (
                r.body["data"]["accepted"].as_u64(),
                r.body["data"]["duplicates"].as_u64(),
                r.body["data"]["rejected"].as_u64()
            ),
            (Some(2), Some(2), Some(5))
        );
        assert_eq!(
            r.headers["x-ratelimit-remaining"],
            (1_000_000 - 1 - 9).to_string(),
            "each item counts once"
        );

        for i in [0, 6] {
            let job = res[i]["job_id"].as_str().unwrap();
            let done = wait_completed_as(&app, &key, &secret, job).await;
            assert_eq!(
                done.body["data"]["result"]["outcome"], "counted",
                "{backend:?}"
            );
        }
        let person = app.get("/api/v1/person/BATCH_P").await;
        assert_eq!(person.body["data"]["total_actual_count"], 4, "{backend:?}");
        assert_eq!(person.body["data"]["total_detection_branch_count"], 1);
        assert_eq!(
            app.detections_total().await,
            3,
            "{backend:?}: the earlier one and two new"
        );
        assert_eq!(app.get("/api/v1/person/SOMEONE_ELSE").await.status, 404);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_durable_when_answered_and_a_retry_stores_nothing_new() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let items: Vec<Value> = (0..1000)
            .map(|i| {
                let n = i % 3;
                json!({"re_id": format!("BULK_{}", i % 50), "branch_id": app.branch(n),
                       "device_id": app.device(n), "event_id": format!("bulk-{i}")})
            })
            .collect();
        let first = post_batch(&app, items.clone()).await;
        assert_eq!(first.status, 202, "{backend:?}: {:?}", first.body);
        assert_eq!(first.body["data"]["accepted"], 1000);
        let jobs: Vec<String> = results(&first)
            .iter()
            .map(|i| i["job_id"].as_str().unwrap().to_owned())
            .collect();
        // Durable before the answer: the status endpoint knows every job at once.
        for job in &jobs {
            let s = app.get(&format!("/api/v1/detection/status/{job}")).await;
            assert_eq!(s.status, 200, "{backend:?}: {job}: {:?}", s.body);
        }

        let retry = post_batch(&app, items).await;
        assert_eq!(retry.status, 202);
        assert_eq!(retry.body["data"]["duplicates"], 1000, "{backend:?}");
        let again: Vec<&str> = results(&retry)
            .iter()
            .map(|i| i["job_id"].as_str().unwrap())
            .collect();
        assert_eq!(again, jobs, "the original jobs, in the same order");

        for job in jobs.iter().rev().take(10) {
            app.wait_completed(job).await;
        }
        let mut total = 0;
        for _ in 0..500 {
            total = app.detections_total().await;
            if total == 1000 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            total, 1000,
            "{backend:?}: every accepted item once, nothing from the retry"
        );
        let person = app.get("/api/v1/person/BULK_7").await;
        assert_eq!(person.body["data"]["total_actual_count"], 20, "{backend:?}");
        assert_eq!(person.body["data"]["total_detection_branch_count"], 3);
        app.stop().await;
    }
}
