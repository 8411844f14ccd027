//! Wiring: settings → storage, blob store, core, pipeline.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cctv_actors::stream_health::StreamHealthSettings;
use cctv_actors::{
    ImageSettings, IngestPipeline, NodeSettings, NotificationWorkers, Pipeline, PipelineSettings,
    QueueWorkers, ScheduleRunner,
};
use cctv_admin::FullStorage;
use cctv_admin::access::{SecretBox, ThrottleSettings};
use cctv_admin::files::UrlSigner;
use cctv_admin::manage::ManageSettings;
use cctv_admin::{AdminBuilder, AdminSettings};
use cctv_core::detection::DetectionRules;
use cctv_core::events::EventBus;
use cctv_core::private_files as private;
use cctv_core::{Core, CoreSettings};
use cctv_rate_limit::LeasedLimiter;
use cctv_storage_postgres::{PgEventBus, PgSettings, PgStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};

use crate::settings::Settings;

/// An opened store, and for SQLite the lock that keeps a second process off the file.
pub struct OpenedStore {
    pub storage: Arc<dyn FullStorage>,
    pub single_node: bool,
    /// The cluster event bus (a server on PostgreSQL); `None`: the in-process bus.
    pub events: Option<Arc<dyn EventBus>>,
    /// The PostgreSQL store, for the cluster checks of a server.
    pub postgres: Option<PgStore>,
    /// What opening did to the schema.
    pub migrations: cctv_core::storage::MigrationReport,
    _lock: Option<File>,
}

/// `exclusive`: take the data directory's lock (the server does; short CLI commands share
/// the file with a running server, which SQLite's locking allows).
pub async fn open_store(settings: &Settings, exclusive: bool) -> anyhow::Result<OpenedStore> {
    let postgres = settings.uses_postgres();
    anyhow::ensure!(
        postgres
            || settings.database.url.is_empty()
            || settings.database.url.starts_with("sqlite:"),
        "database.url must be empty (embedded SQLite), sqlite:PATH or a postgres:// URL"
    );
    private::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    // A data directory belongs to one server: its node id, keys and (embedded) database.
    let lock = if exclusive {
        let lock_path = settings.data_dir.join("cctv.lock");
        let lock = private::open_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        lock.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "another cctv server is using {} (each server needs its own data directory)",
                settings.data_dir.display()
            )
        })?;
        Some(lock)
    } else {
        None
    };
    if postgres {
        let mut pg = PgSettings::new(settings.database.url.clone());
        pg.max_connections = settings.database.max_connections;
        let store = PgStore::open(&pg).await.context("opening PostgreSQL")?;
        // Only a server has live listeners; a short CLI command keeps the local bus.
        let events: Option<Arc<dyn EventBus>> = if exclusive {
            Some(
                PgEventBus::start(&store, 4096)
                    .await
                    .context("listening for cluster events")?,
            )
        } else {
            None
        };
        return Ok(OpenedStore {
            migrations: store.migrations(),
            storage: Arc::new(store.clone()),
            single_node: false,
            events,
            postgres: Some(store),
            _lock: lock,
        });
    }
    let path = match settings.database.url.strip_prefix("sqlite:") {
        Some(p) if !p.is_empty() => p.into(),
        _ => settings.data_dir.join("cctv.db"),
    };
    let mut sqlite = SqliteSettings::new(path);
    sqlite.fsync_every_commit = settings.database.sqlite_fsync;
    sqlite.heap_limit = settings
        .database
        .sqlite_heap_limit_mib
        .saturating_mul(1 << 20);
    let store = SqliteStore::open(&sqlite).await.context("opening SQLite")?;
    Ok(OpenedStore {
        migrations: store.migrations(),
        storage: Arc::new(store),
        single_node: true,
        events: None,
        postgres: None,
        _lock: lock,
    })
}

