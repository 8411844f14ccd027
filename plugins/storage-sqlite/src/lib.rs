//! # cctv-storage-sqlite
//!
//! The embedded default backend of cctv: one SQLite file in WAL mode with **one writer
//! connection** (SQLite allows one writer at a time; a single connection avoids
//! `SQLITE_BUSY` and lets batches queue in the pool instead) and a pool of read-only
//! connections for queries. Every write path is batched: ingest group-commits many
//! detections per transaction and processing applies a whole batch per transaction, each
//! statement writing up to 128 rows and prepared once (see `sql.rs` for why). Only the
//! commit that backs a 202 is fsynced; WAL checkpoints run on a background connection so
//! they never stall the writer, and keep the WAL under ~64 MiB. The writer remembers the person-days it processed while
//! nothing else writes them, so batches of known persons read none of their state
//! (`processing/cache.rs`).
//!
//! The default feature `admin` adds the optional storage capabilities of `cctv-admin`
//! (notifications, reports, the schedule, queue administration, exports, analytics);
//! an embedder that only accepts and counts detections turns it off
//! (`default-features = false`) and does not compile `cctv-admin`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cctv_core::storage::StorageError> {
//! use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
//! let store = SqliteStore::open(&SqliteSettings::new("data/cctv.db")).await?;
//! # let _ = store; Ok(()) }
//! ```

#[cfg(feature = "admin")]
mod analytics;
mod codec;
mod estate;
#[cfg(feature = "admin")]
mod export;
mod intake;
mod jobs;
#[cfg(feature = "admin")]
mod notify;
mod processing;
#[cfg(feature = "admin")]
mod queue_admin;
mod records;
mod registry;
#[cfg(feature = "admin")]
mod reports;
mod sql;
mod wal_sync;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use cctv_core::private_files as private;
use cctv_core::storage::{Cause, StorageError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub(crate) use codec::*;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// The database file; created (with its directory) when missing.
    pub path: PathBuf,
    /// `true`: fsync every commit that acknowledges a detection (survives power loss).
    /// `false`: `synchronous=NORMAL`, which in WAL mode survives a process crash but not
    /// an OS crash. Processing commits always use NORMAL: losing one to a power cut only
    /// means its jobs run again (their effects and completion commit together) from
    /// their intake rows, which go only once the main file's WAL is synced (with this
    /// `true`; see `wal_sync.rs`).
    pub fsync_every_commit: bool,
    /// Read-only connections for queries.
    pub readers: u32,
    /// SQLite's heap for the whole process, in bytes, past which it recycles cached pages
    /// instead of allocating more; 0: no limit. See [`DEFAULT_HEAP_LIMIT`].
    pub heap_limit: u64,
}

impl SqliteSettings {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            fsync_every_commit: true,
            readers: 4,
            heap_limit: DEFAULT_HEAP_LIMIT,
        }
    }
}

/// The SQLite backend. Cheap to clone (pools are shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Read-only connections for streamed exports, with a small page cache: an export
    /// scans far more pages than any cache holds, and the query pool rotates its
    /// connections, so through `reader` one export would fill every reader's page
    /// cache with pages read once. Connections close when idle, giving the cache back.
    pub(crate) exporter: SqlitePool,
    /// One read-only connection for what report generation reads in bulk: the day's
    /// detection pages and its events (counted through the table for a branch). Each
    /// connection runs on a thread of its own that keeps the memory of the rows it
    /// copied, and fills a page cache of its own. Through `reader` a refresh used all
    /// four: the pool opens another connection when the last one has not been handed
    /// back yet, and its idle connections take turns. One connection (closed when idle)
    /// halved the memory a refresh touched; report workers share it, page by page.
    pub(crate) reporter: SqlitePool,
    checkpointer: SqlitePool,
    /// Accepted detections not processed yet, in their own file (see `intake.rs`).
    pub(crate) intake: intake::Intake,
    /// `PRAGMA synchronous` for commits that back an acknowledgement (accepting detections).
    pub(crate) durable_sync: &'static str,
    /// Migrations applied by this open (all of them: the schema was created).
    migrations: cctv_core::storage::MigrationReport,
    /// The person-days the writer processed, while nothing else wrote the file
    /// (see `processing/cache.rs`).
    pub(crate) processing_cache: std::sync::Arc<std::sync::Mutex<Option<processing::StateCache>>>,
    /// With commits that back a 202 synced: syncs processing commits before their intake
    /// rows go (see `wal_sync.rs`).
    pub(crate) wal_sync: Option<std::sync::Arc<wal_sync::WalSync>>,
}

