//! How the admin application rides on a [`Core`]: its parts (the optional storage
//! capabilities, the credential key, the notifiers, the webhook transport, its settings
//! and the process-wide state of reports and workers) are one [`Admin`] value attached
//! as a core extension. [`AdminBuilder`] adds the parts while a core is wired and
//! [`AdminCore`] reads them back, so code with a `Core` writes `core.report_store()` as
//! if the core had the method.
//!
//! A core built without any admin part answers with [`Admin::fallback`]: no capabilities
//! (what needs one answers that it is unsupported), no notifiers, default settings and a
//! credential key for this process only.

use std::sync::{Arc, OnceLock};

use cctv_core::storage::StorageError;
use cctv_core::{Core, CoreBuilder};

use crate::access::SecretBox;
use crate::analytics::AnalyticsStore;
use crate::capabilities::{Capabilities, require};
use crate::export::ExportStore;
use crate::notify::webhook::WebhookTransport;
use crate::notify::{NotificationStore, Notifier};
use crate::queue_ops::QueueAdmin;
use crate::reporting::ReportStore;
use crate::reporting::persons_memo::PersonsMemo;
use crate::schedule::{Cadence, ScheduleStore, TaskName};
use crate::storage::FullStorage;

/// Settings of the admin application.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Scheduled tasks and their cadences (in the core's timezone); a task left out never
    /// runs.
    pub schedule: Vec<(TaskName, Cadence)>,
    /// Pending jobs above which a queue raises an alert.
    pub queue_alert_threshold: u64,
    /// Failed jobs of one queue above which the admins who opted in are told
    /// (see [`crate::ops_alerts`]).
    pub failed_alert_threshold: u64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            schedule: TaskName::ALL
                .into_iter()
                .map(|t| (t, t.default_cadence()))
                .collect(),
            queue_alert_threshold: crate::queue_ops::DEFAULT_ALERT_THRESHOLD,
            failed_alert_threshold: crate::ops_alerts::DEFAULT_FAILED_THRESHOLD,
        }
    }
}

/// The admin application's parts of one core.
#[derive(Default)]
pub struct Admin {
    capabilities: Capabilities,
    secrets: OnceLock<SecretBox>,
    notifiers: Vec<Arc<dyn Notifier>>,
    webhooks: Option<Arc<dyn WebhookTransport>>,
    settings: AdminSettings,
}