pub async fn build_core(settings: &Settings, store: &OpenedStore) -> anyhow::Result<Core> {
    // Created private before anything below creates it with default modes (PostgreSQL
    // setups have no database file that would have made it first).
    private::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let blobs = crate::blobs::open(settings).await?;
    let core_settings = CoreSettings {
        timezone: settings.timezone(),
        detection_rules: DetectionRules {
            max_future_skew: jiff::SignedDuration::from_secs(settings.ingest.max_future_skew_secs),
            max_past_age: jiff::SignedDuration::from_hours(
                24 * settings.ingest.max_past_days.max(1),
            ),
        },
        max_batch_items: settings.ingest.max_batch_items.max(1),
    };
    let admin_settings = AdminSettings {
        schedule: settings.schedule.tasks()?,
        queue_alert_threshold: settings.queues.alert_threshold,
        failed_alert_threshold: settings.queues.failed_alert_threshold,
    };
    let mut builder = Core::builder()
        .full_storage(store.storage.clone())
        .blob_store(blobs)
        .secret_box(secret_box(settings)?)
        .image_processor(Arc::new(image_processor(settings)))
        .settings(core_settings)
        .admin_settings(admin_settings);
    if let Some(events) = &store.events {
        builder = builder.event_bus(events.clone());
    }
    if let Some(pg) = &store.postgres {
        // Nodes on one database share each credential's hourly limit.
        builder = builder.request_limiter(LeasedLimiter::start(Arc::new(pg.clone())));
    }
    for notifier in settings.notifications.notifiers()? {
        builder = builder.notifier(notifier);
    }
    let timeout = Duration::from_millis(settings.notifications.event_webhook_timeout_ms.max(1));
    builder = builder.webhook_transport(Arc::new(cctv_notify_webhook::HttpWebhookTransport::new(
        timeout,
    )?));
    Ok(builder.build().await?)
}

/// The credential encryption key: configured, or `<data_dir>/secret.key` (created with
/// mode 0600 on first use).
pub fn secret_box(settings: &Settings) -> anyhow::Result<SecretBox> {
    let configured = settings.security.encryption_key.trim();
    if !configured.is_empty() {
        return SecretBox::from_base64(configured).context("security.encryption_key");
    }
    let key = key_file(settings, "secret.key", SecretBox::generate_key)?;
    SecretBox::from_base64(&key).context("the key in secret.key")
}

/// The file URL signing key: configured, or `<data_dir>/signing.key` (created with mode
/// 0600 on first use), and the lifetime of minted URLs.
pub fn file_access(settings: &Settings) -> anyhow::Result<cctv_http::files::FileAccess> {
    let configured = settings.storage.signing_key.trim();
    let signer = if configured.is_empty() {
        let key = key_file(settings, "signing.key", UrlSigner::generate_key)?;
        UrlSigner::from_base64(&key).context("the key in signing.key")?
    } else {
        UrlSigner::from_base64(configured).context("storage.signing_key")?
    };
    Ok(cctv_http::files::FileAccess {
        signer,
        url_ttl: Duration::from_secs(settings.storage.url_ttl_secs.max(1)),
    })
}

