//! [`Core`]: the wired set of plugins and settings that every other crate works from.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::access::SecretBox;
use crate::analytics::AnalyticsStore;
use crate::blob::BlobStore;
use crate::cache::{CredentialCache, EstateCache};
use crate::capabilities::{Capabilities, require};
use crate::detection::DetectionRules;
use crate::events::{BroadcastBus, EventBus};
use crate::export::ExportStore;
use crate::media::ImageProcessor;
use crate::notify::webhook::WebhookTransport;
use crate::notify::{NotificationStore, Notifier};
use crate::queue_ops::QueueAdmin;
use crate::rate_limit::{HourlyLimiter, RequestLimiter};
use crate::reporting::ReportStore;
use crate::schedule::ScheduleStore;
use crate::storage::error::StorageError;
use crate::storage::{FullStorage, Storage};

/// Settings of the domain (no I/O settings: those belong to the plugins).
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Timezone of "days": person-days, reports, schedules.
    pub timezone: TimeZone,
    pub detection_rules: DetectionRules,
    /// Scheduled tasks and their cadences (in `timezone`); a task left out never runs.
    pub schedule: Vec<(crate::schedule::TaskName, crate::schedule::Cadence)>,
    /// Pending jobs above which a queue raises an alert.
    pub queue_alert_threshold: u64,
    /// Failed jobs of one queue above which the admins who opted in are told
    /// (see [`crate::ops_alerts`]).
    pub failed_alert_threshold: u64,
    /// Most detections in one batch upload ([`Core::accept_detection_batch`]).
    pub max_batch_items: usize,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            timezone: TimeZone::UTC,
            detection_rules: DetectionRules::default(),
            schedule: crate::schedule::TaskName::ALL
                .into_iter()
                .map(|t| (t, t.default_cadence()))
                .collect(),
            queue_alert_threshold: crate::queue_ops::DEFAULT_ALERT_THRESHOLD,
            failed_alert_threshold: crate::ops_alerts::DEFAULT_FAILED_THRESHOLD,
            max_batch_items: crate::accept::batch::DEFAULT_MAX_BATCH_ITEMS,
        }
    }
}

/// Errors of [`CoreBuilder::build`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("no storage backend was given")]
    MissingStorage,
    #[error("loading caches failed: {0}")]
    Storage(#[from] StorageError),
}

struct Inner {
    storage: Arc<dyn Storage>,
    capabilities: Capabilities,
    blobs: Option<Arc<dyn BlobStore>>,
    events: Arc<dyn EventBus>,
    secrets: SecretBox,
    notifiers: Vec<Arc<dyn Notifier>>,
    webhooks: Option<Arc<dyn WebhookTransport>>,
    images: Option<Arc<dyn ImageProcessor>>,
    settings: CoreSettings,
    estate: EstateCache,
    credentials: CredentialCache,
    limiter: Arc<dyn RequestLimiter>,
    /// Set by whatever runs this process's workers (cctv-actors' pipeline).
    workers: std::sync::RwLock<Option<Arc<dyn crate::queue_ops::WorkerStatus>>>,
    /// Distinct persons of recent report ranges (see `reporting::persons_memo`).
    persons_memo: crate::reporting::persons_memo::PersonsMemo,
    metrics: crate::metrics::Metrics,
}