/// Creates `path` empty with mode 0600 unless it exists (see [`private`]).
pub(crate) fn create_private_file(path: &std::path::Path) -> Result<(), StorageError> {
    private::create_file(path).map_err(|e| {
        StorageError::Unavailable(Cause::with_source(
            format!("creating {}", path.display()),
            e,
        ))
    })
}

/// Migrations recorded as applied (0 on a new database).
async fn applied_migrations(pool: &SqlitePool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_or(0, |n| n.max(0) as usize)
}

impl SqliteStore {
    /// What opening did to the schema.
    pub fn migrations(&self) -> cctv_core::storage::MigrationReport {
        self.migrations
    }

    /// Opens (creating if needed) and migrates the database.
    pub async fn open(settings: &SqliteSettings) -> Result<Self, StorageError> {
        if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::create_dir_all(dir).map_err(|e| {
                StorageError::Unavailable(Cause::with_source(
                    format!("creating {}", dir.display()),
                    e,
                ))
            })?;
        }
        // SQLite would create the file 0644; its -wal and -shm files copy the mode of
        // the database file, so creating it 0600 first keeps all three private.
        create_private_file(&settings.path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(map_err)?
            .filename(&settings.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if settings.fsync_every_commit {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Page cache per connection, in KiB: the writer's is set below; readers and the
            // checkpointer keep a small one (the OS page cache holds the hot pages for
            // all of them), so memory stays bounded with several readers.
            .pragma("cache_size", "-4096")
            .pragma("temp_store", "memory")
            // Checkpoints run on their own connection (see `checkpoint_loop`), not inside
            // a writer's commit, where they would stall the acknowledgement of detections.
            .pragma("wal_autocheckpoint", "0")
            .statement_cache_capacity(256);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .idle_timeout(None)
            .max_lifetime(None)
            // Batched statements come in a few fixed shapes (one `VALUES` chunk each, of
            // three lengths, see `sql.rs`): room for all of those of processing, accepting
            // and the job queue with the management queries beside them, so none is parsed
            // again under load.
            // Its page cache: 16 MiB processed as fast as 32 MiB in the ingest benchmark
            // (the OS page cache holds the rest) and keeps the server's peak RSS lower.
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-16384")
                    // The process's SQLite heap limit, once: this connection is never
                    // recycled. SQLite reads it as a signed 64-bit number.
                    .pragma(
                        "soft_heap_limit",
                        settings.heap_limit.min(i64::MAX as u64).to_string(),
                    )
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
                    .statement_cache_capacity(128),
            )
            .await
            .map_err(map_err)?;
        let migrator = sqlx::migrate!("../../migrations/sqlite");
        let before = applied_migrations(&writer).await;
        migrator
            .run(&writer)
            .await
            .map_err(|e| StorageError::Unavailable(Cause::with_source("migration failed", e)))?;
        let migrations = cctv_core::storage::MigrationReport {
            applied: migrator.iter().count().saturating_sub(before),
            total: migrator.iter().count(),
        };
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        tokio::spawn(checkpoint_loop(checkpointer.clone()));
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.readers.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone().read_only(true))
            .await
            .map_err(map_err)?;
        let exporter = SqlitePoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(30))
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(
                options
                    .clone()
                    .read_only(true)
                    .pragma("cache_size", "-8192")
                    .statement_cache_capacity(8),
            );
        let reporter = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(30))
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(
                options
                    .read_only(true)
                    .pragma("cache_size", "-2048")
                    .statement_cache_capacity(8),
            );
        let durable_sync = if settings.fsync_every_commit {
            "PRAGMA synchronous = FULL; "
        } else {
            "PRAGMA synchronous = NORMAL; "
        };
        let (intake, fresh) =
            intake::Intake::open(&settings.path, settings.fsync_every_commit).await?;
        if fresh {
            intake.import_keys(&settings.path).await?;
        }
        intake.upgrade(&settings.path, fresh).await?;
        let store = Self {
            writer,
            reader,
            exporter,
            reporter,
            checkpointer,
            intake,
            durable_sync,
            migrations,
            processing_cache: Default::default(),
            wal_sync: settings
                .fsync_every_commit
                .then(|| std::sync::Arc::new(wal_sync::WalSync::new(&settings.path))),
        };
        // Whatever the intake holds was in the memory of a process that is gone: hand it
        // to the main queue, where the workers claim it.
        let recovered = store.spill(intake::Which::All, usize::MAX).await?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "accepted detections moved from the intake to the queue"
            );
        }
        Ok(store)
    }

    /// Closes the pools, waiting for running statements.
    pub async fn close(&self) {
        self.intake.close().await;
        self.reader.close().await;
        self.exporter.close().await;
        self.reporter.close().await;
        self.writer.close().await;
        self.checkpointer.close().await;
    }
}

