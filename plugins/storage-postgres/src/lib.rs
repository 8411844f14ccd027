//! # cctv-storage-postgres
//!
//! The PostgreSQL backend of cctv, chosen by a `postgres://` URL. Same schema and meaning
//! as the SQLite backend; concurrency comes from several connections, so the ingest
//! paths take row locks in one global order and let unique keys decide races:
//! batches are written with `INSERT … SELECT * FROM UNNEST(...)`, one statement per table.
//!
//! Several nodes on one database: [`PgEventBus`] carries live events between them
//! (`LISTEN/NOTIFY`), the store is the shared counter of hourly request limits
//! (`cctv_rate_limit::AllowanceStore`) and of login attempts
//! (`cctv_admin::access::SharedLoginAttempts`), and `cluster_nodes` records each running
//! node ([`PgStore::register_node`]) so a starting node can compare its keys and image
//! store with the others'.
//!
//! The default feature `admin` adds the optional storage capabilities of `cctv-admin`
//! (notifications, reports, the schedule and partition upkeep, queue administration,
//! exports, analytics, shared login attempts); without it the store provides what the
//! detection path needs and `cctv-admin` is not compiled.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cctv_core::storage::StorageError> {
//! use cctv_storage_postgres::{PgSettings, PgStore};
//! let store = PgStore::open(&PgSettings::new("postgres://postgres@127.0.0.1/cctv")).await?;
//! # let _ = store; Ok(()) }
//! ```

#[cfg(feature = "admin")]
mod analytics;
mod bus;
mod cluster;
mod codec;
mod estate;
#[cfg(feature = "admin")]
mod export;
mod intake;
mod jobs;
mod limits;
#[cfg(feature = "admin")]
mod login_attempts;
#[cfg(feature = "admin")]
mod notify;
mod partitions;
mod processing;
#[cfg(feature = "admin")]
mod queue_admin;
mod records;
mod registry;
#[cfg(feature = "admin")]
mod reports;

use std::str::FromStr;
use std::time::Duration;

use cctv_core::storage::{Cause, StorageError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use bus::PgEventBus;
pub use cluster::ClusterNode;
pub(crate) use codec::*;

/// How to connect.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub url: String,
    pub max_connections: u32,
    /// A schema to create and use (tests isolate themselves this way); `None`: the default.
    pub schema: Option<String>,
}

impl PgSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            schema: None,
        }
    }
}

/// The PostgreSQL backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Migrations applied by this open.
    migrations: cctv_core::storage::MigrationReport,
}

impl PgStore {
    /// Connects and applies migrations.
    pub async fn open(settings: &PgSettings) -> Result<Self, StorageError> {
        let mut options = PgConnectOptions::from_str(&settings.url).map_err(map_err)?;
        if let Some(schema) = &settings.schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StorageError::Rejected(format!(
                    "invalid schema name {schema:?}"
                )));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(map_err)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await
                .map_err(map_err)?;
            admin.close().await;
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let migrator = sqlx::migrate!("../../migrations/postgres");
        let before: usize =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_or(0, |n| n.max(0) as usize);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StorageError::Unavailable(Cause::with_source("migration failed", e)))?;
        let total = migrator.iter().count();
        let store = Self {
            pool,
            migrations: cctv_core::storage::MigrationReport {
                applied: total.saturating_sub(before),
                total,
            },
        };
        // The coming months' partitions exist before the first detection needs them, even
        // when the scheduled task has not run for a while.
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        store.ensure_partitions(today).await?;
        Ok(store)
    }

    /// What opening did to the schema.
    pub fn migrations(&self) -> cctv_core::storage::MigrationReport {
        self.migrations
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
