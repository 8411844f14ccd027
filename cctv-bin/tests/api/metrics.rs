//! `GET /metrics` read by a Prometheus text parser after real traffic: each accepted
//! detection counted once (a retried request is not), processed ones counted, refusals by
//! reason, requests by route template (never a raw path), queue depths, the commit batch
//! histogram and the version.

use std::collections::HashMap;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value as Sampled};
use serde_json::json;

use crate::helpers::*;

async fn scrape(app: &TestApp) -> Scrape {
    let r = send_raw(&app.addr, "GET", "/metrics", &[], vec![]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    Scrape::parse(r.body.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The value of the sample of `metric` whose labels include `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s: &Sample| match &s.value {
            Sampled::Counter(v) | Sampled::Gauge(v) | Sampled::Untyped(v) => *v,
            Sampled::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Sampled::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_server_did_once_each() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let backend_name = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let detection = |re_id: &str, event: &str| json!({"re_id": re_id, "branch_id": app.branch(0), "device_id": app.device(0), "event_id": event});
        let mut jobs = Vec::new();
        for i in 0..3 {
            let r = app
                .post_json(&detection(&format!("M{i}"), &format!("ev-{i}")))
                .await;
            assert_eq!(r.status, 202, "{:?}", r.body);
            jobs.push(r.body["data"]["job_id"].as_str().unwrap().to_owned());
        }
        // A device retrying the first request: answered, not counted again.
        let again = app.post_json(&detection("M0", "ev-0")).await;
        assert_eq!(again.status, 202);
        assert_eq!(again.body["data"]["duplicate"], true);
        // A batch: two accepted items and one refused item.
        let mut headers = app.auth();
        headers.push(("content-type", "application/json"));
        let batch = json!({"detections": [
            detection("B1", "ev-b1"), detection("B2", "ev-b2"), {"re_id": "", "branch_id": app.branch(0)},
        ]});
        let r = send(
            &app.addr,
            "POST",
            "/api/v1/detection/batch",
            &headers,
            batch.to_string().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        // Refused as a whole: invalid fields, and a wrong secret.
        let bad = app
            .post_json(&json!({"re_id": "X", "branch_id": "nope"}))
            .await;
        assert_eq!(bad.status, 422);
        let wrong = app
            .post_json_as(&app.key, "not-the-secret", &detection("W", "ev-w"))
            .await;
        assert_eq!(wrong.status, 401);
        for job in &jobs {
            app.wait_completed(job).await;
        }
        let unknown = send_raw(&app.addr, "GET", "/no/such/page/12345", &[], vec![]).await;
        assert_eq!(unknown.status, 404);

        // Processing of the batch items may still run: wait for the counter.
        let mut scraped = scrape(&app).await;
        for _ in 0..250 {
            if value(&scraped, "cctv_detections_processed_total", &[]) == Some(5.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            scraped = scrape(&app).await;
        }
        let s = &scraped;
        let b = [("backend", backend_name)];
        assert_eq!(
            value(s, "cctv_detections_accepted_total", &b),
            Some(5.0),
            "{backend:?}"
        );
        assert_eq!(
            value(s, "cctv_detections_processed_total", &b),
            Some(5.0),
            "{backend:?}"
        );
        assert_eq!(
            value(
                s,
                "cctv_detections_rejected_total",
                &[("reason", "validation_error")]
            ),
            Some(2.0),
            "one refused request and one refused batch item"
        );
        let unauthorized: f64 = s
            .samples
            .iter()
            .filter(|x| x.metric == "cctv_detections_rejected_total")
            .filter(|x| {
                x.labels
                    .get("reason")
                    .is_some_and(|r| r.contains("credentials") || r == "unauthorized")
            })
            .map(|x| match x.value {
                Sampled::Counter(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(unauthorized, 1.0);

        // Routes are templates: the status route once per poll, never with a job id in it.
        let routes: HashMap<String, f64> = s
            .samples
            .iter()
            .filter(|x| x.metric == "cctv_http_requests_total")
            .map(|x| {
                let v = match x.value {
                    Sampled::Counter(v) => v,
                    _ => 0.0,
                };
                (
                    format!(
                        "{} {} {}",
                        x.labels.get("method").unwrap_or(""),
                        x.labels.get("route").unwrap_or(""),
                        x.labels.get("status").unwrap_or("")
                    ),
                    v,
                )
            })
            .fold(HashMap::new(), |mut m, (k, v)| {
                *m.entry(k).or_default() += v;
                m
            });
        assert_eq!(
            routes.get("POST /api/v1/detection/log 202"),
            Some(&4.0),
            "{routes:?}"
        );
        assert!(
            routes.contains_key("GET /api/v1/detection/status/:job_id 200"),
            "{routes:?}"
        );
        assert_eq!(routes.get("GET unmatched 404"), Some(&1.0), "{routes:?}");
        assert!(
            routes
                .keys()
                .all(|k| !jobs.iter().any(|j| k.contains(j.as_str())) && !k.contains("12345")),
            "raw paths in labels: {routes:?}"
        );
        assert!(
            value(
                s,
                "cctv_http_request_duration_seconds_count",
                &[("route", "/api/v1/detection/log"), ("method", "POST")]
            )
            .is_some_and(|n| n >= 5.0),
        );
        assert!(value(s, "cctv_queue_depth", &[("queue", "detections")]).is_some());
        assert!(value(s, "cctv_ingest_commit_batch_size_count", &[]).is_some_and(|n| n >= 1.0));
        assert_eq!(
            value(
                s,
                "cctv_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
        app.stop().await;
    }
}