/// The default of [`SqliteSettings::heap_limit`]: SQLite's heap in this process, in
/// bytes, above which it recycles cached pages instead of allocating more
/// (`PRAGMA soft_heap_limit`, set by the writer connection when the store opens). The
/// limit is one for the whole process: every connection to either file, and any other
/// SQLite database an embedder opens in the same process, share it, and the store opened
/// last sets it. The connections' own cache sizes add up to ~60 MiB; on glibc, without a
/// limit, SQLite's share of the server (its pages, and what glibc's per-thread arenas kept
/// after SQLite freed it) was 71–73 MB of the peak under the ingest benchmark, up to 152 MB
/// in single runs. The pages SQLite gives up stay in the OS page cache, so reading them
/// again costs a copy, not a disk read; but the single writer reads more of them, so a
/// lower limit trades throughput for memory. The reference binary allocates SQLite's
/// memory from mimalloc, and there 16 MiB took unpaced peaks to 134.6–144.8 MB (32 MiB on
/// glibc: 164.7–177.8 MB) with throughput within the run-to-run spread (BENCHMARKS.md,
/// session 18). An embedder whose SQLite allocates from glibc pays more for it: there
/// 16 MiB ran 6 % below no limit on average, about 5 % below 32 MiB (session 17).
pub const DEFAULT_HEAP_LIMIT: u64 = 16 << 20;

/// WAL size (in 4 KiB frames) above which the checkpointer resets the WAL.
const MAX_WAL_FRAMES: i64 = 16_384;

/// What a WAL file is cut back to when it is reset, in bytes (`journal_size_limit`).
pub(crate) const WAL_SIZE_LIMIT: i64 = MAX_WAL_FRAMES * 4096;

/// Copies WAL frames into the database file beside the writer, ten times a second.
/// PASSIVE never blocks the writer or readers, but under continuous writes it never lets
/// the WAL restart; so past [`MAX_WAL_FRAMES`] a RESTART checkpoint (which waits for
/// readers and holds the write lock meanwhile) resets it, bounding the file at ~64 MiB.
///
/// RESTART waits until the WAL is fully copied and unused; the writer then starts over
/// at the beginning of the file with its next transaction (and cuts the file back to
/// [`WAL_SIZE_LIMIT`], its `journal_size_limit`). So the writer makes the reset itself:
/// to it the reset is not a change by another connection (which would make it forget
/// what it remembers of processed person-days, see `processing/cache.rs`), and the file
/// is written over in place. A TRUNCATE instead cut the file to nothing, and it grew
/// again block by block after every reset (on the intake file, the truncation alone was
/// 2 % of the server's CPU samples under load, `perf`).
pub(crate) async fn checkpoint_loop(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        let passive = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let result = match passive {
            Ok((_, log, _)) if log > MAX_WAL_FRAMES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                    .map(|_| ())
            }
            other => other.map(|_| ()),
        };
        if let Err(e) = result {
            if pool.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
