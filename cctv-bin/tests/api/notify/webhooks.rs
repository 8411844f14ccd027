//! Event webhooks through the notification service, times passed in: one signed POST per
//! event and endpoint, whatever WhatsApp does; a failing endpoint is retried alone, not
//! before its `Retry-After`; the log names endpoints without their paths.

use cctv_admin::AdminCore;
use cctv_admin::notify::Settled;
use cctv_admin::notify::webhook::WebhookEndpoint;
use cctv_core::jiff::{SignedDuration, Timestamp};
use cctv_core::records::{Filter, WriteOp};
use cctv_notify_http::testing::{FakeProvider, Recorded, Reply};

use super::*;
use crate::helpers::{backends, verify_standard_webhook};

const A: &str = "081234567890";

fn secs(t: Timestamp, s: i64) -> Timestamp {
    t + SignedDuration::from_secs(s)
}

/// Turns webhooks on for the rig's device with `endpoints`, and WhatsApp on or off.
async fn set_webhooks(rig: &Rig, endpoints: &[WebhookEndpoint], whatsapp: bool) {
    let secrets = rig.service.core().secrets();
    let sealed: Vec<Value> = endpoints
        .iter()
        .map(|e| Value::from(e.seal(secrets)))
        .collect();
    change_settings(
        rig,
        json!({"webhook_enabled": true, "webhooks": sealed, "whatsapp_enabled": whatsapp}),
    )
    .await;
}

/// Writes `changes` into the event settings of the rig's first device as they are (no
/// validation: some tests need what validation would refuse).
async fn change_settings(rig: &Rig, changes: Value) {
    let Value::Object(changes) = changes else {
        unreachable!()
    };
    rig.store
        .apply(&[WriteOp::Update {
            table: &EVENT_SETTINGS,
            changes,
            filters: vec![Filter::Eq(
                "device_id",
                json!(rig.estate.devices[0].device_id),
            )],
        }])
        .await
        .unwrap();
}