impl Admin {
    /// What a core built without admin parts answers with: one per process, so it holds
    /// nothing that belongs to one core (its credential key is one random key for every
    /// such core of the process, lost at exit; such a core's reports keep no memo).
    pub fn fallback() -> &'static Admin {
        static FALLBACK: OnceLock<Admin> = OnceLock::new();
        FALLBACK.get_or_init(Admin::default)
    }

    /// Encrypts and decrypts stored device and stream credentials. Without a configured
    /// key, a random one for this process only: what it encrypts cannot be read after a
    /// restart.
    pub fn secrets(&self) -> &SecretBox {
        self.secrets.get_or_init(|| {
            tracing::warn!(
                "no credential encryption key configured: using a key for this process only"
            );
            SecretBox::from_base64(&SecretBox::generate_key()).expect("a generated key is valid")
        })
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("capabilities", &self.capabilities)
            .field("notifiers", &self.notifiers)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The admin application's view of a [`Core`]: `use cctv_admin::AdminCore` and a core has
/// these methods.
pub trait AdminCore {
    /// The admin parts the core was built with, or [`Admin::fallback`].
    fn admin(&self) -> &Admin;

    /// The optional storage capabilities this core was given.
    fn capabilities(&self) -> &Capabilities {
        &self.admin().capabilities
    }

    /// Notification settings, deliveries and the message log.
    fn notification_store(&self) -> Result<&Arc<dyn NotificationStore>, StorageError> {
        require(&self.admin().capabilities.notifications, "notifications")
    }

    /// Report days, daily and monthly reports, the dirty-day queue.
    fn report_store(&self) -> Result<&Arc<dyn ReportStore>, StorageError> {
        require(&self.admin().capabilities.reports, "reports")
    }

    /// The schedule's slots and runs.
    fn schedule_store(&self) -> Result<&Arc<dyn ScheduleStore>, StorageError> {
        require(&self.admin().capabilities.schedule, "the schedule")
    }

    /// Queue statistics and failed-job handling.
    fn queue_admin(&self) -> Result<&Arc<dyn QueueAdmin>, StorageError> {
        require(
            &self.admin().capabilities.queue_admin,
            "queue administration",
        )
    }

    /// Keyset pages of person-days, event logs and detections.
    fn export_store(&self) -> Result<&Arc<dyn ExportStore>, StorageError> {
        require(&self.admin().capabilities.exports, "exports")
    }

    /// Visits, dwell, flows, frequency and heatmap.
    fn analytics_store(&self) -> Result<&Arc<dyn AnalyticsStore>, StorageError> {
        require(&self.admin().capabilities.analytics, "analytics")
    }

    /// Encrypts and decrypts stored device and stream credentials.
    fn secrets(&self) -> &SecretBox {
        self.admin().secrets()
    }

    /// The notifiers given to the builder, in registration order.
    fn notifiers(&self) -> &[Arc<dyn Notifier>] {
        &self.admin().notifiers
    }

    /// The first notifier of `kind` (`whatsapp`, `webhook`, `log`, …).
    fn notifier(&self, kind: &str) -> Option<&Arc<dyn Notifier>> {
        self.admin().notifiers.iter().find(|n| n.kind() == kind)
    }

    /// What sends event webhooks, when the builder was given one.
    fn webhook_transport(&self) -> Option<&Arc<dyn WebhookTransport>> {
        self.admin().webhooks.as_ref()
    }

    /// Scheduled tasks and alert thresholds.
    fn admin_settings(&self) -> &AdminSettings {
        &self.admin().settings
    }
}

impl AdminCore for Core {
    fn admin(&self) -> &Admin {
        self.extension::<Admin>().unwrap_or_else(|| {
            static SAID: std::sync::Once = std::sync::Once::new();
            // A full backend handed to `CoreBuilder::storage` instead of `full_storage`
            // lands here too: say it where an operator looks.
            SAID.call_once(|| {
                tracing::info!(
                    "a core was built without the admin parts (cctv_admin::AdminBuilder): no optional storage capabilities, no notifiers, default admin settings"
                )
            });
            Admin::fallback()
        })
    }
}

/// Adds the admin application's parts to a [`CoreBuilder`]: `use cctv_admin::AdminBuilder`
/// and the builder has these methods.
pub trait AdminBuilder: Sized {
    /// The admin parts being built.
    fn admin_mut(&mut self) -> &mut Admin;

    /// A backend with every capability (what the reference server needs): its required
    /// part as the core's storage, the rest as the admin's capabilities.
    fn full_storage(self, storage: Arc<dyn FullStorage>) -> Self;

    /// The optional capabilities of a backend given to `CoreBuilder::storage`.
    fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.admin_mut().capabilities = capabilities;
        self
    }

    /// The key for stored device and stream credentials. Without one, a random key is
    /// used for this process only: credentials saved now cannot be read after a restart.
    fn secret_box(mut self, secrets: SecretBox) -> Self {
        let admin = self.admin_mut();
        admin.secrets = OnceLock::new();
        let _ = admin.secrets.set(secrets);
        self
    }

    /// Adds a notification channel; call once per channel (several of one kind are fine,
    /// e.g. two webhooks).
    fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.admin_mut().notifiers.push(notifier);
        self
    }

    /// What sends event webhooks (`cctv_notify_webhook::HttpWebhookTransport` over HTTP).
    /// Without one, endpoints listed in event settings fail with `no_transport`.
    fn webhook_transport(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.admin_mut().webhooks = Some(transport);
        self
    }

    /// Scheduled tasks and alert thresholds (default: every task at its default cadence).
    fn admin_settings(mut self, settings: AdminSettings) -> Self {
        self.admin_mut().settings = settings;
        self
    }
}

impl AdminBuilder for CoreBuilder {
    fn admin_mut(&mut self) -> &mut Admin {
        // The reports' distinct-persons memo is per core too: its own extension value, so
        // that the reports find it without going through `Admin`.
        self.extension_mut::<PersonsMemo>();
        self.extension_mut::<Admin>()
    }

    fn full_storage(mut self, storage: Arc<dyn FullStorage>) -> Self {
        self.admin_mut().capabilities = Capabilities::all(&storage);
        self.storage(storage)
    }
}
