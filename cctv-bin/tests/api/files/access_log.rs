//! The `/api` access log: no secret ever reaches it, and the daily summary equals the
//! counts taken from its raw lines.

use std::collections::BTreeMap;
use std::time::Duration;

use cctv_admin::api_log::{AccessLogLine, aggregate_day};
use cctv_admin::files::tables::API_USAGE_SUMMARY;
use serde_json::json;

use super::*;
use crate::helpers::*;
use crate::manage::{call, people};

/// Waits until the line of the request `request_id` is written, and returns all lines.
async fn lines_through(app: &TestApp, request_id: &str) -> (String, Vec<AccessLogLine>) {
    let dir = app.dir.path().join("logs/api_requests");
    for _ in 0..500 {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries {
                text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
            }
        }
        if text.contains(request_id) {
            let lines = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            return (text, lines);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("request {request_id} was never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_holds_no_secret_and_its_summary_matches_the_raw_lines() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let who = people(&app).await; // logins with passwords, user creation with tokens
        let detection = app.post_json(&json!({"re_id": "LOG_PERSON_1", "branch_id": app.branch(0), "device_id": app.device(0)})).await;
        assert_eq!(detection.status, 202);
        app.wait_completed(detection.body["data"]["job_id"].as_str().unwrap())
            .await;
        assert_eq!(app.get("/api/v1/person/LOG_PERSON_1").await.status, 200);
        let wrong = "wrong-secret-value-that-must-not-be-logged-123456";
        let refused = send(
            &app.addr,
            "GET",
            "/api/v1/detections",
            &[("x-api-key", &app.key), ("x-api-secret", wrong)],
            vec![],
        )
        .await;
        assert_eq!(refused.status, 401);
        let bad_login = call(
            &app,
            "POST",
            "/api/login",
            None,
            Some(json!({"email": "admin@cctv.test", "password": "guessed-password-9"})),
        )
        .await;
        assert_eq!(bad_login.status, 401);
        assert_eq!(
            call(&app, "GET", "/api/v1/users", Some(&who.admin), None)
                .await
                .status,
            200
        );
        assert_eq!(
            call(&app, "GET", "/api/nothing/here", None, None)
                .await
                .status,
            404
        );
        assert_eq!(app.get("/health").await.status, 200);
        let last = call(&app, "GET", "/api/me", Some(&who.viewer), None).await;
        let last_id = last.headers["x-request-id"].clone();

        let (text, lines) = lines_through(&app, &last_id).await;
        for secret in [
            app.secret.as_str(),
            wrong,
            "admin-password-1",
            "secret-pass-1",
            "guessed-password-9",
            &who.admin,
            &who.operator,
            &who.viewer,
        ] {
            assert!(
                !text.contains(secret),
                "the log contains a secret: {secret}"
            );
        }
        assert!(
            !text.contains("LOG_PERSON_1"),
            "route templates, not raw paths"
        );
        assert!(
            lines
                .iter()
                .all(|l| l.endpoint.starts_with("api") || l.endpoint == "(unmatched)")
        );
        let person = lines
            .iter()
            .find(|l| l.endpoint == "api/v1/person/{re_id}")
            .unwrap();
        assert_eq!(
            person.credential_id,
            Some(
                app.core
                    .find_credential(&app.key)
                    .await
                    .unwrap()
                    .credential
                    .id
            )
        );
        assert_eq!((person.method.as_str(), person.status), ("GET", 200));
        assert!(person.response_bytes > 0);
        let ingest = lines
            .iter()
            .find(|l| l.endpoint == "api/v1/detection/log")
            .unwrap();
        assert_eq!(ingest.status, 202);
        assert!(ingest.request_bytes > 0);
        let users = lines
            .iter()
            .find(|l| l.endpoint == "api/v1/users" && l.method == "GET")
            .unwrap();
        assert_eq!(users.user_id, Some(who.admin_id));
        assert!(
            lines
                .iter()
                .any(|l| l.endpoint == "(unmatched)" && l.status == 404)
        );
        assert!(
            lines
                .iter()
                .any(|l| l.endpoint == "api/login" && l.status == 401)
        );

        // The summary of each day equals the counts computed here from the raw lines.
        let mut expected: BTreeMap<(i64, String, String), (u64, u64)> = BTreeMap::new();
        for l in &lines {
            let e = expected
                .entry((
                    l.credential_id.unwrap_or(0),
                    l.endpoint.clone(),
                    l.method.clone(),
                ))
                .or_default();
            e.0 += 1;
            e.1 += u64::from(l.status >= 400);
        }
        let logs = app.dir.path().join("logs");
        let days: std::collections::BTreeSet<&str> =
            lines.iter().map(|l| &l.timestamp[..10]).collect();
        for _ in 0..2 {
            for day in &days {
                aggregate_day(app.core.storage().as_ref(), &logs, day.parse().unwrap())
                    .await
                    .unwrap();
            }
            let query = ListQuery {
                filters: vec![],
                order: Order::asc("id"),
                page: 1,
                per_page: 1000,
            };
            let (rows, _) = app
                .core
                .storage()
                .list_records(&API_USAGE_SUMMARY, &query)
                .await
                .unwrap();
            let mut actual: BTreeMap<(i64, String, String), (u64, u64)> = BTreeMap::new();
            for r in &rows {
                let key = (
                    r["api_credential_id"].as_i64().unwrap(),
                    r["endpoint"].as_str().unwrap().to_owned(),
                    r["method"].as_str().unwrap().to_owned(),
                );
                let e = actual.entry(key).or_default();
                e.0 += r["total_requests"].as_u64().unwrap();
                e.1 += r["error_requests"].as_u64().unwrap();
                assert_eq!(
                    r["total_requests"].as_u64().unwrap(),
                    r["success_requests"].as_u64().unwrap() + r["error_requests"].as_u64().unwrap()
                );
            }
            assert_eq!(
                actual, expected,
                "running the aggregation again changes nothing"
            );
        }
        app.stop().await;
    }
}