fn check_signed(request: &Recorded, endpoint: &WebhookEndpoint) {
    verify_standard_webhook(&endpoint.secret, &request.headers, &request.body)
        .unwrap_or_else(|why| panic!("{why}: {request:?}"));
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.method, "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_gets_each_event_once_signed_and_a_failing_one_is_retried_alone() {
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let steady = FakeProvider::start(vec![Reply::new(200, r#"{"id":"rcv-1"}"#)]).await;
        let flaky = FakeProvider::start(vec![
            Reply::new(503, r#"{"message":"deploying"}"#).with_header("retry-after", "120"),
            Reply::new(200, "{}"),
        ])
        .await;
        let rig = rig(backend, &waha, &[A]).await;
        let steady_endpoint = WebhookEndpoint::new(format!("{}/hooks/T0K3N?src=cctv", steady.url));
        let flaky_endpoint = WebhookEndpoint::new(format!("{}/in", flaky.url));
        set_webhooks(
            &rig,
            &[steady_endpoint.clone(), flaky_endpoint.clone()],
            true,
        )
        .await;
        let t = Timestamp::now() + SignedDuration::from_secs(1);
        let event = rig.detect(0, "P1", t).await;

        let first = rig.run_due(t).await;
        let [Settled::Retry { at, error }] = &first[..] else {
            panic!("{first:?}")
        };
        assert!(error.contains("HTTP 503"), "{error}");
        assert_eq!(
            *at,
            secs(t, 120),
            "the endpoint's Retry-After, not the 30 s schedule"
        );
        assert_eq!((waha.seen().len(), steady.requests().len()), (1, 1));
        let second = rig.run_due(secs(t, 120)).await;
        assert!(
            matches!(&second[..], [Settled::Completed(r)] if r["sent"] == 1 && r["skipped"] == 2),
            "only the failed endpoint again: {second:?}"
        );
        assert_eq!(
            (
                waha.seen().len(),
                steady.requests().len(),
                flaky.requests().len()
            ),
            (1, 1, 2),
            "WhatsApp and the steady endpoint were not sent again"
        );

        let delivered = steady.only_request();
        check_signed(&delivered, &steady_endpoint);
        assert_eq!(delivered.path, "/hooks/T0K3N");
        let body = delivered.json();
        assert_eq!(body["type"], "person.detected");
        assert_eq!(body["data"]["event_log_id"], event);
        assert_eq!(body["data"]["re_id"], "P1");
        assert_eq!(
            body["data"]["device_id"],
            json!(rig.estate.devices[0].device_id)
        );
        assert!(
            body["data"]["text"].as_str().unwrap().contains("seen at"),
            "the rendered message: {body}"
        );
        let attempts = flaky.requests();
        for attempt in &attempts {
            check_signed(attempt, &flaky_endpoint);
        }
        assert_eq!(
            attempts[0].headers["webhook-id"], attempts[1].headers["webhook-id"],
            "a retry keeps its webhook-id so receivers drop duplicates"
        );
        assert_ne!(
            attempts[0].headers["webhook-id"],
            delivered.headers["webhook-id"]
        );

        let lines = rig.log_lines().await;
        let hooks: Vec<&Value> = lines
            .iter()
            .filter(|l| l["channel"] == "event_webhook")
            .collect();
        let statuses: Vec<&str> = hooks
            .iter()
            .map(|l| l["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["sent", "retrying", "sent"], "{hooks:?}");
        let logged = serde_json::to_string(&lines).unwrap();
        assert!(!logged.contains("T0K3N") && !logged.contains(&steady_endpoint.secret));
        assert!(
            hooks[0]["recipient"]
                .as_str()
                .unwrap()
                .starts_with(&steady.url)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_alone_make_processing_queue_the_event_and_a_refusal_is_not_retried() {
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let gone =
            FakeProvider::start(vec![Reply::new(410, r#"{"message":"endpoint removed"}"#)]).await;
        let ok = FakeProvider::start(vec![Reply::new(204, "")]).await;
        let rig = rig(backend, &waha, &[A]).await;
        let endpoints = [
            WebhookEndpoint::new(format!("{}/gone", gone.url)),
            WebhookEndpoint::new(format!("{}/ok", ok.url)),
        ];
        set_webhooks(&rig, &endpoints, false).await;
        let t = Timestamp::now() + SignedDuration::from_secs(1);
        rig.detect(0, "P1", t).await;
        let settled = rig.run_due(t).await;
        assert!(
            matches!(&settled[..], [Settled::Failed(e)] if e.contains("HTTP 410")),
            "a refusal fails for good, with WhatsApp off the job still ran: {settled:?}"
        );
        assert!(waha.seen().is_empty(), "WhatsApp is off for this device");
        assert_eq!((gone.requests().len(), ok.requests().len()), (1, 1));
        check_signed(&ok.only_request(), &endpoints[1]);
        assert!(
            rig.run_due(secs(t, 3600)).await.is_empty(),
            "nothing retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_template_that_cannot_be_rendered_stops_the_messages_not_the_webhooks() {
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let hook = FakeProvider::start(vec![Reply::new(204, "")]).await;
        let rig = rig(backend, &waha, &[A]).await;
        let endpoint = WebhookEndpoint::new(format!("{}/events", hook.url));
        set_webhooks(&rig, std::slice::from_ref(&endpoint), true).await;
        // Templates are checked when saved; one written straight into the table (an old
        // import, a hand edit) is not, and it does not render.
        change_settings(
            &rig,
            json!({"send_message": true, "message_template": "{{ re_id "}),
        )
        .await;
        let t = Timestamp::now() + SignedDuration::from_secs(1);
        rig.detect(0, "P1", t).await;
        let settled = rig.run_due(t).await;
        assert!(
            matches!(&settled[..], [Settled::Failed(e)] if e.contains("message template")),
            "the job ends failed, naming the template: {settled:?}"
        );
        assert!(waha.seen().is_empty(), "no message without its text");
        check_signed(&hook.only_request(), &endpoint);
        let payload: Value = serde_json::from_slice(&hook.only_request().body).unwrap();
        assert_eq!(payload["data"]["re_id"], "P1", "{payload}");
        assert!(
            payload["data"]["text"].is_null(),
            "no text it could not write: {payload}"
        );
    }
}
