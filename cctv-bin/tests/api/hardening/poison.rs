//! Rows and jobs that cannot be decoded (written before input was bounded) never fail a
//! whole page, never panic a reader, and never leave a queue stuck.

use cctv_core::detection::DetectionJob;
use cctv_core::jobs::{JobId, NewJob, Queue};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::manage::{call, people};

/// Deeper than serde_json reads back (128 levels).
fn too_deep_to_read() -> Value {
    (0..200).fold(json!(1), |v, _| json!({ "a": v }))
}

/// Waits until the job is completed or failed (read from storage: these jobs were not
/// submitted with the test's credential, so its status endpoint does not show them).
async fn settled(app: &TestApp, id: JobId) -> cctv_core::jobs::JobRecord {
    for _ in 0..500 {
        if let Some(job) = app.core.storage().job(id).await.unwrap()
            && matches!(
                job.state,
                cctv_core::jobs::JobState::Completed | cctv_core::jobs::JobState::Failed
            )
        {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} did not settle");
}

fn job(app: &TestApp, re_id: &str, data: Option<Value>) -> DetectionJob {
    let now = Timestamp::now();
    DetectionJob {
        job_id: JobId::new(),
        credential_id: None,
        event_id: None,
        idempotency_key: None,
        request_hash: None,
        re_id: re_id.into(),
        branch_id: app.branch(0),
        device_id: app.device(0).into(),
        detected_count: 1,
        detected_at: now,
        received_at: now,
        detection_data: data.map(Into::into),
        person_features: None,
        image: None,
        imported: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_cannot_be_decoded_is_served_as_null_and_the_rest_of_the_page_is_served() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let sink = app.ingest();
        let poisoned = job(&app, "POISON", Some(json!({ "deep": too_deep_to_read() })));
        let healthy = job(&app, "POISON", Some(json!({ "confidence": 0.5 })));
        for j in [poisoned.clone(), healthy.clone()] {
            let submitted = sink.submit(j).await.unwrap();
            let done = settled(&app, submitted.job_id).await;
            assert_eq!(
                done.state,
                cctv_core::jobs::JobState::Completed,
                "{backend:?}"
            );
        }
        for path in [
            "/api/v1/detections".to_owned(),
            format!("/api/v1/branch/{}/detections", app.branch(0)),
            "/api/v1/person/POISON/detections".to_owned(),
            "/api/v1/person/POISON".to_owned(),
        ] {
            let r = app.get(&path).await;
            assert_eq!(r.status, 200, "{backend:?} {path}: {:?}", r.body);
            if path.ends_with("detections") {
                let items = r.body["data"].as_array().unwrap();
                assert_eq!(items.len(), 2, "{backend:?} {path}: both rows served");
                let datas: Vec<&Value> = items.iter().map(|i| &i["detection_data"]).collect();
                assert!(
                    datas.contains(&&Value::Null),
                    "{backend:?} {path}: {datas:?}"
                );
                assert!(
                    datas.contains(&&json!({"confidence": 0.5})),
                    "{backend:?}: {datas:?}"
                );
            }
        }
        // Later reads keep working.
        assert_eq!(app.get("/api/v1/detections").await.status, 200);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_be_decoded_goes_to_failed_jobs_and_the_others_are_processed() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let who = people(&app).await;
        let now = Timestamp::now();
        let bad = NewJob::new(
            Queue::Detections,
            "detection",
            json!({ "deep": too_deep_to_read() }),
            now,
        );
        let healthy: Vec<DetectionJob> = (0..5)
            .map(|i| job(&app, &format!("HEALTHY_{i}"), None))
            .collect();
        let mut jobs = vec![bad.clone()];
        for h in &healthy {
            let mut j = NewJob::new(
                Queue::Detections,
                "detection",
                serde_json::to_value(h).unwrap(),
                now,
            );
            j.id = h.job_id;
            jobs.push(j);
        }
        app.core.storage().enqueue(&jobs).await.unwrap();
        for h in &healthy {
            let done = settled(&app, h.job_id).await;
            assert_eq!(
                done.state,
                cctv_core::jobs::JobState::Completed,
                "{backend:?}"
            );
        }
        let failed = settled(&app, bad.id).await;
        assert_eq!(
            failed.state,
            cctv_core::jobs::JobState::Failed,
            "{backend:?}"
        );
        assert!(
            failed
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("payload"),
            "{backend:?}: {failed:?}"
        );
        let list = call(
            &app,
            "GET",
            "/api/v1/admin/failed-jobs",
            Some(&who.admin),
            None,
        )
        .await;
        assert_eq!(list.status, 200, "{backend:?}: {:?}", list.body);
        assert!(list.body.to_string().contains(&bad.id.to_string()));
        assert_eq!(app.detections_total().await, 5, "{backend:?}");
        app.stop().await;
    }
}
