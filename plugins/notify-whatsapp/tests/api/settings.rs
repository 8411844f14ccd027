use cctv_admin::notify::{NotifierConfigError, NotifierRegistry};
use serde_json::json;

fn build(
    settings: serde_json::Value,
) -> Result<std::sync::Arc<dyn cctv_admin::notify::Notifier>, NotifierConfigError> {
    let mut registry = NotifierRegistry::new();
    cctv_notify_whatsapp::register(&mut registry);
    registry.build(cctv_notify_whatsapp::KIND, &settings)
}

fn message_of(
    result: Result<std::sync::Arc<dyn cctv_admin::notify::Notifier>, NotifierConfigError>,
) -> String {
    match result {
        Err(NotifierConfigError::InvalidSettings { kind, message }) => {
            assert_eq!(kind, "whatsapp");
            message
        }
        other => panic!("expected invalid settings, got {other:?}"),
    }
}

#[test]
fn both_modes_build_from_json_with_defaults() {
    let waha = build(json!({"mode": "waha", "base_url": "http://127.0.0.1:3000"})).unwrap();
    assert_eq!(waha.kind(), "whatsapp");
    let meta = build(json!({"mode": "meta", "phone_number_id": "1", "access_token": "t"})).unwrap();
    assert!(
        format!("{meta:?}").contains("https://graph.facebook.com/v21.0/1"),
        "{meta:?}"
    );
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let cases = [
        (
            json!({"mode": "waha", "base_url": "http://x", "colour": 1}),
            "colour",
        ),
        (json!({"mode": "sms", "base_url": "http://x"}), "sms"),
        (json!({"base_url": "http://x"}), "mode"),
        (json!({"mode": "waha", "base_url": "ftp://x"}), "http(s)"),
        (json!({"mode": "waha", "base_url": "not a url"}), "base_url"),
        (
            json!({"mode": "waha", "base_url": "http://x", "timeout_ms": 0}),
            "timeout_ms",
        ),
        (
            json!({"mode": "waha", "base_url": "http://x", "session": " "}),
            "session",
        ),
        (
            json!({"mode": "meta", "access_token": "t"}),
            "phone_number_id",
        ),
        (
            json!({"mode": "meta", "phone_number_id": "1/../x", "access_token": "t"}),
            "phone_number_id",
        ),
        (
            json!({"mode": "meta", "phone_number_id": "1", "access_token": "t",
                   "template": {"name": "a", "language": "id", "body_parameters": ["{camera}"]}}),
            "{camera}",
        ),
    ];
    for (settings, needle) in cases {
        let message = message_of(build(settings.clone()));
        assert!(message.contains(needle), "settings {settings}: {message}");
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let waha: cctv_notify_whatsapp::WhatsAppSettings = serde_json::from_value(
        json!({"mode": "waha", "base_url": "http://x", "api_key": "waha-secret-1"}),
    )
    .unwrap();
    let meta: cctv_notify_whatsapp::WhatsAppSettings = serde_json::from_value(
        json!({"mode": "meta", "phone_number_id": "1", "access_token": "meta-secret-2"}),
    )
    .unwrap();
    for text in [format!("{waha:?}"), format!("{meta:?}")] {
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
    let notifier =
        build(json!({"mode": "meta", "phone_number_id": "1", "access_token": "meta-secret-2"}))
            .unwrap();
    assert!(!format!("{notifier:?}").contains("secret"));
}
