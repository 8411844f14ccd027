//! The `[notifications]` configuration section: channels built through the notifier
//! registry (every plugin crate registers its kind), and the workers' settings.
//!
//! Channel settings hold secrets (API keys, tokens, header values), so `Debug` shows a
//! channel's kind and whether it is enabled, never its settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cctv_admin::notify::{NotificationSettings, Notifier, NotifierRegistry};
use cctv_core::jobs::RetryPolicy;
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    pub workers: usize,
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub cooldown_secs: u64,
    pub retry_backoff_secs: Vec<u64>,
    pub max_attempts: u32,
    pub log_dir: String,
    /// The region (ISO 3166 alpha-2) a phone number written the national way belongs to.
    pub phone_region: String,
    /// Timeout of one event webhook request, in ms.
    pub event_webhook_timeout_ms: u64,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub enabled: bool,
    /// The plugin kind; default: the channel's name.
    #[serde(default)]
    pub kind: Option<String>,
    /// The plugin's own settings (validated by its factory at start-up).
    #[serde(default)]
    pub settings: serde_json::Value,
}

impl fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelConfig")
            .field("enabled", &self.enabled)
            .field("kind", &self.kind)
            .field("settings", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for NotificationsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationsConfig")
            .field("workers", &self.workers)
            .field("cooldown_secs", &self.cooldown_secs)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// Every notifier plugin shipped with the binary.
pub fn registry() -> NotifierRegistry {
    let mut registry = NotifierRegistry::new();
    cctv_notify_whatsapp::register(&mut registry);
    cctv_notify_webhook::register(&mut registry);
    cctv_notify_log::register(&mut registry);
    registry
}

impl NotificationsConfig {
    /// Builds the enabled channels; a bad channel stops start-up with the plugin's error.
    pub fn notifiers(&self) -> anyhow::Result<Vec<Arc<dyn Notifier>>> {
        let registry = registry();
        let mut out = Vec::new();
        for (name, channel) in self.channels.iter().filter(|(_, c)| c.enabled) {
            let kind = channel.kind.as_deref().unwrap_or(name);
            let settings = match &channel.settings {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                other => other.clone(),
            };
            let notifier = registry
                .build(kind, &settings)
                .with_context(|| format!("notifications.channels.{name}"))?;
            tracing::info!(channel = %name, kind, "notification channel enabled");
            out.push(notifier);
        }
        Ok(out)
    }

    pub fn service_settings(&self) -> NotificationSettings {
        let backoff = if self.retry_backoff_secs.is_empty() {
            vec![30]
        } else {
            self.retry_backoff_secs.clone()
        };
        NotificationSettings {
            cooldown: Duration::from_secs(self.cooldown_secs),
            retry: RetryPolicy {
                backoff: backoff.into_iter().map(Duration::from_secs).collect(),
                max_attempts: self.max_attempts.max(1),
            },
        }
    }

    /// `logs_dir`: the `[log] dir` (default `<data_dir>/logs`).
    pub fn log_dir(&self, logs_dir: &std::path::Path) -> PathBuf {
        if self.log_dir.trim().is_empty() {
            logs_dir.join("whatsapp_messages")
        } else {
            PathBuf::from(&self.log_dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn enabled_channels_are_built_from_env_and_their_secrets_are_not_debug_printed() {
        let env = config::Map::from([
            (
                "CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__ENABLED".to_owned(),
                "true".to_owned(),
            ),
            (
                "CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__SETTINGS__BASE_URL".to_owned(),
                "http://127.0.0.1:9".to_owned(),
            ),
            (
                "CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__SETTINGS__API_KEY".to_owned(),
                "very-secret-key".to_owned(),
            ),
            (
                "CCTV__NOTIFICATIONS__COOLDOWN_SECS".to_owned(),
                "5".to_owned(),
            ),
        ]);
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        let notifiers = s.notifications.notifiers().unwrap();
        assert_eq!(
            notifiers.iter().map(|n| n.kind()).collect::<Vec<_>>(),
            ["whatsapp"]
        );
        assert_eq!(s.notifications.service_settings().cooldown.as_secs(), 5);
        let printed = format!("{s:?} {notifiers:?}");
        assert!(!printed.contains("very-secret-key"), "{printed}");
    }

    #[test]
    fn defaults_enable_no_channel_and_a_bad_channel_names_itself() {
        let s = Settings::load(None).unwrap();
        assert!(s.notifications.notifiers().unwrap().is_empty());
        assert_eq!(s.notifications.service_settings().retry.max_attempts, 5);
        let env = config::Map::from([(
            "CCTV__NOTIFICATIONS__CHANNELS__PAGER__ENABLED".to_owned(),
            "true".to_owned(),
        )]);
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        let err = format!("{:#}", s.notifications.notifiers().unwrap_err());
        assert!(
            err.contains("notifications.channels.pager") && err.contains("unknown notifier kind"),
            "{err}"
        );
    }
}
