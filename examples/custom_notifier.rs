//! Writing a notifier plugin outside the cctv crates and handing it to the core: an SMS
//! channel (here it records what it would send instead of calling a gateway), registered
//! with `Core::builder().notifier(..)` next to the built-in `log` notifier, which is built
//! from JSON settings through the `kind → factory` registry.
//!
//! Run with `cargo run -p cctv-examples --example custom_notifier`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use cctv_admin::FullStorage;
use cctv_admin::notify::{
    Delivery, Notifier, NotifierConfigError, NotifierRegistry, NotifyError, OutboundMessage,
    parse_settings,
};
use cctv_admin::phone::normalize_phone;
use cctv_admin::template::{MessageTemplate, TemplateVars};
use cctv_admin::{AdminBuilder, AdminCore};
use cctv_core::Core;
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use serde_json::json;

/// An SMS channel. A real one would hold an HTTP client and its gateway's credentials
/// (with a `Debug` that redacts them).
#[derive(Debug, Default)]
struct SmsNotifier {
    sender_id: String,
    sent: Mutex<Vec<OutboundMessage>>,
}

/// Its settings, as the configuration-driven binary would pass them to the factory.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsSettings {
    /// The alphanumeric sender shown on the phone.
    sender_id: String,
}

#[async_trait]
impl Notifier for SmsNotifier {
    fn kind(&self) -> &'static str {
        "sms"
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError> {
        let started = Instant::now();
        // A message the gateway would refuse: retrying cannot help, so `Rejected`.
        if message.text.chars().count() > 160 {
            return Err(NotifyError::rejected(
                Some("too_long".into()),
                "an SMS holds at most 160 characters",
            ));
        }
        // A poisoned lock is a local, transient failure: `Unavailable`, the caller retries.
        let mut sent = self
            .sent
            .lock()
            .map_err(|_| NotifyError::unavailable(None, "outbox lock poisoned"))?;
        sent.push(message.clone());
        let id = format!("{}-{}", self.sender_id, sent.len());
        Ok(Delivery::sent(Some(id), started.elapsed()))
    }
}

/// Wires a core with two notifiers and sends one event's message through each; returns the
/// core and the SMS channel so the test can look inside.
async fn run(
    dir: &std::path::Path,
) -> Result<(Core, Arc<SmsNotifier>), Box<dyn std::error::Error>> {
    let store: Arc<dyn FullStorage> =
        Arc::new(SqliteStore::open(&SqliteSettings::new(dir.join("cctv.db"))).await?);

    // Config-driven: kinds map to factories; the binary reads `{kind, settings}` entries.
    let mut registry = NotifierRegistry::new();
    cctv_notify_log::register(&mut registry);
    registry.register("sms", |settings| {
        let settings: SmsSettings = parse_settings("sms", settings)?;
        if settings.sender_id.is_empty() {
            return Err(NotifierConfigError::invalid(
                "sms",
                "sender_id must not be empty",
            ));
        }
        Ok(Arc::new(SmsNotifier {
            sender_id: settings.sender_id,
            ..SmsNotifier::default()
        }) as Arc<dyn Notifier>)
    });
    let log = registry.build(
        "log",
        &json!({"output": {"file": dir.join("notifications.log")}}),
    )?;

    // Embedder: hand instances to the builder (here one we keep a typed handle to).
    let sms = Arc::new(SmsNotifier {
        sender_id: "CCTV".into(),
        ..SmsNotifier::default()
    });
    let core = Core::builder()
        .full_storage(store)
        .notifier(sms.clone())
        .notifier(log)
        .build()
        .await?;

    // One event → one message per recipient and channel.
    let template = MessageTemplate::compile("{person_name} seen at {branch_name} at {time}")?;
    let now = jiff::Timestamp::now().to_zoned_datetime(core.timezone().clone());
    let vars = TemplateVars {
        branch_name: "Jakarta Central".into(),
        person_name: "Budi".into(),
        ..TemplateVars::default()
    }
    .with_time(&now);
    let recipient = normalize_phone("0812-3456-7890")?;
    let message = OutboundMessage::new(
        &recipient,
        template.render(&vars)?,
        format!("event-1:{recipient}"),
    )
    .with_context(vars);
    for notifier in core.notifiers() {
        match notifier.send(&message).await {
            Ok(delivery) => println!(
                "{}: sent as {:?}",
                notifier.kind(),
                delivery.provider_message_id
            ),
            Err(e) if e.is_retryable() => println!("{}: retry later: {e}", notifier.kind()),
            Err(e) => println!("{}: gave up: {e}", notifier.kind()),
        }
    }
    Ok((core, sms))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    run(dir.path()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_custom_notifier_is_held_by_the_core_and_receives_the_rendered_message() {
        let dir = tempfile::tempdir().unwrap();
        let (core, sms) = run(dir.path()).await.unwrap();

        let kinds: Vec<&str> = core.notifiers().iter().map(|n| n.kind()).collect();
        assert_eq!(kinds, ["sms", "log"]);
        assert!(core.notifier("sms").is_some());
        let sent = sms.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].recipient, "6281234567890");
        assert!(
            sent[0].text.starts_with("Budi seen at Jakarta Central at "),
            "{}",
            sent[0].text
        );
        let log = std::fs::read_to_string(dir.path().join("notifications.log")).unwrap();
        assert_eq!(log.lines().count(), 1);
    }

    #[tokio::test]
    async fn an_over_long_sms_is_rejected_rather_than_retried() {
        let sms = SmsNotifier::default();
        let err = sms
            .send(&OutboundMessage::new("62811", "x".repeat(161), "k"))
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(err.code(), Some("too_long"));
    }
}