/// Reads `<data_dir>/<name>`, creating it (mode 0600) with `generate()` on first use.
fn key_file(settings: &Settings, name: &str, generate: fn() -> String) -> anyhow::Result<String> {
    let path = settings.data_dir.join(name);
    if !path.exists() {
        use std::io::Write;
        private::create_dir_all(&settings.data_dir).context("creating the data directory")?;
        let mut file = private::open_options()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(generate().as_bytes())?;
        tracing::info!(path = %path.display(), "created a new key");
    }
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
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

/// The ingest pipeline's settings from configuration. `0` (automatic) for the accept
/// commits and the detection workers means one on SQLite, whose files have one writer, and
/// two on a database several nodes may share (`single_node` is false).
fn ingest_pipeline(settings: &Settings, single_node: bool) -> IngestPipeline {
    let i = &settings.ingest;
    IngestPipeline {
        max_batch: i.batch_max,
        mailbox: i.mailbox,
        min_batch: i.min_batch,
        linger: Duration::from_millis(i.linger_ms),
        accept_commits: match i.accept_commits {
            0 if single_node => 1,
            0 => 2,
            n => n,
        },
        // Two on PostgreSQL: one transaction is built while the other commits. More
        // split what is waiting into smaller batches, which cost the database more per
        // detection and wait on each other's counter rows (BENCHMARKS.md, session 32).
        workers: match i.workers {
            0 if single_node => 1,
            0 => 2,
            n => n,
        },
        worker_batch: i.worker_batch,
        worker_min_batch: i.worker_min_batch,
        worker_batch_wait: Duration::from_millis(i.worker_batch_wait_ms),
        memory_queue: i.memory_queue,
        lease: Duration::from_secs(i.lease_secs),
        poll_interval: Duration::from_millis(i.poll_interval_ms),
        completed_retention: Duration::from_secs(i.completed_job_retention_hours * 3600),
        ..IngestPipeline::default()
    }
}

/// `node`: this node's id when several may share the database (its log files go in a
/// directory of their own).
pub async fn start_pipeline(
    settings: &Settings,
    core: Core,
    single_node: bool,
    node: Option<&str>,
) -> anyhow::Result<Pipeline> {
    let defaults = PipelineSettings::default();
    let pipeline = PipelineSettings {
        ingest: ingest_pipeline(settings, single_node),
        node: NodeSettings {
            release_all_leases_on_start: single_node,
            ..defaults.node
        },
        stream_health: settings
            .streams
            .health_enabled
            .then(|| StreamHealthSettings {
                interval: Duration::from_secs(settings.streams.health_interval_secs.max(5)),
                timeout: Duration::from_secs(settings.streams.health_timeout_secs.max(1)),
                concurrency: settings.streams.health_concurrency.max(1),
            }),
        notifications: NotificationWorkers {
            workers: settings.notifications.workers,
            poll_interval: Duration::from_millis(settings.notifications.poll_interval_ms.max(1)),
            lease: Duration::from_secs(settings.notifications.lease_secs.max(1)),
            service: settings.notifications.service_settings(),
            // Several nodes share the log directory; each writes under its own node id.
            log_dir: Some(match node {
                Some(node) => settings
                    .notifications
                    .log_dir(&settings.logs_dir())
                    .join(node),
                None => settings.notifications.log_dir(&settings.logs_dir()),
            }),
        },
        images: image_settings(settings),
        queues: QueueWorkers {
            report_workers: settings.queues.report_workers,
            maintenance_workers: settings.queues.maintenance_workers,
            monitor_interval: Duration::from_secs(settings.queues.monitor_interval_secs.max(1)),
        },
        schedule: ScheduleRunner {
            enabled: settings.schedule.enabled,
            catch_up: Duration::from_secs(settings.schedule.catch_up_days * 24 * 3600),
        },
        maintenance: cctv_admin::job_handlers::MaintenanceConfig {
            files: Some(cctv_admin::files::FileJobs {
                cleanup: crate::cmd::files::cleanup_settings(settings),
                logs_dir: settings.logs_dir(),
            }),
            whatsapp_log_dir: Some(settings.notifications.log_dir(&settings.logs_dir())),
            partition_retention_months: Some(settings.database.partition_retention_months)
                .filter(|&m| m > 0),
        },
    };
    Ok(Pipeline::start(core, pipeline).await?)
}

/// The image worker's concurrency from `[storage]`.
pub fn image_settings(settings: &Settings) -> ImageSettings {
    let s = &settings.storage;
    ImageSettings {
        concurrency: s.image_workers.max(1),
        ..ImageSettings::default()
    }
}

/// The image pipeline with the decoder limits of `[storage]`.
pub fn image_processor(settings: &Settings) -> cctv_image::EventImageProcessor {
    let s = &settings.storage;
    cctv_image::EventImageProcessor {
        limits: cctv_image::ImageLimits {
            max_width: s.image_max_side,
            max_height: s.image_max_side,
            max_alloc_bytes: s.image_max_memory_mb.saturating_mul(1024 * 1024),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_created_once_and_reused_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(None).unwrap();
        settings.data_dir = dir.path().to_path_buf();
        let first = file_access(&settings).unwrap();
        let key_file = dir.path().join("signing.key");
        assert!(key_file.exists());
        let second = file_access(&settings).unwrap();
        let at = jiff::Timestamp::from_second(2_000_000_000).unwrap();
        let signed = first.signer.sign("events/a.jpg", at).unwrap();
        let now = jiff::Timestamp::from_second(1).unwrap();
        assert_eq!(
            second
                .signer
                .verify("events/a.jpg", signed.expires, &signed.sig, now),
            Ok(())
        );
        settings.storage.signing_key = "dG9vIHNob3J0".into();
        assert!(
            file_access(&settings).is_err(),
            "a short configured key is refused"
        );
    }

    #[test]
    fn automatic_ingest_concurrency_is_one_on_sqlite_and_two_on_a_shared_database() {
        let mut settings = Settings::load(None).unwrap();
        let sqlite = ingest_pipeline(&settings, true);
        assert_eq!((sqlite.accept_commits, sqlite.workers), (1, 1));
        let postgres = ingest_pipeline(&settings, false);
        assert_eq!((postgres.accept_commits, postgres.workers), (2, 2));
        settings.ingest.workers = 6;
        settings.ingest.accept_commits = 3;
        let configured = ingest_pipeline(&settings, false);
        assert_eq!((configured.accept_commits, configured.workers), (3, 6));
    }
}
