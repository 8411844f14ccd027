use std::time::{Duration, Instant};

use base64::Engine as _;
use cctv_admin::notify::{Attachment, AttachmentSource, Notifier, NotifyError};
use serde_json::json;

use crate::{dyn_notifier, message, notifier};
use cctv_notify_http::testing::{FakeProvider, Reply};

fn waha(url: &str, timeout_ms: u64) -> crate::WhatsAppNotifier {
    notifier(
        json!({"mode": "waha", "base_url": format!("{url}/"), "session": "cctv", "api_key": "k-123", "timeout_ms": timeout_ms}),
    )
}

#[tokio::test]
async fn a_text_is_posted_to_send_text_with_the_api_key_and_the_id_is_returned() {
    let fake = FakeProvider::start(vec![Reply::new(
        201,
        r#"{"id":"true_6281234567890@c.us_3EB0","timestamp":1}"#,
    )])
    .await;

    let delivery = waha(&fake.url, 2000).send(&message()).await.unwrap();

    let request = fake.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/sendText")
    );
    assert_eq!(request.headers["x-api-key"], "k-123");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.json(),
        json!({"chatId": "6281234567890@c.us", "text": "Budi seen at Jakarta", "session": "cctv"})
    );
    assert_eq!(
        delivery.provider_message_id.as_deref(),
        Some("true_6281234567890@c.us_3EB0")
    );
    assert_eq!(delivery.status, "sent");
}

