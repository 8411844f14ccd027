//! Layered configuration: shipped `config/default.toml` < `--config FILE` < `CCTV__…` env.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The shipped defaults, compiled in so the binary runs from any directory.
pub const DEFAULTS: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub timezone: String,
    pub database: DatabaseSettings,
    pub ingest: IngestSettings,
    pub http: HttpLimits,
    pub metrics: MetricsSettings,
    pub analytics: AnalyticsSettings,
    pub security: SecuritySettings,
    pub streams: StreamSettings,
    pub log: LogSettings,
    pub notifications: crate::notify::NotificationsConfig,
    pub storage: StorageSettings,
    pub schedule: ScheduleConfig,
    pub queues: QueueConfig,
}

/// The scheduler: whether this node runs it, and every task's cadence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub enabled: bool,
    pub catch_up_days: u64,
    pub report_refresh: String,
    pub daily_reports: String,
    pub log_aggregation: String,
    pub file_cleanup: String,
    pub monthly_reports: String,
    pub failed_job_pruning: String,
    pub stream_health: String,
    pub partition_maintenance: String,
}

impl ScheduleConfig {
    /// Every task with a non-empty cadence; a malformed cadence is an error naming the key.
    pub fn tasks(
        &self,
    ) -> anyhow::Result<
        Vec<(
            cctv_admin::schedule::TaskName,
            cctv_admin::schedule::Cadence,
        )>,
    > {
        use cctv_admin::schedule::TaskName as T;
        let entries = [
            (T::ReportRefresh, &self.report_refresh),
            (T::DailyReports, &self.daily_reports),
            (T::LogAggregation, &self.log_aggregation),
            (T::FileCleanup, &self.file_cleanup),
            (T::MonthlyReports, &self.monthly_reports),
            (T::FailedJobPruning, &self.failed_job_pruning),
            (T::StreamHealth, &self.stream_health),
            (T::PartitionMaintenance, &self.partition_maintenance),
        ];
        entries
            .into_iter()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(task, text)| {
                text.parse()
                    .map(|cadence| (task, cadence))
                    .map_err(|e| anyhow::anyhow!("schedule.{}: {e}", task.as_str()))
            })
            .collect()
    }
}

/// Queue workers and monitoring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub alert_threshold: u64,
    /// Failed jobs of one queue above which the admins who opted in are told.
    pub failed_alert_threshold: u64,
    pub monitor_interval_secs: u64,
    pub report_workers: usize,
    pub maintenance_workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub sqlite_fsync: bool,
    /// SQLite: MiB of heap SQLite may use in this process before it recycles cached
    /// pages; 0: no limit.
    pub sqlite_heap_limit_mib: u64,
    /// PostgreSQL: months of detections and event-log rows kept; 0 keeps everything.
    pub partition_retention_months: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub max_future_skew_secs: i64,
    pub max_past_days: i64,
    /// Most detections in one `POST /api/v1/detection/batch` (more: 413).
    pub max_batch_items: usize,
    pub batch_max: usize,
    pub mailbox: usize,
    pub min_batch: usize,
    pub linger_ms: u64,
    pub accept_commits: usize,
    pub workers: usize,
    pub worker_batch: usize,
    pub worker_min_batch: usize,
    pub worker_batch_wait_ms: u64,
    pub memory_queue: usize,
    pub lease_secs: u64,
    pub poll_interval_ms: u64,
    pub completed_job_retention_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    pub max_json_bytes: usize,
    pub max_multipart_bytes: usize,
    pub allowed_origins: Vec<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub health_enabled: bool,
    pub health_interval_secs: u64,
    pub health_timeout_secs: u64,
    pub health_concurrency: usize,
    pub proxy_connect_timeout_ms: u64,
    pub proxy_read_timeout_ms: u64,
    pub proxy_answer_timeout_ms: u64,
    pub proxy_max_response_bytes: usize,
    pub proxy_max_playlist_bytes: usize,
    pub proxy_max_streams_per_user: usize,
    pub gateway_url: String,
    pub gateway_player: String,
    pub gateway_token: String,
}

