//! The required part of the storage conformance suite, against a fresh store per case.

use std::sync::Arc;

use cctv_storage_memory::MemoryStore;

async fn fresh_store() -> Option<Arc<dyn cctv_core::storage::Storage>> {
    Some(Arc::new(MemoryStore::new()))
}

cctv_testkit::storage_conformance_tests!(required fresh_store);
