use std::time::{Duration, Instant};

use cctv_admin::notify::{Notifier, NotifyError, OutboundMessage};
use cctv_admin::template::TemplateVars;
use cctv_notify_webhook::{WebhookNotifier, WebhookSettings};
use serde_json::{Value, json};

use cctv_notify_http::testing::{FakeProvider, Reply};

fn webhook(settings: Value) -> WebhookNotifier {
    let settings: WebhookSettings = serde_json::from_value(settings).unwrap();
    WebhookNotifier::new(&settings).unwrap()
}

fn simple(url: &str, timeout_ms: u64) -> WebhookNotifier {
    webhook(
        json!({"url": format!("{url}/hooks/cctv"), "body": {"text": "{{ text }}"}, "timeout_ms": timeout_ms}),
    )
}

fn message() -> OutboundMessage {
    let mut message = OutboundMessage::new("6281234567890", "Budi seen", "event-9:6281234567890")
        .with_context(TemplateVars {
            branch_name: "Jakarta".into(),
            person_name: "Budi".into(),
            detected_count: 4,
            ..Default::default()
        });
    message.image_path = Some("events/2026/01/31/a.jpg".into());
    message
}

#[tokio::test]
async fn the_rendered_body_and_configured_headers_are_posted_to_the_url() {
    let fake = FakeProvider::start(vec![Reply::new(202, r#"{"result":{"message_id":991}}"#)]).await;
    let notifier = webhook(json!({
        "url": format!("{}/hooks/cctv?team=ops", fake.url),
        "body": {
            "channel": "alerts",
            "priority": 2,
            "summary": "{person_name} at {branch_name} x{{ detected_count }}",
            "to": ["{{ recipient }}"],
            "meta": {"image": "{{ image_path }}", "key": "{idempotency_key}"}
        },
        "headers": {"Authorization": "Bearer hook-secret", "X-Source": "cctv"},
        "id_pointer": "/result/message_id"
    }));

    let delivery = notifier.send(&message()).await.unwrap();

    let request = fake.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hooks/cctv")
    );
    assert_eq!(request.headers["authorization"], "Bearer hook-secret");
    assert_eq!(request.headers["x-source"], "cctv");
    assert_eq!(request.headers["idempotency-key"], "event-9:6281234567890");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.json(),
        json!({
            "channel": "alerts",
            "priority": 2,
            "summary": "Budi at Jakarta x4",
            "to": ["6281234567890"],
            "meta": {"image": "events/2026/01/31/a.jpg", "key": "event-9:6281234567890"}
        })
    );
    assert_eq!(delivery.provider_message_id.as_deref(), Some("991"));
}

#[tokio::test]
async fn without_a_body_setting_the_default_body_is_sent() {
    let fake = FakeProvider::start(vec![Reply::new(200, r#"{"id":"abc"}"#)]).await;
    let delivery = webhook(json!({"url": fake.url}))
        .send(&message())
        .await
        .unwrap();
    let body = fake.only_request().json();
    assert_eq!(body["text"], "Budi seen");
    assert_eq!(body["recipient"], "6281234567890");
    assert_eq!(body["event"]["branch_name"], "Jakarta");
    assert_eq!(body["event"]["detected_count"], "4");
    assert_eq!(delivery.provider_message_id.as_deref(), Some("abc"));
}

#[tokio::test]
async fn a_4xx_is_rejected_once_with_the_receivers_code() {
    let fake = FakeProvider::start(vec![Reply::new(
        403,
        r#"{"code":"channel_archived","message":"channel is archived"}"#,
    )])
    .await;
    let err = simple(&fake.url, 2000).send(&message()).await.unwrap_err();
    assert_eq!(
        err,
        NotifyError::Rejected {
            code: Some("channel_archived".into()),
            message: "channel is archived".into(),
            status: Some(403),
        }
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_5xx_is_unavailable() {
    let fake = FakeProvider::start(vec![Reply::new(503, "maintenance")]).await;
    let err = simple(&fake.url, 2000).send(&message()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.status(), Some(503));
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_rejected() {
    let fake = FakeProvider::start(vec![Reply::new(301, "")]).await;
    let err = simple(&fake.url, 2000).send(&message()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(err.status(), Some(301));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_unavailable() {
    let fake = FakeProvider::start(vec![Reply::new(200, "{}").after(Duration::from_secs(2))]).await;
    let started = Instant::now();
    let err = simple(&fake.url, 200).send(&message()).await.unwrap_err();
    assert_eq!(err.code(), Some("timeout"), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_receiver_within_the_timeout_succeeds() {
    let fake = FakeProvider::start(vec![
        Reply::new(200, r#"{"id":7}"#).after(Duration::from_millis(150)),
    ])
    .await;
    let delivery = simple(&fake.url, 2000).send(&message()).await.unwrap();
    assert_eq!(delivery.provider_message_id.as_deref(), Some("7"));
    assert!(
        delivery.latency_ms >= 150,
        "latency {}",
        delivery.latency_ms
    );
}

#[tokio::test]
async fn an_odd_success_body_is_a_delivery_without_id() {
    for body in ["", "OK", r#"{"id": null}"#, r#"[1,2]"#] {
        let fake = FakeProvider::start(vec![Reply::new(200, body)]).await;
        let delivery = simple(&fake.url, 2000).send(&message()).await.unwrap();
        assert_eq!(delivery.provider_message_id, None, "body {body:?}");
        assert_eq!(delivery.status, "sent");
    }
}
