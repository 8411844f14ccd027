//! # cctv-notify-log
//!
//! A notifier for development and tests: instead of contacting a provider, it writes one
//! JSON line per message (timestamp, recipient, text, image, idempotency key, event
//! variables) to a file, stdout or a `tracing` event. It always succeeds unless the write
//! fails, which is reported as [`NotifyError::Unavailable`] (a full disk may clear).
//!
//! ```
//! use cctv_admin::notify::NotifierRegistry;
//!
//! let mut registry = NotifierRegistry::new();
//! cctv_notify_log::register(&mut registry);
//! let notifier = registry.build("log", &serde_json::json!({"output": "stdout"})).unwrap();
//! assert_eq!(notifier.kind(), "log");
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cctv_admin::notify::{
    Delivery, Notifier, NotifierConfigError, NotifierRegistry, NotifyError, OutboundMessage,
    parse_settings,
};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// The kind name used in configuration.
pub const KIND: &str = "log";

/// Settings of the log notifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Where the lines go: `"tracing"` (default; an `info` event with target
    /// `cctv_notify_log`), `"stdout"`, or `{"file": "<path>"}` (appended; missing parent
    /// directories are created).
    #[serde(default)]
    pub output: LogOutput,
}

/// Destination of the JSON lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LogOutput {
    #[default]
    Tracing,
    Stdout,
    File(PathBuf),
}

/// Writes each message as a JSON line.
#[derive(Debug)]
pub struct LogNotifier {
    output: LogOutput,
    /// One writer at a time, so concurrent sends never interleave within a line.
    write_lock: tokio::sync::Mutex<()>,
}

impl LogNotifier {
    pub fn new(settings: LogSettings) -> Self {
        Self {
            output: settings.output,
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    async fn write_line(&self, line: &str) -> std::io::Result<()> {
        let _guard = self.write_lock.lock().await;
        match &self.output {
            LogOutput::Tracing => {
                tracing::info!(target: "cctv_notify_log", message = %line, "notification");
                Ok(())
            }
            LogOutput::Stdout => {
                // A short locked write; a development output does not need async stdout.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()
            }
            LogOutput::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(parent).await?;
                }
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await?;
                file.write_all(format!("{line}\n").as_bytes()).await?;
                file.flush().await
            }
        }
    }
}

/// The JSON line of one message: the message's own fields plus the time it was logged.
fn line(message: &OutboundMessage) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(message)?;
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "timestamp".to_owned(),
            cctv_core::jiff::Timestamp::now().to_string().into(),
        );
        object.insert("kind".to_owned(), KIND.into());
    }
    serde_json::to_string(&value)
}

#[async_trait]
impl Notifier for LogNotifier {
    fn kind(&self) -> &'static str {
        KIND
    }

    #[tracing::instrument(skip_all, fields(kind = KIND))]
    async fn send(&self, message: &OutboundMessage) -> Result<Delivery, NotifyError> {
        let started = Instant::now();
        let line = line(message)
            .map_err(|e| NotifyError::unavailable(Some("serialize".into()), e.to_string()))?;
        self.write_line(&line)
            .await
            .map_err(|e| NotifyError::unavailable(Some("io".into()), e.to_string()))?;
        // The idempotency key doubles as the "provider id": it names the line in the log.
        Ok(Delivery::sent(
            Some(message.idempotency_key.clone()),
            started.elapsed(),
        ))
    }
}

/// Builds a [`LogNotifier`] from its JSON settings (the registry's factory).
pub fn factory(settings: &serde_json::Value) -> Result<Arc<dyn Notifier>, NotifierConfigError> {
    let settings: LogSettings = if settings.is_null() {
        LogSettings::default()
    } else {
        parse_settings(KIND, settings)?
    };
    Ok(Arc::new(LogNotifier::new(settings)))
}

/// Registers the `log` kind.
pub fn register(registry: &mut NotifierRegistry) {
    registry.register(KIND, factory);
}

#[cfg(test)]
mod tests;
