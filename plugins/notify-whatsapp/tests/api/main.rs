//! Integration tests of the WhatsApp notifier against a fake provider on loopback.

mod meta;
mod settings;
mod waha;

use cctv_admin::notify::{Notifier, OutboundMessage};
use cctv_admin::template::TemplateVars;
use cctv_notify_whatsapp::{WhatsAppNotifier, WhatsAppSettings};

/// A notifier built through the same path as the configuration-driven binary.
pub fn notifier(settings: serde_json::Value) -> WhatsAppNotifier {
    let settings: WhatsAppSettings = serde_json::from_value(settings).unwrap();
    WhatsAppNotifier::new(&settings).unwrap()
}

pub fn message() -> OutboundMessage {
    OutboundMessage::new(
        "0812-3456-7890",
        "Budi seen at Jakarta",
        "event-1:6281234567890",
    )
    .with_context(TemplateVars {
        branch_name: "Jakarta".into(),
        person_name: "Budi".into(),
        detected_count: 3,
        ..Default::default()
    })
}

/// The notifier as callers hold it.
pub fn dyn_notifier(n: WhatsAppNotifier) -> std::sync::Arc<dyn Notifier> {
    std::sync::Arc::new(n)
}