/// The domain core: storage, blob store, event bus, settings and the hot-path caches.
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cctv_core::storage::FullStorage>) -> Result<(), cctv_core::BuildError> {
/// let core = cctv_core::Core::builder().full_storage(store).build().await?;
/// println!("{} branches known", core.estate().branches.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("storage", &self.inner.storage)
            .field("capabilities", &self.inner.capabilities)
            .field("notifiers", &self.inner.notifiers)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Core {
    pub fn builder() -> CoreBuilder {
        CoreBuilder::default()
    }

    /// The required storage: intake and processing, the job queue, the estate,
    /// credentials, the registry and records.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The optional storage capabilities this core was given.
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.capabilities
    }

    /// Notification settings, deliveries and the message log.
    pub fn notification_store(&self) -> Result<&Arc<dyn NotificationStore>, StorageError> {
        require(&self.inner.capabilities.notifications, "notifications")
    }

    /// Report days, daily and monthly reports, the dirty-day queue.
    pub fn report_store(&self) -> Result<&Arc<dyn ReportStore>, StorageError> {
        require(&self.inner.capabilities.reports, "reports")
    }

    /// The schedule's slots and runs.
    pub fn schedule_store(&self) -> Result<&Arc<dyn ScheduleStore>, StorageError> {
        require(&self.inner.capabilities.schedule, "the schedule")
    }

    /// Queue statistics and failed-job handling.
    pub fn queue_admin(&self) -> Result<&Arc<dyn QueueAdmin>, StorageError> {
        require(&self.inner.capabilities.queue_admin, "queue administration")
    }

    /// Keyset pages of person-days, event logs and detections.
    pub fn export_store(&self) -> Result<&Arc<dyn ExportStore>, StorageError> {
        require(&self.inner.capabilities.exports, "exports")
    }

    /// Visits, dwell, flows, frequency and heatmap.
    pub fn analytics_store(&self) -> Result<&Arc<dyn AnalyticsStore>, StorageError> {
        require(&self.inner.capabilities.analytics, "analytics")
    }

    /// Distinct persons of recent report ranges, kept for cache-first dashboards.
    pub(crate) fn persons_memo(&self) -> &crate::reporting::persons_memo::PersonsMemo {
        &self.inner.persons_memo
    }

    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    pub fn blobs(&self) -> Option<&Arc<dyn BlobStore>> {
        self.inner.blobs.as_ref()
    }

    pub fn events(&self) -> &Arc<dyn EventBus> {
        &self.inner.events
    }

    /// What turns uploaded event images into the served ones, when the builder was given
    /// one.
    pub fn image_processor(&self) -> Option<&Arc<dyn ImageProcessor>> {
        self.inner.images.as_ref()
    }

    /// What sends event webhooks, when the builder was given one.
    pub(crate) fn webhook_transport(&self) -> Option<&Arc<dyn WebhookTransport>> {
        self.inner.webhooks.as_ref()
    }

    /// The notifiers given to the builder, in registration order.
    pub fn notifiers(&self) -> &[Arc<dyn Notifier>] {
        &self.inner.notifiers
    }

    /// The first notifier of `kind` (`whatsapp`, `webhook`, `log`, …).
    pub fn notifier(&self, kind: &str) -> Option<&Arc<dyn Notifier>> {
        self.inner.notifiers.iter().find(|n| n.kind() == kind)
    }

    pub fn settings(&self) -> &CoreSettings {
        &self.inner.settings
    }

    /// Encrypts and decrypts stored device and stream credentials.
    pub fn secrets(&self) -> &SecretBox {
        &self.inner.secrets
    }

    pub fn timezone(&self) -> &TimeZone {
        &self.inner.settings.timezone
    }

    /// Today's date in the configured timezone.
    pub fn today(&self) -> jiff::civil::Date {
        Timestamp::now()
            .to_zoned_datetime(self.timezone().clone())
            .date()
    }

    pub fn estate(&self) -> Arc<crate::estate::EstateSnapshot> {
        self.inner.estate.get()
    }

    pub fn credentials(&self) -> &CredentialCache {
        &self.inner.credentials
    }

    /// The credential of a device request's key. A key the cache does not know may be one
    /// another process created a moment ago (`cctv demo`, another node): the cache checks
    /// the store (rate-limited, see `CredentialCache::refresh_on_miss`), and a key found
    /// that way refreshes the estate too, which the same process usually just wrote.
    pub async fn find_credential(
        &self,
        api_key: &str,
    ) -> Option<Arc<crate::cache::CredentialEntry>> {
        if let Some(entry) = self.inner.credentials.lookup(api_key) {
            return Some(entry);
        }
        let storage = self.inner.storage.as_ref();
        let found = self
            .inner
            .credentials
            .refresh_on_miss(storage, api_key)
            .await?;
        if let Err(e) = self.inner.estate.refresh(storage).await {
            tracing::warn!(error = %e, "refreshing the estate failed");
        }
        Some(found)
    }

    /// Counts device requests against their credentials' hourly limits.
    pub fn limiter(&self) -> &Arc<dyn RequestLimiter> {
        &self.inner.limiter
    }

    /// Registers what reports this process's workers (the admin queue view shows them).
    pub fn set_worker_status(&self, status: Arc<dyn crate::queue_ops::WorkerStatus>) {
        *self
            .inner
            .workers
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    /// This process's workers, empty when none run here.
    pub fn worker_states(&self) -> Vec<crate::queue_ops::WorkerState> {
        let status = self
            .inner
            .workers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        status.map(|s| s.states()).unwrap_or_default()
    }

    /// Reloads both caches now (after a change made through this process).
    pub async fn reload_caches(&self) -> Result<(), StorageError> {
        self.inner
            .estate
            .reload(self.inner.storage.as_ref())
            .await?;
        self.inner
            .credentials
            .reload(self.inner.storage.as_ref())
            .await
    }

    /// Reloads caches whose store stamp moved (changes made by other processes).
    pub(crate) async fn refresh_caches(&self) -> Result<(), StorageError> {
        self.inner
            .estate
            .refresh(self.inner.storage.as_ref())
            .await?;
        self.inner
            .credentials
            .refresh(self.inner.storage.as_ref())
            .await?;
        Ok(())
    }

    /// Keeps caches fresh and flushes credential use times until the task is dropped.
    pub async fn run_cache_maintenance(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh_caches().await {
                tracing::warn!(error = %e, "cache refresh failed");
            }
            if let Err(e) = self
                .inner
                .credentials
                .flush_usage(self.inner.storage.as_ref())
                .await
            {
                tracing::warn!(error = %e, "flushing credential use failed");
            }
        }
    }

    /// Writes pending credential use times (call at shutdown).
    pub async fn flush_credential_usage(&self) -> Result<usize, StorageError> {
        self.inner
            .credentials
            .flush_usage(self.inner.storage.as_ref())
            .await
    }
}

