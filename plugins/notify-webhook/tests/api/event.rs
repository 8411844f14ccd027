//! The event webhook transport: the core's signed request goes out as written, with the
//! three Standard Webhooks headers, and answers map like every HTTP notifier.

use std::time::Duration;

use cctv_admin::notify::NotifyError;
use cctv_admin::notify::webhook::{WebhookRequest, WebhookTransport, sign};
use cctv_notify_http::testing::{FakeProvider, Reply};
use cctv_notify_webhook::HttpWebhookTransport;

fn request(url: String) -> WebhookRequest {
    let body = r#"{"type":"person.detected","data":{"re_id":"P1"}}"#.to_owned();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    WebhookRequest {
        url,
        id: "msg_7_0a1b2c3d".into(),
        timestamp: 1_614_265_330,
        signature: sign(secret, "msg_7_0a1b2c3d", 1_614_265_330, &body).unwrap(),
        body,
    }
}

fn transport() -> HttpWebhookTransport {
    HttpWebhookTransport::new(Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn the_signed_request_is_posted_as_written() {
    let fake = FakeProvider::start(vec![Reply::new(200, r#"{"id":"rcv-9"}"#)]).await;
    let sent = request(format!("{}/hooks/T0K3N?x=1", fake.url));
    let delivery = transport().post(&sent).await.unwrap();
    assert_eq!(delivery.provider_message_id.as_deref(), Some("rcv-9"));
    let seen = fake.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/hooks/T0K3N")
    );
    assert_eq!(seen.body, sent.body.as_bytes());
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["webhook-id"], "msg_7_0a1b2c3d");
    assert_eq!(seen.headers["webhook-timestamp"], "1614265330");
    assert_eq!(seen.headers["webhook-signature"], sent.signature);
    assert!(
        !format!("{sent:?}").contains("T0K3N"),
        "Debug hides the path"
    );
}

#[tokio::test]
async fn answers_map_to_retry_later_or_never_with_the_providers_wait() {
    let fake = FakeProvider::start(vec![
        Reply::new(429, r#"{"message":"slow down"}"#).with_header("retry-after", "90"),
        Reply::new(410, r#"{"message":"gone"}"#),
    ])
    .await;
    let t = transport();
    let busy = t
        .post(&request(format!("{}/a", fake.url)))
        .await
        .unwrap_err();
    assert!(busy.is_retryable(), "{busy}");
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(90)));
    let gone = t
        .post(&request(format!("{}/a", fake.url)))
        .await
        .unwrap_err();
    assert!(!gone.is_retryable() && gone.status() == Some(410), "{gone}");
    let bad = t.post(&request("not a url".into())).await.unwrap_err();
    assert!(
        matches!(&bad, NotifyError::Rejected { code: Some(c), .. } if c == "bad_url"),
        "{bad}"
    );
    let closed = t
        .post(&request("http://127.0.0.1:9/unreachable".into()))
        .await
        .unwrap_err();
    assert!(
        closed.is_retryable(),
        "a refused connection is retried: {closed}"
    );
}
