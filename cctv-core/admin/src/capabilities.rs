//! The optional storage capabilities a [`Core`](cctv_core::Core) was given beside the required
//! [`Storage`](cctv_core::storage::Storage).
//!
//! A backend for embedding may implement only `Storage` (detections in, counts out); the
//! reference server's features need more — notifications, reports, the schedule, queue
//! administration, exports, visitor analytics — each its own trait. The admin parts of a
//! core ([`Admin`](crate::Admin)) hold each one it was given and code that needs one asks
//! for it by name, so a missing capability is an error naming it
//! ([`StorageError::Unsupported`]) where it is used, not a backend that cannot be plugged
//! in at all.

use std::sync::Arc;

use crate::analytics::AnalyticsStore;
use crate::export::ExportStore;
use crate::notify::NotificationStore;
use crate::queue_ops::QueueAdmin;
use crate::reporting::ReportStore;
use crate::schedule::ScheduleStore;
use crate::storage::FullStorage;
use cctv_core::storage::StorageError;

/// The optional capabilities of one backend; each `None` is one the backend lacks.
#[derive(Clone, Default)]
pub struct Capabilities {
    pub notifications: Option<Arc<dyn NotificationStore>>,
    pub reports: Option<Arc<dyn ReportStore>>,
    pub schedule: Option<Arc<dyn ScheduleStore>>,
    pub queue_admin: Option<Arc<dyn QueueAdmin>>,
    pub exports: Option<Arc<dyn ExportStore>>,
    pub analytics: Option<Arc<dyn AnalyticsStore>>,
}

impl Capabilities {
    /// Every capability, from a backend that has them all.
    pub fn all(store: &Arc<dyn FullStorage>) -> Self {
        Self {
            notifications: Some(store.clone()),
            reports: Some(store.clone()),
            schedule: Some(store.clone()),
            queue_admin: Some(store.clone()),
            exports: Some(store.clone()),
            analytics: Some(store.clone()),
        }
    }

    /// The names of the capabilities present, for logs.
    pub fn names(&self) -> Vec<&'static str> {
        self.each()
            .into_iter()
            .filter_map(|(name, present)| present.then_some(name))
            .collect()
    }

    /// The names of the capabilities missing.
    pub fn missing(&self) -> Vec<&'static str> {
        self.each()
            .into_iter()
            .filter_map(|(name, present)| (!present).then_some(name))
            .collect()
    }

    fn each(&self) -> [(&'static str, bool); 6] {
        [
            ("notifications", self.notifications.is_some()),
            ("reports", self.reports.is_some()),
            ("schedule", self.schedule.is_some()),
            ("queue administration", self.queue_admin.is_some()),
            ("exports", self.exports.is_some()),
            ("analytics", self.analytics.is_some()),
        ]
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The capability, or the error naming it.
pub(crate) fn require<'a, T: ?Sized>(
    capability: &'a Option<Arc<T>>,
    name: &'static str,
) -> Result<&'a Arc<T>, StorageError> {
    capability.as_ref().ok_or_else(|| {
        say_missing(name);
        StorageError::Unsupported(name)
    })
}

/// Logs a missing capability the first time something asks for it in this process: a
/// backend with every capability handed to `CoreBuilder::storage` without
/// `AdminBuilder::full_storage` lands here too, and the log is where an operator looks.
fn say_missing(name: &'static str) {
    static SAID: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if !said.contains(&name) {
        said.push(name);
        tracing::warn!(
            capability = name,
            "the storage backend was given without this optional capability: what needs it answers that it is unsupported"
        );
    }
}
