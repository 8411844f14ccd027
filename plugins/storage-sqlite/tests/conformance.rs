//! The shared storage conformance suite on real SQLite files.

use std::sync::Arc;

use cctv_admin::FullStorage;
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};

async fn fresh_store() -> Option<Arc<dyn FullStorage>> {
    // The directory is leaked on purpose: the store outlives this function.
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let mut settings = SqliteSettings::new(dir.join("cctv.db"));
    settings.fsync_every_commit = false;
    Some(Arc::new(
        SqliteStore::open(&settings).await.expect("open sqlite"),
    ))
}

cctv_testkit::storage_conformance_tests!(fresh_store);
