//! Event webhook endpoints through the management API and the running pipeline: only
//! admins point the server at a URL; admins see URL and secret, others a label; secrets
//! survive edits and rotate on request; nothing readable is stored; a posted detection
//! reaches every endpoint once, signed.

use std::time::{Duration, Instant};

use cctv_admin::manage::tables::EVENT_SETTINGS;
use cctv_core::records::Filter;
use cctv_notify_http::testing::{FakeProvider, Reply};
use serde_json::{Value, json};

use super::{call, people};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_set_signed_event_webhooks_that_every_detection_reaches_once() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let receiver = FakeProvider::start(vec![Reply::new(200, "{}")]).await;
        let (token_url, plain_url) = (
            format!("{}/hooks/T0K3N?src=cctv", receiver.url),
            format!("{}/plain", receiver.url),
        );
        let settings = json!({
            "branch_id": app.branch(0), "device_id": app.device(0), "is_active": true,
            "webhook_enabled": true, "webhook_urls": [token_url, plain_url],
        });

        let refused = call(
            &app,
            "POST",
            "/api/v1/branch-event-settings",
            Some(&p.operator),
            Some(settings.clone()),
        )
        .await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        assert!(
            refused.body["error"]["details"]["webhook_urls"].is_array(),
            "{:?}",
            refused.body
        );
        for bad in [
            json!(["ftp://x/y"]),
            json!(["https://"]),
            json!("https://a b"),
        ] {
            let mut body = settings.clone();
            body["webhook_urls"] = bad;
            let r = call(
                &app,
                "POST",
                "/api/v1/branch-event-settings",
                Some(&p.admin),
                Some(body),
            )
            .await;
            assert_eq!(r.status, 422, "{:?}", r.body);
        }

        let created = call(
            &app,
            "POST",
            "/api/v1/branch-event-settings",
            Some(&p.admin),
            Some(settings),
        )
        .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let data = &created.body["data"];
        let id = data["id"].as_i64().unwrap();
        assert_eq!(data["webhook_urls"], json!([token_url, plain_url]));
        assert!(
            data.get("webhooks").is_none(),
            "the sealed column is never shown"
        );
        let secrets = data["webhook_secrets"].clone();
        let secret_of = |url: &str| secrets[url].as_str().unwrap().to_owned();
        assert!(secret_of(&token_url).starts_with("whsec_"));
        assert_ne!(
            secret_of(&token_url),
            secret_of(&plain_url),
            "one secret per endpoint"
        );

        let path = format!("/api/v1/branch-event-settings/{id}");
        let seen = call(&app, "GET", &path, Some(&p.operator), None).await;
        assert_eq!(seen.status, 200, "{:?}", seen.body);
        let shown = seen.body["data"]["webhook_urls"].clone();
        assert!(!shown.to_string().contains("T0K3N"), "{shown}");
        assert!(seen.body["data"].get("webhook_secrets").is_none());
        let paused = call(
            &app,
            "PUT",
            &path,
            Some(&p.operator),
            Some(json!({"webhook_urls": shown, "webhook_enabled": false})),
        )
        .await;
        assert_eq!(
            paused.status, 200,
            "the list as shown is unchanged: {:?}",
            paused.body
        );
        let resumed = call(
            &app,
            "PUT",
            &path,
            Some(&p.operator),
            Some(json!({"webhook_enabled": true})),
        )
        .await;
        assert_eq!(resumed.status, 200, "{:?}", resumed.body);
        let rotate = call(
            &app,
            "PUT",
            &path,
            Some(&p.operator),
            Some(json!({"webhook_rotate": true})),
        )
        .await;
        assert_eq!(rotate.status, 422, "{:?}", rotate.body);
        let again = call(&app, "GET", &path, Some(&p.admin), None).await;
        assert_eq!(
            again.body["data"]["webhook_secrets"], secrets,
            "edits keep the secrets"
        );

        let stored = app
            .core
            .storage()
            .find_record(&EVENT_SETTINGS, &[Filter::Eq("id", json!(id))])
            .await
            .unwrap()
            .unwrap();
        let column = stored["webhooks"].to_string();
        assert_eq!(stored["webhooks"].as_array().unwrap().len(), 2);
        assert!(!column.contains("T0K3N") && !column.contains(&secret_of(&plain_url)));

        let posted = app
            .post_json(
                &json!({"re_id": "HOOK_1", "branch_id": app.branch(0), "device_id": app.device(0)}),
            )
            .await;
        assert_eq!(posted.status, 202, "{:?}", posted.body);
        let deadline = Instant::now() + Duration::from_secs(20);
        while receiver.requests().len() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let requests = receiver.requests();
        let mut paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/hooks/T0K3N", "/plain"], "each endpoint once");
        for r in &requests {
            let url = if r.path == "/plain" {
                &plain_url
            } else {
                &token_url
            };
            verify_standard_webhook(&secret_of(url), &r.headers, &r.body)
                .unwrap_or_else(|why| panic!("{why}"));
            let body: Value = r.json();
            assert_eq!(
                (body["type"].as_str(), body["data"]["re_id"].as_str()),
                (Some("person.detected"), Some("HOOK_1"))
            );
        }

        let rotated = call(
            &app,
            "PUT",
            &path,
            Some(&p.admin),
            Some(json!({"webhook_rotate": true})),
        )
        .await;
        assert_eq!(rotated.status, 200, "{:?}", rotated.body);
        let fresh = &rotated.body["data"]["webhook_secrets"];
        assert_eq!(
            rotated.body["data"]["webhook_urls"],
            json!([token_url, plain_url])
        );
        assert!(fresh[&token_url].is_string() && fresh[&token_url] != secrets[&token_url]);
        let removed = call(
            &app,
            "PUT",
            &path,
            Some(&p.admin),
            Some(json!({"webhook_urls": [plain_url]})),
        )
        .await;
        assert_eq!(
            removed.body["data"]["webhook_urls"],
            json!([plain_url]),
            "{:?}",
            removed.body
        );
        assert_eq!(
            removed.body["data"]["webhook_secrets"][&plain_url],
            fresh[&plain_url]
        );
        app.stop().await;
    }
}
