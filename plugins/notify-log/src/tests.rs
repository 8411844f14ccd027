use cctv_admin::template::TemplateVars;
use serde_json::{Value, json};

use super::*;

fn message(recipient: &str, key: &str) -> OutboundMessage {
    OutboundMessage::new(recipient, "Budi seen at Jakarta", key).with_context(TemplateVars {
        branch_name: "Jakarta".into(),
        detected_count: 2,
        ..Default::default()
    })
}

fn file_notifier(path: PathBuf) -> LogNotifier {
    LogNotifier::new(LogSettings {
        output: LogOutput::File(path),
    })
}

#[tokio::test]
async fn each_message_appends_one_json_line_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/whatsapp/2026-01-31.log");
    let notifier = file_notifier(path.clone());

    let first = notifier
        .send(&message("6281111111", "ev1:6281111111"))
        .await
        .unwrap();
    notifier
        .send(&message("6282222222", "ev1:6282222222"))
        .await
        .unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["recipient"], "6281111111");
    assert_eq!(lines[1]["recipient"], "6282222222");
    assert_eq!(lines[0]["text"], "Budi seen at Jakarta");
    assert_eq!(lines[0]["kind"], "log");
    assert_eq!(lines[0]["context"]["branch_name"], "Jakarta");
    assert_eq!(lines[0]["context"]["detected_count"], 2);
    assert!(lines[0]["timestamp"].as_str().unwrap().starts_with("20"));
    assert_eq!(first.provider_message_id.as_deref(), Some("ev1:6281111111"));
    assert_eq!(first.status, "sent");
}

#[tokio::test]
async fn concurrent_sends_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log");
    let notifier = Arc::new(file_notifier(path.clone()));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let notifier = notifier.clone();
            tokio::spawn(
                async move { notifier.send(&message("628123456", &format!("k{i}"))).await },
            )
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut keys: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["idempotency_key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20);
}

#[tokio::test]
async fn a_failed_write_is_unavailable_so_the_caller_retries() {
    let dir = tempfile::tempdir().unwrap();
    // The path is a directory: opening it for appending fails.
    let notifier = file_notifier(dir.path().to_owned());
    let err = notifier.send(&message("628123456", "k")).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.code(), Some("io"));
}

#[tokio::test]
async fn stdout_and_tracing_outputs_succeed() {
    for output in [LogOutput::Stdout, LogOutput::Tracing] {
        let notifier = LogNotifier::new(LogSettings { output });
        let delivery = notifier.send(&message("628123456", "k")).await.unwrap();
        assert_eq!(delivery.provider_message_id.as_deref(), Some("k"));
    }
}

#[test]
fn settings_come_from_json_and_unknown_fields_are_refused() {
    let mut registry = NotifierRegistry::new();
    register(&mut registry);
    assert!(
        registry
            .build(KIND, &json!({"output": {"file": "/tmp/x.log"}}))
            .is_ok()
    );
    assert!(registry.build(KIND, &Value::Null).is_ok());
    let parsed: LogSettings =
        serde_json::from_value(json!({"output": {"file": "a/b.log"}})).unwrap();
    assert_eq!(parsed.output, LogOutput::File("a/b.log".into()));
    let err = registry
        .build(KIND, &json!({"output": "stdout", "colour": 1}))
        .unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let err = registry
        .build(KIND, &json!({"output": "syslog"}))
        .unwrap_err();
    assert!(err.to_string().contains("syslog"), "{err}");
}