/// The gateway token must never reach a log line.
impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSettings")
            .field("health_enabled", &self.health_enabled)
            .field("health_interval_secs", &self.health_interval_secs)
            .field("health_timeout_secs", &self.health_timeout_secs)
            .field("health_concurrency", &self.health_concurrency)
            .field("proxy_connect_timeout_ms", &self.proxy_connect_timeout_ms)
            .field("proxy_read_timeout_ms", &self.proxy_read_timeout_ms)
            .field("proxy_answer_timeout_ms", &self.proxy_answer_timeout_ms)
            .field("proxy_max_response_bytes", &self.proxy_max_response_bytes)
            .field("proxy_max_playlist_bytes", &self.proxy_max_playlist_bytes)
            .field(
                "proxy_max_streams_per_user",
                &self.proxy_max_streams_per_user,
            )
            .field("gateway_url", &self.gateway_url)
            .field("gateway_player", &self.gateway_player)
            .field(
                "gateway_token",
                &if self.gateway_token.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// Shortest gateway token accepted: it guards every camera's credentials.
const MIN_GATEWAY_TOKEN_CHARS: usize = 32;

impl StreamSettings {
    /// The live view's proxy limits and gateway; a malformed gateway setting is an error
    /// naming its key.
    pub fn http(&self) -> anyhow::Result<cctv_http::streams::StreamSettings> {
        use cctv_http::streams::{Gateway, GatewayPlayer};
        let url = self.gateway_url.trim();
        let gateway = if url.is_empty() {
            None
        } else {
            anyhow::ensure!(
                (url.starts_with("http://") || url.starts_with("https://"))
                    && url.contains("{device_id}"),
                "streams.gateway_url must be an http(s) URL containing {{device_id}}"
            );
            let player = GatewayPlayer::parse(self.gateway_player.trim()).ok_or_else(|| {
                anyhow::anyhow!("streams.gateway_player must be iframe, hls or mjpeg")
            })?;
            Some(Gateway {
                url_template: url.to_owned(),
                player,
            })
        };
        let token = self.gateway_token.trim();
        anyhow::ensure!(
            token.is_empty() || token.chars().count() >= MIN_GATEWAY_TOKEN_CHARS,
            "streams.gateway_token must be at least {MIN_GATEWAY_TOKEN_CHARS} characters"
        );
        Ok(cctv_http::streams::StreamSettings {
            connect_timeout: std::time::Duration::from_millis(self.proxy_connect_timeout_ms.max(1)),
            read_timeout: std::time::Duration::from_millis(self.proxy_read_timeout_ms.max(1)),
            answer_timeout: std::time::Duration::from_millis(self.proxy_answer_timeout_ms.max(1)),
            max_response_bytes: self.proxy_max_response_bytes,
            max_playlist_bytes: self.proxy_max_playlist_bytes,
            max_streams_per_user: self.proxy_max_streams_per_user.max(1),
            gateway,
            gateway_token: Some(token.to_owned()).filter(|t| !t.is_empty()),
        })
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub encryption_key: String,
    pub token_ttl_hours: u64,
    pub login_max_failures: u32,
    pub login_window_secs: u64,
}

/// The key must never reach a log line.
impl std::fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuritySettings")
            .field(
                "encryption_key",
                &if self.encryption_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("token_ttl_hours", &self.token_ttl_hours)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_window_secs", &self.login_window_secs)
            .finish()
    }
}

/// Stored files: signed URLs, retention, image processing (see `[storage]` in default.toml).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `fs` (a directory) or `s3` (an S3-compatible bucket, see `[storage.s3]`).
    pub backend: String,
    /// Where images are kept with the `fs` backend; empty: `<data_dir>/storage`.
    pub dir: String,
    pub s3: S3StorageSettings,
    pub signing_key: String,
    pub url_ttl_secs: u64,
    pub retention_days: u64,
    pub image_workers: usize,
    pub image_max_side: u32,
    pub image_max_memory_mb: u64,
}

/// The key must never reach a log line.
impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSettings")
            .field("backend", &self.backend)
            .field("dir", &self.dir)
            .field("s3", &self.s3)
            .field(
                "signing_key",
                &if self.signing_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("url_ttl_secs", &self.url_ttl_secs)
            .field("retention_days", &self.retention_days)
            .field("image_workers", &self.image_workers)
            .field("image_max_side", &self.image_max_side)
            .field("image_max_memory_mb", &self.image_max_memory_mb)
            .finish()
    }
}

/// Visitor analytics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// A person seen on one of this many days before is a returning visitor.
    pub lookback_days: u32,
}

/// Who may read `GET /metrics` besides loopback.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub token: String,
}

