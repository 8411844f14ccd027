//! [`Core`]: the wired set of plugins and settings that every other crate works from.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::blob::BlobStore;
use crate::cache::{CredentialCache, EstateCache};
use crate::detection::DetectionRules;
use crate::events::{BroadcastBus, EventBus};
use crate::extensions::Extensions;
use crate::media::ImageProcessor;
use cctv_rate_limit::{HourlyLimiter, RequestLimiter};
use crate::storage::Storage;
use crate::storage::error::StorageError;
use crate::workers::{WorkerState, WorkerStatus};

/// Settings of the domain (no I/O settings: those belong to the plugins).
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Timezone of "days": person-days, reports, schedules.
    pub timezone: TimeZone,
    pub detection_rules: DetectionRules,
    /// Most detections in one batch upload ([`Core::accept_detection_batch`]).
    pub max_batch_items: usize,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            timezone: TimeZone::UTC,
            detection_rules: DetectionRules::default(),
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
    blobs: Option<Arc<dyn BlobStore>>,
    events: Arc<dyn EventBus>,
    images: Option<Arc<dyn ImageProcessor>>,
    settings: CoreSettings,
    estate: EstateCache,
    credentials: CredentialCache,
    limiter: Arc<dyn RequestLimiter>,
    metrics: cctv_metrics::Metrics,
    /// Set by whatever runs this process's workers (cctv-actors' pipeline).
    workers: std::sync::RwLock<Option<Arc<dyn WorkerStatus>>>,
    extensions: Extensions,
}

/// The domain core: storage, blob store, event bus, settings and the hot-path caches.
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo(store: std::sync::Arc<dyn cctv_core::storage::Storage>) -> Result<(), cctv_core::BuildError> {
/// let core = cctv_core::Core::builder().storage(store).build().await?;
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
            .field("settings", &self.inner.settings)
            .field("extensions", &self.inner.extensions)
            .finish()
    }
}

impl Core {
    pub fn builder() -> CoreBuilder {
        CoreBuilder::default()
    }

    /// The storage: intake and processing, the job queue, the estate, credentials, the
    /// registry and records.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// This process's Prometheus metrics.
    pub fn metrics(&self) -> &cctv_metrics::Metrics {
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

    pub fn settings(&self) -> &CoreSettings {
        &self.inner.settings
    }

    /// The value of type `T` the builder was given ([`CoreBuilder::extension_mut`]).
    pub fn extension<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.inner.extensions.get()
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

    /// Registers what reports this process's workers (the health probe and the admin
    /// queue view show them).
    pub fn set_worker_status(&self, status: Arc<dyn WorkerStatus>) {
        *self
            .inner
            .workers
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    /// This process's workers, empty when none run here.
    pub fn worker_states(&self) -> Vec<WorkerState> {
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
    blobs: Option<Arc<dyn BlobStore>>,
    events: Option<Arc<dyn EventBus>>,
    limiter: Option<Arc<dyn RequestLimiter>>,
    images: Option<Arc<dyn ImageProcessor>>,
    settings: CoreSettings,
    extensions: Extensions,
}

impl CoreBuilder {
    /// The storage backend (the only part a core needs).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The attached value of type `T` (one per type), attached as `T::default()` first
    /// when there is none; other crates fill their value here in one or several builder
    /// calls and read it back with [`Core::extension`].
    pub fn extension_mut<T: std::any::Any + Send + Sync + Default>(&mut self) -> &mut T {
        self.extensions.get_or_default()
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
    /// [`LeasedLimiter`](cctv_rate_limit::LeasedLimiter).
    pub fn request_limiter(mut self, limiter: Arc<dyn RequestLimiter>) -> Self {
        self.limiter = Some(limiter);
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

    /// Builds the core and loads its caches from storage.
    pub async fn build(self) -> Result<Core, BuildError> {
        let storage = self.storage.ok_or(BuildError::MissingStorage)?;
        let metrics = cctv_metrics::Metrics::new(storage.backend_name());
        let core = Core {
            inner: Arc::new(Inner {
                metrics,
                storage,
                blobs: self.blobs,
                events: self
                    .events
                    .unwrap_or_else(|| Arc::new(BroadcastBus::default())),
                images: self.images,
                settings: self.settings,
                estate: EstateCache::default(),
                credentials: CredentialCache::default(),
                limiter: self
                    .limiter
                    .unwrap_or_else(|| Arc::new(HourlyLimiter::new())),
                workers: std::sync::RwLock::new(None),
                extensions: self.extensions,
            }),
        };
        core.reload_caches().await?;
        Ok(core)
    }
}
