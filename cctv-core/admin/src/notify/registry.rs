//! `kind → factory`: how the configuration-driven binary turns `{kind, settings}` entries
//! into notifier instances without knowing the plugin crates' types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Notifier;

/// Builds a notifier from its plugin settings (the JSON object under the entry's
/// `settings` key). Factories validate everything they can, so a bad configuration fails
/// at start-up rather than at the first event.
pub type NotifierFactory =
    Arc<dyn Fn(&Value) -> Result<Arc<dyn Notifier>, NotifierConfigError> + Send + Sync>;

/// A notifier could not be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifierConfigError {
    #[error("unknown notifier kind `{kind}` (registered kinds: {known})")]
    UnknownKind { kind: String, known: String },
    #[error("invalid settings for notifier `{kind}`: {message}")]
    InvalidSettings { kind: String, message: String },
}

impl NotifierConfigError {
    pub fn invalid(kind: &str, message: impl Into<String>) -> Self {
        Self::InvalidSettings {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

/// Deserialises a plugin's typed settings, naming the plugin in the error.
pub fn parse_settings<T: DeserializeOwned>(
    kind: &str,
    settings: &Value,
) -> Result<T, NotifierConfigError> {
    T::deserialize(settings).map_err(|e| NotifierConfigError::invalid(kind, e.to_string()))
}

/// Factories by kind.
///
/// ```
/// use std::sync::Arc;
/// use cctv_admin::notify::{NotifierRegistry, NotifierConfigError};
///
/// let mut registry = NotifierRegistry::new();
/// registry.register("null", |_settings| Err(NotifierConfigError::invalid("null", "not configured")));
/// assert!(registry.contains("null"));
/// let err = registry.build("sms", &serde_json::json!({})).unwrap_err();
/// assert_eq!(err.to_string(), "unknown notifier kind `sms` (registered kinds: null)");
/// ```
#[derive(Clone, Default)]
pub struct NotifierRegistry {
    factories: BTreeMap<String, NotifierFactory>,
}

impl NotifierRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `kind`. A later registration of the same kind replaces the
    /// earlier one, so an embedder can override a built-in plugin.
    pub fn register<F>(&mut self, kind: impl Into<String>, factory: F) -> &mut Self
    where
        F: Fn(&Value) -> Result<Arc<dyn Notifier>, NotifierConfigError> + Send + Sync + 'static,
    {
        self.factories.insert(kind.into(), Arc::new(factory));
        self
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.factories.contains_key(kind)
    }

    /// The registered kinds, sorted.
    pub(crate) fn kinds(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds a notifier of `kind` from its settings.
    pub fn build(
        &self,
        kind: &str,
        settings: &Value,
    ) -> Result<Arc<dyn Notifier>, NotifierConfigError> {
        let factory = self
            .factories
            .get(kind)
            .ok_or_else(|| NotifierConfigError::UnknownKind {
                kind: kind.to_owned(),
                known: if self.factories.is_empty() {
                    "none".to_owned()
                } else {
                    self.kinds().collect::<Vec<_>>().join(", ")
                },
            })?;
        factory(settings)
    }
}

impl fmt::Debug for NotifierRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.kinds()).finish()
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::notify::{Delivery, NotifyError, OutboundMessage};

    #[derive(Debug)]
    struct Fixed(&'static str);

    #[async_trait]
    impl Notifier for Fixed {
        fn kind(&self) -> &'static str {
            self.0
        }
        async fn send(&self, _: &OutboundMessage) -> Result<Delivery, NotifyError> {
            Ok(Delivery::sent(None, std::time::Duration::ZERO))
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        #[allow(dead_code)]
        name: String,
    }

    fn registry() -> NotifierRegistry {
        let mut registry = NotifierRegistry::new();
        registry
            .register("fixed", |settings| {
                let _: Settings = parse_settings("fixed", settings)?;
                Ok(Arc::new(Fixed("fixed")) as Arc<dyn Notifier>)
            })
            .register("other", |_| {
                Ok(Arc::new(Fixed("other")) as Arc<dyn Notifier>)
            });
        registry
    }

    #[test]
    fn a_registered_kind_builds_its_notifier() {
        let notifier = registry().build("other", &json!({})).unwrap();
        assert_eq!(notifier.kind(), "other");
    }

    #[test]
    fn an_unknown_kind_lists_the_registered_ones() {
        let err = registry().build("sms", &json!({})).unwrap_err();
        assert_eq!(
            err,
            NotifierConfigError::UnknownKind {
                kind: "sms".into(),
                known: "fixed, other".into()
            }
        );
        let empty = NotifierRegistry::new()
            .build("sms", &json!({}))
            .unwrap_err();
        assert!(
            empty.to_string().contains("registered kinds: none"),
            "{empty}"
        );
    }

    #[test]
    fn bad_settings_name_the_plugin_and_the_field() {
        let err = registry()
            .build("fixed", &json!({"name": "a", "colour": "red"}))
            .unwrap_err();
        let NotifierConfigError::InvalidSettings { kind, message } = err else {
            panic!("expected invalid settings, got {err:?}")
        };
        assert_eq!(kind, "fixed");
        assert!(message.contains("colour"), "{message}");
    }

    #[test]
    fn a_later_registration_replaces_the_earlier_one() {
        let mut registry = registry();
        registry.register("other", |_| {
            Ok(Arc::new(Fixed("replaced")) as Arc<dyn Notifier>)
        });
        assert_eq!(
            registry.build("other", &json!({})).unwrap().kind(),
            "replaced"
        );
        assert_eq!(format!("{registry:?}"), r#"{"fixed", "other"}"#);
    }
}
