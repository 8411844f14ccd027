//! The shared storage conformance suite on a real PostgreSQL server.
//!
//! Runs when `CCTV_TEST_PG_URL` is set (CI sets it); each test gets its own schema.

use std::sync::Arc;

use cctv_admin::FullStorage;
use cctv_storage_postgres::{PgSettings, PgStore};

async fn fresh_store() -> Option<Arc<dyn FullStorage>> {
    let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: skipping the PostgreSQL conformance test");
        return None;
    };
    let mut settings = PgSettings::new(url);
    settings.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
    settings.max_connections = 8;
    Some(Arc::new(
        PgStore::open(&settings).await.expect("open postgres"),
    ))
}

cctv_testkit::storage_conformance_tests!(fresh_store);
