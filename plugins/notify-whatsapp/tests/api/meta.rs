use cctv_admin::notify::{Attachment, AttachmentSource, Notifier, NotifyError};
use serde_json::{Value, json};

use crate::{message, notifier};
use cctv_notify_http::testing::{FakeProvider, Reply};

fn meta(url: &str, template: Value) -> crate::WhatsAppNotifier {
    let mut settings = json!({
        "mode": "meta", "base_url": url, "api_version": "v21.0",
        "phone_number_id": "1098765", "access_token": "EAAtoken", "timeout_ms": 2000
    });
    if !template.is_null() {
        settings["template"] = template;
    }
    notifier(settings)
}

const SENT: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"6281234567890","wa_id":"6281234567890"}],"messages":[{"id":"wamid.HBgL"}]}"#;

#[tokio::test]
async fn a_text_is_posted_to_the_phone_numbers_messages_with_a_bearer_token() {
    let fake = FakeProvider::start(vec![Reply::new(200, SENT)]).await;

    let delivery = meta(&fake.url, Value::Null).send(&message()).await.unwrap();

    let request = fake.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v21.0/1098765/messages")
    );
    assert_eq!(request.headers["authorization"], "Bearer EAAtoken");
    assert_eq!(
        request.json(),
        json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": "6281234567890",
            "type": "text", "text": {"body": "Budi seen at Jakarta", "preview_url": false}
        })
    );
    assert_eq!(delivery.provider_message_id.as_deref(), Some("wamid.HBgL"));
}

#[tokio::test]
async fn a_template_message_carries_rendered_body_parameters() {
    let fake = FakeProvider::start(vec![Reply::new(200, SENT)]).await;
    let template = json!({
        "name": "person_alert", "language": "id",
        "body_parameters": ["{person_name}", "{{ branch_name | upper }} x{{ detected_count }}", "{{ text }}"]
    });

    meta(&fake.url, template).send(&message()).await.unwrap();

    let body = fake.only_request().json();
    assert_eq!(body["type"], "template");
    assert_eq!(
        body["template"],
        json!({
            "name": "person_alert", "language": {"code": "id"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Budi"},
                {"type": "text", "text": "JAKARTA x3"},
                {"type": "text", "text": "Budi seen at Jakarta"}
            ]}]
        })
    );
}

#[tokio::test]
async fn image_bytes_are_uploaded_first_and_sent_by_media_id() {
    let fake = FakeProvider::start(vec![
        Reply::new(200, r#"{"id":"media-77"}"#),
        Reply::new(200, SENT),
    ])
    .await;
    let msg = message().with_image(Attachment {
        filename: "event.jpg".into(),
        mime: "image/jpeg".into(),
        source: AttachmentSource::Bytes(b"JPEGBYTES".to_vec()),
    });

    let delivery = meta(&fake.url, Value::Null).send(&msg).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v21.0/1098765/media");
    assert_eq!(requests[0].headers["authorization"], "Bearer EAAtoken");
    assert!(requests[0].headers["content-type"].starts_with("multipart/form-data"));
    let upload = String::from_utf8_lossy(&requests[0].body);
    assert!(
        upload.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"),
        "{upload}"
    );
    assert!(upload.contains("filename=\"event.jpg\""), "{upload}");
    assert!(upload.contains("JPEGBYTES"), "{upload}");
    let body = requests[1].json();
    assert_eq!(body["type"], "image");
    assert_eq!(
        body["image"],
        json!({"id": "media-77", "caption": "Budi seen at Jakarta"})
    );
    assert_eq!(delivery.provider_message_id.as_deref(), Some("wamid.HBgL"));
}

#[tokio::test]
async fn an_image_url_is_sent_as_a_link_and_can_fill_a_template_header() {
    let fake = FakeProvider::start(vec![Reply::new(200, SENT)]).await;
    let msg = message().with_image(Attachment {
        filename: "e.jpg".into(),
        mime: "image/jpeg".into(),
        source: AttachmentSource::Url("https://files.example/e.jpg".into()),
    });
    let template = json!({"name": "alert_img", "language": "en_US", "image_header": true});

    meta(&fake.url, template).send(&msg).await.unwrap();

    let body = fake.only_request().json();
    assert_eq!(
        body["template"]["components"],
        json!([{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://files.example/e.jpg"}}]}])
    );
}

#[tokio::test]
async fn a_meta_error_is_rejected_with_its_numeric_code() {
    let body = r#"{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"fbtrace_id":"Az"}}"#;
    let fake = FakeProvider::start(vec![Reply::new(400, body)]).await;
    let err = meta(&fake.url, Value::Null)
        .send(&message())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NotifyError::Rejected {
            code: Some("131026".into()),
            message: "(#131026) Message undeliverable".into(),
            status: Some(400),
        }
    );
}

#[tokio::test]
async fn a_failed_upload_stops_the_send_with_the_uploads_error() {
    let fake = FakeProvider::start(vec![Reply::new(
        503,
        r#"{"error":{"message":"busy","code":2}}"#,
    )])
    .await;
    let msg = message().with_image(Attachment {
        filename: "a.jpg".into(),
        mime: "image/jpeg".into(),
        source: AttachmentSource::Bytes(vec![1]),
    });
    let err = meta(&fake.url, Value::Null).send(&msg).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.code(), Some("2"));
    assert_eq!(
        fake.requests().len(),
        1,
        "no message is sent after a failed upload"
    );
}

#[tokio::test]
async fn an_unexpected_success_body_is_a_delivery_without_id() {
    for body in [
        r#"{"messages":[]}"#,
        r#"{"messages":[{"id":42}]}"#,
        "<html>ok</html>",
    ] {
        let fake = FakeProvider::start(vec![Reply::new(200, body)]).await;
        let delivery = meta(&fake.url, Value::Null).send(&message()).await.unwrap();
        assert_eq!(delivery.provider_message_id, None, "body {body}");
    }
}
