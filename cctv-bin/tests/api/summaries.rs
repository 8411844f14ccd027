//! `GET /api/v1/admin/api-usage` and `/admin/whatsapp-deliveries`: after real requests and
//! the daily aggregation, the figures equal the requests made and the summary rows; ranges
//! are checked, and only admins may read them.

use std::time::Duration;

use cctv_admin::api_log::aggregate_day;
use cctv_admin::notify::delivery_log::{DeliveryLine, LineStatus};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::manage::{call, people};
use crate::web::Browser;

/// Waits until the access log holds `n` lines for `endpoint`.
async fn logged(app: &TestApp, endpoint: &str, n: usize) {
    let dir = app.dir.path().join("logs/api_requests");
    for _ in 0..500 {
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            count += text
                .lines()
                .filter(|l| l.contains(&format!("\"endpoint\":\"{endpoint}\"")))
                .count();
        }
        if count >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} lines for {endpoint} were never logged");
}

fn line(branch_id: i64, status: LineStatus, image: bool) -> String {
    serde_json::to_string(&DeliveryLine {
        timestamp: Timestamp::now(),
        event_log_id: 1,
        job_id: None,
        branch_id,
        device_id: "CAM".into(),
        re_id: None,
        recipient: "+6281234567890".into(),
        channel: "whatsapp".into(),
        status,
        provider_message_id: None,
        latency_ms: Some(120),
        error_code: None,
        error_message: None,
        attempt: 1,
        image,
        digest_count: 0,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_delivery_summaries_are_served_to_admins_over_a_range() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let who = people(&app).await;
        let today = app.core.today();
        for i in 0..3 {
            let body = json!({"re_id": format!("U{i}"), "branch_id": app.branch(0), "device_id": app.device(0)});
            assert_eq!(app.post_json(&body).await.status, 202);
        }
        assert_eq!(app.post_json(&json!({"re_id": "U"})).await.status, 422);
        logged(&app, "api/v1/detection/log", 4).await;
        let logs = app.dir.path().join("logs");
        aggregate_day(app.core.storage().as_ref(), &logs, today)
            .await
            .unwrap();

        let url = format!("/api/v1/admin/api-usage?date_from={today}&date_to={today}");
        let r = call(&app, "GET", &url, Some(&who.admin), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let data = &r.body["data"];
        let log = data["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint"] == "api/v1/detection/log" && e["method"] == "POST")
            .unwrap_or_else(|| panic!("{data}"));
        assert_eq!(
            (log["requests"].as_i64(), log["errors"].as_i64()),
            (Some(4), Some(1))
        );
        assert_eq!(data["days"].as_array().unwrap().len(), 1);
        assert_eq!(data["days"][0]["requests"], data["totals"]["requests"]);
        let credential = app
            .core
            .storage()
            .credentials()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.api_key == app.key)
            .unwrap()
            .id;
        let mine = data["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["credential_id"] == credential)
            .unwrap_or_else(|| panic!("credential {credential}: {data}"));
        assert!(mine["requests"].as_i64().unwrap() >= 4);
        let only = call(
            &app,
            "GET",
            &format!("{url}&credential_id={credential}"),
            Some(&who.admin),
            None,
        )
        .await;
        assert_eq!(
            only.body["data"]["totals"],
            mine.as_object()
                .map(|m| {
                    let mut m = m.clone();
                    m.remove("credential_id");
                    Value::Object(m)
                })
                .unwrap()
        );

        // Deliveries: two branches' lines folded by the daily aggregation.
        let wa = logs.join("whatsapp_messages");
        std::fs::create_dir_all(&wa).unwrap();
        let lines = [
            line(app.branch(0), LineStatus::Sent, true),
            line(app.branch(0), LineStatus::Sent, false),
            line(app.branch(1), LineStatus::Failed, false),
        ]
        .join("\n");
        std::fs::write(wa.join(format!("{today}.log")), lines + "\n").unwrap();
        cctv_admin::notify::summary::aggregate_day(app.core.storage().as_ref(), &wa, today)
            .await
            .unwrap();
        let week_ago = today - jiff::Span::new().days(6);
        let url = format!("/api/v1/admin/whatsapp-deliveries?date_from={week_ago}&date_to={today}");
        let r = call(&app, "GET", &url, Some(&who.admin), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let data = &r.body["data"];
        assert_eq!(
            data["days"].as_array().unwrap().len(),
            7,
            "every day, zeros included"
        );
        assert_eq!(data["totals"]["attempts"], 3);
        assert_eq!(data["totals"]["delivered"], 2);
        assert_eq!(data["totals"]["failed"], 1);
        assert_eq!(data["totals"]["with_image"], 1);
        assert_eq!(data["days"][6]["attempts"], 3);
        assert_eq!(data["days"][0]["attempts"], 0);
        let one = call(
            &app,
            "GET",
            &format!("{url}&branch_id={}", app.branch(1)),
            Some(&who.admin),
            None,
        )
        .await;
        assert_eq!(one.body["data"]["totals"]["delivered"], 0);
        assert_eq!(one.body["data"]["totals"]["failed"], 1);

        // Ranges are checked; people other than admins are refused.
        for bad in [
            format!("date_from={today}&date_to={week_ago}"),
            format!(
                "date_from={}&date_to={today}",
                today - jiff::Span::new().days(400)
            ),
            "date_from=yesterday".to_owned(),
        ] {
            let r = call(
                &app,
                "GET",
                &format!("/api/v1/admin/api-usage?{bad}"),
                Some(&who.admin),
                None,
            )
            .await;
            assert_eq!(r.status, 422, "{bad}: {:?}", r.body);
        }
        // The admin page shows the same figures, with names instead of ids.
        let mut b = Browser::new(&app);
        b.login("admin@cctv.test", "admin-password-1").await;
        let page = b
            .get(&format!(
                "/admin/usage?date_from={week_ago}&date_to={today}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("2 delivered, 1 failed, 0 pending, 1 with an image"),
            "{}",
            page.body
        );
        let branch_name = app.core.estate().branches[&app.branch(1)]
            .branch_name
            .clone();
        assert!(page.body.contains(&branch_name), "branch names, not ids");
        // Autoescaping writes `/` as `&#x2f;`.
        assert!(
            page.body.contains("api/v1/detection/log")
                || page.body.contains("api&#x2f;v1&#x2f;detection&#x2f;log"),
            "the busiest endpoint is listed"
        );
        let reversed = b
            .get(&format!(
                "/admin/usage?date_from={today}&date_to={week_ago}"
            ))
            .await;
        assert_eq!(reversed.status, 422);

        for token in [&who.viewer, &who.operator] {
            let r = call(
                &app,
                "GET",
                "/api/v1/admin/whatsapp-deliveries",
                Some(token),
                None,
            )
            .await;
            assert_eq!(r.status, 403);
        }
        app.stop().await;
    }
}
