use cctv_admin::notify::{NotifierConfigError, NotifierRegistry};
use serde_json::json;

fn build(
    settings: serde_json::Value,
) -> Result<std::sync::Arc<dyn cctv_admin::notify::Notifier>, NotifierConfigError> {
    let mut registry = NotifierRegistry::new();
    cctv_notify_webhook::register(&mut registry);
    registry.build("webhook", &settings)
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let cases = [
        (
            json!({"url": "http://127.0.0.1:1/x", "retries": 3}),
            "retries",
        ),
        (json!({}), "url"),
        (json!({"url": "file:///etc/passwd"}), "http or https"),
        (
            json!({"url": "http://127.0.0.1:1/x", "timeout_ms": 0}),
            "timeout_ms",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "headers": {"Bad Header": "x"}}),
            "Bad Header",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "headers": {"X-A": "line\nbreak"}}),
            "X-A",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "id_pointer": "id"}),
            "id_pointer",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "body": {"m": "{{ colour }}"}}),
            "body/m: unknown variable(s): colour",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "body": {"m": "{% if %}"}}),
            "body/m: template syntax error",
        ),
    ];
    for (settings, needle) in cases {
        match build(settings.clone()) {
            Err(NotifierConfigError::InvalidSettings { kind, message }) => {
                assert_eq!(kind, "webhook");
                assert!(message.contains(needle), "settings {settings}: {message}");
            }
            other => panic!("settings {settings}: expected invalid settings, got {other:?}"),
        }
    }
}

#[test]
fn the_url_path_and_header_values_stay_out_of_debug_output() {
    let settings = json!({"url": "https://hooks.example/services/T0K3N", "headers": {"Authorization": "Bearer s3cret"}});
    let parsed: cctv_notify_webhook::WebhookSettings =
        serde_json::from_value(settings.clone()).unwrap();
    let notifier = build(settings).unwrap();
    for text in [format!("{parsed:?}"), format!("{notifier:?}")] {
        assert!(
            !text.contains("T0K3N") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("https://hooks.example"), "{text}");
        assert!(text.to_lowercase().contains("authorization"), "{text}");
    }
}