impl MetricsSettings {
    /// The token, when one is set.
    pub fn token(&self) -> Option<String> {
        Some(self.token.trim().to_owned()).filter(|t| !t.is_empty())
    }
}

/// The token must never reach a log line.
impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("MetricsSettings")
            .field("token", &token)
            .finish()
    }
}

/// The bucket of the `s3` image store; its credentials come from the environment only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3StorageSettings {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: String,
    pub region: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
    pub api_access_log: bool,
    /// API access and WhatsApp message logs; empty: `<data_dir>/logs`.
    pub dir: String,
}

impl Settings {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(file, None)
    }

    /// `env` replaces the process environment (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<config::Map<String, String>>,
    ) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            builder = builder.add_source(config::File::from(path.to_path_buf()));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("CCTV")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // CCTV__HTTP__ALLOWED_ORIGINS="https://a.example,https://b.example"
                .list_separator(",")
                .with_list_parse_key("http.allowed_origins")
                .source(env),
        );
        let settings: Settings = builder
            .build()?
            .try_deserialize()
            .context("invalid configuration")?;
        jiff::tz::TimeZone::get(&settings.timezone)
            .with_context(|| format!("unknown timezone {:?}", settings.timezone))?;
        settings.schedule.tasks()?;
        settings.streams.http()?;
        // 0 would read as "keep nothing" or "keep forever": neither is what cleanup can do
        // safely, so say so instead of quietly keeping one day.
        anyhow::ensure!(
            settings.storage.retention_days >= 1,
            "storage.retention_days must be at least 1 (days images and logs are kept)"
        );
        cctv_admin::phone::check_region(&settings.notifications.phone_region)
            .map_err(|e| anyhow::anyhow!("notifications.phone_region: {e}"))?;
        anyhow::ensure!(
            (1..=cctv_admin::analytics::MAX_LOOKBACK_DAYS)
                .contains(&settings.analytics.lookback_days),
            "analytics.lookback_days must be between 1 and {}",
            cctv_admin::analytics::MAX_LOOKBACK_DAYS
        );
        if let Some(token) = settings.metrics.token() {
            anyhow::ensure!(
                token.len() >= 16,
                "metrics.token must be at least 16 characters (it guards /metrics from other hosts)"
            );
        }
        let months = settings.database.partition_retention_months;
        if months > 0 {
            anyhow::ensure!(
                settings.uses_postgres(),
                "database.partition_retention_months works on PostgreSQL only (SQLite keeps \
                 its detections in one table); set it to 0"
            );
            // A late detection is accepted up to max_past_days back: its month must still
            // be there.
            anyhow::ensure!(
                i64::from(months) * 28 > settings.ingest.max_past_days,
                "database.partition_retention_months = {months} would drop months that \
                 ingest.max_past_days = {} still accepts detections for",
                settings.ingest.max_past_days
            );
        }
        match settings.storage.backend.as_str() {
            "fs" => {}
            "s3" => anyhow::ensure!(
                !settings.storage.s3.bucket.trim().is_empty(),
                "storage.backend = \"s3\" needs storage.s3.bucket (CCTV__STORAGE__S3__BUCKET)"
            ),
            other => anyhow::bail!("storage.backend must be \"fs\" or \"s3\", not {other:?}"),
        }
        Ok(settings)
    }

    pub fn timezone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone).expect("validated at load")
    }

    /// Where the API access and WhatsApp message logs go.
    pub fn logs_dir(&self) -> std::path::PathBuf {
        if self.log.dir.trim().is_empty() {
            self.data_dir.join("logs")
        } else {
            self.log.dir.trim().into()
        }
    }

    /// The image store's directory.
    pub fn storage_dir(&self) -> std::path::PathBuf {
        if self.storage.dir.trim().is_empty() {
            self.data_dir.join("storage")
        } else {
            self.storage.dir.trim().into()
        }
    }

    pub fn uses_postgres(&self) -> bool {
        self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_env_overrides_them() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.ingest.max_batch_items, 1000);
        assert_eq!(s.database.sqlite_heap_limit_mib, 16);
        let env = config::Map::from([
            ("CCTV__INGEST__WORKER_BATCH".to_owned(), "77".to_owned()),
            (
                "CCTV__DATABASE__URL".to_owned(),
                "postgres://u@h/d".to_owned(),
            ),
            (
                "CCTV_TEST_PG_URL".to_owned(),
                "ignored: not our prefix".to_owned(),
            ),
        ]);
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(s.ingest.worker_batch, 77);
        assert_eq!(s.database.url, "postgres://u@h/d");
        assert!(
            s.http.allowed_origins.is_empty(),
            "only our own origin by default"
        );
        let env = config::Map::from([(
            "CCTV__HTTP__ALLOWED_ORIGINS".to_owned(),
            "https://a.example,https://b.example".to_owned(),
        )]);
        let s = Settings::load_with_env(None, Some(env)).unwrap();
        assert_eq!(
            s.http.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    /// Settings from the defaults and `pairs` as the environment.
    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_with_env(None, Some(env))
    }

    #[test]
    fn an_unknown_image_store_or_a_bucketless_s3_store_is_refused() {
        let err = load(&[("CCTV__STORAGE__BACKEND", "gcs")]).unwrap_err();
        assert!(err.to_string().contains("\"fs\" or \"s3\""), "{err}");
        let err = load(&[("CCTV__STORAGE__BACKEND", "s3")]).unwrap_err();
        assert!(err.to_string().contains("storage.s3.bucket"), "{err}");
        let ok = load(&[
            ("CCTV__STORAGE__BACKEND", "s3"),
            ("CCTV__STORAGE__S3__BUCKET", "images"),
        ])
        .unwrap();
        assert_eq!(ok.storage.s3.bucket, "images");
    }

    #[test]
    fn partition_retention_needs_postgresql_and_must_cover_late_detections() {
        let months = ("CCTV__DATABASE__PARTITION_RETENTION_MONTHS", "12");
        let err = load(&[months]).unwrap_err();
        assert!(err.to_string().contains("PostgreSQL only"), "{err}");
        let pg = ("CCTV__DATABASE__URL", "postgres://cctv@db/cctv");
        assert!(load(&[months, pg]).is_ok());
        let err = load(&[
            ("CCTV__DATABASE__PARTITION_RETENTION_MONTHS", "1"),
            pg,
            ("CCTV__INGEST__MAX_PAST_DAYS", "30"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("max_past_days"), "{err}");
    }

    #[test]
    fn the_metrics_token_is_checked_and_never_shown() {
        let token = "metrics-token-0123456789";
        let s = load(&[("CCTV__METRICS__TOKEN", token)]).unwrap();
        assert_eq!(s.metrics.token().as_deref(), Some(token));
        assert!(
            !format!("{s:?}").contains(token),
            "redacted in debug output"
        );
        let err = load(&[("CCTV__METRICS__TOKEN", "short")]).unwrap_err();
        assert!(err.to_string().contains("at least 16"), "{err}");
    }

    #[test]
    fn a_retention_of_zero_days_is_refused() {
        let env = config::Map::from([("CCTV__STORAGE__RETENTION_DAYS".to_owned(), "0".to_owned())]);
        let err = Settings::load_with_env(None, Some(env)).unwrap_err();
        assert!(
            err.to_string()
                .contains("storage.retention_days must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "timezone = \"Asia/Jakarta\"\n[database]\nurl = \"postgres://x@y/z\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&good)).unwrap();
        assert_eq!(s.timezone, "Asia/Jakarta");
        assert!(s.uses_postgres());
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "listn = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&bad)).is_err());
        let cadence = dir.path().join("cadence.toml");
        std::fs::write(&cadence, "[schedule]\ndaily_reports = \"daily 25:00\"\n").unwrap();
        let err = Settings::load(Some(&cadence)).unwrap_err();
        assert!(
            format!("{err:#}").contains("schedule.daily_reports"),
            "{err:#}"
        );
        let gateway = dir.path().join("gateway.toml");
        std::fs::write(
            &gateway,
            "[streams]\ngateway_url = \"http://gw:8889/cam/\"\n",
        )
        .unwrap();
        let err = Settings::load(Some(&gateway)).unwrap_err();
        assert!(
            format!("{err:#}").contains("streams.gateway_url"),
            "{err:#}"
        );
        let token = dir.path().join("token.toml");
        std::fs::write(&token, "[streams]\ngateway_token = \"short\"\n").unwrap();
        let err = Settings::load(Some(&token)).unwrap_err();
        assert!(
            format!("{err:#}").contains("streams.gateway_token"),
            "{err:#}"
        );
        let zone = dir.path().join("zone.toml");
        std::fs::write(&zone, "timezone = \"Mars/Olympus\"\n").unwrap();
        assert!(Settings::load(Some(&zone)).is_err());
    }
}
