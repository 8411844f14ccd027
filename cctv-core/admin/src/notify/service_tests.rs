//! Unit tests of the pure parts: who gets what, the digest line, the daily summary.

use serde_json::{Value, json};

use super::context::{DEFAULT_TEMPLATE, Skip, resolve_plan};
use super::digest_line;
use super::summary::summarise;
use cctv_core::records::Record;

fn rec(v: Value) -> Record {
    let Value::Object(m) = v else {
        panic!("object")
    };
    m
}

fn device(extra: Value) -> Record {
    let mut r = rec(
        json!({"is_active": true, "whatsapp_enabled": true, "send_message": true,
        "send_image": false, "whatsapp_numbers": [], "message_template": null}),
    );
    r.extend(rec(extra));
    r
}

fn default_settings() -> Record {
    rec(
        json!({"is_active": true, "is_default": true, "phone_numbers": ["6281111111111"], "message_template": "{re_id} seen"}),
    )
}

#[test]
fn a_device_without_numbers_or_template_falls_back_to_the_default_whatsapp_settings() {
    let plan = resolve_plan(Some(&device(json!({}))), Some(&default_settings()), None).unwrap();
    assert_eq!(plan.recipients, ["6281111111111"]);
    assert_eq!(plan.template, "{re_id} seen");
    let own = device(json!({"whatsapp_numbers": ["6282222222222"], "message_template": "mine"}));
    let plan = resolve_plan(Some(&own), Some(&default_settings()), None).unwrap();
    assert_eq!(
        (plan.recipients, plan.template.as_str()),
        (vec!["6282222222222".to_owned()], "mine")
    );
    let plan = resolve_plan(Some(&own), None, None).unwrap();
    assert_eq!(plan.template, "mine");
    let no_template = device(json!({"whatsapp_numbers": ["6282222222222"]}));
    assert_eq!(
        resolve_plan(Some(&no_template), None, None)
            .unwrap()
            .template,
        DEFAULT_TEMPLATE
    );
}

#[test]
fn switched_off_settings_or_nothing_to_send_skip_the_event() {
    let cases = [
        (None, Skip::Disabled),
        (Some(device(json!({"is_active": false}))), Skip::Disabled),
        (
            Some(device(json!({"whatsapp_enabled": false}))),
            Skip::Disabled,
        ),
        (
            Some(device(
                json!({"send_message": false, "whatsapp_numbers": ["6282222222222"]}),
            )),
            Skip::NothingToSend,
        ),
    ];
    for (settings, skip) in cases {
        assert_eq!(
            resolve_plan(settings.as_ref(), Some(&default_settings()), None),
            Err(skip),
            "{settings:?}"
        );
    }
    let mut inactive_default = default_settings();
    inactive_default.insert("is_active".into(), Value::Bool(false));
    assert_eq!(
        resolve_plan(Some(&device(json!({}))), Some(&inactive_default), None),
        Err(Skip::NoRecipients)
    );
}

#[test]
fn an_image_is_attached_only_when_send_image_is_on() {
    let with_image = device(json!({"send_image": true, "send_message": false}));
    let plan = resolve_plan(
        Some(&with_image),
        Some(&default_settings()),
        Some("events/a.jpg"),
    )
    .unwrap();
    assert_eq!(
        (plan.image_path.as_deref(), plan.send_message),
        (Some("events/a.jpg"), false)
    );
    let plan = resolve_plan(
        Some(&device(json!({}))),
        Some(&default_settings()),
        Some("events/a.jpg"),
    )
    .unwrap();
    assert_eq!(plan.image_path, None);
}

#[test]
fn the_digest_line_counts_and_dates_the_held_back_detections() {
    assert_eq!(
        digest_line(1, Some("08:15")),
        "+1 more detection since 08:15"
    );
    assert_eq!(
        digest_line(49, Some("23:59")),
        "+49 more detections since 23:59"
    );
    assert_eq!(digest_line(2, None), "+2 more detections");
}

#[test]
fn the_summary_groups_by_branch_and_device_and_ignores_unreadable_lines() {
    let line = |branch: i64,
                device: &str,
                status: &str,
                recipient: &str,
                latency: Option<u64>,
                image: bool| {
        json!({"timestamp": "2026-11-28T01:00:00Z", "event_log_id": 1, "job_id": null, "branch_id": branch,
            "device_id": device, "re_id": null, "recipient": recipient, "channel": "whatsapp", "status": status,
            "provider_message_id": null, "latency_ms": latency, "error_code": null, "error_message": null,
            "attempt": 1, "image": image, "digest_count": 0})
        .to_string()
    };
    let lines = [
        line(2, "B", "sent", "x", Some(5), true),
        line(1, "A", "retrying", "x", Some(100), false),
        line(1, "A", "sent", "x", Some(1), false),
        line(1, "A", "suppressed", "y", None, false),
        "{\"truncated\":".to_owned(),
        String::new(),
    ];
    let (rows, skipped) = summarise(
        "2026-11-28".parse().unwrap(),
        lines.iter().map(String::as_str),
    );
    assert_eq!(skipped, 1);
    assert_eq!(rows.len(), 2);
    let a = &rows[0];
    assert_eq!((a.branch_id, a.device_id.as_str()), (1, "A"));
    assert_eq!(
        (
            a.total_sent,
            a.total_delivered,
            a.total_failed,
            a.total_pending
        ),
        (3, 1, 0, 2)
    );
    assert_eq!(
        (
            a.unique_recipients,
            a.messages_with_image,
            a.avg_delivery_time_ms
        ),
        (2, 0, Some(51))
    );
    assert_eq!(
        (rows[1].messages_with_image, rows[1].avg_delivery_time_ms),
        (1, Some(5))
    );
}
