//! Idempotency is scoped so that no detection is dropped as a false duplicate, a reused key
//! is a conflict rather than a silent drop, and a scoped credential learns nothing about
//! the estate outside its scope.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_sharing_one_key_may_reuse_event_ids_and_a_reused_key_is_a_conflict() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let (b0, b1) = (app.branch(0), app.branch(1));
        let a = json!({"re_id": "PA", "branch_id": b0, "device_id": app.device(0), "event_id": "evt-1"});
        let b = json!({"re_id": "PB", "branch_id": b1, "device_id": app.device(1), "event_id": "evt-1"});
        let first = app.post_json(&a).await;
        let second = app.post_json(&b).await;
        assert_eq!((first.status, second.status), (202, 202), "{backend:?}");
        assert_eq!(second.body["data"]["duplicate"], false, "{:?}", second.body);
        assert_ne!(first.body["data"]["job_id"], second.body["data"]["job_id"]);
        for r in [&first, &second] {
            app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
                .await;
        }
        assert_eq!(app.detections_total().await, 2, "{backend:?}: both counted");

        // The same request again: the original job, nothing new stored.
        let retry = app.post_json(&a).await;
        assert_eq!(retry.status, 202);
        assert_eq!(retry.body["data"]["duplicate"], true);
        assert_eq!(retry.body["data"]["job_id"], first.body["data"]["job_id"]);
        assert_eq!(retry.body["data"]["re_id"], "PA");
        assert_eq!(retry.body["data"]["status"], "completed");

        // The same key with another body: 409 naming the stored job.
        let mut changed = a.clone();
        changed["re_id"] = json!("SOMEONE_ELSE");
        let conflict = app.post_json(&changed).await;
        assert_eq!(
            (conflict.status, conflict.code()),
            (409, "IDEMPOTENCY_CONFLICT"),
            "{backend:?}: {:?}",
            conflict.body
        );
        assert_eq!(
            conflict.body["error"]["details"]["job_id"],
            first.body["data"]["job_id"]
        );
        assert_eq!(
            app.detections_total().await,
            2,
            "{backend:?}: nothing more stored"
        );

        // An Idempotency-Key header is unique per credential, whatever the device.
        let mut h = app.auth();
        h.push(("content-type", "application/json"));
        h.push(("idempotency-key", "batch-7"));
        let post = |body: serde_json::Value| {
            let h = h.clone();
            let addr = app.addr.clone();
            async move {
                send(
                    &addr,
                    "POST",
                    "/api/v1/detection/log",
                    &h,
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            }
        };
        let keyed = post(json!({"re_id": "PK", "branch_id": b0, "device_id": app.device(0)})).await;
        assert_eq!(keyed.status, 202);
        let again = post(json!({"re_id": "PK", "branch_id": b0, "device_id": app.device(0)})).await;
        assert_eq!(again.body["data"]["duplicate"], true);
        assert_eq!(again.body["data"]["job_id"], keyed.body["data"]["job_id"]);
        let elsewhere =
            post(json!({"re_id": "PK", "branch_id": b1, "device_id": app.device(1)})).await;
        assert_eq!(elsewhere.status, 409, "{backend:?}: {:?}", elsewhere.body);
        assert_eq!(
            elsewhere.body["error"]["details"]["job_id"],
            keyed.body["data"]["job_id"]
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_one_event_id_store_one_job_and_conflicts_store_none() {
    let app = spawn_app(Backend::Sqlite).await;
    let body = json!({"re_id": "P", "branch_id": app.branch(0), "device_id": app.device(0), "event_id": "e-9"});
    let mut other = body.clone();
    other["detected_count"] = json!(5);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let b = if i % 2 == 0 {
            body.clone()
        } else {
            other.clone()
        };
        let addr = app.addr.clone();
        let mut h: Vec<(String, String)> = app
            .auth()
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        h.push(("content-type".into(), "application/json".into()));
        tasks.push(tokio::spawn(async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            send(
                &addr,
                "POST",
                "/api/v1/detection/log",
                &h,
                serde_json::to_vec(&b).unwrap(),
            )
            .await
        }));
    }
    let mut accepted = std::collections::BTreeSet::new();
    let mut conflicts = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            202 => {
                accepted.insert(r.body["data"]["job_id"].as_str().unwrap().to_owned());
            }
            409 => conflicts += 1,
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(accepted.len(), 1, "every 202 names the one stored job");
    assert_eq!(conflicts, 10, "the ten other bodies are conflicts");
    app.wait_completed(accepted.first().unwrap()).await;
    assert_eq!(app.detections_total().await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_scoped_credential_gets_403_before_any_estate_check() {
    let app = spawn_app(Backend::Sqlite).await;
    let (key, secret, _) = app.credential(100, Some(app.branch(0)), None).await;
    for body in [
        json!({"re_id": "R", "branch_id": 999_999, "device_id": "NO_SUCH_DEVICE"}),
        json!({"re_id": "R", "branch_id": app.branch(1), "device_id": "NO_SUCH_DEVICE"}),
        json!({"re_id": "R", "branch_id": app.branch(1), "device_id": app.device(1)}),
    ] {
        let r = app.post_json_as(&key, &secret, &body).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "FORBIDDEN"),
            "{body}: {:?}",
            r.body
        );
        let text = r.body.to_string();
        assert!(
            !text.contains("does not exist") && !text.contains("not active"),
            "nothing about other branches: {text}"
        );
    }
    // Inside its own branch the estate is checked as before.
    let own = app
        .post_json_as(
            &key,
            &secret,
            &json!({"re_id": "R", "branch_id": app.branch(0), "device_id": "NO_SUCH_DEVICE"}),
        )
        .await;
    assert_eq!(own.status, 422, "{:?}", own.body);
    assert!(own.body["error"]["details"]["device_id"].is_array());
    app.stop().await;
}

/// A keyed upload's fingerprint covers its image: the same image again is a retry of the
/// stored job, while another image, or none, under the same key is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_upload_retried_with_another_image_is_a_conflict() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let branch = app.branch(0).to_string();
        let fields = [
            ("re_id", "REID_KEYED_IMG"),
            ("branch_id", branch.as_str()),
            ("device_id", app.device(0)),
            ("event_id", "evt-img-1"),
        ];
        let png = png_2x1();
        let first = app
            .post_multipart(&fields, Some(("image", "a.png", &png)))
            .await;
        assert_eq!(first.status, 202, "{backend:?}: {:?}", first.body);
        assert_eq!(first.body["data"]["duplicate"], false);
        let again = app
            .post_multipart(&fields, Some(("image", "renamed.png", &png)))
            .await;
        assert_eq!(again.status, 202, "{backend:?}: {:?}", again.body);
        assert_eq!(again.body["data"]["duplicate"], true);
        assert_eq!(again.body["data"]["job_id"], first.body["data"]["job_id"]);
        let other_image = crate::files::jpeg(4, 4);
        for file in [Some(("image", "b.jpg", other_image.as_slice())), None] {
            let conflict = app.post_multipart(&fields, file).await;
            assert_eq!(conflict.status, 409, "{backend:?}: {:?}", conflict.body);
            assert_eq!(
                conflict.body["error"]["details"]["job_id"],
                first.body["data"]["job_id"]
            );
        }
        app.stop().await;
    }
}
