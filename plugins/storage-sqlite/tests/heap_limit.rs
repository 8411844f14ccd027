//! Opening the store bounds SQLite's heap for the whole process, so idle connections'
//! caches cannot hold the server's memory (see `DEFAULT_HEAP_LIMIT`).
//!
//! The limit is the process's, so both cases run in one test: tests of one binary may
//! share a process.

use cctv_storage_sqlite::{DEFAULT_HEAP_LIMIT, SqliteSettings, SqliteStore};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

/// The limit as a connection the store did not open sees it.
async fn process_heap_limit() -> u64 {
    let mut other = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    let (limit,): (i64,) = sqlx::query_as("PRAGMA soft_heap_limit")
        .fetch_one(&mut other)
        .await
        .unwrap();
    other.close().await.unwrap();
    u64::try_from(limit).unwrap()
}

#[tokio::test]
async fn opening_the_store_limits_sqlites_heap_for_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SqliteSettings::new(dir.path().join("default.db"));
    settings.fsync_every_commit = false;
    let store = SqliteStore::open(&settings).await.unwrap();
    assert_eq!(DEFAULT_HEAP_LIMIT, 16 << 20);
    assert_eq!(process_heap_limit().await, DEFAULT_HEAP_LIMIT);
    store.close().await;

    let mut settings = SqliteSettings::new(dir.path().join("larger.db"));
    settings.fsync_every_commit = false;
    settings.heap_limit = 48 << 20;
    let _store = SqliteStore::open(&settings).await.unwrap();
    assert_eq!(process_heap_limit().await, 48 << 20);
}