/// Wires a [`Core`]; only the storage is required.
#[derive(Default)]
pub struct CoreBuilder {
    storage: Option<Arc<dyn Storage>>,
    capabilities: Capabilities,
    blobs: Option<Arc<dyn BlobStore>>,
    events: Option<Arc<dyn EventBus>>,
    limiter: Option<Arc<dyn RequestLimiter>>,
    secrets: Option<SecretBox>,
    notifiers: Vec<Arc<dyn Notifier>>,
    webhooks: Option<Arc<dyn WebhookTransport>>,
    images: Option<Arc<dyn ImageProcessor>>,
    settings: CoreSettings,
}

impl CoreBuilder {
    /// A backend with only the required interface ([`Storage`]): detections are
    /// accepted, processed and counted, and the registry answers; what needs an optional
    /// capability fails with [`StorageError::Unsupported`] unless
    /// [`capabilities`](Self::capabilities) adds it. A backend with every capability
    /// given here is used as a bare `Storage` too: give it to
    /// [`full_storage`](Self::full_storage) instead.
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// A backend with every capability (what the reference server needs).
    pub fn full_storage(mut self, storage: Arc<dyn FullStorage>) -> Self {
        self.capabilities = Capabilities::all(&storage);
        self.storage = Some(storage);
        self
    }

    /// The optional capabilities of a backend given with [`storage`](Self::storage).
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    pub fn blob_store(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    pub fn event_bus(mut self, events: Arc<dyn EventBus>) -> Self {
        self.events = Some(events);
        self
    }

    /// How hourly request limits are counted; default: in this process
    /// (`HourlyLimiter`). Several nodes share limits with a
    /// [`LeasedLimiter`](crate::rate_limit::LeasedLimiter).
    pub fn request_limiter(mut self, limiter: Arc<dyn RequestLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The key for stored device and stream credentials. Without one, a random key is
    /// used for this process only: credentials saved now cannot be read after a restart.
    pub fn secret_box(mut self, secrets: SecretBox) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Adds a notification channel; call once per channel (several of one kind are fine,
    /// e.g. two webhooks).
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// What sends event webhooks (`cctv_notify_webhook::HttpWebhookTransport` over HTTP).
    /// Without one, endpoints listed in event settings fail with `no_transport`.
    pub fn webhook_transport(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.webhooks = Some(transport);
        self
    }

    /// What processes uploaded event images (`cctv_image::EventImageProcessor`). Without
    /// one, uploads are kept as they came and image jobs complete as skipped.
    pub fn image_processor(mut self, processor: Arc<dyn ImageProcessor>) -> Self {
        self.images = Some(processor);
        self
    }

    pub fn settings(mut self, settings: CoreSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn timezone(mut self, timezone: TimeZone) -> Self {
        self.settings.timezone = timezone;
        self
    }

    /// Builds the core and loads its caches from storage.
    pub async fn build(self) -> Result<Core, BuildError> {
        let storage = self.storage.ok_or(BuildError::MissingStorage)?;
        let missing = self.capabilities.missing();
        if !missing.is_empty() {
            // A backend with every capability handed to `storage` instead of
            // `full_storage` lands here too: say it where an operator looks.
            tracing::info!(
                backend = storage.backend_name(),
                ?missing,
                "the storage backend was given without some optional capabilities; what needs them answers that it is unsupported"
            );
        }
        let metrics = crate::metrics::Metrics::new(storage.backend_name());
        let core = Core {
            inner: Arc::new(Inner {
                metrics,
                storage,
                capabilities: self.capabilities,
                blobs: self.blobs,
                events: self
                    .events
                    .unwrap_or_else(|| Arc::new(BroadcastBus::default())),
                secrets: self.secrets.unwrap_or_else(|| {
                    tracing::warn!(
                        "no credential encryption key configured: using a key for this process only"
                    );
                    SecretBox::from_base64(&SecretBox::generate_key())
                        .expect("a generated key is valid")
                }),
                notifiers: self.notifiers,
                webhooks: self.webhooks,
                images: self.images,
                settings: self.settings,
                estate: EstateCache::default(),
                credentials: CredentialCache::default(),
                limiter: self
                    .limiter
                    .unwrap_or_else(|| Arc::new(HourlyLimiter::new())),
                workers: std::sync::RwLock::new(None),
                persons_memo: Default::default(),
            }),
        };
        core.reload_caches().await?;
        Ok(core)
    }
}
