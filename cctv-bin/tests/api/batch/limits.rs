//! Batches refused whole: empty (422), too many items (413), not a batch (422, 415), too
//! deep or too large a body, and more items than the hour has left (429). None stores
//! anything.

use serde_json::{Value, json};

use super::{BATCH, post_batch, post_batch_as};
use crate::helpers::*;

fn item(app: &TestApp, re_id: &str) -> Value {
    json!({"re_id": re_id, "branch_id": app.branch(0), "device_id": app.device(0)})
}

fn assert_refused(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{:?}", r.body);
    assert_eq!(r.body["success"], false);
    assert!(r.body["meta"]["request_id"].is_string());
}

async fn post_raw(
    app: &TestApp,
    content_type: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Resp {
    let mut h = app.auth();
    h.push(("content-type", content_type));
    h.extend_from_slice(extra);
    send(&app.addr, "POST", BATCH, &h, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_oversized_and_malformed_batches_are_refused_naming_the_limit() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let empty = post_batch(&app, vec![]).await;
        assert_refused(&empty, 422, "VALIDATION_ERROR");
        let message = empty.body["error"]["details"]["detections"][0]
            .as_str()
            .unwrap();
        assert!(message.contains("1000"), "{message}");

        let over = post_batch(&app, vec![item(&app, "R"); 1001]).await;
        assert_refused(&over, 413, "PAYLOAD_TOO_LARGE");
        assert_eq!(over.body["error"]["details"]["limit"], 1000, "{backend:?}");
        assert_eq!(over.body["error"]["details"]["items"], 1001);
        assert!(over.body["message"].as_str().unwrap().contains("1000"));

        let deep = (0..40).fold(json!(1), |v, _| json!({ "k": v }));
        let mut too_deep = item(&app, "DEEP");
        too_deep["detection_data"] = deep;
        // Deeper than serde_json parses (128 levels), in an array item's element.
        let deepest = (0..200).fold(json!(1), |v, _| json!([v]));
        let past_the_parser =
            json!({"detections": [item(&app, "OK"), item(&app, "OK2"), ["x", deepest]]});
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("an array body", b"[]".to_vec(), "body"),
            (
                "another member",
                br#"{"detections": [], "node": 1}"#.to_vec(),
                "node",
            ),
            ("no detections", b"{}".to_vec(), "detections"),
            (
                "detections not an array",
                br#"{"detections": {}}"#.to_vec(),
                "detections",
            ),
            ("malformed JSON", br#"{"detections": ["#.to_vec(), "body"),
            (
                "an item's field nested too deep",
                serde_json::to_vec(&json!({"detections": [item(&app, "OK"), too_deep]})).unwrap(),
                "detections.1.detection_data",
            ),
            (
                "an item nested past the parser's limit",
                serde_json::to_vec(&past_the_parser).unwrap(),
                "detections.2.1",
            ),
        ];
        for (what, body, field) in cases {
            let r = post_raw(&app, "application/json", body, &[]).await;
            assert_refused(&r, 422, "VALIDATION_ERROR");
            assert!(
                r.body["error"]["details"][field].is_array(),
                "{what}: {:?}",
                r.body
            );
        }
        let keyed = serde_json::to_vec(&json!({"detections": [item(&app, "K")]})).unwrap();
        let r = post_raw(
            &app,
            "application/json",
            keyed.clone(),
            &[("idempotency-key", "k1")],
        )
        .await;
        assert_refused(&r, 422, "VALIDATION_ERROR");
        assert_refused(
            &post_raw(&app, "text/plain", keyed, &[]).await,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        );

        // Past http.max_json_bytes (1 MiB here): 413 naming the byte limit.
        let padding = "x".repeat(90);
        let big: Vec<Value> = (0..900)
            .map(|_| {
                json!({"re_id": "R", "branch_id": 1, "device_id": "D",
                            "detection_data": {"note": padding.repeat(15)}})
            })
            .collect();
        let r = post_batch(&app, big).await;
        assert_refused(&r, 413, "PAYLOAD_TOO_LARGE");
        assert!(
            r.body["message"].as_str().unwrap().contains("1048576"),
            "{:?}",
            r.body
        );

        // One good batch after them: once it is processed, it is all there is.
        let good = post_batch(&app, vec![item(&app, "GOOD")]).await;
        assert_eq!(good.status, 202, "{:?}", good.body);
        app.wait_completed(&results_last_job(&good)).await;
        assert_eq!(app.detections_total().await, 1, "{backend:?}");
        assert_eq!(app.get("/api/v1/person/R").await.status, 404);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_beyond_what_is_left_of_the_hour_is_refused_whole() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let (key, secret, _) = app.credential(10, None, None).await;
        let batch = |n: usize, tag: &str| {
            let items: Vec<Value> = (0..n).map(|i| item(&app, &format!("{tag}{i}"))).collect();
            json!({ "detections": items })
        };
        let first = post_batch_as(&app, &key, &secret, &batch(3, "A")).await;
        assert_eq!(first.status, 202, "{:?}", first.body);
        assert_eq!(first.headers["x-ratelimit-remaining"], "7");
        // A request refused before its items are counted costs one, like any request.
        let empty = post_batch_as(&app, &key, &secret, &json!({"detections": []})).await;
        assert_eq!(empty.status, 422);
        assert_eq!(empty.headers["x-ratelimit-remaining"], "6");

        let refused = post_batch_as(&app, &key, &secret, &batch(7, "B")).await;
        assert_refused(&refused, 429, "RATE_LIMIT_EXCEEDED");
        assert!(refused.headers.contains_key("retry-after"));
        assert_eq!(
            refused.headers["x-ratelimit-remaining"], "6",
            "nothing was taken"
        );
        assert_eq!(refused.body["error"]["details"]["remaining"], 6);

        let fits = post_batch_as(&app, &key, &secret, &batch(6, "C")).await;
        assert_eq!(fits.status, 202, "{backend:?}: {:?}", fits.body);
        assert_eq!(fits.headers["x-ratelimit-remaining"], "0");
        let single = app.post_json_as(&key, &secret, &item(&app, "D")).await;
        assert_refused(&single, 429, "RATE_LIMIT_EXCEEDED");

        // The key has no allowance left to poll its jobs: wait for the detections instead.
        let mut total = 0;
        for _ in 0..500 {
            total = app.detections_total().await;
            if total == 9 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            total, 9,
            "{backend:?}: nothing of the refused batch is stored"
        );
        assert_eq!(app.get("/api/v1/person/B0").await.status, 404);
        app.stop().await;
    }
}

fn results_last_job(r: &Resp) -> String {
    r.body["data"]["results"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|i| i["job_id"].as_str())
        .unwrap()
        .to_owned()
}