#[tokio::test]
async fn ids_are_read_from_the_shapes_of_the_different_engines() {
    let cases = [
        (
            r#"{"id":{"fromMe":true,"_serialized":"true_62@c.us_AAA"}}"#,
            Some("true_62@c.us_AAA"),
        ),
        (
            r#"{"key":{"id":"BAE5","remoteJid":"62@s.whatsapp.net"}}"#,
            Some("BAE5"),
        ),
        (r#"{"sent":true}"#, None),
        ("not json at all", None),
        ("", None),
    ];
    for (body, expected) in cases {
        let fake = FakeProvider::start(vec![Reply::new(200, body)]).await;
        let delivery = waha(&fake.url, 2000).send(&message()).await.unwrap();
        assert_eq!(
            delivery.provider_message_id.as_deref(),
            expected,
            "body {body:?}"
        );
    }
}

#[tokio::test]
async fn an_image_as_bytes_goes_to_send_image_base64_encoded_with_the_text_as_caption() {
    let fake = FakeProvider::start(vec![Reply::new(201, r#"{"id":"img-1"}"#)]).await;
    let bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 2, 250];
    let msg = message().with_image(Attachment {
        filename: "event.jpg".into(),
        mime: "image/jpeg".into(),
        source: AttachmentSource::Bytes(bytes.clone()),
    });

    let delivery = waha(&fake.url, 2000).send(&msg).await.unwrap();

    let request = fake.only_request();
    assert_eq!(request.path, "/api/sendImage");
    let body = request.json();
    assert_eq!(body["chatId"], "6281234567890@c.us");
    assert_eq!(body["session"], "cctv");
    assert_eq!(body["caption"], "Budi seen at Jakarta");
    assert_eq!(body["file"]["mimetype"], "image/jpeg");
    assert_eq!(body["file"]["filename"], "event.jpg");
    let data = base64::engine::general_purpose::STANDARD
        .decode(body["file"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, bytes);
    assert_eq!(delivery.provider_message_id.as_deref(), Some("img-1"));
}

#[tokio::test]
async fn an_image_by_url_is_passed_as_a_url() {
    let fake = FakeProvider::start(vec![Reply::new(201, "{}")]).await;
    let msg = message().with_image(Attachment {
        filename: "e.png".into(),
        mime: "image/png".into(),
        source: AttachmentSource::Url("https://files.example/e.png".into()),
    });
    waha(&fake.url, 2000).send(&msg).await.unwrap();
    let file = &fake.only_request().json()["file"];
    assert_eq!(file["url"], "https://files.example/e.png");
    assert!(file.get("data").is_none());
}

#[tokio::test]
async fn a_4xx_is_rejected_once_with_the_providers_code_and_message() {
    let body = r#"{"statusCode":422,"message":"Session 'cctv' is not ready","error":"Unprocessable Entity"}"#;
    let fake = FakeProvider::start(vec![Reply::new(422, body)]).await;

    let err = waha(&fake.url, 2000).send(&message()).await.unwrap_err();

    assert_eq!(
        err,
        NotifyError::Rejected {
            code: Some("Unprocessable Entity".into()),
            message: "Session 'cctv' is not ready".into(),
            status: Some(422),
        }
    );
    assert_eq!(fake.requests().len(), 1, "the notifier never retries");
}

#[tokio::test]
async fn a_5xx_or_429_is_unavailable() {
    for status in [500, 502, 429, 408] {
        let fake = FakeProvider::start(vec![Reply::new(status, "upstream down")]).await;
        let err = waha(&fake.url, 2000).send(&message()).await.unwrap_err();
        assert!(err.is_retryable(), "status {status}: {err:?}");
        assert_eq!(err.status(), Some(status));
    }
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_unavailable_and_the_send_gives_up_in_time() {
    let fake = FakeProvider::start(vec![Reply::new(200, "{}").after(Duration::from_secs(2))]).await;
    // The bound is on the request. The first number read loads libphonenumber's
    // numbering plans, which took over a second in a debug build on a slow machine, so
    // that happens before the clock starts.
    let message = message();
    cctv_admin::phone::stored_recipient(&message.recipient).unwrap();
    let notifier = waha(&fake.url, 200);
    let started = Instant::now();

    let err = notifier.send(&message).await.unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.code(), Some("timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_provider_within_the_timeout_succeeds_and_the_latency_is_recorded() {
    let fake = FakeProvider::start(vec![
        Reply::new(200, r#"{"id":"slow"}"#).after(Duration::from_millis(150)),
    ])
    .await;
    let delivery = waha(&fake.url, 2000).send(&message()).await.unwrap();
    assert_eq!(delivery.provider_message_id.as_deref(), Some("slow"));
    assert!(
        delivery.latency_ms >= 150,
        "latency {}",
        delivery.latency_ms
    );
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = waha(&url, 500).send(&message()).await.unwrap_err();
    assert_eq!(err.code(), Some("connect"), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_invalid_recipient_is_rejected_without_contacting_the_provider() {
    let fake = FakeProvider::start(vec![Reply::new(200, "{}")]).await;
    let mut msg = message();
    msg.recipient = "call me".into();
    let err = waha(&fake.url, 2000).send(&msg).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_recipient"));
    assert!(!err.is_retryable());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn group_chat_ids_are_used_as_given_and_no_key_means_no_header() {
    let fake = FakeProvider::start(vec![Reply::new(200, "{}")]).await;
    let n = notifier(json!({"mode": "waha", "base_url": fake.url}));
    let mut msg = message();
    msg.recipient = "120363025@g.us".into();
    n.send(&msg).await.unwrap();
    let request = fake.only_request();
    assert_eq!(request.json()["chatId"], "120363025@g.us");
    assert_eq!(request.json()["session"], "default");
    assert!(!request.headers.contains_key("x-api-key"));
}

#[tokio::test]
async fn the_health_check_asks_for_the_session() {
    let fake = FakeProvider::start(vec![
        Reply::new(200, r#"{"status":"WORKING"}"#),
        Reply::new(404, "{}"),
    ])
    .await;
    let n = dyn_notifier(waha(&fake.url, 2000));
    assert_eq!(n.health_check().await, Ok(()));
    assert!(n.health_check().await.is_err());
    let requests = fake.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/api/sessions/cctv")
    );
    assert_eq!(requests[0].headers["x-api-key"], "k-123");
}
