//! Wiring: settings → storage, blob store, core, pipeline.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cctv_core::access::{SecretBox, ThrottleSettings};
use cctv_core::manage::ManageSettings;
use cctv_actors::{Pipeline, PipelineSettings};
use cctv_blob_fs::FsBlobStore;
use cctv_core::detection::DetectionRules;
use cctv_core::storage::Storage;
use cctv_core::{Core, CoreSettings};
use cctv_storage_postgres::{PgSettings, PgStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};

use crate::settings::Settings;

/// An opened store, and for SQLite the lock that keeps a second process off the file.
pub struct OpenedStore {
    pub storage: Arc<dyn Storage>,
    pub single_node: bool,
    _lock: Option<File>,
}

/// `exclusive`: take the data directory's lock (the server does; short CLI commands share
/// the file with a running server, which SQLite's locking allows).
pub async fn open_store(settings: &Settings, exclusive: bool) -> anyhow::Result<OpenedStore> {
    if settings.uses_postgres() {
        let mut pg = PgSettings::new(settings.database.url.clone());
        pg.max_connections = settings.database.max_connections;
        let store = PgStore::open(&pg).await.context("opening PostgreSQL")?;
        return Ok(OpenedStore {
            storage: Arc::new(store),
            single_node: false,
            _lock: None,
        });
    }
    anyhow::ensure!(
        settings.database.url.is_empty() || settings.database.url.starts_with("sqlite:"),
        "database.url must be empty (embedded SQLite), sqlite:PATH or a postgres:// URL"
    );
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let lock_path = settings.data_dir.join("cctv.lock");
    let lock = if exclusive {
        let lock = File::create(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        lock.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "another cctv server is using {} (embedded SQLite allows one)",
                settings.data_dir.display()
            )
        })?;
        Some(lock)
    } else {
        None
    };
    let path = match settings.database.url.strip_prefix("sqlite:") {
        Some(p) if !p.is_empty() => p.into(),
        _ => settings.data_dir.join("cctv.db"),
    };
    let mut sqlite = SqliteSettings::new(path);
    sqlite.fsync_every_commit = settings.database.sqlite_fsync;
    let store = SqliteStore::open(&sqlite).await.context("opening SQLite")?;
    Ok(OpenedStore {
        storage: Arc::new(store),
        single_node: true,
        _lock: lock,
    })
}

pub async fn build_core(settings: &Settings, storage: Arc<dyn Storage>) -> anyhow::Result<Core> {
    let blobs = FsBlobStore::new(settings.data_dir.join("storage"))
        .context("creating the storage directory")?;
    let core_settings = CoreSettings {
        timezone: settings.timezone(),
        detection_rules: DetectionRules {
            max_future_skew: jiff::SignedDuration::from_secs(settings.ingest.max_future_skew_secs),
        },
        schedule: settings.schedule.tasks()?,
        queue_alert_threshold: settings.queues.alert_threshold,
    };
    Ok(Core::builder()
        .storage(storage)
        .blob_store(Arc::new(blobs))
        .secret_box(secret_box(settings)?)
        .settings(core_settings)
        .build()
        .await?)
}

/// The credential encryption key: configured, or `<data_dir>/secret.key` (created with
/// mode 0600 on first use).
pub fn secret_box(settings: &Settings) -> anyhow::Result<SecretBox> {
    let configured = settings.security.encryption_key.trim();
    if !configured.is_empty() {
        return SecretBox::from_base64(configured).context("security.encryption_key");
    }
    let path = settings.data_dir.join("secret.key");
    if !path.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(&settings.data_dir).context("creating the data directory")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(SecretBox::generate_key().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new credential encryption key");
    }
    let key = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    SecretBox::from_base64(&key).with_context(|| format!("the key in {}", path.display()))
}

/// Settings of the management service from configuration.
pub fn manage_settings(settings: &Settings) -> ManageSettings {
    let s = &settings.security;
    ManageSettings {
        token_ttl: Duration::from_secs(s.token_ttl_hours.max(1) * 3600),
        throttle: ThrottleSettings {
            max_failures: s.login_max_failures.max(1),
            window: Duration::from_secs(s.login_window_secs.max(1)),
        },
    }
}

pub async fn start_pipeline(
    settings: &Settings,
    core: Core,
    single_node: bool,
) -> anyhow::Result<Pipeline> {
    let i = &settings.ingest;
    let pipeline = PipelineSettings {
        ingest_max_batch: i.batch_max,
        ingest_mailbox: i.mailbox,
        ingest_min_batch: i.min_batch,
        ingest_linger: Duration::from_millis(i.linger_ms),
        detection_workers: match i.workers {
            0 if single_node => 1,
            0 => 4,
            n => n,
        },
        detection_batch: i.worker_batch,
        detection_min_batch: i.worker_min_batch,
        detection_batch_wait: Duration::from_millis(i.worker_batch_wait_ms),
        memory_queue: i.memory_queue,
        lease: Duration::from_secs(i.lease_secs),
        poll_interval: Duration::from_millis(i.poll_interval_ms),
        release_all_leases_on_start: single_node,
        completed_retention: Duration::from_secs(i.completed_job_retention_hours * 3600),
        report_workers: settings.queues.report_workers,
        maintenance_workers: settings.queues.maintenance_workers,
        run_scheduler: settings.schedule.enabled,
        schedule_catch_up: Duration::from_secs(settings.schedule.catch_up_days * 24 * 3600),
        queue_monitor_interval: Duration::from_secs(settings.queues.monitor_interval_secs.max(1)),
        ..PipelineSettings::default()
    };
    Ok(Pipeline::start(core, pipeline).await?)
}
